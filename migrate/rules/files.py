"""`log_image` and the `upload_*` family: artifacts keep their v1 names where MLflow can.

`mlflow.log_artifact(path, artifact_path=folder)` stores a file under its own name in `folder`.
That is the v1 name exactly when the v1 name is `<folder>/<the file's name>`, which the rule checks
from the source: both literal, or the name built from the path itself (`"outputs/" + f` with path
`f`, `f"outputs/{f}"`, `os.path.join("outputs", f)`). Otherwise the artifact keeps the file's own
name and the finding says so (`artifact-file-name`).
"""

from __future__ import annotations

import posixpath

import libcst as cst

from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import arg, call, code, literal_str, statement, string

_EMPTY = cst.Module(body=[])
_STREAMS = frozenset({"io.BytesIO", "io.StringIO"})


def _same(a: cst.BaseExpression, b: cst.BaseExpression) -> bool:
    return _EMPTY.code_for_node(a).strip() == _EMPTY.code_for_node(b).strip()


def split_name(
    ctx: Context, name: cst.BaseExpression
) -> tuple[str, str | cst.BaseExpression] | None:
    """A v1 artifact name as (folder, file name), the file name as text or as an expression.

    None when the name is computed in a way the source does not show.
    """
    text = literal_str(name)
    if text is not None:
        return posixpath.split(_clean(text))
    if isinstance(name, cst.BinaryOperation) and isinstance(name.operator, cst.Add):
        head = literal_str(name.left)
        if head is not None and head.endswith("/") and _clean(head):
            return _clean(head), name.right
    if isinstance(name, cst.FormattedString) and len(name.parts) == 2:
        text_part, expr_part = name.parts
        if (
            isinstance(text_part, cst.FormattedStringText)
            and isinstance(expr_part, cst.FormattedStringExpression)
            and expr_part.conversion is None
            and expr_part.format_spec is None
            and text_part.value.endswith("/")
            and "{" not in text_part.value
            and _clean(text_part.value)
        ):
            return _clean(text_part.value), expr_part.expression
    if (
        isinstance(name, cst.Call)
        and ctx.resolver.qualified(name.func) in ("os.path.join", "posixpath.join")
        and len(name.args) >= 2
        and all(a.keyword is None and not a.star for a in name.args)
    ):
        heads = [literal_str(a.value) for a in name.args[:-1]]
        if all(h is not None for h in heads) and not (heads[0] or "").startswith("/"):
            folder = _clean(posixpath.join(*[h for h in heads if h is not None]))
            if folder:
                return folder, name.args[-1].value
    return None


def _clean(path: str) -> str:
    """A legacy artifact name (or folder) as MLflow takes it: `\\` read as `/`, `./`, inner
    `..` and a leading `/` resolved, as the shim does (`shims.names.artifact_path`); "" for none.
    A name that still climbs above the run's folder (`../x`) is refused: see `_climbs`."""
    path = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    return "" if path in (".", "") else path


def _climbs(ctx: Context, name: cst.BaseExpression) -> bool:
    """Whether the literal part of an artifact name climbs above the run's folder (`../x`):
    MLflow refuses such a path, and so does the shim."""
    parts = split_name(ctx, name)
    folder = parts[0] if parts is not None else ""
    return folder == ".." or folder.startswith("../")


_CLIMBS = "The name climbs above the run's artifact folder ('..'), which MLflow refuses."


def _is_stream(ctx: Context, value: cst.BaseExpression) -> bool:
    if not isinstance(value, cst.Call):
        return False
    if isinstance(value.func, cst.Name) and value.func.value == "open":
        return True
    return ctx.resolver.qualified(value.func) in _STREAMS


def _folder_arg(ctx: Context, name: cst.BaseExpression, folder: str | None) -> list[cst.Arg]:
    if folder is None:
        return [arg(code(ctx, "OS.path.dirname(NAME) or None", NAME=name), "artifact_path")]
    return [arg(string(folder), "artifact_path")] if folder else []


_DYNAMIC = (
    "The name is computed at run time: the file is stored in that name's folder under its own "
    "file name."
)


def _own_name(v1: str) -> str:
    return f"MLflow stores the file under its own name in that folder, not as '{v1}'."


