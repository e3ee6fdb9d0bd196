"""`run.log`, `run.log_list` and the Workbench logger's `.log`."""

from __future__ import annotations

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, fill, literal_str, string, value_kind
from shims.names import mlflow_name


def metric_name(name: cst.BaseExpression) -> tuple[cst.BaseExpression, str]:
    """The name to log under: a literal MLflow rejects is replaced by its valid form."""
    text = literal_str(name)
    if text is None or mlflow_name(text) == text:
        return name, ""
    return string(mlflow_name(text)), f"'{text}' is stored as '{mlflow_name(text)}'."


def log_value(ctx: Context, a: Args, key: str = "name") -> Rewrite:
    name, renamed = metric_name(a[key].value)
    value = a["value"].value
    kind = value_kind(value)
    extra = [arg(a["step"].value, "step")] if "step" in a else []
    if kind in ("str", "none"):
        text = string("None") if kind == "none" else value
        node = call(ctx.mlflow("set_tag"), arg(name), arg(text))
        return Rewrite(node, "run-log-text", renamed)
    node = call(ctx.mlflow("log_metric"), arg(name), arg(value), *extra)
    if renamed:
        return Rewrite(node, "metric-name", renamed)
    if kind == "bool":
        return Rewrite(node, "run-log-bool")
    if kind == "unknown":
        return Rewrite(node, "run-log-unknown")
    return Rewrite(node, "run-log")


@rule("run", "log", "name", "value", "description", "step")
def run_log(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    if isinstance(a["value"].value, (cst.List, cst.ListComp, cst.GeneratorExp)):
        return Rewrite(None, "run-log", "A list value raised in Azure ML: use log_list.")
    return log_value(ctx, a)


def batch(ctx: Context, name: cst.BaseExpression, values: cst.BaseExpression) -> cst.Call:
    """One `log_batch` request (split by MLflow into chunks) with steps 0..n-1."""
    ctx.needs.update({"mlflow", "time"})
    template = (
        "mlflow.MlflowClient().log_batch(mlflow.active_run().info.run_id, metrics=["
        "mlflow.entities.Metric(NAME, float(_value), int(time.time() * 1000), _step) "
        "for _step, _value in enumerate(VALUES)])"
    )
    expr = fill(template, NAME=name, VALUES=values)
    assert isinstance(expr, cst.Call)
    return expr


@rule("run", "log_list", "name", "value", "description")
def run_log_list(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    name, renamed = metric_name(a["name"].value)
    return Rewrite(batch(ctx, name, a["value"].value), "run-log-list", renamed)


@rule("logger", "log", "name", "value")
def workbench_log(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    value = a["value"].value
    name, renamed = metric_name(a["name"].value)
    if isinstance(value, (cst.List, cst.Tuple, cst.ListComp)):
        return Rewrite(batch(ctx, name, value), "workbench-log", renamed)
    done = log_value(ctx, a)
    if done.rule == "run-log-unknown" and isinstance(value, (cst.Name, cst.Attribute)):
        # The Workbench logger took a scalar or a list: decide when the script runs.
        either = cst.IfExp(
            test=fill("isinstance(V, (list, tuple))", V=value),
            body=batch(ctx, name, value),
            orelse=done.node,  # type: ignore[arg-type]
        )
        return Rewrite(either, "workbench-log", renamed)
    return Rewrite(done.node, "workbench-log" if done.rule == "run-log" else done.rule, done.detail)
