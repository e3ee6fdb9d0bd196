"""Small builders shared by the rules: arguments, literals, value kinds."""

from __future__ import annotations

from typing import Literal

import libcst as cst

ValueKind = Literal["number", "bool", "str", "none", "unknown"]


def arg(value: cst.BaseExpression, keyword: str | None = None) -> cst.Arg:
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


def value_kind(node: cst.BaseExpression) -> ValueKind:
    """What a logged value is, when the source alone proves it."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        node = node.expression
    if isinstance(node, (cst.Integer, cst.Float)):
        return "number"
    if isinstance(node, cst.Name):
        if node.value in ("True", "False"):
            return "bool"
        if node.value == "None":
            return "none"
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return "str"
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
        if node.func.value in ("float", "int", "len", "round", "abs", "sum", "min", "max"):
            return "number"
        if node.func.value in ("str", "repr", "format"):
            return "str"
        if node.func.value == "bool":
            return "bool"
    return "unknown"


def value(a: cst.Arg) -> cst.BaseExpression:
    return a.value


class _Fill(cst.CSTTransformer):
    def __init__(self, holes: dict[str, cst.BaseExpression]) -> None:
        self.holes = holes

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self.holes.get(original_node.value, updated_node)


def fill(template: str, **holes: cst.BaseExpression) -> cst.BaseExpression:
    """Parse `template` and put the given nodes where its UPPERCASE placeholder names stand.

    The nodes are inserted as they are, so their comments and formatting survive.
    """
    expr = cst.parse_expression(template).visit(_Fill(holes))
    assert isinstance(expr, cst.BaseExpression)
    return expr
