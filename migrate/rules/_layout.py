"""Lay a rewritten call out the way the surrounding code is written, and keep its comments.

A rule builds its output from the legacy call's argument *values*; the commas, brackets and
whitespace around them (where comments live) are new. `place` lays the output out as black would
from the original's cues: a call whose arguments stood one per line with a trailing comma stays
one argument per line; otherwise it stays on one line when it fits the file's line length, else
its arguments go on one line of their own, else one per line. Every
comment that sat between the original arguments follows the argument it annotated; one whose
argument is gone is kept on a line of its own at the top of the call. What cannot be placed inside
the new expression is returned, and the codemod keeps it above the statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

_EMPTY = cst.Module(body=[])
TAB = 4  # the width a tab counts for against the line length


@dataclass(frozen=True)
class Where:
    """Where the call sits: what the layout needs to know about the line around it.

    `start` is the column the call starts at, `block` the width of the enclosing block's
    indentation (both with tabs counted as `TAB` columns), `indent` the extra indentation of the call's line relative to that block,
    `unit` one indentation level of the file, `tail` the width of the code after the call on its
    last line, `limit` the line length to stay within, and `one_line` whether the original call
    is written on one line (then no comment can be inside it).
    """

    start: int
    block: int
    indent: str
    unit: str
    tail: int
    limit: int
    one_line: bool = False  # the original call fits on its line (so it holds no comment)


class _Comments(cst.CSTVisitor):
    def __init__(self, skip: frozenset[int] = frozenset()) -> None:
        self.found: list[cst.Comment] = []
        self.skip = skip

    def on_visit(self, node: cst.CSTNode) -> bool:
        if id(node) in self.skip:
            return False
        if isinstance(node, cst.Comment):
            self.found.append(node)
        return True


def comments(node: cst.CSTNode, skip: Sequence[cst.CSTNode] = ()) -> list[cst.Comment]:
    """Every comment inside `node`, in order, except inside the nodes in `skip`."""
    visitor = _Comments(frozenset(id(n) for n in skip))
    node.visit(visitor)
    return visitor.found


class _Ids(cst.CSTVisitor):
    def __init__(self) -> None:
        self.ids: set[int] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.ids.add(id(node))
        return True


def _ids(node: cst.CSTNode) -> set[int]:
    visitor = _Ids()
    node.visit(visitor)
    return visitor.ids


def exploded(call: cst.Call) -> bool:
    """Whether the call's arguments start on a new line after `(`."""
    ws = call.whitespace_before_args
    return isinstance(ws, cst.ParenthesizedWhitespace)


def magic_comma(call: cst.Call) -> bool:
    """Whether the call's arguments stand one per line with a trailing comma (black's cue)."""
    return exploded(call) and bool(call.args) and isinstance(call.args[-1].comma, cst.Comma)


def _line(indent: str, comment: cst.Comment | None = None) -> cst.ParenthesizedWhitespace:
    """A line break (with an optional trailing comment) and the next line's indentation."""
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(
            whitespace=cst.SimpleWhitespace("  " if comment is not None else ""),
            comment=comment,
        ),
        indent=True,
        last_line=cst.SimpleWhitespace(indent),
    )


def _comment_lines(found: Sequence[cst.Comment], indent: str) -> list[cst.EmptyLine]:
    return [
        cst.EmptyLine(indent=True, whitespace=cst.SimpleWhitespace(indent), comment=c)
        for c in found
    ]


def fits(node: cst.CSTNode, where: Where, start: int, tail: int) -> bool:
    """Whether `node` stays within the line length at column `start`, `tail` chars after it."""
    return fits_code(_EMPTY.code_for_node(node), where, start, tail)


def fits_code(code: str, where: Where, start: int, tail: int) -> bool:
    """`fits` for a node already rendered (`code`)."""
    text = code.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.expandtabs(TAB) for line in text.split("\n")]
    widths = [start + len(lines[0])]
    widths += [where.block + len(line) for line in lines[1:]]
    widths[-1] += tail
    return max(widths) <= where.limit


