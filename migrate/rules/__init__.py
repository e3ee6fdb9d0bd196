"""Rules: one function per legacy call shape, registered by (receiver kind, method).

A rule receives the call (already transformed inside: nested legacy calls are rewritten first) with
its arguments bound to the legacy signature, and returns the MLflow expression plus the catalogue
rule id that explains it. Resolution, dispatch, imports and findings live in `migrate.codemod`; a
rule holds only the shape of one call. Importing this package imports every rule module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from migrate.detect import Kind, Resolver


@dataclass
class Context:
    """What a rule may consult, and where it records the imports its output needs."""

    resolver: Resolver
    receiver: cst.BaseExpression  # the (transformed) object the legacy method is called on
    needs: set[str] = field(default_factory=set)  # modules to import: "mlflow", "json", ...

    def mlflow(self, attr: str) -> cst.Attribute:
        """`mlflow.<attr>` (dotted attrs allowed), noting that `import mlflow` is needed."""
        self.needs.add("mlflow")
        node: cst.BaseExpression = cst.Name("mlflow")
        for part in attr.split("."):
            node = cst.Attribute(value=node, attr=cst.Name(part))
        assert isinstance(node, cst.Attribute)
        return node


@dataclass
class Rewrite:
    """A rule's answer: the new expression, or None to leave the call as it is (manual)."""

    node: cst.BaseExpression | None
    rule: str
    detail: str = ""


Args = dict[str, cst.Arg]
RuleFn = Callable[[Context, cst.Call, Args], Rewrite]


@dataclass(frozen=True)
class Rule:
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
