"""Rules: one function per legacy call shape, registered by (receiver kind, method).

A rule receives the call (already transformed inside: nested legacy calls are rewritten first) with
its arguments bound to the legacy signature, and returns the MLflow expression plus the catalogue
rule id that explains it. Resolution, dispatch, imports, layout and findings live in
`migrate.codemod`; a rule holds only the shape of one call. Importing this package imports every
rule module.

A rule builds its output from the call's own argument nodes, so their comments and formatting
survive; it refers to modules through `Context.mlflow` / `Context.module`, which pick the name the
module is (or will be) imported under and record the import the output needs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst

from migrate.catalogue import Fidelity
from migrate.detect import Kind, Resolver, Scope


class Names:
    """Module-wide naming: which local name each needed module goes by, and fresh identifiers.

    A module already imported at top level under a name nothing else binds is used under that
    name (`import mlflow as mf` gives `mf.log_metric`). Otherwise it is imported under its plain
    name, unless the module binds that name to something else anywhere (`from time import time`,
    a parameter called `json`), in which case it is imported as `_<module>`. Fresh identifiers (loop variables the output
    introduces) are chosen so they cannot clash with any name the module uses.
    """

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.used: set[str] = set(resolver.facts.names)
        self.local: dict[str, str] = {}  # module -> local name the output uses
        self.to_import: dict[str, str | None] = {}  # module -> asname (None: plain import)
        self._fresh: dict[str, str] = {}

    def module(self, module: str) -> str:
        """The local name under which code anywhere in the module can reach `module`."""
        if module in self.local:
            return self.local[module]
        facts = self.resolver.facts
        usable = sorted(
            (local != module, local)
            for local, qualified in facts.module_imports.items()
            if qualified == module
            and local not in facts.late_imports  # code above it could not use it
            and (
                local not in facts.bound_other  # `import mlflow`, never rebound
                or (  # `import mlflow as mf`: that import is the name's only binding
                    facts.module.count(local) == 1
                    and not any(scope.count(local) for scope in facts.scopes.values())
                )
            )
        )
        if usable:
            name = usable[0][1]  # already imported at module level: no import to add
        else:
            name = module if module not in facts.bound_other else self.fresh(f"_{module}")
            self.to_import[module] = None if name == module else name
            self.used.add(name)
        self.local[module] = name
        return name

    def fresh(self, base: str) -> str:
        """`base`, or `base_`, `base_2`...: an identifier the module's own code never uses.

        The same answer for the same `base` all through the module: the output may reuse its
        own loop variables, which no code of the module reads.
        """
        if base not in self._fresh:
            candidates = [base, f"{base}_", *(f"{base}_{i}" for i in range(2, 100))]
            name = next(c for c in candidates if c not in self.used)
            self.used.add(name)
            self._fresh[base] = name
        return self._fresh[base]


@dataclass
class Context:
    """What a rule may consult, and where it records the imports its output needs.

    Only `resolver` and `receiver` are required; the rest lets a rule write better code when the
    caller knows it (the codemod does): `scope`/`cls` enable value inference through the module's
    assignments, `statement` says the call is a whole statement (so `Rewrite.statements` may
    replace it), `in_loop` that it runs in a loop, and `names` chooses import names.
    """

    resolver: Resolver
    receiver: cst.BaseExpression  # the (transformed) object the legacy method is called on
    needs: set[str] = field(default_factory=set)  # modules to import: "mlflow", "json", ...
    scope: Scope | None = None
    cls: cst.ClassDef | None = None
    statement: bool = False
    in_loop: bool = False
    names: Names | None = None
    shadowed: frozenset[str] = frozenset()  # lambda parameters and comprehension variables
    kept: bool = False  # the receiver stays an SDK v1 object (an experiment control code uses)

    def module(self, name: str) -> cst.Name:
        """The name to reach module `name` by (`mlflow`, `json`, ...), noting the import."""
        self.needs.add(name)
        return cst.Name(self.names.module(name) if self.names is not None else name)

    def mlflow(self, attr: str) -> cst.Attribute:
        """`mlflow.<attr>` (dotted attrs allowed), noting that `import mlflow` is needed."""
        node: cst.BaseExpression = self.module("mlflow")
        for part in attr.split("."):
            node = cst.Attribute(value=node, attr=cst.Name(part))
        assert isinstance(node, cst.Attribute)
        return node

    def fresh(self, base: str) -> str:
        """An identifier for a variable the output introduces, clashing with nothing."""
        return self.names.fresh(base) if self.names is not None else f"_{base}"


@dataclass
class Rewrite:
    """A rule's answer: the new expression, or None to leave the call as it is (manual).

    `statements`, when given, replace the whole statement if the call is one (a `for` loop
    reads better than a list comprehension run for its side effects); `node` is still the
    expression used anywhere else. `remove` drops a statement that does nothing in MLflow.
    """

    node: cst.BaseExpression | None
    rule: str
    detail: str = ""
    statements: Sequence[cst.BaseStatement] | None = None
    remove: bool = False
    fidelity: Fidelity | None = None  # when this call loses more than its catalogue row says


Args = dict[str, cst.Arg]
RuleFn = Callable[[Context, cst.Call, Args], Rewrite]


@dataclass(frozen=True)
class Rule:
    """A registered rule: the legacy member it handles and that member's parameter names."""

    kind: Kind
    method: str
    params: tuple[str, ...]  # the legacy signature's parameter names, in order
    fn: RuleFn
    var_keyword: bool = False  # the legacy method takes **kwargs (log_row)


RULES: dict[tuple[Kind, str], Rule] = {}
_loaded = False


def rule(
    kind: Kind, method: str, *params: str, var_keyword: bool = False
) -> Callable[[RuleFn], RuleFn]:
    """Register `fn` as the rule for `<kind>.<method>(params...)`."""

    def register(fn: RuleFn) -> RuleFn:
        RULES[(kind, method)] = Rule(kind, method, params, fn, var_keyword)
        return fn

    return register


def load() -> dict[tuple[Kind, str], Rule]:
    """Import every rule module once and return the registry."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True
    return RULES
