"""Small builders shared by the rules: arguments, literals, templates, and what a value is."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Literal, TypeVar

import libcst as cst

if TYPE_CHECKING:
    from migrate.detect import Scope
    from migrate.rules import Context

# "object": a value Azure ML stored as its text (a tuple, a set, a complex number).
ValueKind = Literal[
    "number", "infinite", "bool", "str", "none", "list", "dict", "object", "unknown"
]

_N = TypeVar("_N", bound=cst.CSTNode)
_NUMBER_BUILTINS = frozenset({"float", "int", "len", "round", "abs", "sum", "min", "max"})
_NUMPY_NUMBERS = frozenset(
    {
        "float16", "float32", "float64", "float_", "double", "single", "longdouble",
        "int8", "int16", "int32", "int64", "int_", "intc", "uint8", "uint16", "uint32", "uint64",
        "mean", "median", "std", "var", "sqrt", "log", "exp", "dot",
        "float", "int",  # np.float / np.int: the builtins, in NumPy before 1.24
    }
)  # fmt: skip
# scikit-learn metrics that return one number (unless asked for one per class or output).
_SKLEARN_SCORES = frozenset(
    {
        "accuracy_score", "balanced_accuracy_score", "precision_score", "recall_score",
        "f1_score", "fbeta_score", "roc_auc_score", "average_precision_score", "log_loss",
        "mean_squared_error", "root_mean_squared_error", "mean_absolute_error", "r2_score",
        "median_absolute_error", "explained_variance_score", "matthews_corrcoef",
        "cohen_kappa_score", "hamming_loss", "jaccard_score", "zero_one_loss",
        "brier_score_loss", "max_error", "mean_absolute_percentage_error",
        "mean_squared_log_error", "top_k_accuracy_score",
    }
)  # fmt: skip
_STR_METHODS = frozenset(
    {"format", "join", "upper", "lower", "strip", "lstrip", "rstrip", "replace", "title"}
)
_MATH_BOOLS = frozenset({"isnan", "isinf", "isfinite", "isclose"})
_CONSTANTS: dict[str, ValueKind] = {
    "math.inf": "infinite",
    "numpy.inf": "infinite",
    "numpy.infty": "infinite",
    "math.pi": "number",
    "math.e": "number",
    "math.tau": "number",
    "math.nan": "number",
    "numpy.pi": "number",
    "numpy.e": "number",
    "numpy.nan": "number",
}
_MODULE_PLACEHOLDERS = {"MLFLOW": "mlflow", "JSON": "json", "OS": "os", "TIME": "time"}
_MAX_DEPTH = 8  # how far inference follows names (x = y; y = z; ...)


def arg(value: cst.BaseExpression, keyword: str | None = None) -> cst.Arg:
    """A call argument, `keyword=value` written without spaces around `=`."""
    if keyword is None:
        return cst.Arg(value=value)
    return cst.Arg(
        value=value,
        keyword=cst.Name(keyword),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )


def call(func: cst.BaseExpression, *args: cst.Arg) -> cst.Call:
    return cst.Call(func=func, args=list(args))


def string(text: str) -> cst.SimpleString:
    """A Python string literal for `text`, double-quoted where that needs no escapes."""
    body = repr(text)
    if body.startswith("'") and '"' not in text:
        body = '"' + body[1:-1].replace("\\'", "'") + '"'
    return cst.SimpleString(body)


def literal_str(node: cst.BaseExpression) -> str | None:
    """The value of a plain string literal (not an f-string), else None."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def value(a: cst.Arg) -> cst.BaseExpression:
    return a.value


def infer(ctx: Context, node: cst.BaseExpression) -> ValueKind:
    """What a logged value is: from the expression, and through the names it reads.

    A name is followed to every value it is assigned in the scope it resolves to (when it has no
    other kind of binding); a call to a function of this module to every value it returns. All
    must agree, or the answer is "unknown".
    """
    return _kind(node, ctx, 0)


