"""Find every SDK v1 site in a module with Python's own `ast`: the detection `rewrite` and `audit` share.

Legacy names are resolved through the module's imports (`from azureml.core import Run`,
`import azureml.core as aml`, aliases, `azureml.core.run.Run`), and receivers through their
bindings: `run = Run.get_context()`, `run = exp.start_logging()`, `with ... as run`,
`child = run.child_run()`, `Run(exp, run_id)`, `run.parent`, `self.run = ...` anywhere in the same
class, parameters annotated `Run`, `logger = get_azureml_logger()`.

Binding is flow-insensitive and conservative: a name is a run in a scope only when every binding of
it in that scope is a run. A name also bound to anything else (a loop variable, another call's
result, an unannotated parameter) is not provable, so calls on it are never rewritten; distinctive
ones are reported for review. Python `logging`, Lightning's `self.log`, `np.log` and a function
named `run` are never legacy: nothing binds them to a legacy kind.

Why `ast` and not libcst here: `ast.parse` is ~15x faster than libcst's parser and its walk is
cheap, so files are scanned at a fraction of a libcst parse; libcst is used afterwards only on the
small source spans that change (see `migrate.codemod`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst

Kind = Literal["run", "experiment", "workspace", "logger"]

CONSTRUCTORS: dict[str, Kind] = {
    "azureml.core.Run": "run",
    "azureml.core.run.Run": "run",
    "azureml.core.Experiment": "experiment",
    "azureml.core.experiment.Experiment": "experiment",
    "azureml.core.Workspace": "workspace",
    "azureml.core.workspace.Workspace": "workspace",
    "azureml.logging.get_azureml_logger": "logger",
}
FACTORIES: dict[Kind, dict[str, Kind]] = {
    "run": {"get_context": "run", "get": "run", "get_submitted_run": "run"},
    "workspace": {"from_config": "workspace", "get": "workspace"},
}
DERIVED_CALLS: dict[Kind, dict[str, Kind]] = {
    "run": {"child_run": "run"},
    "experiment": {"start_logging": "run"},
}
DERIVED_ATTRS: dict[Kind, dict[str, Kind]] = {"run": {"parent": "run"}}
QUICK_MARKERS = ("azureml",)


def might_contain_legacy(text: str) -> bool:
    """Cheap prefilter: a file that never mentions azureml cannot hold legacy calls."""
    return any(marker in text for marker in QUICK_MARKERS)


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` as a string, or None for anything that is not a plain dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def cst_dotted(node: cst.BaseExpression) -> str | None:
    """The same for a libcst expression."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = cst_dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


@dataclass(frozen=True)
class Annotated:
    """A binding known only by its annotation (`def f(run: Run)`, `run: Run = ...`)."""

    annotation: ast.expr


@dataclass(frozen=True)
class Entered:
    """What `with <item> as x` binds x to (a legacy run is its own context manager)."""

    item: ast.expr


Bound = ast.expr | Annotated | Entered
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


@dataclass(eq=False)
class Scope:
    """Bindings of one function (or the module): name -> kinds it is bound to (None = other)."""

    parent: Scope | None
    bindings: dict[str, set[Kind | None]] = field(default_factory=dict)
    pending: dict[str, list[Bound]] = field(default_factory=dict)
    globals_: set[str] = field(default_factory=set)
    is_class: bool = False  # a class body: its names are not visible inside its methods

    def bind(self, name: str, value: Bound | None) -> None:
        if value is None:
            self.bindings.setdefault(name, set()).add(None)
        else:
            self.pending.setdefault(name, []).append(value)


LegacyImport = tuple[str, str | None, str | None]  # (module, name or None, asname or None)


