"""The fast path: the usual training script rewritten without a whole-module libcst parse.

Most legacy scripts have one shape: `from azureml.core import Run`, `run = Run.get_context()` at
module level or in a module-level function (`main()`), and `run.<method>(...)` statements. For
such a file `rewrite_fast` finds everything with Python's own `ast` (ten times cheaper than
libcst), parses with libcst only the statements that change (in one call), runs the very rules and
layout of `migrate.codemod` on them and splices their new text into the old. The run's other uses
get the findings the full engine gives them; imports are added, edited and removed the way the
codemod's `_Cleanup` does it, on a model of the module's leading statements.

It answers only when it can prove the full engine would give the same result. Anything else (an
experiment or a workspace in use, a class or a helper holding the run, a run passed on, a run
ended inside a block, tab-indented or mixed-newline files, non-ASCII identifiers, `;` or backslash-continued lines
around what changes...) returns None, and `rewrite_module` runs the full engine.
`tests/test_fast.py` holds the two to the same code and findings on every fixture, on reviewed
cases and on generated programs.
"""

from __future__ import annotations

import ast
import re
import tokenize
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import libcst as cst

from migrate.catalogue import entry
from migrate.codemod import (
    _HARMLESS_TAKERS,
    _LOGGING_METHODS,
    _NO_FORM,
    _RUN_FIELDS,
    _STDLIB,
    DISTINCTIVE,
    ENDS_NOTE,
    MANUAL,
    Result,
    RewriteError,
    Target,
    _bound,
    _import_line,
    _line_limit,
    bind_args,
    in_place,
    manual_detail,
    no_form_detail,
    value_detail,
)
from migrate.detect import (
    _A_NUMBER,
    CONSTRUCTORS,
    ENDS,
    Annotated,
    Bound,
    Entered,
    Facts,
    Resolver,
    Scope,
)
from migrate.findings import Finding
from migrate.rules import Context, Names, Rewrite, load
from migrate.rules._layout import TAB, Where, comments, place
from migrate.rules.lifecycle import active_or_new
from migrate.sources import MAX_NESTING, nesting_error

# Characters some line splitters (str.splitlines, libcst) and Python's tokenizer disagree on
# ("\r" is fine in a file whose every line ends in "\r\n").
_ODD = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
# Lines libcst reads otherwise than Python: a lone backslash, a whitespace-only last line.
_ODD_LINES = re.compile(r"^[ \t]*\\[ \t]*\r?$|\n[ \t]+\Z", re.M)
_MLFLOW_WORD = re.compile(r"\bmlflow\b")
_RUN_CLASSES = frozenset(q for q, kind in CONSTRUCTORS.items() if kind == "run")
_CONTEXT = frozenset({"get_context", "get_submitted_run"})
_T = TypeVar("_T")


class _Decline(Exception):
    """The file is not of the shape the fast path handles: the full engine takes it."""


# -- values: libcst nodes made only when a rule asks for them ------------------------------------
class _Raw:
    """An ast expression standing where the collector would store a libcst one."""

    __slots__ = ("node", "wrap")

    def __init__(self, node: ast.expr, wrap: Callable[[cst.BaseExpression], Bound] | None = None):
        self.node = node
        self.wrap = wrap


class _Lazy(list[_T]):
    """A list whose `_Raw` items become libcst nodes the first time it is read."""

    def __init__(self, convert: Callable[[_Raw], Any]) -> None:
        super().__init__()
        self._raw: list[object] = []
        self._convert = convert

    def add(self, item: object) -> None:
        self._raw.append(item)

    def _fill(self) -> None:
        if self._raw:
            raw, self._raw = self._raw, []
            super().extend(self._convert(x) if isinstance(x, _Raw) else x for x in raw)  # type: ignore[misc]

    def __iter__(self) -> Iterator[_T]:
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        return super().__len__() + len(self._raw)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __contains__(self, item: object) -> bool:  # (list's own reads its storage directly)
        self._fill()
        return super().__contains__(item)

    def __getitem__(self, index: Any) -> Any:
        self._fill()
        return super().__getitem__(index)