def explode_call(
    call: cst.Call,
    indent: str,
    unit: str,
    trailing: Sequence[Sequence[cst.Comment]] = (),
    lead: Sequence[cst.Comment] = (),
) -> cst.Call:
    """`f(a, b)` as `f(\\n    a,\\n    b,\\n)`, comments after the arguments they annotate."""
    inner = indent + unit
    before = _line(inner, lead[0] if lead else None)
    if len(lead) > 1:
        before = before.with_changes(empty_lines=_comment_lines(lead[1:], inner))
    args = []
    count = len(call.args)
    for i, a in enumerate(call.args):
        notes = list(trailing[i]) if i < len(trailing) else []
        after = _line(inner if i < count - 1 else indent, notes[0] if notes else None)
        if len(notes) > 1:
            after = after.with_changes(empty_lines=_comment_lines(notes[1:], inner))
        args.append(
            a.with_changes(
                comma=cst.Comma(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=after),
                whitespace_after_arg=cst.SimpleWhitespace(""),
            )
        )
    return call.with_changes(whitespace_before_args=before, args=args)


def hug_call(call: cst.Call, indent: str, unit: str) -> cst.Call:
    """`f(a, b)` as `f(\n    a, b\n)`: the arguments on one line of their own."""
    args = list(call.args)
    last = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    args[-1] = last.with_changes(whitespace_after_arg=_line(indent))
    return call.with_changes(whitespace_before_args=_line(indent + unit), args=args)


def _explode_dict(node: cst.Dict, indent: str, unit: str) -> cst.Dict:
    inner = indent + unit
    elements = []
    count = len(node.elements)
    for i, e in enumerate(node.elements):
        after = _line(inner if i < count - 1 else indent)
        elements.append(
            e.with_changes(
                comma=cst.Comma(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=after)
            )
        )
    return node.with_changes(
        lbrace=cst.LeftCurlyBrace(whitespace_after=_line(inner)), elements=elements
    )


def _explode_listcomp(node: cst.ListComp, indent: str, unit: str) -> cst.ListComp:
    inner = indent + unit
    return node.with_changes(
        lbracket=cst.LeftSquareBracket(whitespace_after=_line(inner)),
        for_in=node.for_in.with_changes(whitespace_before=_line(inner)),
        rbracket=cst.RightSquareBracket(whitespace_before=_line(indent)),
    )


def refine(
    node: cst.BaseExpression, where: Where, indent: str, start: int, tail: int, keep: set[int]
) -> cst.BaseExpression:
    """Split a node the rule made (never one of the original nodes, in `keep`) until it fits."""
    if id(node) in keep or fits(node, where, start, tail):
        return node
    inner = indent + where.unit
    column = where.block + len(inner.expandtabs(TAB))
    if isinstance(node, cst.Call) and node.args and not exploded(node):
        hugged = hug_call(node, indent, where.unit)
        if fits(hugged, where, start, tail):
            return hugged
        if len(node.args) == 1 and id(node.args[0].value) not in keep:
            # One argument of its own on the lines between the brackets: `len(\n    x(...)\n)`.
            only = hugged.args[0]
            value = refine(only.value, where, inner, column, 0, keep)
            return hugged.with_changes(args=[only.with_changes(value=value)])
        node = explode_call(node, indent, where.unit)
        return node.with_changes(
            args=[
                a.with_changes(value=refine(a.value, where, inner, column, 1, keep))
                for a in node.args
            ]
        )
    if isinstance(node, cst.Dict) and node.elements:
        node = _explode_dict(node, indent, where.unit)
        return node.with_changes(
            elements=[
                e.with_changes(value=refine(e.value, where, inner, column, 1, keep))
                if isinstance(e, cst.DictElement)
                else e
                for e in node.elements
            ]
        )
    if isinstance(node, cst.ListComp):
        node = _explode_listcomp(node, indent, where.unit)
        for_in = node.for_in
        head = f"for {_EMPTY.code_for_node(for_in.target)} in "
        tail_width = 0 if for_in.inner_for_in is None and not for_in.ifs else 1
        iterated = refine(for_in.iter, where, inner, column + len(head), tail_width, keep)
        return node.with_changes(
            elt=refine(node.elt, where, inner, column, 0, keep),
            for_in=for_in.with_changes(iter=iterated),
        )
    return node


