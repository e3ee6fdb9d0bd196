"""Decide which expressions in a module are SDK v1 runs, experiments, workspaces and loggers.

One answer for `rewrite` and `audit`: legacy names are resolved through the module's imports
(`from azureml.core import Run`, `import azureml.core as aml`, aliases, `azureml.core.run.Run`), and
receivers through their bindings: `run = Run.get_context()`, `run = exp.start_logging()`,
`with ... as run`, `child = run.child_run()`, `Run(exp, run_id)`, `run.parent`, `self.run = ...`
anywhere in the same class, parameters annotated `Run`, `logger = get_azureml_logger()`.

Binding is flow-insensitive and conservative: a name is a run in a scope only when every binding of
it in that scope is a run. A name that is also bound to anything else (a loop variable, another
call's result, an unannotated parameter) is not provable, so calls on it are never rewritten; the
codemod reports the distinctive ones for review. Python `logging`, Lightning's `self.log`, `np.log`
and a function named `run` are never legacy: nothing binds them to a legacy kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst

Kind = Literal["run", "experiment", "workspace", "logger"]

# Fully qualified legacy callables and what calling them gives.
CONSTRUCTORS: dict[str, Kind] = {
    "azureml.core.Run": "run",
    "azureml.core.run.Run": "run",
    "azureml.core.Experiment": "experiment",
    "azureml.core.experiment.Experiment": "experiment",
    "azureml.core.Workspace": "workspace",
    "azureml.core.workspace.Workspace": "workspace",
    "azureml.logging.get_azureml_logger": "logger",
}
# Class-level factories: qualified class -> {method: kind returned}.
FACTORIES: dict[str, dict[str, Kind]] = {
    "run": {"get_context": "run", "get": "run", "get_submitted_run": "run"},
    "workspace": {"from_config": "workspace", "get": "workspace"},
}
# Methods and attributes of instances that give another legacy object.
DERIVED_CALLS: dict[Kind, dict[str, Kind]] = {
    "run": {"child_run": "run"},
    "experiment": {"start_logging": "run"},
}
DERIVED_ATTRS: dict[Kind, dict[str, Kind]] = {"run": {"parent": "run"}}
QUICK_MARKERS = ("azureml",)


def might_contain_legacy(text: str) -> bool:
    """Cheap prefilter: a file that never mentions azureml cannot hold legacy calls."""
    return any(marker in text for marker in QUICK_MARKERS)


def _dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` as a string, or None for anything that is not a plain dotted name."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def _import_name(node: cst.BaseExpression) -> str:
    name = _dotted(node)
    assert name is not None
    return name


@dataclass(frozen=True)
class Annotated:
    """A binding known only by its annotation (`def f(run: Run)`, `run: Run = ...`)."""

    annotation: cst.BaseExpression


@dataclass(frozen=True)
class Entered:
    """What `with <item> as x` binds x to (a legacy run is its own context manager)."""

    item: cst.BaseExpression


Bound = cst.BaseExpression | Annotated | Entered


@dataclass
class Scope:
    """Bindings of one function (or the module): name -> kinds it is bound to (None = other)."""

    parent: Scope | None
    bindings: dict[str, set[Kind | None]] = field(default_factory=dict)
    globals_: set[str] = field(default_factory=set)
    pending: dict[str, list[Bound]] = field(default_factory=dict)

    def bind(self, name: str, kind: Kind | None) -> None:
        self.bindings.setdefault(name, set()).add(kind)


@dataclass
class Facts:
    """What the collector learnt about a module: imports, scopes and per-class self attributes."""

    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    # Each legacy import statement's form: (module, name or None, asname or None).
    legacy_imports: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    module: Scope = field(default_factory=lambda: Scope(None))
    scopes: dict[cst.CSTNode, Scope] = field(default_factory=dict)  # FunctionDef -> scope
    self_attrs: dict[cst.ClassDef, dict[str, set[Kind | None]]] = field(default_factory=dict)
    self_pending: dict[cst.ClassDef, dict[str, list[tuple[Scope, Bound]]]] = field(
        default_factory=dict
    )

    @property
    def uses_legacy(self) -> bool:
        return any(q == "azureml" or q.startswith("azureml.") for q in self.imports.values())


class _Collector(cst.CSTVisitor):
    """Pass 1: imports and every binding, per scope, with the expressions bound."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.scopes: list[Scope] = [facts.module]
        self.classes: list[cst.ClassDef] = []
        self.functions: list[cst.FunctionDef] = []

    # -- imports --------------------------------------------------------------------------------
    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _import_name(alias.name)
            asname = None
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                asname = alias.asname.name.value
            if full == "azureml" or full.startswith("azureml."):
                self.facts.legacy_imports.append((full, None, asname))
            if asname is not None:
                self.facts.imports[asname] = full
                self._bind_other(asname)
            else:
                top = full.split(".")[0]
                self.facts.imports[top] = top
                self._bind_other(top)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = _import_name(node.module)
        for alias in node.names:
            name = _import_name(alias.name)
            local = name
            asname = None
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = asname = alias.asname.name.value
            if module == "azureml" or module.startswith("azureml."):
                self.facts.legacy_imports.append((module, name, asname))
            self.facts.imports[local] = f"{module}.{name}"
            self._bind_other(local)

    def _bind_other(self, name: str) -> None:
        # An import binds the name in the current scope to "not a receiver".
        self.scopes[-1].bind(name, None)

    # -- scopes ---------------------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)
        self.facts.self_attrs.setdefault(node, {})
        self.facts.self_pending.setdefault(node, {})
        self.scopes[-1].bind(node.name.value, None)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes[-1].bind(node.name.value, None)
        scope = Scope(self.scopes[-1] if len(self.scopes) > 1 else self.facts.module)
        self.facts.scopes[node] = scope
        self.scopes.append(scope)
        self.functions.append(node)
        params = node.params
        for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
            name = p.name.value
            if p.annotation is not None:
                scope.pending.setdefault(name, []).append(Annotated(p.annotation.annotation))
            else:
                scope.bind(name, None)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                scope.bind(star.name.value, None)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()
        self.functions.pop()

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self.scopes[-1].globals_.add(item.name.value)

    # -- bindings -------------------------------------------------------------------------------
    def _target_scope(self, name: str) -> Scope:
        scope = self.scopes[-1]
        return self.facts.module if name in scope.globals_ else scope

    def _bind_target(self, target: cst.BaseExpression, value: Bound | None) -> None:
        if isinstance(target, cst.Name):
            scope = self._target_scope(target.value)
            if value is None:
                scope.bind(target.value, None)
            else:
                scope.pending.setdefault(target.value, []).append(value)
        elif (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value == "self"
            and self.classes
            and self.functions
        ):
            cls = self.classes[-1]
            if value is None:
                self.facts.self_attrs[cls].setdefault(target.attr.value, set()).add(None)
            else:
                pending = self.facts.self_pending[cls].setdefault(target.attr.value, [])
                pending.append((self.scopes[-1], value))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None)

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            self._bind_target(t.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind_target(node.target, Annotated(node.annotation.annotation))
        if node.value is not None:
            self._bind_target(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind_target(node.target, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, node.value)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target, None)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_target(node.target, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, Entered(node.item))

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind_target(node.name.name, None)


class Resolver:
    """Answers "what legacy kind is this expression?" for one module, memoised."""

    def __init__(self, module: cst.Module) -> None:
        self.facts = Facts()
        module.visit(_Collector(self.facts))
        self._resolving: set[tuple[int, str]] = set()
        self._done: dict[tuple[int, str], Kind | None] = {}

    # -- names ----------------------------------------------------------------------------------
    def qualified(self, node: cst.BaseExpression) -> str | None:
        """The imported qualified name an expression refers to (`R` -> `azureml.core.Run`)."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self.facts.imports.get(head)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def legacy_class(self, node: cst.BaseExpression) -> Kind | None:
        q = self.qualified(node)
        return CONSTRUCTORS.get(q) if q else None

    # -- kinds ----------------------------------------------------------------------------------
    def kind_of(self, node: Bound, scope: Scope, cls: cst.ClassDef | None = None) -> Kind | None:
        """The legacy kind `node` evaluates to in `scope`, or None when not provable."""
        if isinstance(node, Annotated):
            return self._annotation_kind(node.annotation)
        if isinstance(node, Entered):
            return self.kind_of(node.item, scope, cls)
        if isinstance(node, cst.Name):
            return self.name_kind(node.value, scope, cls)
        if isinstance(node, cst.Attribute):
            if isinstance(node.value, cst.Name) and node.value.value == "self" and cls is not None:
                return self.self_kind(node.attr.value, cls)
            base = self.kind_of(node.value, scope, cls)
            return None if base is None else DERIVED_ATTRS.get(base, {}).get(node.attr.value)
        if isinstance(node, cst.Call):
            func = node.func
            made = self.legacy_class(func)
            if made is not None:
                return made
            if isinstance(func, cst.Attribute):
                owner = self.legacy_class(func.value)
                if owner is not None:
                    return FACTORIES.get(owner, {}).get(func.attr.value)
                base = self.kind_of(func.value, scope, cls)
                if base is not None:
                    return DERIVED_CALLS.get(base, {}).get(func.attr.value)
        return None

    def _annotation_kind(self, annotation: cst.BaseExpression) -> Kind | None:
        if isinstance(annotation, cst.SimpleString):
            text = annotation.evaluated_value
            if not isinstance(text, str):
                return None
            try:
                annotation = cst.parse_expression(text)
            except cst.ParserSyntaxError:
                return None
        return self.legacy_class(annotation)

    def name_kind(self, name: str, scope: Scope, cls: cst.ClassDef | None = None) -> Kind | None:
        """The kind of a bare name, looked up as Python does (local, enclosing, module)."""
        current: Scope | None = scope
        while current is not None:
            if name in current.globals_ and current is not self.facts.module:
                current = self.facts.module
                continue
            if name in current.bindings or name in current.pending:
                return self._scope_kind(current, name, cls)
            current = current.parent
        return None

    def _scope_kind(self, scope: Scope, name: str, cls: cst.ClassDef | None) -> Kind | None:
        key = (id(scope), name)
        if key in self._done:
            return self._done[key]
        if key in self._resolving:
            return None  # a cycle (run = run.child_run()) proves nothing more
        self._resolving.add(key)
        kinds: set[Kind | None] = set(scope.bindings.get(name, set()))
        for value in scope.pending.get(name, []):
            kinds.add(self.kind_of(value, scope, cls))
        self._resolving.discard(key)
        result = kinds.pop() if len(kinds) == 1 else None
        self._done[key] = result
        return result

    def self_kind(self, attr: str, cls: cst.ClassDef) -> Kind | None:
        """The kind of `self.<attr>` in methods of `cls`: every assignment to it agrees."""
        key = (id(cls), attr)
        if key in self._done:
            return self._done[key]
        if key in self._resolving:
            return None
        self._resolving.add(key)
        kinds: set[Kind | None] = set(self.facts.self_attrs.get(cls, {}).get(attr, set()))
        for scope, value in self.facts.self_pending.get(cls, {}).get(attr, []):
            kinds.add(self.kind_of(value, scope, cls))
        self._resolving.discard(key)
        result = kinds.pop() if len(kinds) == 1 else None
        self._done[key] = result
        return result

    def scope_of(self, function: cst.FunctionDef | None) -> Scope:
        if function is None:
            return self.facts.module
        return self.facts.scopes.get(function, self.facts.module)

    def receivers(self) -> Iterator[tuple[str, Kind]]:
        """Module-level names proven to be legacy objects (for reports and tests)."""
        for name in sorted({*self.facts.module.bindings, *self.facts.module.pending}):
            kind = self.name_kind(name, self.facts.module)
            if kind is not None:
                yield name, kind
