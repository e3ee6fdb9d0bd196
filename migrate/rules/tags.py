"""Tags and properties."""

from __future__ import annotations

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, fill, string


@rule("run", "tag", "key", "value")
def tag(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    key = a.get("key") or a.get("name")
    if key is None:
        return Rewrite(None, "run-tag", "The call names no tag key.")
    if "value" not in a or (
        isinstance(a["value"].value, cst.Name) and a["value"].value.value == "None"
    ):
        return Rewrite(
            call(ctx.mlflow("set_tag"), arg(key.value), arg(string(""))), "run-tag-key-only"
        )
    return Rewrite(call(ctx.mlflow("set_tag"), arg(key.value), arg(a["value"].value)), "run-tag")


@rule("run", "set_tags", "tags")
def set_tags(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(call(ctx.mlflow("set_tags"), arg(a["tags"].value)), "run-set-tags")


@rule("run", "add_properties", "properties")
def add_properties(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(call(ctx.mlflow("log_params"), arg(a["properties"].value)), "run-add-properties")


@rule("run", "remove_tags", "tags")
def remove_tags(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    ctx.needs.add("mlflow")
    code = (
        "[mlflow.MlflowClient().delete_tag(mlflow.active_run().info.run_id, _key) "
        "for _key in ([TAGS] if isinstance(TAGS, str) else TAGS)]"
    )
    return Rewrite(fill(code, TAGS=a["tags"].value), "run-remove-tags")
