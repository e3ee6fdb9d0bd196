"""The rewrite engine: `ast` finds the sites, libcst rewrites only the spans that change.

A legacy call is a span of the source (from `ast` positions). Its text is parsed with libcst as an
expression, handed to its rule (`migrate.rules`), and the rule's output replaces exactly that span;
everything outside the spans (comments, blank lines, quoting, line endings) is the original text,
byte for byte. Nested legacy calls (`Experiment(ws, "x").start_logging()`) are rewritten inside
out. Then the imports are fixed as text: legacy imports nothing reads any more are removed (their
comments kept) and `import mlflow` (and `json`, `os`, `time` when the output needs them) is added
after the module's leading imports.

This keeps `rewrite --check` and `audit` at a fraction of a full libcst parse (see
`bench/bench_rewrite.py`) while every rewritten span still goes through libcst.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import libcst as cst

from migrate.catalogue import entry
from migrate.findings import Finding
from migrate.rules import Args, Context, Rewrite, Rule, load
from migrate.rules._shape import arg, call
from migrate.rules.lifecycle import active_or_new
from migrate.scan import Kind, Resolver, Scope, might_contain_legacy

Target = Literal["mlflow", "shim"]

DISTINCTIVE = frozenset(
    {
        "log_list", "log_row", "log_table", "log_image", "log_confusion_matrix",
        "log_accuracy_table", "log_predictions", "log_residuals", "upload_file", "upload_files",
        "upload_folder", "add_properties", "child_run", "get_context", "start_logging",
    }
)  # fmt: skip
MANUAL: dict[tuple[Kind, str], str] = {
    ("run", "wait_for_completion"): "run-wait-for-completion",
    ("run", "submit_child"): "run-submit-child",
    ("run", "register_model"): "run-register-model",
    ("run", "get_metrics"): "run-get-metrics",
    ("run", "get_tags"): "run-get-tags",
    ("run", "get_properties"): "run-get-properties",
    ("run", "get_file_names"): "run-get-file-names",
    ("run", "download_file"): "run-download-file",
    ("run", "download_files"): "run-download-files",
    ("run", "get_status"): "run-get-status",
    ("run", "get_details"): "run-get-details",
    ("run", "get_children"): "run-get-children",
    ("run", "create_children"): "run-create-children",
    ("experiment", "submit"): "experiment-submit",
}
SHIM_MODULES = {"azureml.core", "azureml.core.run", "azureml.logging"}
_NEWLINE = re.compile(r"\r\n|\r|\n")
_EMPTY = cst.Module(body=[])


@dataclass
class Result:
    """What one module became: its new source and its findings (in source order)."""

    source: str
    code: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.code != self.source


class RewriteError(Exception):
    """The rewritten code did not parse (a bug in a rule): the file must be left untouched."""


class Lines:
    """Offsets of a source text, from `ast`'s (line, UTF-8 byte column) positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]
        newline = _NEWLINE.search(text)
        self.newline = newline.group() if newline else "\n"

    def offset(self, line: int, col: int) -> int:
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        text = self.text[start:end]
        if not text.isascii():
            col = len(text.encode("utf-8")[:col].decode("utf-8", errors="replace"))
        return start + col

    def span(self, node: ast.expr | ast.stmt) -> tuple[int, int]:
        assert node.end_lineno is not None and node.end_col_offset is not None
        return (
            self.offset(node.lineno, node.col_offset),
            self.offset(node.end_lineno, node.end_col_offset),
        )

    def column(self, node: ast.AST) -> int:
        line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        return self.offset(line, col) - self.starts[line - 1] + 1


