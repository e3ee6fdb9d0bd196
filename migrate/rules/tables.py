"""`log_row`, `log_table` and the four JSON metric kinds."""

from __future__ import annotations

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, code, fill, infer, literal_str, string

_NO_COLUMN_METRICS = (
    "Numeric columns are not also logged as metric histories (the shim logs <name>/<column>): "
    "add mlflow.log_metric calls if you chart them."
)


def artifact_file(name: cst.BaseExpression, prefix: str, suffix: str) -> cst.BaseExpression:
    """`"<prefix><name><suffix>"`: a literal when the name is one, else an f-string."""
    text = literal_str(name)
    if text is not None:
        return string(f"{prefix}{text}{suffix}")
    return fill(f'f"{prefix}{{NAME}}{suffix}"', NAME=name)


def _column(value: cst.BaseExpression) -> cst.BaseExpression:
    """A table cell as a one-row column: `[value]`."""
    return cst.List([cst.Element(value)])


@rule("run", "log_row", "name", "description", var_keyword=True)
def log_row(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.log_row(name, **columns)` -> `mlflow.log_table` of one row (it appends)."""
    columns = [(k, v) for k, v in a.items() if k not in ("name", "description")]
    elements = [cst.DictElement(string(k), _column(v.value)) for k, v in columns]
    data = cst.Dict(elements)
    target = artifact_file(a["name"].value, "tables/", ".json")
    return Rewrite(
        call(ctx.mlflow("log_table"), arg(data), arg(target, "artifact_file")),
        "run-log-row",
        _NO_COLUMN_METRICS,
    )


def _columns(ctx: Context, value: cst.BaseExpression) -> cst.BaseExpression:
    """A literal dict's scalar cells become one-row columns (pandas needs lists)."""
    if not isinstance(value, cst.Dict):
        return value
    elements: list[cst.BaseDictElement] = []
    for element in value.elements:
        if isinstance(element, cst.DictElement) and infer(ctx, element.value) in (
            "number",
            "bool",
            "str",
            "none",
        ):
            element = element.with_changes(value=_column(element.value))
        elements.append(element)
    return value.with_changes(elements=elements)


@rule("run", "log_table", "name", "value", "description")
def log_table(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.log_table(name, columns)` -> `mlflow.log_table(columns, tables/<name>.json)`."""
    target = artifact_file(a["name"].value, "tables/", ".json")
    data = _columns(ctx, a["value"].value)
    return Rewrite(
        call(ctx.mlflow("log_table"), arg(data), arg(target, "artifact_file")),
        "run-log-table",
        _NO_COLUMN_METRICS,
    )


def parsed(ctx: Context, value: cst.BaseExpression) -> cst.BaseExpression:
    """The JSON value as a Python object: `json.dumps(x)` unwrapped, a string parsed.

    `mlflow.log_dict` serialises what it is given, so a JSON string passed as it is would be
    stored double-encoded (a JSON string holding JSON). When the source does not show whether
    the value is a string, the output decides at run time.
    """
    if (
        isinstance(value, cst.Call)
        and ctx.resolver.qualified(value.func) == "json.dumps"
        and value.args
        and value.args[0].keyword is None
        and value.args[0].star == ""
    ):
        return value.args[0].value
    kind = infer(ctx, value)
    if kind in ("dict", "list"):
        return value
    if kind == "str" or literal_str(value) is not None:
        return code(ctx, "JSON.loads(V)", V=value)
    if isinstance(value, (cst.Name, cst.Attribute)):
        return code(ctx, "JSON.loads(V) if isinstance(V, str) else V", V=value)
    tmp = cst.Name(ctx.fresh("value"))
    return code(ctx, "JSON.loads(T) if isinstance(T := V, str) else T", V=value, T=tmp)


def json_kind(rule_id: str) -> None:
    """Register the rule for one JSON metric kind: `mlflow.log_dict(value, "<name>.json")`."""
    method = rule_id.removeprefix("run-").replace("-", "_")

    @rule("run", method, "name", "value", "description")
    def rewrite(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
        target = artifact_file(a["name"].value, "", ".json")
        value = parsed(ctx, a["value"].value)
        return Rewrite(call(ctx.mlflow("log_dict"), arg(value), arg(target)), rule_id)


for _rule_id in (
    "run-log-confusion-matrix",
    "run-log-accuracy-table",
    "run-log-predictions",
    "run-log-residuals",
):
    json_kind(_rule_id)
