"""Starting and ending runs: get_context, start_logging, child_run, complete, fail, cancel.

After the rewrite every legacy run the codemod can prove is MLflow's active run (an
`mlflow.ActiveRun`): the context run is `mlflow.active_run() or mlflow.start_run()`, a child run
`mlflow.start_run(nested=True)`, so MLflow's fluent calls log to it and `mlflow.end_run()` ends it.
"""

from __future__ import annotations

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, code, string


def active_or_new(ctx: Context) -> cst.BaseExpression:
    """`mlflow.active_run() or mlflow.start_run()`: safe when called more than once."""
    return cst.BooleanOperation(
        left=call(ctx.mlflow("active_run")),
        operator=cst.Or(),
        right=call(ctx.mlflow("start_run")),
    )


@rule("run", "complete", "_set_status")
def complete(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.complete()` -> `mlflow.end_run()`."""
    return Rewrite(call(ctx.mlflow("end_run")), "run-complete")


@rule("run", "fail", "error_details", "error_code", "_set_status")
def fail(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.fail(details)` -> the details as a tag, then `mlflow.end_run(status="FAILED")`."""
    end = call(ctx.mlflow("end_run"), arg(string("FAILED"), "status"))
    details = a.get("error_details")
    if details is None:
        return Rewrite(end, "run-fail")
    keep = code(ctx, 'MLFLOW.set_tag("aml2mlflow.error", DETAILS)', DETAILS=details.value)
    statements = [
        cst.SimpleStatementLine([cst.Expr(keep)]),
        cst.SimpleStatementLine([cst.Expr(end)]),
    ]
    if ctx.statement:
        return Rewrite(end, "run-fail", statements=statements)
    return Rewrite(end, "run-fail-value")


@rule("run", "cancel")
def cancel(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.cancel()` -> `mlflow.end_run(status="KILLED")` (Azure's Canceled)."""
    return Rewrite(call(ctx.mlflow("end_run"), arg(string("KILLED"), "status")), "run-cancel")


@rule("run", "flush", "timeout_seconds")
def flush(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.flush()` -> `mlflow.flush_async_logging()`."""
    return Rewrite(call(ctx.mlflow("flush_async_logging")), "run-flush")


@rule("run", "start")
def start(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.start()`: MLflow runs are RUNNING from creation, so the statement goes."""
    return Rewrite(call(ctx.mlflow("active_run")), "run-start", remove=True)


@rule("run", "child_run", "name", "run_id", "outputs")
def child_run(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.child_run(name)` -> `mlflow.start_run(run_name=name, nested=True)`."""
    if "run_id" in a:
        return Rewrite(None, "unsupported-call", "MLflow chooses run ids: drop run_id=.")
    args = [arg(a["name"].value, "run_name")] if "name" in a else []
    return Rewrite(
        call(ctx.mlflow("start_run"), *args, arg(cst.Name("True"), "nested")), "run-child-run"
    )


@rule(
    "experiment",
    "start_logging",
    "name",
    "run_id",
    "outputs",
    "snapshot_directory",
    "tags",
    "display_name",
    "description",
)
def start_logging(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`exp.start_logging(...)` -> `mlflow.start_run(experiment_id=exp.experiment_id, ...)`.

    An experiment that stays an SDK v1 one (`ctx.kept`) has no MLflow id: the run goes to the
    MLflow experiment of the same name, `mlflow.set_experiment(exp.name).experiment_id`.
    """
    if "run_id" in a:
        return Rewrite(None, "unsupported-call", "MLflow chooses run ids: drop run_id=.")
    experiment_id = cst.Attribute(value=ctx.receiver, attr=cst.Name("experiment_id"))
    if ctx.kept:
        named = code(ctx, "MLFLOW.set_experiment(EXP.name)", EXP=ctx.receiver)
        experiment_id = cst.Attribute(value=named, attr=cst.Name("experiment_id"))
    args = [arg(experiment_id, "experiment_id")]
    name = a.get("display_name") or a.get("name")
    if name is not None:
        args.append(arg(name.value, "run_name"))
    for key in ("tags", "description"):
        if key in a:
            args.append(arg(a[key].value, key))
    return Rewrite(call(ctx.mlflow("start_run"), *args), "experiment-start-logging")


@rule("workspace", "get_mlflow_tracking_uri")
def tracking_uri(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`ws.get_mlflow_tracking_uri()` -> `mlflow.get_tracking_uri()` (the workspace is the store)."""
    return Rewrite(call(ctx.mlflow("get_tracking_uri")), "workspace")
