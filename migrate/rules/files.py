"""`log_image` and the `upload_*` family: artifacts keep their v1 names where MLflow can."""

from __future__ import annotations

import posixpath

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, fill, literal_str, string


@rule("run", "log_image", "name", "path", "plot", "description")
def log_image(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    name = literal_str(a["name"].value)
    if "plot" in a and "path" not in a:
        figure = a["plot"].value
        if ctx.resolver.qualified(figure) == "matplotlib.pyplot":
            figure = call(cst.Attribute(value=figure, attr=cst.Name("gcf")))
        target = (
            string(f"{name}.png")
            if name is not None
            else fill('f"{NAME}.png"', NAME=a["name"].value)
        )
        return Rewrite(
            call(ctx.mlflow("log_figure"), arg(figure), arg(target)), "run-log-image-plot"
        )
    if "path" in a and "plot" not in a:
        path = literal_str(a["path"].value)
        detail = ""
        if name is None or path is None or not posixpath.basename(path).startswith(name):
            detail = "MLflow stores the file under its own name, not the v1 name."
        return Rewrite(
            call(ctx.mlflow("log_artifact"), arg(a["path"].value)), "run-log-image-path", detail
        )
    return Rewrite(None, "run-log-image-path", "Azure ML needed exactly one of path and plot.")


@rule("run", "upload_file", "name", "path_or_stream", "datastore_name")
def upload_file(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    name = literal_str(a["name"].value)
    path = literal_str(a["path_or_stream"].value)
    rule_id = "run-upload-datastore" if "datastore_name" in a else "run-upload-file"
    if name is not None:
        folder, base = posixpath.split(name)
        args = [arg(a["path_or_stream"].value)]
        if folder:
            args.append(arg(string(folder), "artifact_path"))
        detail = ""
        if path is None or posixpath.basename(path.replace("\\", "/")) != base:
            detail = f"MLflow keeps the file's own name: it is stored in '{folder or '.'}' "
            detail += "under its file name, not as '" + base + "'."
        return Rewrite(call(ctx.mlflow("log_artifact"), *args), rule_id, detail)
    ctx.needs.add("os")
    folder_expr = fill("os.path.dirname(NAME) or None", NAME=a["name"].value)
    node = call(
        ctx.mlflow("log_artifact"),
        arg(a["path_or_stream"].value),
        arg(folder_expr, "artifact_path"),
    )
    return Rewrite(
        node,
        rule_id,
        "The name is computed at run time: MLflow keeps the file's own name in that folder.",
    )


@rule("run", "upload_folder", "name", "path", "datastore_name")
def upload_folder(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(
        call(
            ctx.mlflow("log_artifacts"), arg(a["path"].value), arg(a["name"].value, "artifact_path")
        ),
        "run-upload-folder",
    )


@rule(
    "run", "upload_files", "names", "paths", "return_artifacts", "timeout_seconds", "datastore_name"
)
def upload_files(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    ctx.needs.update({"mlflow", "os"})
    code = (
        "[mlflow.log_artifact(_path, artifact_path=os.path.dirname(_name) or None) "
        "for _name, _path in zip(NAMES, PATHS)]"
    )
    expr = fill(code, NAMES=a["names"].value, PATHS=a["paths"].value)
    return Rewrite(
        expr, "run-upload-files", "MLflow keeps each file's own name in the v1 name's folder."
    )


@rule("logger", "upload", "path", "content")
def workbench_upload(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    return Rewrite(
        call(ctx.mlflow("log_text"), arg(a["content"].value), arg(a["path"].value)),
        "workbench-upload",
    )