@rule("run", "log_image", "name", "path", "plot", "description")
def log_image(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.log_image(name, plot=...)` -> `mlflow.log_figure`; `path=` -> `mlflow.log_artifact`."""
    name = a["name"].value
    # `path=None` or `plot=None` is the same as leaving it out (Microsoft's own examples do).
    a = {
        k: v
        for k, v in a.items()
        if not (isinstance(v.value, cst.Name) and v.value.value == "None")
    }
    if "plot" in a and "path" not in a:
        figure = a["plot"].value
        if ctx.resolver.qualified(figure) == "matplotlib.pyplot":
            figure = call(cst.Attribute(value=figure, attr=cst.Name("gcf")))
        text = literal_str(name)
        target = (
            string(f"{text}.png") if text is not None else code(ctx, 'f"{NAME}.png"', NAME=name)
        )
        return Rewrite(
            call(ctx.mlflow("log_figure"), arg(figure), arg(target)), "run-log-image-plot"
        )
    if "path" not in a or "plot" in a:
        return Rewrite(None, "unsupported-call", "Azure ML needed exactly one of path= and plot=.")
    path = a["path"].value
    if _is_stream(ctx, path):
        return Rewrite(None, "unsupported-call", "mlflow.log_artifact needs a file path.")
    if _climbs(ctx, name):
        return Rewrite(None, "unsupported-call", _CLIMBS)
    parts = split_name(ctx, name)
    folder = parts[0] if parts is not None else None
    node = call(ctx.mlflow("log_artifact"), arg(path), *_folder_arg(ctx, name, folder))
    if parts is None:
        return Rewrite(node, "artifact-file-name", _DYNAMIC)
    base, path_text = parts[1], literal_str(path)
    if isinstance(base, str) and path_text is not None:
        file_name = posixpath.basename(path_text.replace("\\", "/"))
        ext = posixpath.splitext(file_name)[1]
        v1 = base if base.lower().endswith(ext.lower()) else base + ext
        if v1 == file_name:
            return Rewrite(node, "run-log-image-path")
        return Rewrite(node, "artifact-file-name", _own_name(posixpath.join(folder or "", v1)))
    if isinstance(base, str):  # a literal name, a path the source does not show
        v1 = posixpath.join(folder or "", base)
        return Rewrite(
            node, "artifact-file-name", f"The path is computed at run time: {_own_name(v1)}"
        )
    return Rewrite(node, "artifact-file-name", _DYNAMIC)


@rule("run", "upload_file", "name", "path_or_stream", "datastore_name")
def upload_file(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.upload_file(name, path)` -> `mlflow.log_artifact(path, artifact_path=<folder>)`."""
    name, path = a["name"].value, a["path_or_stream"].value
    if _is_stream(ctx, path):
        return Rewrite(None, "unsupported-call", "mlflow.log_artifact needs a file path.")
    if _climbs(ctx, name):
        return Rewrite(None, "unsupported-call", _CLIMBS)
    datastore = "datastore_name" in a
    parts = split_name(ctx, name)
    folder = parts[0] if parts is not None else None
    new = call(ctx.mlflow("log_artifact"), arg(path), *_folder_arg(ctx, name, folder))
    if parts is None and not _same(name, path):
        return Rewrite(new, "artifact-file-name", _DYNAMIC)
    if parts is not None:
        # The v1 name is <folder>/<base>: exact when base is the file's own name.
        base, path_text = parts[1], literal_str(path)
        exact = (
            isinstance(base, str)
            and path_text is not None
            and posixpath.basename(path_text.replace("\\", "/")) == base
        ) or (not isinstance(base, str) and _same(base, path))
        if not exact:
            v1 = literal_str(name) or "the v1 name"
            return Rewrite(new, "artifact-file-name", _own_name(v1))
    if datastore:
        return Rewrite(new, "run-upload-datastore", "datastore_name= is dropped.")
    return Rewrite(new, "run-upload-file")


@rule("run", "upload_folder", "name", "path", "datastore_name")
def upload_folder(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.upload_folder(name, path)` -> `mlflow.log_artifacts(path, artifact_path=name)`."""
    name: cst.BaseExpression | None = a["name"].value
    text = literal_str(a["name"].value)
    if text is not None:
        folder = _clean(text)
        if folder == ".." or folder.startswith("../"):
            return Rewrite(None, "unsupported-call", _CLIMBS)
        name = string(folder) if folder else None  # "./": the run's own folder
    where = [arg(name, "artifact_path")] if name is not None else []
    return Rewrite(
        call(ctx.mlflow("log_artifacts"), arg(a["path"].value), *where),
        "run-upload-folder",
        "datastore_name= is dropped." if "datastore_name" in a else "",
    )


def _literal_names(node: cst.BaseExpression) -> list[str] | None:
    if not isinstance(node, (cst.List, cst.Tuple)):
        return None
    out = []
    for element in node.elements:
        text = literal_str(element.value) if isinstance(element, cst.Element) else None
        if text is None:
            return None
        out.append(text.replace("\\", "/"))
    return out


@rule(
    "run", "upload_files", "names", "paths", "return_artifacts", "timeout_seconds", "datastore_name"
)
def upload_files(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.upload_files(names, paths)` -> one `mlflow.log_artifact` per file."""
    names, paths = a["names"].value, a["paths"].value
    name_var, path_var = cst.Name(ctx.fresh("name")), cst.Name(ctx.fresh("path"))
    holes = {"NAMES": names, "PATHS": paths, "N": name_var, "P": path_var}
    loop = statement(
        ctx,
        "for N, P in zip(NAMES, PATHS):\n    MLFLOW.log_artifact(P, artifact_path=OS.path.dirname(N) or None)\n",
        **holes,
    )
    expr = code(
        ctx,
        "[MLFLOW.log_artifact(P, artifact_path=OS.path.dirname(N) or None) "
        "for N, P in zip(NAMES, PATHS)]",
        **holes,
    )
    v1, files = _literal_names(names), _literal_names(paths)
    detail = "Each file is stored in its v1 name's folder under its own file name."
    if v1 is None or files is None or len(v1) != len(files):
        return Rewrite(expr, "artifact-file-name", detail, statements=[loop])
    # Literal lists: one mlflow.log_artifact per file, each folder written out.
    assert isinstance(paths, (cst.List, cst.Tuple))
    calls: list[cst.BaseStatement] = []
    for n, element in zip(v1, paths.elements):
        folder = posixpath.dirname(n)
        args = [arg(element.value), *([arg(string(folder), "artifact_path")] if folder else [])]
        calls.append(cst.SimpleStatementLine([cst.Expr(call(ctx.mlflow("log_artifact"), *args))]))
    if all(posixpath.basename(n) == posixpath.basename(f) for n, f in zip(v1, files)):
        return Rewrite(expr, "run-upload-files", statements=calls)
    return Rewrite(expr, "artifact-file-name", detail, statements=calls)


@rule("logger", "upload", "path", "content")
def workbench_upload(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """Workbench `logger.upload(path, content)` -> `mlflow.log_text(content, path)`."""
    return Rewrite(
        call(ctx.mlflow("log_text"), arg(a["content"].value), arg(a["path"].value)),
        "workbench-upload",
    )