class _Source:
    """The module's text, with ast positions turned into character offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def col(self, lineno: int, byte_col: int) -> int:
        line = self.lines[lineno - 1]
        if line.isascii():
            return byte_col
        return len(line.encode()[:byte_col].decode())

    def offset(self, lineno: int, byte_col: int) -> int:
        return self.starts[lineno - 1] + self.col(lineno, byte_col)

    def segment(self, node: ast.AST) -> str:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return self.text[start:end]

    def expression(self, raw: _Raw) -> Bound:
        if nesting_error(raw.node, MAX_NESTING - 2) is not None:  # (libcst's parser would crash)
            raise _Decline("nested too deeply")
        text = self.segment(raw.node)
        try:
            node = cst.parse_expression(text)
        except cst.ParserSyntaxError:  # a parenthesised expression split over lines
            node = cst.parse_expression(f"({text})").with_changes(lpar=[], rpar=[])
        return raw.wrap(node) if raw.wrap is not None else node


# -- what the libcst collector of `migrate.detect` learns, learnt from ast -----------------------
@dataclass
class _Use:
    """Where a watched name is used: the node, its parents (innermost last) and its function."""

    node: ast.Name
    parents: tuple[ast.AST, ...]
    function: ast.AST | None
    in_class: bool
    loops: int


@dataclass
class _Collected:
    facts: Facts
    uses: dict[str, list[_Use]] = field(default_factory=dict)
    reads: Counter[str] = field(default_factory=Counter)
    imports: list[tuple[ast.Import | ast.ImportFrom, int]] = field(default_factory=list)
    distinctive: list[ast.Call] = field(default_factory=list)
    string_annotations: list[str] = field(default_factory=list)
    own_names: set[str] = field(default_factory=set)  # lambda parameters, comprehension targets
    with_names: Counter[str] = field(default_factory=Counter)  # `with ... as <name>`


class _Collector:
    """One recursive walk: the `Facts` of `detect._Collector` and what the fast path checks."""

    def __init__(self, src: _Source, watch: frozenset[str]) -> None:
        self.src = src
        self.watch = watch
        self.facts = Facts()
        self.out = _Collected(self.facts)
        self.scopes: list[Scope] = [self.facts.module]
        self.frames: list[ast.AST] = []
        self.functions: list[ast.AST] = []
        self.loops: list[int] = [0]
        self.parents: list[ast.AST] = []
        self.argparse = False
        self.targets: set[int] = set()  # `x` of `x = ...`: not a read
        self.first_indent = len(src.lines) + 1  # the first line that starts indented
        self.depth = 0

    def lazy(self) -> _Lazy[Any]:
        return _Lazy(self.src.expression)

    # -- bindings (as detect._Collector._bind_target) --------------------------------------------
    def _scope_for(self, name: str) -> Scope:
        scope = self.scopes[-1]
        return self.facts.module if name in scope.globals_ else scope

    def _pending(self, scope: Scope, name: str) -> _Lazy[Bound]:
        found = scope.pending.get(name)
        if found is None:
            found = self.lazy()
            scope.pending[name] = found
        assert isinstance(found, _Lazy)
        return found

    def bind(self, target: ast.AST | str, value: object | None, by_import: bool = False) -> None:
        if isinstance(target, (ast.Name, str)):
            name = target.id if isinstance(target, ast.Name) else target
            if not by_import:
                self.facts.bound_other.add(name)
            if self.frames and isinstance(self.frames[-1], ast.ClassDef):
                return  # a class attribute (the fast path never resolves self.<attr>)
            scope = self._scope_for(name)
            if value is None:
                scope.bind(name, None)
            else:
                self._pending(scope, name).add(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.bind(element, None)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, None)

    # -- the walk ---------------------------------------------------------------------------------
    def walk(self, node: ast.AST) -> None:
        step = len(node.values) if isinstance(node, ast.BoolOp) else 1
        self.depth += step
        if self.depth > MAX_NESTING - 1:
            raise _Decline("nested too deeply for libcst")  # (as `sources.nesting_error` says)
        try:
            self._walk(node)
        finally:
            self.depth -= step

    def _walk(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt) and node.col_offset and node.lineno < self.first_indent:
            lines = [node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))]
            line = min(lines)
            text = self.src.lines[line - 1]
            lead = text[: len(text) - len(text.lstrip(" \t"))]
            if len(lead.encode()) == node.col_offset or line != node.lineno:
                if _continued(self.src, line):  # (a backslash, or a comment ending in one)
                    raise _Decline("a backslash just above the first indented line")
                self.first_indent = line  # a statement that starts its line, indented
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is not None:
            method(node)
        else:
            self.children(node)

    def children(self, node: ast.AST) -> None:
        self.parents.append(node)
        for _, value in ast.iter_fields(node):
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.walk(item)
            elif isinstance(value, ast.AST):
                self.walk(value)
        self.parents.pop()

    def visit_Name(self, node: ast.Name) -> None:
        self.facts.names.add(node.id)
        if id(node) in self.targets:
            self.targets.discard(id(node))
        else:
            self.out.reads[node.id] += 1
        if node.id in self.watch:
            self.out.uses.setdefault(node.id, []).append(
                _Use(
                    node,
                    tuple(self.parents[-3:]),
                    self.functions[-1] if self.functions else None,
                    any(isinstance(f, ast.ClassDef) for f in self.frames),
                    self.loops[-1],
                )
            )

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr == "add_argument":
                self.facts.arguments.append(node)  # type: ignore[arg-type]  # made lazy later
            if func.attr in DISTINCTIVE:
                self.out.distinctive.append(node)
            if func.attr in ("log", "log_list"):
                named = [k.value for k in node.keywords if k.arg == "name"]
                first = [a for a in node.args[:1] if not isinstance(a, ast.Starred)]
                for name in named or first:
                    if isinstance(name, ast.Constant) and (
                        name.value is None or isinstance(name.value, bool)
                    ):
                        self.facts.metric_calls[""] += 1  # (a Name to libcst)
                    elif isinstance(name, ast.Constant):
                        if isinstance(name.value, str) and name.value:
                            self.facts.metric_calls[name.value] += 1
                    elif isinstance(name, ast.JoinedStr):
                        raise _Decline("an f-string metric name")  # (libcst tells f"" "" apart)
                    elif isinstance(name, (ast.Name, ast.BinOp, ast.Call, ast.Subscript)):
                        self.facts.metric_calls[""] += 1
        self.children(node)

    def _import_names(self, node: ast.Import | ast.ImportFrom) -> None:
        self.out.imports.append((node, len(self.frames)))

    def visit_Import(self, node: ast.Import) -> None:
        self._import_names(node)
        for alias in node.names:
            full = alias.name
            self.facts.names.add(full.split(".")[0])
            if alias.asname:
                self.facts.names.add(alias.asname)
            if full == "azureml" or full.startswith("azureml."):
                self.facts.legacy_imports.append((full, None, alias.asname))
            local, qualified = (
                (alias.asname, full) if alias.asname else (full.split(".")[0], full.split(".")[0])
            )
            self._imported(local, qualified)
            if qualified == "argparse" or qualified.startswith("argparse."):
                self.argparse = True

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._import_names(node)
        if node.module:
            self.facts.names.add(node.module.split(".")[0])
        for alias in node.names:
            if alias.name != "*":
                self.facts.names.add(alias.name)
            if alias.asname:
                self.facts.names.add(alias.asname)
        if node.level or node.module is None or any(a.name == "*" for a in node.names):
            return
        for alias in node.names:
            local = alias.asname or alias.name
            if node.module == "azureml" or node.module.startswith("azureml."):
                self.facts.legacy_imports.append((node.module, alias.name, alias.asname))
            self._imported(local, f"{node.module}.{alias.name}")
            if node.module == "argparse" or node.module.startswith("argparse."):
                self.argparse = True

    def _imported(self, local: str, qualified: str) -> None:
        self.facts.imports[local] = qualified
        if not self.frames:
            self.facts.module_imports[local] = qualified
        self.bind(local, None, by_import=local == qualified)

    def _definition(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """What a `class` or `def` statement binds (its name), and its decorators."""
        if getattr(node, "type_params", None):
            raise _Decline("type parameters")
        self.facts.names.add(node.name)
        self.bind(node.name, None)
        if not self.frames:
            table: dict[str, Any] = (
                self.facts.classes if isinstance(node, ast.ClassDef) else self.facts.functions
            )
            table[node.name] = node

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._definition(node)
        self.frames.append(node)
        self.parents.append(node)
        for item in [*node.decorator_list, *node.bases, *node.keywords, *node.body]:
            self.walk(item)
        self.parents.pop()
        self.frames.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._definition(node)
        self.facts.returns[node] = self.lazy()  # type: ignore[index]
        scope = Scope(self.scopes[-1])
        self.facts.scopes[node] = scope  # type: ignore[index]
        self.scopes.append(scope)
        self.functions.append(node)
        self.frames.append(node)
        self.loops.append(0)
        args = node.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            self.facts.names.add(a.arg)
            self.facts.bound_other.add(a.arg)
            if a.annotation is not None:
                self._strings(a.annotation)
                self._pending(scope, a.arg).add(_Raw(a.annotation, Annotated))
            else:
                scope.bind(a.arg, None)
        for star in (args.vararg, args.kwarg):
            if star is not None:
                if star.annotation is not None:
                    self._strings(star.annotation)
                self.facts.names.add(star.arg)
                self.facts.bound_other.add(star.arg)
                scope.bind(star.arg, None)
        self.parents.append(node)
        for item in [*node.decorator_list, *args.defaults, *args.kw_defaults]:
            if item is not None:
                self.walk(item)
        for p in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if p is not None and p.annotation is not None:
                self.walk(p.annotation)
        if node.returns is not None:
            self._strings(node.returns)
            self.walk(node.returns)
        for stmt in node.body:
            self.walk(stmt)
        self.parents.pop()
        self.loops.pop()
        self.frames.pop()
        self.functions.pop()
        self.scopes.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Return(self, node: ast.Return) -> None:
        if self.functions:
            returns = self.facts.returns[self.functions[-1]]  # type: ignore[index]
            assert isinstance(returns, _Lazy)
            returns.add(_Raw(node.value) if node.value is not None else None)
        self.children(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        args = node.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                self.facts.names.add(a.arg)
                self.facts.bound_other.add(a.arg)
                self.out.own_names.add(a.arg)
        self.children(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self.facts.names.add(name)
            self.out.reads[name] += 1
            self.scopes[-1].globals_.add(name)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        for name in node.names:
            self.facts.names.add(name)
            self.out.reads[name] += 1

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self.bind(t, _Raw(node.value))
            if isinstance(t, ast.Name):
                self.targets.add(id(t))
        self.children(node)

    def _strings(self, annotation: ast.expr) -> None:
        """Every string in an annotation (`'Run'`, `Optional['Run']`): libcst resolves them."""
        for sub in ast.walk(annotation):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                self.out.string_annotations.append(sub.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._strings(node.annotation)
        self.bind(node.target, _Raw(node.annotation, Annotated))
        if node.value is not None:
            self.bind(node.target, _Raw(node.value))
        self.children(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.bind(node.target, None)
        self.children(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.bind(node.target, _Raw(node.value))
        self.children(node)

    def _for(self, node: ast.For | ast.AsyncFor) -> None:
        target, it = node.target, node.iter
        done = False
        if (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id not in self.facts.imports
        ):
            if it.func.id == "range" and isinstance(target, ast.Name):
                self.bind(target, _A_NUMBER)
                done = True
            elif (
                it.func.id == "enumerate"
                and isinstance(target, ast.Tuple)
                and len(target.elts) == 2
                and isinstance(target.elts[0], ast.Name)
            ):
                self.bind(target.elts[0], _A_NUMBER)
                self.bind(target.elts[1], None)
                done = True
        if not done:
            self.bind(target, None)
        self.loops[-1] += 1  # as the codemod counts: the whole statement, `else:` too
        self.children(node)
        self.loops[-1] -= 1

    visit_For = _for
    visit_AsyncFor = _for

    def visit_While(self, node: ast.While) -> None:
        self.loops[-1] += 1
        self.children(node)
        self.loops[-1] -= 1

    def visit_comprehension(self, node: ast.comprehension) -> None:
        names = _target_names(node.target)
        self.facts.bound_other.update(names)
        self.out.own_names.update(names)
        self.children(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        if isinstance(node.optional_vars, ast.Name):
            self.out.with_names[node.optional_vars.id] += 1  # (not a read once rewritten)
        if node.optional_vars is not None:
            self.bind(node.optional_vars, _Raw(node.context_expr, Entered))
        self.children(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name is not None:
            self.facts.names.add(node.name)
            self.out.reads[node.name] += 1
            self.bind(node.name, None)
        self.children(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self.bind(t, None)
        self.children(node)

    def visit_Match(self, node: ast.AST) -> None:
        raise _Decline("match statements")

    visit_TryStar = visit_Match


def _reads_in(node: ast.AST, into: Counter[str]) -> None:
    """How the libcst collector counts reads: every Name but direct `x = ...` targets (the
    names of `global`, `nonlocal` and `except ... as` are counted by the walk)."""
    skip: set[int] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign):
            skip.update(id(t) for t in sub.targets if isinstance(t, ast.Name))
        elif isinstance(sub, ast.Name) and id(sub) not in skip:
            into[sub.id] += 1


# -- the module's leading statements, as libcst's body and leading lines -------------------------
@dataclass
class _Top:
    """A top-level statement of the import region: its leading lines and its own text."""

    leading: list[str]  # whole lines, each ending in "\n"
    own: str
    kind: str  # "docstring", "future", "import", "code"
    imports: tuple[str, ...] = ()  # modules (first name) of an import line
    plain: str | None = None  # the module of a one-name `import x` line
    dropped: bool = False


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


class _Site:
    """One statement the fast path rewrites."""

    def __init__(self, stmt: ast.stmt, call: ast.Call, use: _Use | None) -> None:
        self.stmt = stmt
        self.call = call
        self.use = use


def _continued(src: _Source, lineno: int) -> bool:
    """Whether the line above `lineno` ends in a backslash: `lineno` may then continue it."""
    return lineno > 1 and src.lines[lineno - 2].rstrip("\r").endswith("\\")


def _only_statement_on_lines(src: _Source, stmt: ast.stmt) -> bool:
    """Whether `stmt` has its lines to itself (no `;` neighbour, no `if x:` or backslash-continued
    line before it), a trailing comment aside."""
    if _continued(src, stmt.lineno):
        return False
    first = src.lines[stmt.lineno - 1]
    before = first[: src.col(stmt.lineno, stmt.col_offset)]
    last = src.lines[stmt.end_lineno - 1]  # type: ignore[operator]
    after = last[src.col(stmt.end_lineno, stmt.end_col_offset) :]  # type: ignore[arg-type]
    return not before.strip() and (not after.strip() or after.lstrip().startswith("#"))


def _render(
    printer: cst.Module, stmts: list[cst.BaseStatement], indent: str, wrapper: cst.If | None
) -> str:
    if wrapper is None:
        return printer.with_changes(body=stmts).code
    assert isinstance(wrapper.body, cst.IndentedBlock)
    block = wrapper.body.with_changes(body=stmts, indent=indent)
    code = printer.with_changes(body=[wrapper.with_changes(body=block)]).code
    return code[len("if 1:" + printer.default_newline) :]


def _unit(src: _Source, first_indent: int) -> str:
    """libcst's `default_indent`: the first INDENT token's text (four spaces if none), which is
    the indentation of the first statement that starts its line indented."""
    if first_indent > len(src.lines):
        return "    "
    line = src.lines[first_indent - 1]
    return line[: len(line) - len(line.lstrip(" \t"))]


def rewrite_fast(
    source: str, path: str, target: Target, tree: ast.Module | None = None
) -> Result | None:
    """The codemod's result for `source`, or None when the file is not of the shape handled here.

    `tree` is the source's `ast` when the caller parsed it already.
    """
    if target != "mlflow" or any(c in source for c in _ODD) or "\t" in source:
        return None
    crlf = source.count("\r\n")
    if crlf != source.count("\r") or (crlf and crlf != source.count("\n")):
        return None  # a lone "\r", or "\r\n" and "\n" mixed
    if source.startswith("\ufeff") or _ODD_LINES.search(source):
        return None
    if not source.isascii() and _non_ascii_names(source):
        return None  # (`ast` normalises identifiers, libcst keeps them as written)
    try:
        return _Fast(source, path).run(tree or ast.parse(source))
    except (_Decline, SyntaxError, ValueError, RecursionError, cst.ParserSyntaxError):
        return None
    except AssertionError:  # a shape this module did not foresee: the full engine knows it
        return None


class _Fast:
    def __init__(self, source: str, path: str) -> None:
        self.source = source
        self.path = path
        self.src = _Source(source)
        self.nl = "\r\n" if "\r\n" in source else "\n"  # (libcst's default_newline)
        self._last_report = "\n"  # the code of the last call replaced (see `_text`)
        self.owner: ast.FunctionDef | None = None  # the function the run is made in, if any
        self.notes: list[Finding] = []  # manual findings on the run's other uses

    def run(self, tree: ast.Module) -> Result | None:
        found = self._context_assignment(tree)
        if found is None:
            return None
        assign, run_name, cls_name, self.owner = found
        if assign.lineno != assign.end_lineno or not _only_statement_on_lines(self.src, assign):
            return None
        collector = _Collector(self.src, frozenset({run_name, cls_name}))
        collector.walk(tree)
        self.first_indent = collector.first_indent
        out = collector.out
        facts = out.facts
        if collector.argparse:
            args = _Lazy[cst.Call](self.src.expression)
            for call in facts.arguments:
                args.add(_Raw(call))  # type: ignore[arg-type]
            facts.arguments = args
        else:
            facts.arguments = []
        self._check(tree, out, run_name, cls_name, assign)
        facts.late_imports = self._late_imports(tree)
        resolver = Resolver.from_facts(facts)
        sites = self._sites(out, run_name, assign, tree)
        return self._rewrite(tree, out, resolver, sites, assign, run_name)

    # -- shape --------------------------------------------------------------------------------------
    def _context_assignment(
        self, tree: ast.Module
    ) -> tuple[ast.Assign, str, str, ast.FunctionDef | None] | None:
        """`run = Run.get_context()` at module level or in the body of a module-level function
        (`def main():`), with `Run` imported from azureml; and that function."""
        legacy: dict[str, str] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
                for alias in stmt.names:
                    qualified = f"{stmt.module}.{alias.name}"
                    if qualified in _RUN_CLASSES:
                        legacy[alias.asname or alias.name] = qualified
        found = None
        places: list[tuple[ast.stmt, ast.FunctionDef | None]] = [(s, None) for s in tree.body]
        for top in tree.body:
            if isinstance(top, ast.FunctionDef):
                places += [(s, top) for s in top.body]
        for stmt, owner in places:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Call)
                and not stmt.value.args
                and not stmt.value.keywords
                and isinstance(stmt.value.func, ast.Attribute)
                and stmt.value.func.attr in _CONTEXT
                and isinstance(stmt.value.func.value, ast.Name)
                and stmt.value.func.value.id in legacy
            ):
                if found is not None:
                    return None
                found = (stmt, stmt.targets[0].id, stmt.value.func.value.id, owner)
        return found

    def _check(
        self, tree: ast.Module, out: _Collected, run: str, cls: str, assign: ast.Assign
    ) -> None:
        facts = out.facts
        # Other names from azureml (Dataset, Model...) may stay; other legacy kinds may not.
        for node, _ in out.imports:
            if not _is_azureml(node):
                continue
            if not isinstance(node, ast.ImportFrom):
                raise _Decline("an azureml module imported")
            for alias in node.names:
                qualified = f"{node.module}.{alias.name}"
                local = alias.asname or alias.name
                if alias.name == "*":
                    raise _Decline("a star import from azureml")
                if any(c.startswith(qualified + ".") for c in CONSTRUCTORS):
                    raise _Decline("an azureml module imported")  # (`core.Experiment(...)`)
                if any(local in text for text in out.string_annotations):
                    raise _Decline("a string annotation may name a legacy class")
                if (
                    qualified in CONSTRUCTORS
                    and local != cls
                    and not _never_used(facts, out, local)
                ):
                    raise _Decline("other legacy imports")
        if any(cls in text or run in text for text in out.string_annotations):
            raise _Decline("a string annotation may name the run")
        if "mlflow" in facts.names or any(
            q == "mlflow" or q.startswith("mlflow.") for q in facts.imports.values()
        ):
            raise _Decline("the file uses mlflow already")
        if len(out.uses.get(cls, [])) != 1 or facts.module.count(cls) != 1:
            raise _Decline("the Run class is used otherwise")
        if any(s.count(cls) for s in facts.scopes.values()) or cls in out.own_names:
            raise _Decline("the Run class name is bound otherwise")
        if run == cls:
            raise _Decline("odd names")
        # The run name: bound once (the assignment), never elsewhere.
        home = facts.module if self.owner is None else facts.scopes[self.owner]  # type: ignore[index]
        counts = [facts.module.count(run), *(s.count(run) for s in facts.scopes.values())]
        if home.count(run) != 1 or sum(counts) != 1:
            raise _Decline("the run name is bound otherwise")
        if run in out.own_names:
            raise _Decline("a lambda or comprehension binds the run name")
        for call in out.distinctive:
            func = call.func
            assert isinstance(func, ast.Attribute)
            receiver = func.value
            if call is assign.value:
                continue
            if not (isinstance(receiver, ast.Name) and receiver.id == run):
                raise _Decline("a legacy-looking call on something else")
        lines = [stmt.lineno for stmt in tree.body]
        ends = [stmt.end_lineno for stmt in tree.body]
        if any(a <= b for a, b in zip(lines[1:], ends)):  # type: ignore[operator]
            raise _Decline("two top-level statements share a line")

    def _late_imports(self, tree: ast.Module) -> set[str]:
        late: set[str] = set()
        early: set[str] = set()
        code_seen = False
        for index, stmt in enumerate(tree.body):
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                bound = set(_aliases(stmt))
                (late if code_seen else early).update(bound)
                continue
            docstring = index == 0 and isinstance(stmt, ast.Expr)
            if not docstring:
                code_seen = True
        return late - early

    def _sites(
        self, out: _Collected, run: str, assign: ast.Assign, tree: ast.Module
    ) -> list[_Site]:
        """The statements to rewrite (the run's calls), in order; the run's other uses become
        the findings the full engine gives them (`self.notes`), or decline the file."""
        rules = load()
        sites = [_Site(assign, assign.value, None)]  # type: ignore[arg-type]
        uses = out.uses.get(run, [])
        ended = False
        for use in uses:
            if use.node is assign.targets[0]:
                continue
            if not isinstance(use.node.ctx, ast.Load) or len(use.parents) < 2:
                raise _Decline("the run is bound or used otherwise")
            if use.in_class:
                raise _Decline("a call in a class")
            if self.owner is not None and use.function is not self.owner:
                raise _Decline("a call outside the function that holds the run")
            if ended and use.function is self.owner:
                raise _Decline("a call after the run ended")
            parent, grand = use.parents[-1], use.parents[-2]
            if isinstance(parent, ast.Call) and use.node in parent.args:
                func = parent.func
                if not (
                    (isinstance(func, ast.Name) and func.id in _HARMLESS_TAKERS)
                    or (isinstance(func, ast.Attribute) and func.attr in _LOGGING_METHODS)
                ):
                    raise _Decline("the run is passed to something")
                continue  # `print(run)`: its text, harmless
            if not (isinstance(parent, ast.Attribute) and isinstance(parent.ctx, ast.Load)):
                raise _Decline("the run is used otherwise")
            member = parent.attr
            called = isinstance(grand, ast.Call) and grand.func is parent
            stmt = use.parents[-3] if len(use.parents) >= 3 else None
            if not (
                called
                and isinstance(stmt, ast.Expr)
                and stmt.value is grand
                and ("run", member) in rules
            ):
                held = grand if called and isinstance(grand, ast.Call) else None
                self._other_use(parent, member, held, rules)
                continue
            assert isinstance(grand, ast.Call) and isinstance(stmt, ast.Expr)
            if member in ENDS:
                block = tree.body if self.owner is None else self.owner.body
                if use.function is not self.owner or not any(stmt is s for s in block):
                    raise _Decline("the run ends in a block")
                ended = True
            sites.append(_Site(stmt, grand, use))
        return sorted(sites, key=lambda s: (s.stmt.lineno, s.stmt.col_offset))

    def _other_use(
        self, node: ast.Attribute, member: str, call: ast.Call | None, rules: dict[Any, Any]
    ) -> None:
        """`run.<member>` other than a rewritten call statement: the full engine's finding for
        it (`_Rewriter._member`, or the manual call in `leave_Call`), if any."""
        if member in ("id", "parent", *_RUN_FIELDS) or member in DISTINCTIVE:
            raise _Decline("a run member the full engine rewrites or follows")
        if call is not None and ("run", member) in rules:
            raise _Decline("a call kept as a value")
        manual = MANUAL.get(("run", member)) if call is not None else None
        if manual is not None:
            detail = manual_detail(member, manual)
            self._note(call, f"Run.{member}", manual, detail)  # type: ignore[arg-type]
        elif member in _NO_FORM:
            self._note(node, f"Run.{member}", "run-member", no_form_detail(member))
        elif call is None and (("run", member) in rules or ("run", member) in MANUAL):
            self._note(node, f"Run.{member}", "run-member", value_detail(member))

    def _note(self, node: ast.expr, api: str, rule: str, detail: str) -> None:
        """A manual finding on `node`, placed and quoted as libcst would."""
        src = self.src
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = src.offset(node.lineno, node.col_offset)
        end = src.offset(node.end_lineno, node.end_col_offset)
        line = src.lines[node.lineno - 1][: src.col(node.lineno, node.col_offset)]
        if not line.strip() or line.rstrip().endswith("("):
            raise _Decline("a node that may be parenthesised")  # (libcst counts the brackets)
        self.notes.append(
            Finding(
                path=self.path,
                line=node.lineno,
                column=src.col(node.lineno, node.col_offset) + 1,
                api=api,
                fidelity="manual",
                rule=rule,
                replacement="",
                detail=detail,
                excerpt=src.text[start:end].strip().splitlines()[0][:120],
            )
        )

    # -- the rewrite --------------------------------------------------------------------------------
    def _rewrite(
        self,
        tree: ast.Module,
        out: _Collected,
        resolver: Resolver,
        sites: list[_Site],
        assign: ast.Assign,
        run: str,
    ) -> Result:
        src = self.src
        rules = load()
        names = Names(resolver)
        unit = _unit(src, self.first_indent)
        printer = cst.Module(body=[], default_indent=unit, default_newline=self.nl)
        limit = _line_limit([line.removesuffix("\r") for line in src.lines])
        needs: set[str] = set()
        findings: list[Finding] = list(self.notes)
        edits: list[tuple[int, int, str]] = []  # (start, end, new text) on the source
        before_reads = Counter[str]()  # reads in the statements replaced
        written: list[tuple[str, str]] = []  # their new text, and its indentation
        for site, (start, end, text, indent), (node, wrapper) in zip(
            sites, *self._statements(sites)
        ):
            stmt = site.stmt
            if len(node.body) != 1:
                raise _Decline("several statements")
            small = node.body[0]
            call = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
            if not isinstance(call, cst.Call) or call.lpar:
                raise _Decline("a parenthesised call")
            function = site.use.function if site.use is not None else self.owner
            scope = resolver.scope_of(function)  # type: ignore[arg-type]
            ctx = Context(
                resolver,
                call.func.value if isinstance(call.func, cst.Attribute) else call.func,
                scope=scope,
                statement=site.use is not None,
                in_loop=site.use is not None and site.use.loops > 0,
                names=names,
            )
            if site.use is None:
                assert isinstance(call.func, cst.Attribute)
                api = f"Run.{call.func.attr.value}"
                done = Rewrite(active_or_new(ctx), "run-get-context", ENDS_NOTE)
            else:
                assert isinstance(call.func, cst.Attribute)
                method = call.func.attr.value
                rule = rules.get(("run", method))
                if rule is None or ("run", method) in MANUAL or method == "child_run":
                    raise _Decline("a method without a rule")
                api = f"Run.{method}"
                args = bind_args(rule, call)
                if args is None:
                    raise _Decline("arguments the rule cannot bind")
                done = rule.fn(ctx, call, args)
            new_stmts, finding = self._apply(printer, node, call, site, api, done, ctx, limit)
            findings.append(finding)
            if new_stmts is None:
                continue  # (left as it is: what the rule asked to import is not needed)
            needs |= ctx.needs
            new_text = self._text(site, text, start, new_stmts, node)
            if new_text is None:
                new_text = _render(printer, new_stmts, indent, wrapper)
                if not text.endswith("\n"):  # the last line, with no line break: none added
                    new_text = new_text.removesuffix(self.nl)
            if "#" in text and any(new_text.count(x.value) < 1 for x in comments(node)):
                raise _Decline("a comment would be lost")
            edits.append((start, end, new_text))
            _reads_in(stmt, before_reads)
            written.append((new_text, indent))
        findings.sort(key=lambda f: (f.line, f.column))
        if not any(f.rewritten for f in findings):
            return Result(self.source, self.source, findings)
        # Imports the rewrite left unused go; the ones it needs come.
        reads = out.reads
        after = reads.copy()
        after.subtract(before_reads)
        after.subtract(out.with_names)  # (the codemod's recount skips `with ... as <name>`)
        # Only an imported name read in a replaced statement may now be unread: count those in
        # the new code (parsed only when one of them occurs in it at all).
        imported = {n for node, _ in out.imports for n in _aliases(node)}
        candidates = {n for n in before_reads if n in imported}
        if self.owner is not None:
            candidates.add(run)
        for new_text, indent in written:
            if any(n in new_text for n in candidates):
                _reads_in(ast.parse(f"if 1:\n{new_text}" if indent else new_text), after)
        if self.owner is not None and after[run] <= 0:
            # `run = mlflow.start_run()` in a function, the name now unused: just the call.
            at = self.src.starts[assign.lineno - 1]
            k = next(i for i, e in enumerate(edits) if e[0] == at)
            start, end, text = edits[k]
            made = assign.value
            cut = self.src.offset(made.lineno, made.col_offset) - start
            lead = text[: len(text) - len(text.lstrip(" "))]
            edits[k] = (start, end, lead + text[cut:])
        adds = {m: a for m, a in names.to_import.items() if m in needs}
        code = self._imports(tree, out, edits, reads, after, adds)
        try:
            compile(code, self.path, "exec", dont_inherit=True)
        except SyntaxError as exc:  # a rule bug: never write such output
            raise RewriteError(f"{self.path}: rewritten code does not compile: {exc}") from exc
        return Result(self.source, code, sorted(findings, key=lambda f: (f.line, f.column)))

    def _statements(
        self, sites: list[_Site]
    ) -> tuple[
        list[tuple[int, int, str, str]], list[tuple[cst.SimpleStatementLine, cst.If | None]]
    ]:
        """Each site's statement: where its lines are, their text and indentation, and libcst's
        view of it, as `_parse_statement` gives it (all parsed at once: one call to the parser
        costs as much as a short statement)."""
        src = self.src
        spans: list[tuple[int, int, str, str]] = []
        for site in sites:
            stmt = site.stmt
            if not _only_statement_on_lines(src, stmt):
                raise _Decline("a statement shares its line")
            assert stmt.end_lineno is not None
            start = src.starts[stmt.lineno - 1]
            end = min(src.starts[stmt.end_lineno], len(src.text))
            text = src.text[start:end]  # (the file's last line may have no line break)
            first_line = src.lines[stmt.lineno - 1]
            indent = first_line[: src.col(stmt.lineno, stmt.col_offset)]
            if nesting_error(stmt, MAX_NESTING - 1) is not None:  # (libcst's parser would crash)
                raise _Decline("nested too deeply")
            spans.append((start, end, text, indent))
        wrap = "if 1:" + self.nl  # (the file's newline: libcst takes the first as the default)
        module = cst.parse_module("".join((wrap if i else "") + t for _, _, t, i in spans))
        if len(module.body) != len(spans):
            raise _Decline("statements that do not stand alone")
        parsed: list[tuple[cst.SimpleStatementLine, cst.If | None]] = []
        for top in module.body:
            if isinstance(top, cst.If):
                assert isinstance(top.body, cst.IndentedBlock) and len(top.body.body) == 1
                inner = top.body.body[0]
                assert isinstance(inner, cst.SimpleStatementLine)
                parsed.append((inner, top))
            else:
                assert isinstance(top, cst.SimpleStatementLine)
                parsed.append((top, None))
        return spans, parsed

    def _text(
        self,
        site: _Site,
        text: str,
        start: int,
        new_stmts: list[cst.BaseStatement],
        old: cst.SimpleStatementLine,
    ) -> str | None:
        """The new statement's text when only the call changed, to one line: the old text with
        the call's replaced (what libcst renders, without rendering the statement again)."""
        new = new_stmts[0]
        if len(new_stmts) != 1 or not isinstance(new, cst.SimpleStatementLine):
            return None
        if new.leading_lines != old.leading_lines:
            return None
        small = new.body[0]
        code = self._last_report
        c = site.call
        if not isinstance(small, (cst.Expr, cst.Assign)) or code == "\n":
            return None
        if "\n" in code:
            if c.lineno != c.end_lineno:
                return None  # (its own line breaks may not follow the block's indentation)
            # A call written on one line holds no line break of its own: every one in the new
            # code is the layout's, which libcst indents by the block's indentation.
            line = self.src.lines[c.lineno - 1]
            code = code.replace("\n", "\n" + line[: len(line) - len(line.lstrip(" "))])
        call_start = self.src.offset(c.lineno, c.col_offset) - start
        call_end = self.src.offset(c.end_lineno, c.end_col_offset) - start  # type: ignore[arg-type]
        return text[:call_start] + code + text[call_end:]

    def _apply(
        self,
        module: cst.Module,
        node: cst.SimpleStatementLine,
        call: cst.Call,
        site: _Site,
        api: str,
        done: Rewrite,
        ctx: Context,
        limit: int,
    ) -> tuple[list[cst.BaseStatement] | None, Finding]:
        """`_Rewriter._apply` and `leave_SimpleStatementLine` for one statement."""
        src = self.src
        c = site.call
        assert c.end_lineno is not None and c.end_col_offset is not None
        line, col = c.lineno, src.col(c.lineno, c.col_offset)
        end_line, end_col = c.end_lineno, src.col(c.end_lineno, c.end_col_offset)
        excerpt = src.segment(c).strip().splitlines()[0][:120]  # (as libcst renders it)

        def finding(replacement: str, rule: str, fidelity: str | None) -> Finding:
            return Finding(
                path=self.path,
                line=line,
                column=col + 1,
                api=api,
                fidelity=fidelity or entry(rule).fidelity,  # type: ignore[arg-type]
                rule=rule,
                replacement=replacement,
                detail=done.detail,
                excerpt=excerpt,
            )

        if done.node is None:
            return None, finding("", done.rule, "manual")
        if done.remove:
            raise _Decline("a statement removed")
        small = node.body[0]
        if ctx.statement and done.statements:
            present: set[int] = set()
            for stmt in done.statements:
                present |= {id(x) for x in comments(stmt)}
            orphans = [x for x in comments(call) if id(x) not in present]
            report = "".join(module.code_for_node(s) for s in done.statements)
            lead = [*node.leading_lines, *(cst.EmptyLine(indent=True, comment=x) for x in orphans)]
            stmts = in_place(done.statements, node.with_changes(leading_lines=lead))
            self._last_report = "\n"  # (several statements: rendered in full)
            return stmts, finding(report, done.rule, done.fidelity)
        text_line = src.lines[line - 1]
        lead_ws = text_line[: len(text_line) - len(text_line.lstrip(" \t"))]
        rest = src.lines[end_line - 1][end_col:]
        tail = len(rest.split("#", 1)[0].rstrip())
        where = Where(
            len(text_line[:col].expandtabs(TAB)),
            len(lead_ws.expandtabs(TAB)),
            "",
            module.default_indent,
            tail,
            limit,
            line == end_line,
        )
        report = module.code_for_node(done.node)
        new, lost = place(done.node, call, where, report)
        if new is not done.node:
            report = module.code_for_node(new)
        self._last_report = report
        small = small.with_changes(value=new)
        updated = node.with_changes(body=[small])
        if lost:
            lines = [cst.EmptyLine(indent=True, comment=x) for x in lost]
            updated = updated.with_changes(leading_lines=[*updated.leading_lines, *lines])
        return [updated], finding(report, done.rule, done.fidelity)

    # -- imports ------------------------------------------------------------------------------------
    def _imports(
        self,
        tree: ast.Module,
        out: _Collected,
        edits: list[tuple[int, int, str]],
        before: Counter[str],
        after: Counter[str],
        adds: dict[str, str | None],
    ) -> str:
        src = self.src

        def unused(name: str) -> bool:
            return before[name] > 0 and after[name] <= 0

        body = tree.body
        # The leading region: docstring, __future__ imports, then import lines, and the statement
        # after them (`nxt`), all as libcst sees them.
        index = 0
        if body and _docstring(body[0]):
            index = 1
        while index < len(body) and _future(body[index]):
            index += 1
        header_end = index
        while index < len(body) and isinstance(body[index], (ast.Import, ast.ImportFrom)):
            index += 1
        region_end = index
        if region_end >= len(body) or region_end == 0:
            raise _Decline("no code after the imports")
        if any(_MLFLOW_WORD.search(src.segment(stmt)) for stmt in body[:region_end]):
            # libcst's `_uses_at_import_time` sees `from azureml.mlflow import x` use mlflow
            raise _Decline("a leading statement names mlflow")
        tops: list[_Top] = []
        prev_end = src.starts[body[0].lineno - 1]
        for stmt in body[: region_end + 1]:
            first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
            start = src.starts[first - 1]
            leading = src.text[prev_end:start]
            lines = leading.splitlines(keepends=True)
            if not all(_is_blank_or_comment(x) for x in lines):
                raise _Decline("odd lines between statements")
            end = src.starts[stmt.end_lineno] if stmt is not body[region_end] else start  # type: ignore[index]
            own = src.text[start:end]
            kind = "code"
            if stmt is body[0] and _docstring(stmt):
                kind = "docstring"
            elif _future(stmt):
                kind = "future"
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                kind = "import"
            tops.append(_Top(lines, own, kind, _modules(stmt), _plain(stmt)))
            prev_end = end
        # Which imports the rewrite left unused, and the comment of the legacy one.
        mlflow_comment: str | None = None
        for node, depth in out.imports:
            bound = _aliases(node)
            gone = [n for n in bound if unused(n)]
            if not gone:
                continue
            code = src.segment(node)
            if "#" in code:
                raise _Decline("comments inside an import to edit")
            if not _only_statement_on_lines(src, node):
                raise _Decline("an import to edit shares its line")  # (`import json;`)
            region = node in body[header_end:region_end]
            if len(gone) != len(bound):  # the others stay: `from azureml.core import Dataset`
                kept = _without(code, set(gone))
                if region:
                    top = tops[body.index(node)]
                    top.own = top.own.replace(code, kept, 1)
                    edited = ast.parse(kept).body[0]  # what `_add_stdlib` will see
                    top.imports, top.plain = _modules(edited), _plain(edited)
                else:
                    start = src.offset(node.lineno, node.col_offset)
                    edits.append((start, start + len(code), kept))
                continue
            if depth != 0 or not region:
                raise _Decline("an import to drop elsewhere than among the leading ones")
            top = tops[body.index(node)]
            text = top.own.rstrip("\r\n")
            comment = text[text.index(code) + len(code) :] if code in text else ""
            if (
                comment.strip()
                and "mlflow" in adds
                and mlflow_comment is None
                and _is_azureml(node)
            ):
                mlflow_comment = comment
                comment = ""
            top.dropped = True
            top.own = comment  # a trailing comment stays, as a line of its own (see below)
        # `import mlflow`, after the leading imports (the legacy ones among them are going).
        items = list(tops)
        if "mlflow" in adds:
            asname = adds.pop("mlflow")
            line = _line_text("mlflow", asname, self.nl, mlflow_comment)
            items = _insert(items, region_end, header_end, line, self.nl)
        items = _edit(items, self.nl)
        for name, asname in sorted(adds.items()):
            items = _add_stdlib(items, name, asname, self.nl)
        head = "".join("".join(t.leading) + t.own for t in items)
        start = src.starts[body[0].lineno - 1]
        first = body[region_end]
        first_line = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
        rest_start = src.starts[first_line - 1]
        pieces = [src.text[:start], head]
        at = rest_start
        for s, e, text in sorted(edits):
            if s < at:
                raise _Decline("an edit in the import region")
            pieces.append(src.text[at:s])
            pieces.append(text)
            at = e
        pieces.append(src.text[at:])
        return "".join(pieces)


def _non_ascii_names(source: str) -> bool:
    """Whether an identifier of `source` is not ASCII."""
    lines = iter(source.splitlines(keepends=True))
    try:
        return any(
            t.type == tokenize.NAME and not t.string.isascii()
            for t in tokenize.generate_tokens(lambda: next(lines, ""))
        )
    except (tokenize.TokenError, SyntaxError):
        return True


def _target_names(target: ast.expr) -> set[str]:
    """The names an assignment target binds, as `detect._target_names` reads them."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(e) for e in target.elts))
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()


def _is_azureml(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        m = node.module or ""
        return not node.level and (m == "azureml" or m.startswith("azureml."))
    return any(a.name == "azureml" or a.name.startswith("azureml.") for a in node.names)


def _aliases(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The names an import statement binds, in order (`import a.b` binds `a`)."""
    out = []
    for alias in node.names:
        if alias.name == "*":
            continue
        if isinstance(node, ast.Import) and not alias.asname:
            out.append(alias.name.split(".")[0])
        else:
            out.append(alias.asname or alias.name)
    return out


def _never_used(facts: Facts, out: _Collected, name: str) -> bool:
    """Whether `name` is bound once (its import) and never read: then it takes no part."""
    return (
        out.reads[name] == 0
        and facts.module.count(name) == 1
        and not any(scope.count(name) for scope in facts.scopes.values())
        and name not in out.own_names
    )


def _without(code: str, gone: set[str]) -> str:
    """An import statement without the names in `gone`, as `codemod._Cleanup` writes it."""
    line = cst.parse_statement(code + "\n")
    assert isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1
    small = line.body[0]
    assert isinstance(small, (cst.Import, cst.ImportFrom))
    assert not isinstance(small.names, cst.ImportStar)
    is_from = isinstance(small, cst.ImportFrom)
    names = [a for a in small.names if _bound(a, is_from) not in gone]
    names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return cst.Module(body=[]).code_for_node(small.with_changes(names=names))


def _docstring(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Expr):
        return False
    if isinstance(stmt.value, ast.JoinedStr):
        raise _Decline("an f-string statement first")
    return isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, (str, bytes))