def place(
    new: cst.BaseExpression, original: cst.Call, where: Where, code: str | None = None
) -> tuple[cst.BaseExpression, list[cst.Comment]]:
    """Lay `new` (the rewrite of `original`) out; return it and the comments it could not hold.

    `original` is the legacy call with its inner legacy calls already rewritten: its argument
    values are the very nodes the rule reused, which is how each comment finds its argument. A
    comment is "lost" when it is not somewhere in `new` already (comments inside reused values
    travel with them); each lost comment is placed after the new argument that carries its
    original argument, or at the top of the call when that argument is gone.
    """
    if code is None:
        code = _EMPTY.code_for_node(new)
    if fits_code(code, where, where.start, where.tail) and (
        where.one_line or not (magic_comma(original) or _has_comments(original))
    ):
        return new, []  # the common case, cheaply: nothing to place, nothing to split
    values = [a.value for a in original.args]
    keep = set().union(*(_ids(v) for v in values)) if values else set()
    if where.one_line:
        # No comment can stand in a call written on one line: nothing to place, only to split.
        if not isinstance(new, cst.Call) or not new.args:
            return new, []
        if magic_comma(original):
            return _explode(new, where, keep), []
        return _split(new, where, keep), []
    present = _ids(new)
    lead = comments(original.whitespace_before_args)
    lost = [[c for c in comments(a) if id(c) not in present] for a in original.args]
    loose = comments(original.func) + comments(original.whitespace_after_func)
    if not isinstance(new, cst.Call) or not new.args:
        return new, lead + [c for notes in lost for c in notes] + loose
    # Which new argument carries each original argument (by the identity of its value).
    new_ids = [_ids(a) for a in new.args]
    trailing: list[list[cst.Comment]] = [[] for _ in new.args]
    orphans: list[cst.Comment] = list(lead)
    for a, notes in zip(original.args, lost):
        home = next((k for k, ids in enumerate(new_ids) if id(a.value) in ids), None)
        if home is None:
            orphans.extend(notes)
        else:
            trailing[home].extend(notes)
    orphans.extend(loose)
    if not any(trailing) and not orphans and not magic_comma(original):
        if fits_code(code, where, where.start, where.tail):
            return new, []
        return _split(new, where, keep), []
    return _explode(new, where, keep, trailing, orphans), []


def _split(new: cst.Call, where: Where, keep: set[int]) -> cst.Call:
    """A call with no comment to place that does not fit: hugged, else one argument per line."""
    hugged = hug_call(new, where.indent, where.unit)
    if fits(hugged, where, where.start, where.tail):
        return hugged
    return _explode(new, where, keep)


def _explode(
    new: cst.Call,
    where: Where,
    keep: set[int],
    trailing: Sequence[Sequence[cst.Comment]] = (),
    orphans: Sequence[cst.Comment] = (),
) -> cst.Call:
    node = explode_call(new, where.indent, where.unit, trailing, orphans)
    inner = where.indent + where.unit
    column = where.block + len(inner.expandtabs(TAB))
    args = [a.with_changes(value=refine(a.value, where, inner, column, 1, keep)) for a in node.args]
    return node.with_changes(args=args)


def _has_comments(node: cst.CSTNode) -> bool:
    return "#" in _EMPTY.code_for_node(node) and bool(comments(node))
