"""Decide which expressions in a module are SDK v1 runs, experiments, workspaces and loggers.

One answer for `rewrite` and `audit`: legacy names are resolved through the module's imports
(`from azureml.core import Run`, `import azureml.core as aml`, aliases, `azureml.core.run.Run`), and
receivers through their bindings: `run = Run.get_context()`, `run = exp.start_logging()`,
`with ... as run`, `child = run.child_run()`, `self.run = ...` anywhere in the same class,
parameters annotated `Run` (also `"Run"`), `logger = get_azureml_logger()`.

Two kinds of run are told apart. A `run` is the script's own run (the context run, a run started
by `start_logging`, a child run): after the rewrite it is MLflow's active run, so MLflow's fluent
calls log to it. An `attached` run is some other run reached by id or by relation
(`Run(exp, run_id)`, `Run.get(ws, run_id)`, `run.parent`): fluent calls would log to the wrong
run, so calls on it are reported, never rewritten.

Binding is flow-insensitive and conservative: a name is a run in a scope only when every binding of
it in that scope is a run. A name that is also bound to anything else (a loop variable, another
call's result, an unannotated parameter) is not provable, so calls on it are never rewritten; the
codemod reports them for review. Python `logging`, Lightning's `self.log`, `np.log` and a function
named `run` are never legacy: nothing binds them to a legacy kind.

The collector also records what the rules need to write correct code: every identifier the module
uses (to pick names that cannot clash), the modules imported at top level (to reuse an alias such as
`import mlflow as mf`), the values bound to each name (to tell a number from a string or a list
without running the code) and what module-level functions return.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst

Kind = Literal["run", "attached", "experiment", "workspace", "logger"]

# Fully qualified legacy classes and functions, and the kind of object each names.
CONSTRUCTORS: dict[str, Kind] = {
    "azureml.core.Run": "run",
    "azureml.core.run.Run": "run",
    "azureml.core.Experiment": "experiment",
    "azureml.core.experiment.Experiment": "experiment",
    "azureml.core.Workspace": "workspace",
    "azureml.core.workspace.Workspace": "workspace",
    "azureml.logging.get_azureml_logger": "logger",
}
# What calling a legacy class (or function) gives: Run(exp, run_id) attaches to another run.
MADE: dict[Kind, Kind] = {
    "run": "attached",
    "experiment": "experiment",
    "workspace": "workspace",
    "logger": "logger",
}
# Class-level factories: class kind -> {method: kind returned}.
FACTORIES: dict[Kind, dict[str, Kind]] = {
    "run": {"get_context": "run", "get_submitted_run": "run", "get": "attached"},
    "workspace": {"from_config": "workspace", "get": "workspace"},
}
# Methods and attributes of instances that give another legacy object.
DERIVED_CALLS: dict[Kind, dict[str, Kind]] = {
    "run": {"child_run": "run"},
    "experiment": {"start_logging": "run"},
}
DERIVED_ATTRS: dict[Kind, dict[str, Kind]] = {
    "run": {"parent": "attached"},
    "attached": {"parent": "attached"},
}
# How many bindings, attributes and helper returns one resolution may go through.
_MAX_CHAIN = 60
# Methods that add to a metric's history under the name they are given first.
_METRIC_METHODS = frozenset({"log", "log_list"})
# Names computed at run time, as a metric name may be.
_COMPUTED = (cst.Name, cst.FormattedString, cst.BinaryOperation, cst.Call, cst.Subscript)
# Methods that end the run they are called on.
ENDS = frozenset({"complete", "fail", "cancel"})


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
# What a counter (`for i in range(...)`) is bound to, for value inference: some integer.
_A_NUMBER = cst.Integer("0")
Kinds = frozenset[Kind | None]
_OTHER: Kinds = frozenset({None})


@dataclass
class Scope:
    """Bindings of one function (or the module): name -> kinds it is bound to (None = other)."""

    parent: Scope | None
    bindings: dict[str, set[Kind | None]] = field(default_factory=dict)
    globals_: set[str] = field(default_factory=set)
    pending: dict[str, list[Bound]] = field(default_factory=dict)
    known: Counter[str] = field(default_factory=Counter)  # bindings of an already known kind

    def bind(self, name: str, kind: Kind | None) -> None:
        """Record a binding of `name` whose kind is already known (None: not legacy)."""
        self.bindings.setdefault(name, set()).add(kind)
        self.known[name] += 1

    def count(self, name: str) -> int:
        """How many bindings `name` has in this scope (imports, defs, assignments, ...)."""
        return self.known[name] + len(self.pending.get(name, ()))


@dataclass
class Facts:
    """What the collector learnt about a module: imports, scopes and per-class self attributes."""

    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    # Imports at module level only (what code anywhere in the module may rely on).
    module_imports: dict[str, str] = field(default_factory=dict)
    # Names bound by module-level imports that come after other module code: code placed
    # above them (where the rewrite puts the imports it needs) cannot rely on them.
    late_imports: set[str] = field(default_factory=set)
    # Each legacy import statement's form: (module, name or None, asname or None).
    legacy_imports: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    module: Scope = field(default_factory=lambda: Scope(None))
    scopes: dict[cst.CSTNode, Scope] = field(default_factory=dict)  # FunctionDef -> scope
    self_attrs: dict[cst.ClassDef, dict[str, set[Kind | None]]] = field(default_factory=dict)
    self_pending: dict[cst.ClassDef, dict[str, list[tuple[Scope, Bound]]]] = field(
        default_factory=dict
    )
    # Every identifier the module uses as a variable (not attribute names, not keywords).
    names: set[str] = field(default_factory=set)
    # Names bound anywhere by something other than `import <that name>` (an assignment, a
    # parameter, a def, `from time import time`, `import numpy as time`...).
    bound_other: set[str] = field(default_factory=set)
    # How often each name is read (imports, assignment targets, parameters, definitions,
    # attribute names and keywords excluded): an import nothing reads any more can go.
    reads: Counter[str] = field(default_factory=Counter)
    # Every comment's text, counted: the rewrite must keep them all.
    comments: Counter[str] = field(default_factory=Counter)
    # Control code: names of experiments with `.submit(...)` called on them, and the calls
    # `<something>(name, ...)` whose function may be the Run class (resolved once imports are known).
    submitted: set[str] = field(default_factory=set)
    # The methods called on each plain name, per scope (`exp.get_runs()` -> {"get_runs"}).
    methods: dict[tuple[int, str], set[str]] = field(default_factory=dict)  # (id(scope), name)
    maybe_attach: list[tuple[cst.BaseExpression, str]] = field(default_factory=list)
    # Module-level functions and the values their `return` statements give (None: bare return).
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    classes: dict[str, cst.ClassDef] = field(default_factory=dict)  # module-level ones
    returns: dict[cst.FunctionDef, list[cst.BaseExpression | None]] = field(default_factory=dict)
    # Every `<parser>.add_argument(...)` call (argparse), to tell what `args.<dest>` holds.
    arguments: list[cst.Call] = field(default_factory=list)
    # Calls `<anything>.log(...)`/`.log_list(...)` per literal metric name they log under ("" for
    # a name computed at run time): a name logged by one call only, in a file that computes no
    # name, can have its list steps start at 0 (see `rules.metrics`).
    metric_calls: Counter[str] = field(default_factory=Counter)
    # The code of every receiver something ends: `x.complete()`, `x.fail()`, `x.cancel()`, and
    # every `with x:` item.
    enders: set[str] = field(default_factory=set)

    @property
    def uses_legacy(self) -> bool:
        """Whether the module imports anything from azureml."""
        return any(q == "azureml" or q.startswith("azureml.") for q in self.imports.values())


class _Collector(cst.CSTVisitor):
    """Pass 1: imports and every binding, per scope, with the expressions bound."""

    def __init__(self, facts: Facts, module: cst.Module) -> None:
        self.facts = facts
        self.module = module
        self.scopes: list[Scope] = [facts.module]
        # The enclosing definitions, innermost last: a class body binds class attributes.
        self.frames: list[cst.ClassDef | cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self.functions: list[cst.FunctionDef] = []
        self._not_variables: set[int] = set()
        self._not_reads: set[int] = set()
        self._imports = 0  # inside an import statement

    # -- identifiers ----------------------------------------------------------------------------
    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._not_variables.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._not_variables.add(id(node.keyword))

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self._not_reads.add(id(node.target))

    def visit_Param(self, node: cst.Param) -> None:
        self._not_reads.add(id(node.name))

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) in self._not_variables:
            return
        self.facts.names.add(node.value)
        if not self._imports and id(node) not in self._not_reads:
            self.facts.reads[node.value] += 1

    def visit_Comment(self, node: cst.Comment) -> None:
        self.facts.comments[node.value] += 1

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "add_argument":
            self.facts.arguments.append(node)
        if isinstance(func, cst.Attribute) and func.attr.value in ENDS:
            self.facts.enders.add(self.module.code_for_node(func.value))
        if isinstance(func, cst.Attribute) and func.attr.value in _METRIC_METHODS:
            named = [a.value for a in node.args if a.keyword and a.keyword.value == "name"]
            first = [a.value for a in node.args[:1] if a.keyword is None and not a.star]
            for name in named or first:
                text = (
                    name.evaluated_value
                    if isinstance(name, (cst.SimpleString, cst.ConcatenatedString))
                    else None
                )
                if isinstance(text, str) and text:
                    self.facts.metric_calls[text] += 1
                elif isinstance(name, _COMPUTED):  # (not `logger.log(logging.INFO, ...)`)
                    self.facts.metric_calls[""] += 1  # a name computed at run time: any of them
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            key = (id(self.scopes[-1]), func.value.value)
            self.facts.methods.setdefault(key, set()).add(func.attr.value)
        if isinstance(func, cst.Attribute) and func.attr.value == "submit":
            if isinstance(func.value, cst.Name):
                self.facts.submitted.add(func.value.value)
        elif node.args and isinstance(node.args[0].value, cst.Name):
            self.facts.maybe_attach.append((func, node.args[0].value.value))

    # -- imports --------------------------------------------------------------------------------
    def leave_Import(self, original_node: cst.Import) -> None:
        self._imports -= 1

    def leave_ImportFrom(self, original_node: cst.ImportFrom) -> None:
        self._imports -= 1

    def visit_Import(self, node: cst.Import) -> None:
        self._imports += 1
        for alias in node.names:
            full = _import_name(alias.name)
            asname = None
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                asname = alias.asname.name.value
            if full == "azureml" or full.startswith("azureml."):
                self.facts.legacy_imports.append((full, None, asname))
            local, qualified = (asname, full) if asname is not None else (full.split(".")[0],) * 2
            self._imported(local, qualified)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._imports += 1
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
            self._imported(local, f"{module}.{name}")

    def _imported(self, local: str, qualified: str) -> None:
        self.facts.imports[local] = qualified
        if not self.frames:
            self.facts.module_imports[local] = qualified
        # `import json` binds json to the module json; `from time import time` does not.
        self._bind_target(cst.Name(local), None, by_import=local == qualified)

    def _bind_other(self, name: str) -> None:
        """Bind `name` in the current namespace (scope or class body) to "not a receiver"."""
        self._bind_target(cst.Name(name), None)

    # -- scopes ---------------------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._not_reads.add(id(node.name))
        self._bind_other(node.name.value)
        if not self.frames:
            self.facts.classes[node.name.value] = node
        self.classes.append(node)
        self.frames.append(node)
        self.facts.self_attrs.setdefault(node, {})
        self.facts.self_pending.setdefault(node, {})

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.classes.pop()
        self.frames.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._not_reads.add(id(node.name))
        self._bind_other(node.name.value)
        if not self.frames:
            self.facts.functions[node.name.value] = node
        self.facts.returns[node] = []
        scope = Scope(self.scopes[-1])
        self.facts.scopes[node] = scope
        self.scopes.append(scope)
        self.functions.append(node)
        self.frames.append(node)
        params = node.params
        for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
            name = p.name.value
            self.facts.bound_other.add(name)
            if p.annotation is not None:
                scope.pending.setdefault(name, []).append(Annotated(p.annotation.annotation))
            else:
                scope.bind(name, None)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self.facts.bound_other.add(star.name.value)
                scope.bind(star.name.value, None)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()
        self.functions.pop()
        self.frames.pop()

    def visit_Return(self, node: cst.Return) -> None:
        if self.functions:
            self.facts.returns[self.functions[-1]].append(node.value)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        # A lambda's parameters are local to it: they bind nothing around it. (The codemod
        # treats them as unknown inside the lambda: see `shadowed_by`.)
        self.facts.bound_other.update(shadowed_by(node))

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self.scopes[-1].globals_.add(item.name.value)

    # -- bindings -------------------------------------------------------------------------------
    def _target_scope(self, name: str) -> Scope:
        scope = self.scopes[-1]
        return self.facts.module if name in scope.globals_ else scope

    def _bind_target(
        self, target: cst.BaseExpression, value: Bound | None, by_import: bool = False
    ) -> None:
        if isinstance(target, cst.Name) and not by_import:
            self.facts.bound_other.add(target.value)
        if isinstance(target, cst.Name):
            if self.frames and isinstance(self.frames[-1], cst.ClassDef):
                # A class body: the name is a class attribute, seen by methods as self.<name>.
                self._bind_attr(self.frames[-1], target.value, value)
                return
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
            self._bind_attr(self.classes[-1], target.attr.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None)

    def _bind_attr(self, cls: cst.ClassDef, attr: str, value: Bound | None) -> None:
        if value is None:
            self.facts.self_attrs[cls].setdefault(attr, set()).add(None)
        else:
            pending = self.facts.self_pending[cls].setdefault(attr, [])
            pending.append((self.scopes[-1], value))

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
        # `for i in range(...)` and `for i, x in enumerate(...)`: i is a number.
        target, it = node.target, node.iter
        builtin = (
            isinstance(it, cst.Call)
            and isinstance(it.func, cst.Name)
            and it.func.value not in self.facts.imports
        )
        if builtin and isinstance(it, cst.Call) and isinstance(it.func, cst.Name):
            if it.func.value == "range" and isinstance(target, cst.Name):
                self._bind_target(target, _A_NUMBER)
                return
            if (
                it.func.value == "enumerate"
                and isinstance(target, cst.Tuple)
                and len(target.elements) == 2
                and isinstance(target.elements[0].value, cst.Name)
            ):
                self._bind_target(target.elements[0].value, _A_NUMBER)
                self._bind_target(target.elements[1].value, None)
                return
        self._bind_target(target, None)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        # A comprehension's variables are local to it (Python 3): they bind nothing around it.
        self.facts.bound_other.update(_target_names(node.target))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self.facts.enders.add(self.module.code_for_node(node.item))
        if node.asname is not None:
            self._bind_target(node.asname.name, Entered(node.item))

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind_target(node.name.name, None)

    def visit_Del(self, node: cst.Del) -> None:
        self._bind_target(node.target, None)


def _target_names(target: cst.BaseExpression) -> set[str]:
    """The names an assignment target binds (`a`, `a, (b, *c)`)."""
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        out: set[str] = set()
        for element in target.elements:
            out |= _target_names(element.value)
        return out
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return set()


def shadowed_by(node: cst.CSTNode) -> set[str]:
    """Names a lambda or a comprehension binds for its own body, hiding outer ones there."""
    if isinstance(node, cst.Lambda):
        params = node.params
        names = {p.name.value for p in [*params.posonly_params, *params.params]}
        names |= {p.name.value for p in params.kwonly_params}
        names |= {
            star.name.value
            for star in (params.star_arg, params.star_kwarg)
            if isinstance(star, cst.Param)
        }
        return names
    if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
        names = set()
        comp: cst.CompFor | None = node.for_in
        while comp is not None:
            names |= _target_names(comp.target)
            comp = comp.inner_for_in
        return names
    return set()


class Resolver:
    """Answers "what legacy kind is this expression?" for one module, memoised."""

    def __init__(self, module: cst.Module) -> None:
        facts = Facts()
        module.visit(_Collector(facts, module))
        facts.late_imports = _late_imports(module)
        self._start(facts)

    @classmethod
    def from_facts(cls, facts: Facts) -> Resolver:
        """A resolver over facts learnt otherwise (`migrate.fast` learns them with `ast`)."""
        resolver = cls.__new__(cls)
        resolver._start(facts)
        return resolver

    def _start(self, facts: Facts) -> None:
        self.facts = facts
        self._resolving: set[tuple[int, str]] = set()
        # Cycles met so far: a result computed while one was cut short is not memoised (it
        # would depend on where the resolution started).
        self._cycles = 0
        self._done: dict[tuple[int, str], Kinds] = {}

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
        """The kind of legacy class (or function) `node` names: `Run` -> "run"."""
        q = self.qualified(node)
        return CONSTRUCTORS.get(q) if q else None

    # -- kinds ----------------------------------------------------------------------------------
    def kind_of(self, node: Bound, scope: Scope, cls: cst.ClassDef | None = None) -> Kind | None:
        """The legacy kind `node` evaluates to in `scope`, or None when not provable."""
        kinds = self.kinds_of(node, scope, cls)
        return next(iter(kinds)) if len(kinds) == 1 else None

    def maybe_legacy(self, node: Bound, scope: Scope, cls: cst.ClassDef | None = None) -> bool:
        """Whether `node` is a legacy object on some but not every path (so not provable)."""
        kinds = self.kinds_of(node, scope, cls)
        return len(kinds) > 1 and any(k is not None for k in kinds)

    def kinds_of(self, node: Bound, scope: Scope, cls: cst.ClassDef | None = None) -> Kinds:
        """Every kind `node` may evaluate to in `scope` (None: something that is not legacy)."""
        if isinstance(node, Annotated):
            return frozenset({self._annotation_kind(node.annotation)})
        if isinstance(node, Entered):
            return self.kinds_of(node.item, scope, cls)
        if isinstance(node, cst.Name):
            return self.name_kinds(node.value, scope, cls)
        if isinstance(node, cst.Attribute):
            if isinstance(node.value, cst.Name) and node.value.value == "self" and cls is not None:
                return self.self_kinds(node.attr.value, cls)
            if self.legacy_class(node) is not None:
                return _OTHER  # the class itself (aml.Run), not an instance
            base = self.kinds_of(node.value, scope, cls)
            return _derive(base, DERIVED_ATTRS, node.attr.value)
        if isinstance(node, cst.IfExp):  # either branch
            return self.kinds_of(node.body, scope, cls) | self.kinds_of(node.orelse, scope, cls)
        if isinstance(node, cst.BooleanOperation):  # `a or b`: either side; `a and b`: b
            right = self.kinds_of(node.right, scope, cls)
            if isinstance(node.operator, cst.And):  # (a legacy object is never falsy)
                return right | (self.kinds_of(node.left, scope, cls) & _OTHER)
            return self.kinds_of(node.left, scope, cls) | right
        if isinstance(node, cst.Call):
            func = node.func
            made = self.legacy_class(func)
            if made is not None:
                return frozenset({MADE[made]})
            if isinstance(func, cst.Attribute):
                owner = self.legacy_class(func.value)
                if owner is not None:
                    return frozenset({FACTORIES.get(owner, {}).get(func.attr.value)})
                base = self.kinds_of(func.value, scope, cls)
                return _derive(base, DERIVED_CALLS, func.attr.value)
            if isinstance(func, cst.Name) and self.lookup(func.value, scope) is self.facts.module:
                return self._returned_kinds(func)  # (a local of that name is something else)
        return _OTHER

    def _returned_kinds(self, func: cst.Name) -> Kinds:
        """What a call of a module-level function of this file gives: every value it returns."""
        values = self.returned(func)
        node = self.facts.functions.get(func.value)
        if not values or node is None:
            return _OTHER
        key = (id(node), "<return>")
        if key in self._done:
            return self._done[key]
        if key in self._resolving or len(self._resolving) > _MAX_CHAIN:
            self._cycles += 1  # a cycle, or a chain of helpers too long to follow: unknown
            return _OTHER
        self._resolving.add(key)
        cycles = self._cycles
        inner = self.scope_of(node)
        kinds: set[Kind | None] = set()
        for value in values:
            kinds |= self.kinds_of(value, inner, None)
        self._resolving.discard(key)
        result = frozenset(kinds)
        if self._cycles == cycles or not self._resolving:
            self._done[key] = result
        return result

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

    def lookup(self, name: str, scope: Scope) -> Scope | None:
        """The scope whose binding of `name` is seen from `scope` (local, enclosing, module)."""
        current: Scope | None = scope
        while current is not None:
            if name in current.globals_ and current is not self.facts.module:
                current = self.facts.module
                continue
            if name in current.bindings or name in current.pending:
                return current
            current = current.parent
        return None

    def name_kind(self, name: str, scope: Scope, cls: cst.ClassDef | None = None) -> Kind | None:
        """The kind of a bare name, looked up as Python does (local, enclosing, module)."""
        kinds = self.name_kinds(name, scope, cls)
        return next(iter(kinds)) if len(kinds) == 1 else None

    def name_kinds(self, name: str, scope: Scope, cls: cst.ClassDef | None = None) -> Kinds:
        """Every kind a bare name may have, over all its bindings in the scope it resolves to."""
        owner = self.lookup(name, scope)
        if owner is None:
            return _OTHER
        return self._scope_kinds(owner, name, cls)

    def _scope_kinds(self, scope: Scope, name: str, cls: cst.ClassDef | None) -> Kinds:
        # The class matters: `with self.exp.start_logging() as run` is a run only in its class.
        key = (id(scope), f"{name}\0{id(cls) if cls is not None else 0}")
        if key in self._done:
            return self._done[key]
        if key in self._resolving or len(self._resolving) > _MAX_CHAIN:
            self._cycles += 1  # a cycle (run = run.child_run()), or a chain too long to follow
            return _OTHER  # a cycle (run = run.child_run()) proves nothing more
        self._resolving.add(key)
        cycles = self._cycles
        kinds: set[Kind | None] = set(scope.bindings.get(name, set()))
        for value in scope.pending.get(name, []):
            kinds |= self.kinds_of(value, scope, cls)
        self._resolving.discard(key)
        result = frozenset(kinds)
        if self._cycles == cycles or not self._resolving:
            self._done[key] = result
        return result

    def self_kind(self, attr: str, cls: cst.ClassDef) -> Kind | None:
        """The kind of `self.<attr>` in methods of `cls`: every assignment to it agrees."""
        kinds = self.self_kinds(attr, cls)
        return next(iter(kinds)) if len(kinds) == 1 else None

    def self_kinds(self, attr: str, cls: cst.ClassDef) -> Kinds:
        """Every kind `self.<attr>` may have: what each assignment to it in the class gives,
        and in the classes of this module it inherits from (a base's `__init__` sets it)."""
        key = (id(cls), attr)
        if key in self._done:
            return self._done[key]
        if key in self._resolving or len(self._resolving) > _MAX_CHAIN:
            self._cycles += 1  # a cycle (run = run.child_run()), or a chain too long to follow
            return _OTHER
        self._resolving.add(key)
        cycles = self._cycles
        kinds: set[Kind | None] = set(self.facts.self_attrs.get(cls, {}).get(attr, set()))
        for scope, value in self.facts.self_pending.get(cls, {}).get(attr, []):
            kinds |= self.kinds_of(value, scope, cls)
        kinds |= self._inherited(attr, cls, frozenset({id(cls)}))
        self._resolving.discard(key)
        result = frozenset(kinds) or _OTHER  # never assigned in the class: not provable
        if self._cycles == cycles or not self._resolving:
            self._done[key] = result
        return result

    def _bases(self, cls: cst.ClassDef) -> list[cst.ClassDef]:
        """The module-level classes of this file that `cls` names as its bases (names bound
        once)."""
        out: list[cst.ClassDef] = []
        for base in cls.bases:
            value = base.value
            if isinstance(value, cst.Name) and self.facts.module.count(value.value) == 1:
                found = self.facts.classes.get(value.value)
                if found is not None and found is not cls:
                    out.append(found)
        return out

    def _inherited(self, attr: str, cls: cst.ClassDef, seen: frozenset[int]) -> Kinds:
        """The kinds the module's base classes of `cls` (at any depth) assign to `self.<attr>`;
        empty when none of them assigns it."""
        kinds: set[Kind | None] = set()
        for base in self._bases(cls):
            if id(base) in seen:
                continue
            if attr in self.facts.self_attrs.get(base, {}) or attr in self.facts.self_pending.get(
                base, {}
            ):
                kinds |= self.self_kinds(attr, base)
            else:
                kinds |= self._inherited(attr, base, seen | {id(base)})
        return frozenset(kinds)

    def scope_of(self, function: cst.FunctionDef | None) -> Scope:
        """The scope of a function's body (the module's for None)."""
        if function is None:
            return self.facts.module
        return self.facts.scopes.get(function, self.facts.module)

    def control(self) -> dict[str, str]:
        """Experiments that stay SDK v1 experiments, and why (the code that needs one).

        `exp.submit(...)`, `Run(exp, run_id)`, any other method than `start_logging`
        (`exp.get_runs()`), or a run it starts kept in a name that is also bound to something
        else: such an experiment is an SDK v1 experiment for good, so the codemod leaves its
        `Experiment(...)` as it is rather than break that code further.
        """
        out = {name: "exp.submit(...)" for name in sorted(self.facts.submitted)}
        for func, name in self.facts.maybe_attach:
            if self.legacy_class(func) == "run":
                out.setdefault(name, f"Run({name}, ...)")
        module = self.facts.module
        by_id = {id(s): s for s in [module, *self.facts.scopes.values()]}
        for (scope_id, name), methods in self.facts.methods.items():
            other = sorted(methods - {"start_logging"})
            scope = by_id.get(scope_id, module)
            if other and name not in out and self.name_kind(name, scope) == "experiment":
                out[name] = f"{name}.{other[0]}()"
        for scope in [module, *self.facts.scopes.values()]:
            for target, bound in scope.pending.items():
                for value in bound:
                    if isinstance(value, Entered):  # `with exp.start_logging() as run`
                        value = value.item
                    if not (
                        isinstance(value, cst.Call)
                        and isinstance(value.func, cst.Attribute)
                        and value.func.attr.value == "start_logging"
                        and isinstance(value.func.value, cst.Name)
                    ):
                        continue
                    owner = value.func.value.value
                    if owner not in out and self.maybe_legacy(cst.Name(target), scope):
                        out[owner] = f"a run kept in '{target}', which is also bound otherwise"
        return out

    # -- values ---------------------------------------------------------------------------------
    def values_of(self, name: str, scope: Scope) -> list[cst.BaseExpression] | None:
        """Every expression `name` is assigned in the scope it resolves to, when that is all.

        None when some binding is not a plain assignment (a parameter, a loop variable, an
        import, a tuple target...): the value cannot be known from the source.
        """
        owner = self.lookup(name, scope)
        if owner is None or owner.bindings.get(name):
            return None
        values: list[cst.BaseExpression] = []
        for bound in owner.pending.get(name, []):
            if isinstance(bound, Annotated):
                continue  # `x: float = ...` also records its value
            if isinstance(bound, Entered):
                return None
            values.append(bound)
        return values or None

    def returned(self, func: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        """What a call to a module-level function of this module returns, when every path says.

        None for anything else (an imported function, a method, a name rebound elsewhere, a
        function that can fall off its end or `return` nothing).
        """
        if not isinstance(func, cst.Name):
            return None
        node = self.facts.functions.get(func.value)
        if node is None or self.facts.module.count(func.value) != 1:
            return None
        values = self.facts.returns.get(node, [])
        if not values or any(v is None for v in values):
            return None
        return [v for v in values if v is not None]


def _late_imports(module: cst.Module) -> set[str]:
    """The names bound by module-level import lines that follow other module-level code."""
    late: set[str] = set()
    early: set[str] = set()
    code_seen = False
    for index, stmt in enumerate(module.body):
        small = stmt.body if isinstance(stmt, cst.SimpleStatementLine) else None
        if small and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in small):
            for s in small:
                if isinstance(s, (cst.Import, cst.ImportFrom)):
                    (late if code_seen else early).update(_bound_by_import(s))
            continue
        docstring = index == 0 and small and isinstance(small[0], cst.Expr)
        if not docstring:
            code_seen = True
    return late - early  # imported again later (as notebooks do): the first import serves


def _bound_by_import(node: cst.Import | cst.ImportFrom) -> set[str]:
    if isinstance(node.names, cst.ImportStar):
        return set()
    out: set[str] = set()
    for alias in node.names:
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            out.add(alias.asname.name.value)
        elif isinstance(node, cst.Import):
            out.add(_import_name(alias.name).split(".")[0])
        else:
            out.add(_import_name(alias.name))
    return out


def _derive(base: Kinds, table: dict[Kind, dict[str, Kind]], member: str) -> Kinds:
    """The kinds `<base>.<member>` (or `<base>.<member>()`) can be, given the kinds of base."""
    out: set[Kind | None] = set()
    for kind in base:
        out.add(None if kind is None else table.get(kind, {}).get(member))
    return frozenset(out)
