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


def _tag_value(ctx: Context, value: cst.BaseExpression) -> tuple[cst.BaseExpression, bool]:
    """A tag value as Azure ML stored it: None as "" (MLflow would store the text "None").

    A literal None becomes ""; a name or attribute the source does not show to be something
    else (`args.note`, `commit`) is converted at run time; `os.environ.get(k)` and `os.getenv(k)`
    get the default "" (a text default is kept). Anything else is kept as it is; the flag says whether it may still be
    None at run time (a call's result or an item whose type the source does not show).
    """
    kind = infer(ctx, value)
    if kind == "none":
        return string(""), False
    if kind != "unknown":
        return value, False
    if isinstance(value, (cst.Name, cst.Attribute)):
        return code(ctx, '"" if VALUE is None else VALUE', VALUE=value), False
    if isinstance(value, cst.Call) and _environment_lookup(ctx, value):
        if len(value.args) == 1:
            return value.with_changes(args=[*value.args, arg(string(""))]), False
        return value, infer(ctx, value.args[1].value) not in ("str", "number", "bool")
    return value, isinstance(value, (cst.Call, cst.Subscript))


def _environment_lookup(ctx: Context, node: cst.Call) -> bool:
    """Whether `node` is `os.environ.get(key[, default])` or `os.getenv(...)` (values are text)."""
    plain = 1 <= len(node.args) <= 2 and all(a.keyword is None and not a.star for a in node.args)
    return plain and ctx.resolver.qualified(node.func) in ("os.environ.get", "os.getenv")


def _none_free(ctx: Context, value: cst.BaseExpression) -> bool:
    """Whether a literal dict holds no None value (nor a `**` it cannot see into)."""
    return isinstance(value, cst.Dict) and all(
        isinstance(e, cst.DictElement) and infer(ctx, e.value) != "none" for e in value.elements
    )


def _none_as_empty(ctx: Context, value: cst.BaseExpression) -> tuple[cst.BaseExpression, bool]:
    """The tags with None values as "" (Azure ML stored an empty tag; MLflow would say "None").

    A literal dict's None values are written as "" (the flag says whether a value in it may
    still be None: see `_tag_value`); a dict the source does not show (a name bound to something
    else than such literal dicts, a call) is converted at run time.
    """
    if isinstance(value, cst.Dict) and all(isinstance(e, cst.DictElement) for e in value.elements):
        elements: list[cst.BaseDictElement] = []
        maybe_none = False
        for element in value.elements:
            assert isinstance(element, cst.DictElement)
            item, maybe = _tag_value(ctx, element.value)
            maybe_none |= maybe
            elements.append(element.with_changes(value=item))
        return value.with_changes(elements=elements), maybe_none
    if isinstance(value, cst.Name) and ctx.scope is not None and value.value not in ctx.shadowed:
        values = ctx.resolver.values_of(value.value, ctx.scope)
        if values and all(_none_free(ctx, v) for v in values):
            return value, False
    key, item = cst.Name(ctx.fresh("key")), cst.Name(ctx.fresh("value"))
    return code(
        ctx, '{KEY: "" if ITEM is None else ITEM for KEY, ITEM in TAGS.items()}',
        KEY=key, ITEM=item, TAGS=value,
    ), False  # fmt: skip


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
    item, maybe_none = _tag_value(ctx, value.value)
    node = call(ctx.mlflow("set_tag"), arg(key), arg(item))
    return Rewrite(node, "run-tag-maybe-none" if maybe_none else "run-tag")


@rule("run", "set_tags", "tags")
def set_tags(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.set_tags(tags)` -> `mlflow.set_tags(tags)`."""
    tags = a["tags"].value
    bad = _invalid(_dict_keys(tags))
    if bad:
        return Rewrite(None, "invalid-key", bad)
    new, maybe_none = _none_as_empty(ctx, tags)
    node = call(ctx.mlflow("set_tags"), arg(new))
    return Rewrite(node, "run-tag-maybe-none" if maybe_none else "run-set-tags")


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
