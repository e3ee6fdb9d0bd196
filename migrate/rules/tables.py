"""`log_row`, `log_table` and the four JSON metric kinds."""

from __future__ import annotations

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, fill, literal_str, string


def artifact_file(name: cst.BaseExpression, prefix: str, suffix: str) -> cst.BaseExpression:
    text = literal_str(name)
    if text is not None:
        return string(f"{prefix}{text}{suffix}")
    return fill(f'f"{prefix}{{NAME}}{suffix}"', NAME=name)


@rule("run", "log_row", "name", "description", var_keyword=True)
def log_row(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    columns = [(k, v) for k, v in a.items() if k not in ("name", "description")]
    elements = [cst.DictElement(string(k), cst.List([cst.Element(v.value)])) for k, v in columns]
    data = cst.Dict(elements)
    target = artifact_file(a["name"].value, "tables/", ".json")
    return Rewrite(
        call(ctx.mlflow("log_table"), arg(data), arg(target, "artifact_file")), "run-log-row"
    )


@rule("run", "log_table", "name", "value", "description")
def log_table(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    target = artifact_file(a["name"].value, "tables/", ".json")
    return Rewrite(
        call(ctx.mlflow("log_table"), arg(a["value"].value), arg(target, "artifact_file")),
        "run-log-table",
    )


def parsed(ctx: Context, value: cst.BaseExpression) -> cst.BaseExpression:
    """The JSON value as a Python object: `json.dumps(x)` unwrapped, a string parsed."""
    if (
        isinstance(value, cst.Call)
        and ctx.resolver.qualified(value.func) == "json.dumps"
        and value.args
        and value.args[0].keyword is None
        and value.args[0].star == ""
    ):
        return value.args[0].value
    if isinstance(value, (cst.Dict, cst.List, cst.DictComp, cst.ListComp)):
        return value
    ctx.needs.add("json")
    if literal_str(value) is not None:
        return call(cst.parse_expression("json.loads"), arg(value))
    if isinstance(value, (cst.Name, cst.Attribute)):
        return fill("json.loads(V) if isinstance(V, str) else V", V=value)
    return fill("json.loads(_json) if isinstance(_json := V, str) else _json", V=value)


def json_kind(rule_id: str) -> None:
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
