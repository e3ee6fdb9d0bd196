"""Tags and properties.

MLflow validates tag and param keys as it does metric names. A literal key it would reject is not
renamed (tags and params are read back by their exact key): the call is left as it is and
reported (`invalid-key`), with the name the shim would use.
"""

from __future__ import annotations

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, code, infer, literal_str, statement, string
from shims.names import mlflow_name


def _invalid(keys: list[cst.BaseExpression]) -> str:
    """A note naming the literal keys MLflow rejects (empty when all are accepted)."""
    bad = [t for t in (literal_str(k) for k in keys) if t is not None and mlflow_name(t) != t]
    return " ".join(
        f"'{t}' is rejected by MLflow (the shim stores it as '{mlflow_name(t)}')." for t in bad
    )


def _dict_keys(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    if not isinstance(value, cst.Dict):
        return []
    return [e.key for e in value.elements if isinstance(e, cst.DictElement)]


def _tag_value(ctx: Context, value: cst.BaseExpression) -> cst.BaseExpression:
    """A tag value as Azure ML stored it: None as "" (MLflow would store the text "None").

    A literal None becomes ""; a name or attribute the source does not show to be something
    else (`args.note`, `commit`) is converted at run time; anything else is kept as it is.
    """
    kind = infer(ctx, value)
    if kind == "none":
        return string("")
    if kind == "unknown" and isinstance(value, (cst.Name, cst.Attribute)):
        return code(ctx, '"" if VALUE is None else VALUE', VALUE=value)
    return value


def _none_free(ctx: Context, value: cst.BaseExpression) -> bool:
    """Whether a literal dict holds no None value (nor a `**` it cannot see into)."""
    return isinstance(value, cst.Dict) and all(
        isinstance(e, cst.DictElement) and infer(ctx, e.value) != "none" for e in value.elements
    )


def _none_as_empty(ctx: Context, value: cst.BaseExpression) -> cst.BaseExpression:
    """The tags with None values as "" (Azure ML stored an empty tag; MLflow would say "None").

    A literal dict's None values are written as ""; a dict the source does not show (a name
    bound to something else than such literal dicts, a call) is converted at run time.
    """
    if isinstance(value, cst.Dict) and all(isinstance(e, cst.DictElement) for e in value.elements):
        elements: list[cst.BaseDictElement] = []
        for element in value.elements:
            assert isinstance(element, cst.DictElement)
            elements.append(element.with_changes(value=_tag_value(ctx, element.value)))
        return value.with_changes(elements=elements)
    if isinstance(value, cst.Name) and ctx.scope is not None and value.value not in ctx.shadowed:
        values = ctx.resolver.values_of(value.value, ctx.scope)
        if values and all(_none_free(ctx, v) for v in values):
            return value
    key, item = cst.Name(ctx.fresh("key")), cst.Name(ctx.fresh("value"))
    return code(
        ctx, '{KEY: "" if ITEM is None else ITEM for KEY, ITEM in TAGS.items()}',
        KEY=key, ITEM=item, TAGS=value,
    )  # fmt: skip


@rule("run", "tag", "key", "value")
def tag(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.tag(key, value=None)` -> `mlflow.set_tag(key, value)`, None as "" (see `_tag_value`)."""
    key = a["key"].value
    bad = _invalid([key])
    if bad:
        return Rewrite(None, "invalid-key", bad)
    value = a.get("value")
    if value is None or (isinstance(value.value, cst.Name) and value.value.value == "None"):
        return Rewrite(call(ctx.mlflow("set_tag"), arg(key), arg(string(""))), "run-tag-key-only")
    return Rewrite(
        call(ctx.mlflow("set_tag"), arg(key), arg(_tag_value(ctx, value.value))), "run-tag"
    )


@rule("run", "set_tags", "tags")
def set_tags(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.set_tags(tags)` -> `mlflow.set_tags(tags)`."""
    tags = a["tags"].value
    bad = _invalid(_dict_keys(tags))
    if bad:
        return Rewrite(None, "invalid-key", bad)
    return Rewrite(call(ctx.mlflow("set_tags"), arg(_none_as_empty(ctx, tags))), "run-set-tags")


@rule("run", "add_properties", "properties")
def add_properties(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.add_properties(props)` -> `mlflow.log_params(props)` (both write-once)."""
    properties = a["properties"].value
    bad = _invalid(_dict_keys(properties))
    if bad:
        return Rewrite(None, "invalid-key", bad)
    return Rewrite(call(ctx.mlflow("log_params"), arg(properties)), "run-add-properties")


@rule("run", "remove_tags", "tags")
def remove_tags(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.remove_tags(keys)` -> `mlflow.delete_tag` per key."""
    tags = a["tags"].value
    kind = infer(ctx, tags)
    if kind == "str" or literal_str(tags) is not None:
        return Rewrite(call(ctx.mlflow("delete_tag"), arg(tags)), "run-remove-tags")
    key = cst.Name(ctx.fresh("key"))
    keys = tags if kind == "list" or isinstance(tags, cst.Tuple) else None
    if keys is None:
        keys = code(ctx, "([TAGS] if isinstance(TAGS, str) else TAGS)", TAGS=tags)
    loop = statement(ctx, "for KEY in KEYS:\n    MLFLOW.delete_tag(KEY)\n", KEY=key, KEYS=keys)
    expr = code(ctx, "[MLFLOW.delete_tag(KEY) for KEY in KEYS]", KEY=key, KEYS=keys)
    return Rewrite(expr, "run-remove-tags", statements=[loop])