def bind_args(rule: Rule, node: cst.Call) -> Args | None:
    """Map the call's arguments to the legacy parameter names; None when * or ** hide them."""
    out: Args = {}
    if any(a.star for a in node.args):
        return None
    positional = [a for a in node.args if a.keyword is None]
    if len(positional) > len(rule.params):
        return None
    for name, a in zip(rule.params, positional):
        out[name] = a
    for a in node.args:
        if a.keyword is None:
            continue
        key = a.keyword.value
        # The offline run's parameter names (tag(name=), upload_files(name=)).
        if rule.method == "tag" and key == "name":
            key = "key"
        if rule.method == "upload_files" and key == "name":
            key = "names"
        if key not in rule.params and not rule.var_keyword:
            return None
        out[key] = a
    required = {
        "log": ("name", "value"), "log_list": ("name", "value"), "log_row": ("name",),
        "log_table": ("name", "value"), "upload_file": ("name", "path_or_stream"),
        "upload_folder": ("name", "path"), "upload_files": ("names", "paths"),
        "add_properties": ("properties",), "set_tags": ("tags",), "remove_tags": ("tags",),
        "upload": ("path", "content"), "log_image": ("name",),
    }.get(rule.method, ())  # fmt: skip
    if rule.method.startswith("log_") and rule.method not in ("log_list", "log_row", "log_image"):
        required = ("name", "value")
    return None if any(r not in out for r in required) else out


@dataclass
class Site:
    """One legacy span: how to rewrite it (None: report only) and its place in the source."""

    start: int
    end: int
    node: ast.AST
    api: str
    rule: str
    make: Callable[[cst.BaseExpression, Context], Rewrite] | None
    children: list[Site] = field(default_factory=list)
    operand: bool = False  # part of a larger expression: a low-precedence output needs ( )