def _future(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__" and not stmt.level


def _modules(stmt: ast.stmt) -> tuple[str, ...]:
    if isinstance(stmt, ast.Import):
        return (stmt.names[0].name.split(".")[0],)
    if isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
        return (stmt.module.split(".")[0],)
    return ()


def _plain(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.Import) and len(stmt.names) == 1:
        return stmt.names[0].name
    return None


def _line_text(module: str, asname: str | None, nl: str, comment: str | None = None) -> str:
    """An `import <module>` line the rewrite adds, with the file's newline."""
    code = cst.Module(body=[]).code_for_node(_import_line(module, asname)).rstrip("\n")
    return code + (comment or "").rstrip("\r\n") + nl


def _insert(items: list[_Top], at: int, header_end: int, line: str, nl: str) -> list[_Top]:
    """`_Cleanup._insert` on the region model."""
    new = _Top([], line, "import", (line.split()[1].split(".")[0],), _plain_of(line))
    if at >= len(items):
        raise _Decline("an insertion at the end")
    nxt = items[at]
    if at > header_end and items[at - 1].kind == "import":
        return [*items[:at], new, *items[at:]]
    own = list(nxt.leading)
    if nxt.kind == "import":
        new.leading = own
        return [*items[:at], new, replace(nxt, leading=[]), *items[at + 1 :]]
    if at == 0:
        raise _Decline("an insertion above the first statement")
    blanks: list[str] = []
    while own and not own[0].strip():
        blanks.append(own.pop(0))
    spacer = blanks or [nl]
    new.leading = blanks[:1]
    return [*items[:at], new, replace(nxt, leading=[*spacer, *own]), *items[at + 1 :]]


def _plain_of(line: str) -> str | None:
    return line.split()[1]


def _edit(items: list[_Top], nl: str) -> list[_Top]:
    """`_BodyEditor._edit` on the region model: dropped statements hand on their lines."""
    out: list[_Top] = []
    carry: list[str] = []
    dropped_first = False
    for item in items:
        if item.dropped:
            carry.extend(item.leading)
            if item.own.strip():
                carry.append(item.own.strip() + nl)
            dropped_first = dropped_first or not out
            continue
        if dropped_first and not out:
            # The module now starts here: no blank line above its first statement.
            lines = [*carry, *item.leading]
            while lines and not lines[0].strip():
                lines.pop(0)
            item = replace(item, leading=lines)
            carry = []
        elif carry:
            own = list(item.leading)
            if own and not own[0].strip():
                while carry and not carry[-1].strip():
                    carry.pop()
            item = replace(item, leading=[*carry, *own])
            carry = []
        out.append(item)
    if carry:
        raise _Decline("lines carried past the region")
    return out


def _add_stdlib(items: list[_Top], module: str, asname: str | None, nl: str) -> list[_Top]:
    """`_Cleanup._add_stdlib` on the region model."""
    line = _line_text(module, asname, nl)
    start = next(
        (i for i, t in enumerate(items) if t.kind not in ("docstring", "future")), len(items)
    )
    end = start
    while end < len(items) and items[end].kind == "import":
        end += 1
    stdlib = [i for i in range(start, end) if items[i].imports and items[i].imports[0] in _STDLIB]
    plain = [i for i in stdlib if items[i].plain is not None]
    later = [i for i in plain if (items[i].plain or "") > module]
    if later:
        return _insert(items, later[0], start, line, nl)
    if plain:
        new = _Top([], line, "import", (module,), _plain_of(line))
        return [*items[: plain[-1] + 1], new, *items[plain[-1] + 1 :]]
    if stdlib:
        return _insert(items, stdlib[0], start, line, nl)
    items = _insert(items, start, start, line, nl)
    at = start + 1
    if at < len(items) and items[at].kind == "import" and not items[at].leading:
        items[at] = replace(items[at], leading=[nl])
    return items