class Resolver:
    """What every name and expression of one module is, as far as SDK v1 goes. Memoised."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.imports: dict[str, str] = {}  # local name -> qualified name
        self.legacy_imports: list[tuple[ast.stmt, LegacyImport]] = []
        self.module = Scope(None)
        self.scopes: dict[ast.AST, Scope] = {}
        self.self_attrs: dict[ast.ClassDef, dict[str, list[tuple[Scope, Bound | None]]]] = {}
        self.enclosing_class: dict[ast.AST, ast.ClassDef | None] = {}
        self._done: dict[tuple[int, str], Kind | None] = {}
        self._busy: set[tuple[int, str]] = set()
        self._collect(tree.body, self.module, None, None)

    @property
    def uses_legacy(self) -> bool:
        return bool(self.legacy_imports)

    # -- pass 1: imports and bindings -----------------------------------------------------------
    def _collect(
        self,
        body: list[ast.stmt],
        scope: Scope,
        cls: ast.ClassDef | None,
        function: FunctionNode | None,
    ) -> None:
        for stmt in body:
            self._statement(stmt, scope, cls, function)

    def _statement(
        self, stmt: ast.stmt, scope: Scope, cls: ast.ClassDef | None, fn: FunctionNode | None
    ) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == "azureml" or alias.name.startswith("azureml."):
                    self.legacy_imports.append((stmt, (alias.name, None, alias.asname)))
                local = alias.asname or alias.name.split(".")[0]
                self.imports[local] = alias.name if alias.asname else local
                scope.bind(local, None)
            return
        if isinstance(stmt, ast.ImportFrom):
            if stmt.level or stmt.module is None:
                return
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                if stmt.module == "azureml" or stmt.module.startswith("azureml."):
                    self.legacy_imports.append((stmt, (stmt.module, alias.name, alias.asname)))
                local = alias.asname or alias.name
                self.imports[local] = f"{stmt.module}.{alias.name}"
                scope.bind(local, None)
            return
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope.bind(stmt.name, None)
            self._function(stmt, scope, cls)
            for deco in stmt.decorator_list:
                self._expression(deco, scope, cls, fn)
            return
        if isinstance(stmt, ast.ClassDef):
            scope.bind(stmt.name, None)
            self.self_attrs.setdefault(stmt, {})
            self.enclosing_class[stmt] = cls
            # A class body is its own namespace; its methods see the enclosing function scope.
            self._collect(stmt.body, Scope(scope, is_class=True), stmt, fn)
            return
        if isinstance(stmt, ast.Global):
            scope.globals_.update(stmt.names)
            return
        if isinstance(stmt, ast.Nonlocal):
            return
        # Bindings made by this statement.
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                self._target(target, stmt.value, scope, cls, fn)
        elif isinstance(stmt, ast.AnnAssign):
            self._target(stmt.target, Annotated(stmt.annotation), scope, cls, fn)
            if stmt.value is not None:
                self._target(stmt.target, stmt.value, scope, cls, fn)
        elif isinstance(stmt, (ast.AugAssign, ast.For, ast.AsyncFor)):
            self._target(stmt.target, None, scope, cls, fn)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    self._target(item.optional_vars, Entered(item.context_expr), scope, cls, fn)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            for handler in stmt.handlers:  # type: ignore[attr-defined]
                if handler.name:
                    scope.bind(handler.name, None)
        # Walrus targets, comprehension variables and lambdas inside expressions.
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.expr):
                self._expression(child, scope, cls, fn)
            elif isinstance(child, ast.stmt):
                self._statement(child, scope, cls, fn)
            elif isinstance(child, (ast.excepthandler, ast.match_case)):
                for grand in ast.iter_child_nodes(child):
                    if isinstance(grand, ast.stmt):
                        self._statement(grand, scope, cls, fn)
            elif isinstance(child, ast.withitem):
                self._expression(child.context_expr, scope, cls, fn)

    def _expression(
        self, expr: ast.expr, scope: Scope, cls: ast.ClassDef | None, fn: FunctionNode | None
    ) -> None:
        for node in ast.walk(expr):
            if isinstance(node, ast.NamedExpr):
                self._target(node.target, node.value, scope, cls, fn)
            elif isinstance(node, ast.comprehension):
                self._target(node.target, None, scope, cls, fn)
            elif isinstance(node, ast.Lambda):
                inner = Scope(scope)
                self.scopes[node] = inner
                self.enclosing_class[node] = cls
                for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                    inner.bind(a.arg, None)

    def _function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, outer: Scope, cls: ast.ClassDef | None
    ) -> None:
        # Methods see the module/function scope around their class, not the class body.
        parent = outer.parent if outer.is_class and outer.parent is not None else outer
        scope = Scope(parent)
        self.scopes[node] = scope
        self.enclosing_class[node] = cls
        args = node.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            scope.bind(a.arg, Annotated(a.annotation) if a.annotation is not None else None)
        for star in (args.vararg, args.kwarg):
            if star is not None:
                scope.bind(star.arg, None)
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self._expression(default, outer, cls, None)
        self._collect(node.body, scope, cls, node)

    def _target(
        self,
        target: ast.expr,
        value: Bound | None,
        scope: Scope,
        cls: ast.ClassDef | None,
        fn: FunctionNode | None,
    ) -> None:
        if isinstance(target, ast.Name):
            where = self.module if target.id in scope.globals_ else scope
            where.bind(target.id, value)
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and cls is not None
            and fn is not None
        ):
            self.self_attrs[cls].setdefault(target.attr, []).append((scope, value))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, None, scope, cls, fn)
        elif isinstance(target, ast.Starred):
            self._target(target.value, None, scope, cls, fn)

    # -- pass 2: kinds --------------------------------------------------------------------------
    def qualified(self, node: str | ast.expr | cst.BaseExpression | None) -> str | None:
        """The imported qualified name an expression refers to (`R` -> `azureml.core.Run`).

        Takes a dotted name, an `ast` expression, or a libcst expression (the rules work on
        libcst nodes of the spans they rewrite).
        """
        if isinstance(node, ast.expr):
            name = dotted(node)
        elif isinstance(node, cst.BaseExpression):
            name = cst_dotted(node)
        else:
            name = node
        if name is None:
            return None
        head, _, rest = name.partition(".")
        base = self.imports.get(head)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def legacy_class(self, node: ast.expr) -> Kind | None:
        q = self.qualified(node)
        return CONSTRUCTORS.get(q) if q else None

    def kind_of(self, node: Bound, scope: Scope, cls: ast.ClassDef | None = None) -> Kind | None:
        """The legacy kind `node` evaluates to in `scope`, or None when not provable."""
        if isinstance(node, Annotated):
            return self._annotation_kind(node.annotation)
        if isinstance(node, Entered):
            return self.kind_of(node.item, scope, cls)
        if isinstance(node, ast.Name):
            return self.name_kind(node.id, scope, cls)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self" and cls is not None:
                return self.self_kind(node.attr, cls)
            base = self.kind_of(node.value, scope, cls)
            return None if base is None else DERIVED_ATTRS.get(base, {}).get(node.attr)
        if isinstance(node, ast.Call):
            func = node.func
            made = self.legacy_class(func)
            if made is not None:
                return made
            if isinstance(func, ast.Attribute):
                owner = self.legacy_class(func.value)
                if owner is not None:
                    return FACTORIES.get(owner, {}).get(func.attr)
                base = self.kind_of(func.value, scope, cls)
                if base is not None:
                    return DERIVED_CALLS.get(base, {}).get(func.attr)
        return None

    def _annotation_kind(self, annotation: ast.expr) -> Kind | None:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        return self.legacy_class(annotation)

    def name_kind(self, name: str, scope: Scope, cls: ast.ClassDef | None = None) -> Kind | None:
        """The kind of a bare name, looked up as Python does (local, enclosing, module)."""
        current: Scope | None = scope
        while current is not None:
            if name in current.globals_ and current is not self.module:
                current = self.module
                continue
            if name in current.bindings or name in current.pending:
                return self._scope_kind(current, name, cls)
            current = current.parent
        return None

    def _scope_kind(self, scope: Scope, name: str, cls: ast.ClassDef | None) -> Kind | None:
        key = (id(scope), name)
        if key in self._done:
            return self._done[key]
        if key in self._busy:
            return None  # a cycle (run = run.child_run()) proves nothing more
        self._busy.add(key)
        kinds: set[Kind | None] = set(scope.bindings.get(name, set()))
        for value in scope.pending.get(name, []):
            kinds.add(self.kind_of(value, scope, cls))
        self._busy.discard(key)
        result = kinds.pop() if len(kinds) == 1 else None
        self._done[key] = result
        return result

    def self_kind(self, attr: str, cls: ast.ClassDef) -> Kind | None:
        """The kind of `self.<attr>` in methods of `cls`: every assignment to it agrees."""
        key = (id(cls), attr)
        if key in self._done:
            return self._done[key]
        if key in self._busy:
            return None
        self._busy.add(key)
        kinds: set[Kind | None] = set()
        for scope, value in self.self_attrs.get(cls, {}).get(attr, []):
            kinds.add(None if value is None else self.kind_of(value, scope, cls))
        self._busy.discard(key)
        result = kinds.pop() if len(kinds) == 1 else None
        self._done[key] = result
        return result

    def receivers(self) -> Iterator[tuple[str, Kind]]:
        """Module-level names proven to be legacy objects (for reports and tests)."""
        for name in sorted({*self.module.bindings, *self.module.pending}):
            kind = self.name_kind(name, self.module)
            if kind is not None:
                yield name, kind

    # -- walking with scope ---------------------------------------------------------------------
    def walk(self) -> Iterator[tuple[ast.AST, Scope, ast.ClassDef | None]]:
        """Every node in source order, with the scope and class its names resolve in."""
        yield from self._walk(self.tree, self.module, None)

    def _walk(
        self, node: ast.AST, scope: Scope, cls: ast.ClassDef | None
    ) -> Iterator[tuple[ast.AST, Scope, ast.ClassDef | None]]:
        for child in ast.iter_child_nodes(node):
            yield child, scope, cls
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = self.scopes.get(child, scope)
                # Decorators, defaults and annotations were evaluated outside; close enough.
                yield from self._walk(child, inner, self.enclosing_class.get(child, cls))
            elif isinstance(child, ast.ClassDef):
                yield from self._walk(child, scope, child)
            else:
                yield from self._walk(child, scope, cls)