class Engine:
    """Rewrites one module; `run()` returns the Result."""

    def __init__(self, source: str, path: str, target: Target) -> None:
        self.source, self.path, self.target = source, path, target
        self.tree = ast.parse(source, path)
        self.r = Resolver(self.tree)
        self.lines = Lines(source)
        self.rules = load()
        self.findings: list[Finding] = []
        self.needs: set[str] = set()

    # -- finding the sites ----------------------------------------------------------------------
    def sites(self) -> list[Site]:
        found: list[Site] = []
        operands: set[int] = set()
        for parent in ast.walk(self.tree):
            if isinstance(parent, (ast.Attribute, ast.Subscript, ast.Starred)):
                operands.add(id(parent.value))
            elif isinstance(parent, ast.Call):
                operands.add(id(parent.func))
            elif isinstance(
                parent, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp, ast.Await)
            ):
                operands.update(id(child) for child in ast.iter_child_nodes(parent))
        for node, scope, cls in self.r.walk():
            site = None
            if isinstance(node, ast.Call):
                site = self._call(node, scope, cls)
            elif (
                isinstance(node, ast.Attribute)
                and node.attr == "id"
                and isinstance(node.ctx, ast.Load)
                and self.r.kind_of(node.value, scope, cls) == "run"
            ):
                site = self._site(node, "Run.id", "run-id", _run_id)
            if site is not None:
                site.operand = id(node) in operands
                found.append(site)
        found.sort(key=lambda s: (s.start, -s.end))
        return found

    def _site(
        self,
        node: ast.expr,
        api: str,
        rule: str,
        make: Callable[[cst.BaseExpression, Context], Rewrite] | None,
    ) -> Site:
        start, end = self.lines.span(node)
        return Site(start, end, node, api, rule, make)

    def _call(self, node: ast.Call, scope: Scope, cls: ast.ClassDef | None) -> Site | None:
        r = self.r
        made = r.legacy_class(node.func)
        func = node.func
        if made == "logger":
            return self._site(node, "get_azureml_logger", "workbench-get-logger", _new_run)
        if made == "experiment":
            return self._site(node, "Experiment", "experiment-start-logging", _set_experiment)
        if made == "run":
            return self._site(node, "Run", "run-constructor", None)
        if made == "workspace":
            return self._site(node, "Workspace", "workspace", None)
        if not isinstance(func, ast.Attribute):
            return None
        method = func.attr
        owner = r.legacy_class(func.value)
        if owner == "run" and method == "get_context":
            return self._site(node, "Run.get_context", "run-get-context", _get_context)
        if owner == "run":
            return self._site(node, f"Run.{method}", "run-get", None)
        if owner == "workspace":
            return self._site(node, "Workspace", "workspace", None)
        if (
            method == "wait"
            and not node.args
            and not node.keywords
            and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Attribute)
            and r.kind_of(func.value.func.value, scope, cls) == "logger"
        ):
            return self._site(node, "Workbench.wait", "workbench-wait", _unwrap_wait)
        kind = r.kind_of(func.value, scope, cls)
        if kind is None:
            if method in DISTINCTIVE:
                return self._site(node, f"?.{method}", "unresolved-receiver", None)
            return None
        api = f"{'Workbench' if kind == 'logger' else kind.capitalize()}.{method}"
        rule = self.rules.get((kind, method))
        if rule is None:
            manual = MANUAL.get((kind, method))
            return None if manual is None else self._site(node, api, manual, None)
        return self._site(node, api, "", _apply(rule))

    # -- rewriting ------------------------------------------------------------------------------
    def run(self) -> Result:
        if self.target == "shim":
            return self._shim()
        sites = _nest(self.sites())
        edits = self._edits(sites, self.source, 0)
        self.findings.sort(key=lambda f: (f.line, f.column))
        if not any(f.rewritten for f in self.findings):
            return Result(self.source, self.source, self.findings)
        code = _apply_edits(self.source, edits)
        code = self._drop_unused_workspaces(code)
        code = fix_imports(code, self.needs, [imp for _, imp in self.r.legacy_imports])
        try:
            compile(code, self.path, "exec", dont_inherit=True)
        except SyntaxError as exc:  # a rule bug: never write such output
            raise RewriteError(f"{self.path}: rewritten code does not compile: {exc}") from exc
        return Result(self.source, code, self.findings)

    def _edits(self, sites: list[Site], text: str, base: int) -> list[tuple[int, int, str]]:
        """Edits for `sites` (offsets relative to `base`), each folding its children's edits."""
        edits: list[tuple[int, int, str]] = []
        for site in sites:
            inner = self._edits(site.children, text, site.start)
            if site.make is None:
                self._report(site, None, "", "manual")
                edits.extend((s + site.start - base, e + site.start - base, t) for s, e, t in inner)
                continue
            snippet = _apply_edits(text[site.start : site.end], inner)
            try:
                expr = cst.parse_expression(snippet)
            except cst.ParserSyntaxError:
                self._report(site, None, "", "manual", rule="unsupported-call")
                edits.extend((s + site.start - base, e + site.start - base, t) for s, e, t in inner)
                continue
            receiver = (
                expr.func.value
                if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
                else expr
            )
            ctx = Context(self.r, receiver)  # type: ignore[arg-type]
            done = site.make(expr, ctx)
            if done.node is None:
                self._report(site, None, done.detail, "manual", rule=done.rule)
                edits.extend((s + site.start - base, e + site.start - base, t) for s, e, t in inner)
                continue
            self.needs |= ctx.needs
            node = done.node
            if (
                site.operand
                and isinstance(node, (cst.BooleanOperation, cst.IfExp, cst.Lambda, cst.NamedExpr))
                and not node.lpar
            ):
                node = node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            new = _EMPTY.code_for_node(node)
            self._report(site, new, done.detail, None, rule=done.rule)
            edits.append((site.start - base, site.end - base, new))
        return edits

    def _report(
        self,
        site: Site,
        replacement: str | None,
        detail: str,
        fidelity: str | None,
        rule: str = "",
    ) -> None:
        rule = rule or site.rule
        node = site.node
        excerpt = self.source[site.start : site.end].strip().splitlines()[0][:120]
        self.findings.append(
            Finding(
                path=self.path,
                line=getattr(node, "lineno", 1),
                column=self.lines.column(node),
                api=site.api,
                fidelity=fidelity or entry(rule).fidelity,  # type: ignore[arg-type]
                rule=rule,
                replacement=replacement or "",
                detail=detail,
                excerpt=excerpt,
            )
        )

    def _drop_unused_workspaces(self, code: str) -> str:
        """Remove `ws = Workspace.from_config()` lines nothing reads after the rewrite."""
        spaces = [f for f in self.findings if f.rule == "workspace"]
        if not spaces:
            return code
        tree = ast.parse(code)
        resolver = Resolver(tree)
        reads = {
            n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        lines = Lines(code)
        cuts: list[tuple[int, int, str]] = []
        for stmt in tree.body:
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                continue
            name = stmt.targets[0].id
            if name in reads or resolver.kind_of(stmt.value, resolver.module) != "workspace":
                continue
            cut = _whole_lines(lines, stmt)
            if cut is not None:
                cuts.append((*cut, ""))
        if len(cuts) == len(spaces):
            gone = "Removed: nothing used the workspace after the rewrite."
            self.findings = [
                replace(f, fidelity="lossy", detail=gone) if f.rule == "workspace" else f
                for f in self.findings
            ]
        return _apply_edits(code, cuts)

    def _shim(self) -> Result:
        """--target shim: only the legacy imports change, to the shim's identical names."""
        edits: list[tuple[int, int, str]] = []
        for stmt, (module, _name, _asname) in self.r.legacy_imports:
            if not isinstance(stmt, ast.ImportFrom) or module not in SHIM_MODULES:
                continue
            start, end = self.lines.span(stmt)
            text = self.source[start:end]
            new = re.sub(r"^from\s+[\w.]+", "from shims", text)
            if (start, end, new) not in edits:
                edits.append((start, end, new))
                self.findings.append(
                    Finding(
                        self.path,
                        stmt.lineno,
                        self.lines.column(stmt),
                        f"from {module} import",
                        "exact",
                        "shim-import",
                        new,
                        "",
                        text.splitlines()[0],
                    )
                )
        code = _apply_edits(self.source, edits)
        return Result(self.source, code, self.findings)


def _nest(sites: list[Site]) -> list[Site]:
    """Turn sites sorted by (start, -end) into a forest by containment."""
    roots: list[Site] = []
    stack: list[Site] = []
    for site in sites:
        while stack and site.start >= stack[-1].end:
            stack.pop()
        (stack[-1].children if stack else roots).append(site)
        stack.append(site)
    return roots


def _apply_edits(text: str, edits: Sequence[tuple[int, int, str]]) -> str:
    out, last = [], 0
    for start, end, new in sorted(edits):
        out.append(text[last:start])
        out.append(new)
        last = end
    out.append(text[last:])
    return "".join(out)


def _whole_lines(lines: Lines, stmt: ast.stmt) -> tuple[int, int] | None:
    """The span of the lines `stmt` occupies alone, newline included; None if it shares them."""
    start, end = lines.span(stmt)
    line_start = lines.starts[stmt.lineno - 1]
    assert stmt.end_lineno is not None
    next_line = (
        lines.starts[stmt.end_lineno] if stmt.end_lineno < len(lines.starts) else len(lines.text)
    )
    if lines.text[line_start:start].strip() or lines.text[end:next_line].strip():
        return None  # another statement, or a comment, shares the line
    return line_start, next_line


# -- how each kind of site becomes MLflow code ----------------------------------------------------
def _apply(rule: Rule) -> Callable[[cst.BaseExpression, Context], Rewrite]:
    def make(expr: cst.BaseExpression, ctx: Context) -> Rewrite:
        assert isinstance(expr, cst.Call)
        args = bind_args(rule, expr)
        if args is None:
            return Rewrite(None, "unsupported-call")
        return rule.fn(ctx, expr, args)

    return make


def _new_run(expr: cst.BaseExpression, ctx: Context) -> Rewrite:
    return Rewrite(active_or_new(ctx), "workbench-get-logger")


def _get_context(expr: cst.BaseExpression, ctx: Context) -> Rewrite:
    detail = "allow_offline= is dropped." if isinstance(expr, cst.Call) and expr.args else ""
    return Rewrite(active_or_new(ctx), "run-get-context", detail)


def _set_experiment(expr: cst.BaseExpression, ctx: Context) -> Rewrite:
    assert isinstance(expr, cst.Call)
    name = next((a for a in expr.args if a.keyword and a.keyword.value == "name"), None)
    positional = [a for a in expr.args if a.keyword is None]
    if name is None and len(positional) >= 2:
        name = positional[1]
    if name is None:
        return Rewrite(None, "unsupported-call")
    return Rewrite(
        call(ctx.mlflow("set_experiment"), arg(name.value)),
        "experiment-start-logging",
        "Experiment(...) becomes mlflow.set_experiment(name).",
    )


def _unwrap_wait(expr: cst.BaseExpression, ctx: Context) -> Rewrite:
    # logger.log(...).wait(): the inner call is already rewritten, and MLflow's is synchronous.
    assert isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
    return Rewrite(expr.func.value, "workbench-wait")


def _run_id(expr: cst.BaseExpression, ctx: Context) -> Rewrite:
    assert isinstance(expr, cst.Attribute)
    info = cst.Attribute(value=expr.value, attr=cst.Name("info"))
    return Rewrite(cst.Attribute(value=info, attr=cst.Name("run_id")), "run-id")


# -- imports, as text -------------------------------------------------------------------------------
def fix_imports(
    code: str,
    needs: set[str],
    legacy: Sequence[tuple[str, str | None, str | None]],
) -> str:
    """Drop legacy imports nothing reads; add `import <m>` for each needed module."""
    tree = ast.parse(code)
    lines = Lines(code)
    reads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    wanted = set(legacy)
    edits: list[tuple[int, int, str]] = []
    for stmt in tree.body:
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        module = stmt.module if isinstance(stmt, ast.ImportFrom) else None
        keep: list[ast.alias] = []
        drop: list[ast.alias] = []
        for alias in stmt.names:
            form = (
                (module, alias.name, alias.asname) if module else (alias.name, None, alias.asname)
            )
            bound = alias.asname or (alias.name if module else alias.name.split(".")[0])
            (drop if form in wanted and bound not in reads else keep).append(alias)
        if not drop:
            continue
        cut = _whole_lines(lines, stmt)
        start, end = lines.span(stmt)
        if keep:
            statement = cst.parse_statement(code[start:end])
            assert isinstance(statement, cst.SimpleStatementLine)
            small = statement.body[0]
            assert isinstance(small, (cst.Import, cst.ImportFrom))
            names = small.names
            assert not isinstance(names, cst.ImportStar)
            kept_names = {(a.name, a.asname) for a in keep}
            aliases = [
                a for a in names
                if (_cst_name(a.name), _cst_asname(a)) in kept_names
            ]  # fmt: skip
            aliases[-1] = aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            edits.append((start, end, _EMPTY.code_for_node(small.with_changes(names=aliases))))
        elif cut is not None:
            edits.append((*cut, ""))
        else:
            # Shares its line with a comment: keep the comment where the import was.
            line_end = (
                lines.starts[stmt.end_lineno]
                if stmt.end_lineno and stmt.end_lineno < len(lines.starts)
                else len(code)
            )
            rest = code[end:line_end]
            comment = rest.strip()
            if comment.startswith("#") and not code[lines.starts[stmt.lineno - 1] : start].strip():
                edits.append((start, end + len(rest) - len(rest.lstrip()), ""))
    code = _apply_edits(code, edits)
    missing = sorted(m for m in needs if not _imported(code, m))
    if not missing:
        return code
    tree = ast.parse(code)
    lines = Lines(code)
    at = _insert_line(tree)
    offset = lines.starts[at - 1] if at - 1 < len(lines.starts) else len(code)
    if offset == len(code) and code and not code.endswith(("\n", "\r")):
        code += lines.newline
        offset = len(code)
    text = "".join(f"import {m}{lines.newline}" for m in missing)
    return code[:offset] + text + code[offset:]


def _cst_name(node: cst.BaseExpression) -> str:
    from migrate.scan import cst_dotted

    return cst_dotted(node) or ""


def _cst_asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return None


def _imported(code: str, module: str) -> bool:
    tree = ast.parse(code)
    return any(
        isinstance(stmt, ast.Import)
        and any(a.name == module and a.asname is None for a in stmt.names)
        for stmt in tree.body
    )


def _insert_line(tree: ast.Module) -> int:
    """The 1-based line before which new imports go: after the docstring and leading imports."""
    line = None
    for i, stmt in enumerate(tree.body):
        is_doc = (
            i == 0
            and isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        )
        if is_doc or isinstance(stmt, (ast.Import, ast.ImportFrom)):
            assert stmt.end_lineno is not None
            line = stmt.end_lineno + 1
        else:
            return line if line is not None else stmt.lineno
    return line if line is not None else 1


def rewrite_module(source: str, path: str = "<string>", target: Target = "mlflow") -> Result:
    """Rewrite one module's source. Raises SyntaxError when it does not parse."""
    if not might_contain_legacy(source):
        return Result(source, source)
    engine = Engine(source, path, target)
    if not engine.r.uses_legacy:
        return Result(source, source)
    return engine.run()
