"""Starting and ending runs: get_context, start_logging, child_run, complete, fail, cancel."""

from __future__ import annotations

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, string


def active_or_new(ctx: Context) -> cst.BaseExpression:
    """`mlflow.active_run() or mlflow.start_run()`: safe when called more than once."""
    return cst.BooleanOperation(
        left=call(ctx.mlflow("active_run")),
        operator=cst.Or(),
        right=call(ctx.mlflow("start_run")),
    )


@rule("run", "complete", "_set_status")
def complete(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(call(ctx.mlflow("end_run")), "run-complete")


@rule("run", "fail", "error_details", "error_code", "_set_status")
def fail(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(
        call(ctx.mlflow("end_run"), arg(string("FAILED"), "status")),
        "run-fail",
        "The error details are not kept: set a tag first if you need them."
        if "error_details" in a
        else "",
    )


@rule("run", "cancel")
def cancel(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(call(ctx.mlflow("end_run"), arg(string("KILLED"), "status")), "run-cancel")


@rule("run", "flush", "timeout_seconds")
def flush(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(call(ctx.mlflow("flush_async_logging")), "run-flush")


@rule("run", "start")
def start(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(call(ctx.mlflow("active_run")), "run-start")


@rule("run", "child_run", "name", "run_id", "outputs")
def child_run(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    args = [arg(a["name"].value, "run_name")] if "name" in a else []
    return Rewrite(
        call(ctx.mlflow("start_run"), *args, arg(cst.Name("True"), "nested")), "run-child-run"
    )


@rule("experiment", "start_logging")
def start_logging(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    experiment_id = cst.Attribute(value=ctx.receiver, attr=cst.Name("experiment_id"))
    return Rewrite(
        call(ctx.mlflow("start_run"), arg(experiment_id, "experiment_id")),
        "experiment-start-logging",
    )
