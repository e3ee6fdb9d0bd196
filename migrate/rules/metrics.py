"""`run.log`, `run.log_list` and the Workbench logger's `.log`.

What a value becomes depends on what it is, which the rule works out from the source (see
`_shape.infer`): a number is a metric point, a bool a 0/1 metric, a string or None a tag (MLflow
metrics are numbers only), a list a batch of points. A value the source does not show is logged as a
metric and reported (`run-log-unknown`), so a person checks it cannot be text.
"""

from __future__ import annotations

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import ValueKind, arg, call, code, infer, literal_str, string
from shims.names import mlflow_name

_LOOP_NOTE = (
    "Logged in a loop without step=: MLflow puts every value at step 0 (the history is kept, "
    "ordered by time); pass step= to chart it by step."
)


def metric_name(name: cst.BaseExpression) -> tuple[cst.BaseExpression, str]:
    """The name to log under: a literal MLflow rejects is replaced by its valid form."""
    text = literal_str(name)
    if text is None or mlflow_name(text) == text:
        return name, ""
    return string(mlflow_name(text)), f"'{text}' is stored as '{mlflow_name(text)}'."


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def log_value(ctx: Context, a: Args, key: str = "name", kind: ValueKind | None = None) -> Rewrite:
    """One scalar value: a metric point, or a tag when it is text or None."""
    name, renamed = metric_name(a[key].value)
    value = a["value"].value
    kind = kind or infer(ctx, value)
    if kind in ("str", "none", "dict"):
        text = string("None") if kind == "none" else value
        node = call(ctx.mlflow("set_tag"), arg(name), arg(text))
        note = "Only the latest value is kept, as a tag."
        return Rewrite(node, "run-log-text", _join(renamed, note))
    extra = [arg(a["step"].value, "step")] if "step" in a else []
    node = call(ctx.mlflow("log_metric"), arg(name), arg(value), *extra)
    loop = _LOOP_NOTE if ctx.in_loop and not extra else ""
    if kind == "bool":
        return Rewrite(node, "run-log-bool", _join(renamed, loop))
    if kind == "infinite":
        return Rewrite(node, "run-log-infinite", _join(renamed, loop))
    if kind == "unknown":
        return Rewrite(node, "run-log-unknown", _join(renamed, loop))
    if renamed:
        return Rewrite(node, "metric-name", _join(renamed, loop))
    return Rewrite(node, "run-log", loop)


@rule("run", "log", "name", "value", "description", "step")
def run_log(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.log(name, value)`: a metric point, a 0/1 metric, or a tag for text (see `log_value`)."""
    kind = infer(ctx, a["value"].value)
    if kind == "list":
        return Rewrite(None, "unsupported-call", "A list value raised in Azure ML: use log_list.")
    return log_value(ctx, a, kind=kind)


def batch(ctx: Context, name: cst.BaseExpression, values: cst.BaseExpression) -> cst.Call:
    """One `log_batch` request (MLflow splits it within its limits) with steps 0..n-1."""
    step, item = ctx.fresh("step"), ctx.fresh("value")
    template = (
        "MLFLOW.MlflowClient().log_batch(MLFLOW.active_run().info.run_id, metrics=["
        f"MLFLOW.entities.Metric(NAME, float({item}), int(TIME.time() * 1000), {step}) "
        f"for {step}, {item} in enumerate(VALUES)])"
    )
    expr = code(ctx, template, NAME=name, VALUES=values)
    assert isinstance(expr, cst.Call)
    return expr


def _texts(values: cst.BaseExpression) -> bool:
    """Whether a literal list holds a string or None (which cannot be a metric)."""
    if not isinstance(values, (cst.List, cst.Tuple)):
        return False
    return any(isinstance(e, cst.Element) and value_is_text(e.value) for e in values.elements)


def value_is_text(node: cst.BaseExpression) -> bool:
    """Whether a literal is a string or None."""
    return isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)) or (
        isinstance(node, cst.Name) and node.value == "None"
    )


@rule("run", "log_list", "name", "value", "description")
def run_log_list(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.log_list(name, values)` -> one `log_batch` request with steps 0..n-1."""
    values = a["value"].value
    if _texts(values):
        return Rewrite(
            None,
            "run-log-list-text",
            "Text items cannot be metric values: keep them with mlflow.log_dict or mlflow.set_tag.",
        )
    name, renamed = metric_name(a["name"].value)
    return Rewrite(batch(ctx, name, values), "metric-name" if renamed else "run-log-list", renamed)


@rule("logger", "log", "name", "value")
def workbench_log(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """Workbench `logger.log(name, value)`: a list as `log_list`, a scalar as `run.log`."""
    value = a["value"].value
    kind = infer(ctx, value)
    if kind == "list" or isinstance(value, cst.Tuple):
        if _texts(value):
            return Rewrite(
                None,
                "run-log-list-text",
                "Text items cannot be metric values: keep them with mlflow.log_dict.",
            )
        name, renamed = metric_name(a["name"].value)
        rule_id = "metric-name" if renamed else "workbench-log"
        return Rewrite(batch(ctx, name, value), rule_id, renamed)
    done = log_value(ctx, a, kind=kind)
    if done.rule == "run-log-unknown":
        detail = _join(done.detail, "If it can be a list, log it with MlflowClient().log_batch.")
        return Rewrite(done.node, done.rule, detail)
    return Rewrite(done.node, "workbench-log" if done.rule == "run-log" else done.rule, done.detail)
