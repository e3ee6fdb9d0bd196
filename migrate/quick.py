"""`rewrite --check` without the codemod when Python's own parser already knows the answer.

`verdict(source)` answers "would `rewrite --target mlflow` change this module?" from one `ast`
parse, about ten times cheaper than the libcst parse the codemod starts with, and far cheaper than
its passes. It answers only when the answer cannot differ from the codemod's, and says None
otherwise, so the caller runs the codemod:

- False: the module imports nothing from azureml (the codemod's own test for "nothing to do");
- True: the module holds a legacy site the codemod always rewrites. Two shapes qualify, both the
  first line of almost every SDK v1 or Workbench script: `Run.get_context()` with no argument, and
  `get_azureml_logger()`, where the legacy name is bound by exactly one module-level
  `from azureml... import`, and the name its result is assigned to (or bound by `with ... as`),
  if any, has no other binding anywhere in the module; a call kept in `self.<attr>` or in one
  branch of `a if c else b` / `a or b` is left to the codemod (which may keep it and report it).

`tests/test_quick.py` holds it to the codemod on every fixture and on generated programs.
"""

from __future__ import annotations

import ast
from collections import Counter

from migrate.sources import might_contain_legacy, nesting_error

# Where `Run` is imported from, and the Workbench factory's (module, name).
_RUN_MODULES = frozenset({"azureml.core", "azureml.core.run"})
_LOGGER = ("azureml.logging", "get_azureml_logger")
# Deeper than this, the codemod's recursion may give out before libcst's limit: defer to it.
_DEEP = 100


def _bindings(tree: ast.Module) -> Counter[str] | None:
    """How many times each name is bound anywhere in the module; None if it cannot be known."""
    bound: Counter[str] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound[node.id] += 1
        elif isinstance(node, ast.arg):
            bound[node.arg] += 1
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[node.name] += 1
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None  # a star import may bind anything
                local = alias.asname or (
                    alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name
                )
                bound[local] += 1
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                bound[name] += 1
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            bound[node.name] += 1
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound[node.rest] += 1
        elif type(node).__name__ in ("TypeVar", "ParamSpec", "TypeVarTuple", "TypeAlias"):
            return None  # 3.12 type parameters: not worth modelling here
    return bound


def verdict(source: str) -> bool | None:
    """Whether the codemod (target mlflow) would change `source`; None when only it can tell."""
    if not might_contain_legacy(source):
        return False
    if "\f" in source:
        return None  # a form feed libcst may drop: the write refuses such files, ask the codemod
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the codemod reports the error in its own words
    if nesting_error(tree, _DEEP) is not None:
        return None  # the codemod may refuse it (too deep to parse or rewrite): let it say so
    legacy_import = any(
        isinstance(node, (ast.Import, ast.ImportFrom))
        and (
            "azureml" in (getattr(node, "module", None) or "")
            or any("azureml" in alias.name for alias in node.names)
        )
        for node in ast.walk(tree)
    )
    if not legacy_import:
        return False
    bound = _bindings(tree)
    if bound is None:
        return None
    run_names: set[str] = set()
    logger_names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
            for alias in stmt.names:
                local = alias.asname or alias.name
                if bound[local] != 1:
                    continue
                if stmt.module in _RUN_MODULES and alias.name == "Run":
                    run_names.add(local)
                elif (stmt.module, alias.name) == _LOGGER:
                    logger_names.add(local)
    if not run_names and not logger_names:
        return None
    assigned: dict[int, ast.expr] = {}  # id(call) -> the single target it is assigned to
    in_branch: set[int] = set()  # calls that are one branch of an assigned `a if c else b`
    for node in ast.walk(tree):
        value: ast.expr | None = None
        target: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            value, target = node.value, node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            value, target = node.value, node.target
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            value, target = node.context_expr, node.optional_vars
        if value is not None and target is not None:
            assigned[id(value)] = target
            if isinstance(value, (ast.IfExp, ast.BoolOp)):
                in_branch |= {id(inner) for inner in ast.walk(value)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in in_branch:
            continue
        func = node.func
        legacy = (isinstance(func, ast.Name) and func.id in logger_names) or (
            isinstance(func, ast.Attribute)
            and func.attr == "get_context"
            and isinstance(func.value, ast.Name)
            and func.value.id in run_names
            and not node.args
            and not node.keywords
        )
        if legacy:
            # The codemod rewrites it unless the name it is kept in is also bound otherwise.
            target = assigned.get(id(node))
            if target is None or (isinstance(target, ast.Name) and bound[target.id] == 1):
                return True
    return None