def _kind(node: cst.BaseExpression, ctx: Context | None, depth: int) -> ValueKind:
    if depth > _MAX_DEPTH:
        return "unknown"
    if isinstance(node, cst.UnaryOperation):
        if isinstance(node.operator, cst.Not):
            return "bool"
        if isinstance(node.operator, (cst.Minus, cst.Plus)):
            inner = _kind(node.expression, ctx, depth + 1)
            return inner if inner in ("number", "infinite") else "unknown"
        return "unknown"
    if isinstance(node, (cst.Integer, cst.Float)):
        return "number"
    if isinstance(node, (cst.Tuple, cst.Set, cst.SetComp, cst.Imaginary)):
        return "object"
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return "str"
    if isinstance(node, (cst.List, cst.ListComp, cst.GeneratorExp)):
        return "list"
    if isinstance(node, (cst.Dict, cst.DictComp)):
        return "dict"
    if isinstance(node, cst.Comparison):
        return "bool"
    if isinstance(node, cst.BinaryOperation):
        left = _kind(node.left, ctx, depth + 1)
        right = _kind(node.right, ctx, depth + 1)
        if left == "str" and isinstance(node.operator, (cst.Add, cst.Modulo)):
            return "str"
        numeric = ("number", "infinite", "bool")
        return "number" if left in numeric and right in numeric else "unknown"
    if isinstance(node, cst.IfExp):
        body = _kind(node.body, ctx, depth + 1)
        return body if body == _kind(node.orelse, ctx, depth + 1) else "unknown"
    if isinstance(node, cst.Name):
        if node.value in ("True", "False"):
            return "bool"
        if node.value == "None":
            return "none"
        return _name_kind(node.value, ctx, depth)
    if isinstance(node, cst.Attribute):
        q = ctx.resolver.qualified(node) if ctx is not None else None
        if q in _CONSTANTS:
            return _CONSTANTS[q]
        if ctx is not None and ctx.scope is not None and _parsed_args(node.value, ctx):
            return _argument_kind(node.attr.value, ctx)
        if ctx is not None and ctx.scope is not None and node.attr.value == "name":
            # The name of a workspace or an experiment is its text name.
            owner = ctx.resolver.kind_of(node.value, ctx.scope, ctx.cls)
            if owner in ("workspace", "experiment"):
                return "str"
        return "unknown"
    if isinstance(node, cst.Call):
        return _call_kind(node, ctx, depth)
    return "unknown"


def _parsed_args(node: cst.BaseExpression, ctx: Context) -> bool:
    """Whether `node` is a name bound only to `<parser>.parse_args(...)` in an argparse module."""
    resolver = ctx.resolver
    if not isinstance(node, cst.Name) or ctx.scope is None or node.value in ctx.shadowed:
        return False
    if not any(q.split(".")[0] == "argparse" for q in resolver.facts.imports.values()):
        return False
    values = resolver.values_of(node.value, ctx.scope)
    if not values:
        return False
    return all(
        isinstance(v, cst.Call)
        and isinstance(v.func, cst.Attribute)
        and v.func.attr.value == "parse_args"
        for v in values
    )


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next((a.value for a in call.args if a.keyword and a.keyword.value == name), None)


def _dest(call: cst.Call) -> str | None:
    """The attribute an `add_argument(...)` call stores into (argparse's own rule)."""
    dest = _keyword(call, "dest")
    if dest is not None:
        return literal_str(dest)
    flags = [literal_str(a.value) for a in call.args if a.keyword is None and not a.star]
    if not flags or any(f is None for f in flags):
        return None
    texts = [f for f in flags if f is not None]
    long = [f for f in texts if f.startswith("--")]
    chosen = long[0] if long else texts[0]
    return chosen.lstrip("-").replace("-", "_") if chosen.startswith("-") else chosen


def _argument_kind(dest: str, ctx: Context) -> ValueKind:
    """What `args.<dest>` holds: every `add_argument` storing into it must agree.

    `type=float`/`int` gives numbers and `type=str` text when a value is always there (a
    non-None default, or required); without `type=` a value given on the command line is text,
    so only a text default (or required=True) says "str"; store_true/store_false give bools.
    """
    kinds: set[ValueKind] = set()
    for call in ctx.resolver.facts.arguments:
        if _dest(call) != dest:
            continue
        action = _keyword(call, "action")
        action_text = literal_str(action) if action is not None else "store"
        if _keyword(call, "nargs") is not None or action_text not in (
            "store", "store_true", "store_false",
        ):  # fmt: skip
            kinds.add("unknown")
            continue
        if action_text in ("store_true", "store_false"):
            kinds.add("bool")
            continue
        default = _keyword(call, "default")
        required = _keyword(call, "required")
        always = (default is not None and _kind(default, None, 0) != "none") or (
            isinstance(required, cst.Name) and required.value == "True"
        )
        kind_of_type = _keyword(call, "type")
        if isinstance(kind_of_type, cst.Name) and kind_of_type.value in ("float", "int"):
            kinds.add("number" if always else "unknown")
        elif isinstance(kind_of_type, cst.Name) and kind_of_type.value == "str":
            kinds.add("str" if always else "unknown")
        elif kind_of_type is None and (
            (default is not None and _kind(default, None, 0) == "str")
            or (isinstance(required, cst.Name) and required.value == "True")
        ):
            kinds.add("str")  # without type=, a value given on the command line is text
        else:
            kinds.add("unknown")
    return kinds.pop() if len(kinds) == 1 else "unknown"


def _name_kind(name: str, ctx: Context | None, depth: int) -> ValueKind:
    if ctx is None or ctx.scope is None or name in ctx.shadowed:
        return "unknown"
    resolver = ctx.resolver
    owner = resolver.lookup(name, ctx.scope)
    values = resolver.values_of(name, ctx.scope)
    if owner is None or values is None:
        return "unknown"
    inner = _with_scope(ctx, owner)
    kinds = {_kind(v, inner, depth + 1) for v in values}
    return kinds.pop() if len(kinds) == 1 else "unknown"


def _with_scope(ctx: Context, scope: Scope) -> Context:
    return replace(ctx, scope=scope)


def _call_kind(node: cst.Call, ctx: Context | None, depth: int) -> ValueKind:
    func = node.func
    q = ctx.resolver.qualified(func) if ctx is not None else None
    if q is None and isinstance(func, cst.Name):
        name = func.value
        if name == "float" and node.args:
            text = literal_str(node.args[0].value)
            if text is not None and text.strip().lower().lstrip("+-") in ("inf", "infinity"):
                return "infinite"
        if name in _NUMBER_BUILTINS:
            return "number"
        if name in ("str", "repr", "format"):
            return "str"
        if name == "bool":
            return "bool"
        if name in ("list", "sorted"):
            return "list"
        if name == "dict":
            return "dict"
    if (
        isinstance(func, cst.Attribute)
        and func.attr.value in _STR_METHODS
        and _kind(func.value, None, depth + 1) == "str"
    ):
        return "str"  # "{} items".format(n), ", ".join(names)
    if q is not None:
        module, _, member = q.rpartition(".")
        if module == "numpy" and member in ("bool_", "bool"):
            return "bool"
        if module == "numpy" and member in _NUMPY_NUMBERS:
            return "number"
        if module == "math":
            return "bool" if member in _MATH_BOOLS else "number"
        if q == "json.dumps":
            return "str"
        if module == "sklearn.metrics" and member in _SKLEARN_SCORES:
            per_item = any(
                a.keyword is not None
                and a.keyword.value in ("average", "multioutput")
                and not (a.keyword.value == "average" and literal_str(a.value) is not None)
                for a in node.args
            )
            return "unknown" if per_item else "number"
    if ctx is not None and ctx.scope is not None:
        returned = ctx.resolver.returned(func)
        if returned:
            inner = _with_scope(ctx, ctx.resolver.facts.module)
            kinds = {_kind(v, inner, depth + 1) for v in returned}
            return kinds.pop() if len(kinds) == 1 else "unknown"
    return "unknown"


class _Fill(cst.CSTTransformer):
    def __init__(self, holes: dict[str, cst.BaseExpression]) -> None:
        self.holes = holes

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self.holes.get(original_node.value, updated_node)


@functools.lru_cache(maxsize=256)
def _expression(template: str) -> cst.BaseExpression:
    """A template parsed once (libcst nodes are immutable: sharing them is safe)."""
    return cst.parse_expression(template)


@functools.lru_cache(maxsize=256)
def _statement(template: str) -> cst.BaseStatement:
    return cst.parse_statement(template)


@functools.lru_cache(maxsize=256)
def _paths(template: str) -> frozenset[int]:
    """The nodes of the parsed template that hold an UPPERCASE name (a placeholder) somewhere."""
    found: set[int] = set()

    def walk(node: cst.CSTNode) -> bool:
        held = isinstance(node, cst.Name) and node.value.isupper()
        for child in node.children:
            held = walk(child) or held
        if held:
            found.add(id(node))
        return held

    walk(_expression(template))
    return frozenset(found)


def _rebuild(node: _N, holes: dict[str, cst.BaseExpression], paths: frozenset[int]) -> _N:
    """`node` with its placeholders filled: only the nodes on a path to one are new."""
    if isinstance(node, cst.Name):
        return holes.get(node.value, node)  # type: ignore[return-value]
    changes: dict[str, object] = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, cst.CSTNode):
            if id(value) in paths:
                changes[f.name] = _rebuild(value, holes, paths)
        elif isinstance(value, (list, tuple)) and any(id(v) in paths for v in value):
            changes[f.name] = type(value)(
                _rebuild(v, holes, paths) if id(v) in paths else v for v in value
            )
    return node.with_changes(**changes)


def fill(template: str, **holes: cst.BaseExpression) -> cst.BaseExpression:
    """Parse `template` and put the given nodes where its UPPERCASE placeholder names stand.

    The nodes are inserted as they are, so their comments and formatting survive. The parsed
    template is shared: only the nodes on the way to a placeholder are made anew (and the root,
    so that no two outputs are the same object): about a third of the cost of a libcst transform.
    """
    expr = _expression(template)
    if all(name.isupper() for name in holes):
        return _rebuild(expr, holes, _paths(template)).with_changes()
    out = expr.visit(_Fill(holes))
    assert isinstance(out, cst.BaseExpression)
    return out


def code(ctx: Context, template: str, **holes: cst.BaseExpression) -> cst.BaseExpression:
    """`fill`, with MLFLOW, JSON, OS and TIME standing for those modules (imports recorded)."""
    for placeholder, module in _MODULE_PLACEHOLDERS.items():
        if re.search(rf"\b{placeholder}\b", template):
            holes.setdefault(placeholder, ctx.module(module))
    return fill(template, **holes)


def statement(ctx: Context, template: str, **holes: cst.BaseExpression) -> cst.BaseStatement:
    """One statement from a template (`for ...:` blocks included), placeholders as in `code`."""
    for placeholder, module in _MODULE_PLACEHOLDERS.items():
        if re.search(rf"\b{placeholder}\b", template):
            holes.setdefault(placeholder, ctx.module(module))
    stmt = _statement(template).visit(_Fill(holes))
    assert isinstance(stmt, cst.BaseStatement)
    return stmt
