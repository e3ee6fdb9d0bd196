"""One libcst pass per file: detect legacy receivers, dispatch calls to rules, fix the imports.

`rewrite_module(source)` returns the new source and one finding per legacy site: rewritten sites
carry the catalogue rule that explains them; sites with no faithful MLflow form are left exactly as
they were and reported as `manual`.

Guarantees, each enforced here rather than hoped for from the rules:

- the output parses (it is compiled before it is returned) and a second pass changes nothing;
- every comment survives: a rewritten call is laid out like the original (`rules._layout`), a
  comment that has no place left in it moves above its statement, a removed statement hands its
  comments to the next one, and a final count of comments before and after refuses any loss;
- imports: `import mlflow` (and `json`, `os`, `time` when the output uses them) is added once,
  where the removed legacy import stood or after the module's leading imports, under an existing
  alias when there is one (`import mlflow as mf`); an import that the rewrite left unused (the
  legacy ones, `json` after `json.dumps` was unwrapped) is removed, one still used is kept;
- a call on a run that is not MLflow's active run at that point (the parent inside a child run's
  block, a run attached by id, `run.parent`) is reported, never rewritten to a fluent call that
  would log to the wrong run.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, Literal, TypeVar

import libcst as cst
from libcst.metadata import CodeRange
from libcst.metadata.position_provider import NEWLINE_RE, PositionProvidingCodegenState

from migrate.catalogue import entry
from migrate.detect import (
    ENDS,
    Annotated,
    Kind,
    Resolver,
    Scope,
    shadowed_by,
)
from migrate.findings import Finding
from migrate.rules import Args, Context, Names, Rewrite, Rule, load
from migrate.rules._layout import TAB, Where, comments, place
from migrate.rules._shape import arg, call, literal_str, string
from migrate.rules.lifecycle import active_or_new
from migrate.sources import SourceError, check_nesting, might_contain_legacy, nesting_error

Target = Literal["mlflow", "shim"]

# Methods a person should look at even when the receiver is not provably a legacy run: they
# hardly exist outside Azure ML. (`log`, `tag` and `complete` are far too common to report.)
DISTINCTIVE = frozenset(
    {
        "log_list", "log_row", "log_table", "log_image", "log_confusion_matrix",
        "log_accuracy_table", "log_predictions", "log_residuals", "upload_file", "upload_files",
        "upload_folder", "add_properties", "child_run", "get_context", "start_logging",
    }
)  # fmt: skip
# Legacy methods with no MLflow rule: reported as manual, left untouched.
MANUAL: dict[tuple[Kind, str], str] = {
    ("run", "wait_for_completion"): "run-wait-for-completion",
    ("run", "submit_child"): "run-submit-child",
    ("run", "register_model"): "run-register-model",
    ("run", "get_metrics"): "run-get-metrics",
    ("run", "get_tags"): "run-get-tags",
    ("run", "get_properties"): "run-get-properties",
    ("run", "get_file_names"): "run-get-file-names",
    ("run", "download_file"): "run-download-file",
    ("run", "download_files"): "run-download-files",
    ("run", "get_status"): "run-get-status",
    ("run", "get_details"): "run-get-details",
    ("run", "get_children"): "run-get-children",
    ("run", "create_children"): "run-create-children",
    ("experiment", "submit"): "experiment-submit",
}
SHIM_MODULES = {"azureml.core", "azureml.core.run", "azureml.logging"}
ENDS_NOTE = (
    "If the script dies with an exception, MLflow still ends this run as FINISHED at "
    "exit: run the code in `with mlflow.start_run():` to have it marked FAILED."
)


def manual_detail(method: str, rule: str) -> str:
    """What a person must do with a run's manual method `run.<method>(...)` (`rule`), if any."""
    target = entry(rule).target
    if target in ("none", "left as it is"):
        return ""
    return f"Left as it is: an mlflow.ActiveRun has no {method}(); rewrite it with {target}."


def value_detail(member: str) -> str:
    """Why a legacy run method used as a value (`callback=run.log`) is reported."""
    return (
        f"The method '{member}' is used as a value, and mlflow.ActiveRun has no such "
        "method: pass a function that calls MLflow instead."
    )


def no_form_detail(member: str) -> str:
    return f"mlflow.ActiveRun has no '{member}'."


# Calls that do nothing once MLflow's run has ended (end_run() again is a no-op).
_HARMLESS_AFTER_END = ENDS | {"flush"}
# MLflow calls by which a file starts its own runs or picks their experiment.
_DRIVES_MLFLOW = frozenset({"start_run", "set_experiment", "set_tracking_uri"})
# Callees a run may be handed to harmlessly (its text, its type).
_HARMLESS_TAKERS = frozenset({"print", "str", "repr", "format", "id", "bool"})
_LOGGING_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical"})
# Rules whose output starts (or gets) a run: a local name left unused for it is dropped.
_STARTS = frozenset(
    {"run-get-context", "workbench-get-logger", "run-child-run", "experiment-start-logging"}
)
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_NEWLINES = re.compile(r"\r\n|\r|\n")
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"json", "os", "time"}
Stmt = cst.SimpleStatementLine | cst.BaseCompoundStatement
_V = TypeVar("_V")
_N = TypeVar("_N", bound=cst.CSTNode)
_Compound = TypeVar("_Compound", bound=cst.BaseCompoundStatement)


@dataclass
class Result:
    """What one file became: its new source and its findings (in source order)."""

    source: str
    code: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the rewrite changed anything."""
        return self.code != self.source


class RewriteError(Exception):
    """The rewrite would be wrong (it does not compile, or it would lose a comment): the file must
    be left untouched."""


def bind_args(rule: Rule, node: cst.Call) -> Args | None:
    """Map the call's arguments to the legacy parameter names; None when * or ** hide them."""
    out: Args = {}
    positional = [a for a in node.args if a.keyword is None]
    if any(a.star for a in node.args):
        return None
    if len(positional) > len(rule.params):
        return None
    for name, a in zip(rule.params, positional):
        out[name] = a
    for a in node.args:
        if a.keyword is not None:
            key = a.keyword.value
            # The offline run's parameter names (tag(name=), upload_files(name=)).
            key = {"name": "key"}.get(key, key) if rule.method == "tag" else key
            key = {"name": "names"}.get(key, key) if rule.method == "upload_files" else key
            if key in out or (key not in rule.params and not rule.var_keyword):
                return None
            out[key] = a
    required = {
        "log": ("name", "value"), "log_list": ("name", "value"), "log_row": ("name",),
        "log_table": ("name", "value"), "upload_file": ("name", "path_or_stream"),
        "upload_folder": ("name", "path"), "upload_files": ("names", "paths"),
        "add_properties": ("properties",), "set_tags": ("tags",), "remove_tags": ("tags",),
        "upload": ("path", "content"), "log_image": ("name",), "tag": ("key",),
    }.get(rule.method, ())  # fmt: skip
    if rule.method.startswith("log_") and rule.method not in ("log_list", "log_row", "log_image"):
        required = ("name", "value")
    if any(r not in out for r in required):
        return None
    return out


class _Marks(Generic[_V]):
    """Values attached to new nodes by identity.

    It holds the nodes themselves: a node the rewrite discards would otherwise be freed and its
    `id` handed to a new node, which would then wrongly carry the mark.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[cst.CSTNode, _V]] = {}

    def put(self, node: cst.CSTNode, value: _V) -> None:
        self._by_id[id(node)] = (node, value)

    def get(self, node: cst.CSTNode) -> _V | None:
        entry = self._by_id.get(id(node))
        return entry[1] if entry is not None and entry[0] is node else None

    def discard(self, node: cst.CSTNode) -> None:
        if self.get(node) is not None:
            del self._by_id[id(node)]

    def __contains__(self, node: object) -> bool:
        entry = self._by_id.get(id(node))
        return entry is not None and entry[0] is node


# -- statement bodies: removing a statement keeps its comments ----------------------------------
def in_place(
    statements: Sequence[cst.BaseStatement], node: cst.SimpleStatementLine
) -> list[cst.BaseStatement]:
    """A rule's statements standing where the statement `node` stood: the first takes its leading
    lines, the last its trailing comment (a `for` loop's, in its header)."""
    stmts = list(statements)
    stmts[0] = stmts[0].with_changes(leading_lines=node.leading_lines)
    last = stmts[-1]
    comment = node.trailing_whitespace
    if isinstance(last, cst.SimpleStatementLine):
        stmts[-1] = last.with_changes(trailing_whitespace=comment)
    elif comment.comment is not None and isinstance(last, cst.For):
        body = last.body
        assert isinstance(body, cst.IndentedBlock)
        stmts[-1] = last.with_changes(body=body.with_changes(header=comment))
    return stmts


def _comment_lines(stmt: Stmt) -> list[cst.EmptyLine]:
    """The lines a removed statement owned: its leading lines and its trailing comment."""
    lines = list(stmt.leading_lines)
    if isinstance(stmt, cst.SimpleStatementLine) and stmt.trailing_whitespace.comment:
        lines.append(cst.EmptyLine(indent=True, comment=stmt.trailing_whitespace.comment))
    return lines


def _prepend(stmt: Stmt, lines: Sequence[cst.EmptyLine]) -> Stmt:
    """Put `lines` above `stmt`, without doubling the blank line it already has."""
    carry = list(lines)
    own = list(stmt.leading_lines)
    if own and own[0].comment is None:
        while carry and carry[-1].comment is None:
            carry.pop()
    return stmt.with_changes(leading_lines=[*carry, *own])


class _Positions:
    """Where nodes of a module stand, as libcst's `PositionProvider` says, computed per top-level
    statement only when a finding needs one.

    `PositionProvider` renders the whole module with position bookkeeping for every node, the
    most expensive part of a rewrite; findings need the positions of a few nodes. A top-level
    statement renders the same alone as in its module (no indentation), so its positions are
    those of a position-recording render of it alone, started at its first line.
    """

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._computed: dict[cst.CSTNode, CodeRange] = {}  # read by libcst's codegen state
        self._starts: dict[int, int] = {}  # id(top-level statement) -> its first line
        self._done: set[int] = set()

    def _first_lines(self) -> None:
        module = self.module
        line = 1 + sum(len(NEWLINE_RE.findall(module.code_for_node(e))) for e in module.header)
        for stmt in module.body:
            self._starts[id(stmt)] = line
            line += len(NEWLINE_RE.findall(module.code_for_node(stmt)))

    def _render(self, stmt: cst.CSTNode) -> None:
        if not self._starts:
            self._first_lines()
        state = PositionProvidingCodegenState(
            default_indent=self.module.default_indent,
            default_newline=self.module.default_newline,
            provider=self,  # type: ignore[arg-type]  # only its `_computed` is used
        )
        state.line = self._starts[id(stmt)]
        stmt._codegen(state)
        self._done.add(id(stmt))

    def get(self, node: cst.CSTNode, top: cst.CSTNode | None) -> CodeRange:
        """The position of `node`, which stands in the top-level statement `top` when known."""
        if node not in self._computed and top is not None and id(top) not in self._done:
            self._render(top)
        if node not in self._computed:  # somewhere else: every statement, once
            for stmt in self.module.body:
                if id(stmt) not in self._done:
                    self._render(stmt)
        return self._computed[node]


class _BodyEditor(cst.CSTTransformer):
    """Drops the statements recorded in `dropped` from their block, keeping their comments.

    A removed statement's comment lines (and its trailing comment) move above the next statement
    of its block, or to the block's footer; an emptied block gets `pass`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dropped: _Marks[bool] = _Marks()

    def _edit(self, body: Sequence[cst.BaseStatement]) -> tuple[list[Stmt], list[cst.EmptyLine]]:
        out: list[Stmt] = []
        carry: list[cst.EmptyLine] = []
        dropped_first = False
        for stmt in body:
            assert isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
            if stmt in self.dropped:
                carry.extend(_comment_lines(stmt))
                dropped_first = dropped_first or not out
                continue
            if dropped_first and not out:
                # The block now starts here: no blank line above its first statement.
                lines = [*carry, *stmt.leading_lines]
                while lines and lines[0].comment is None:
                    lines.pop(0)
                stmt = stmt.with_changes(leading_lines=lines)
                carry = []
            elif carry:
                stmt = _prepend(stmt, carry)
                carry = []
            out.append(stmt)
        return out, carry

    def edit_block(self, block: cst.IndentedBlock) -> cst.IndentedBlock:
        if not any(s in self.dropped for s in block.body):
            return block
        body, rest = self._edit(block.body)
        if not body:
            return block.with_changes(
                body=[cst.SimpleStatementLine([cst.Pass()], leading_lines=rest)]
            )
        return block.with_changes(body=body, footer=[*rest, *block.footer])

    def edit_module(self, module: cst.Module) -> cst.Module:
        if not any(s in self.dropped for s in module.body):
            return module
        body, rest = self._edit(module.body)
        return module.with_changes(body=body, footer=[*rest, *module.footer])


_GONE = "Removed: nothing used the workspace after the rewrite."


def _original_arg(original: cst.Call, updated_arg: cst.Arg) -> cst.BaseExpression | None:
    """The original call's argument value at the position of `updated_arg` (same keyword)."""
    keyword = updated_arg.keyword.value if updated_arg.keyword else None
    for a in original.args:
        if keyword is not None and a.keyword is not None and a.keyword.value == keyword:
            return a.value
    positional = [a for a in original.args if a.keyword is None]
    return positional[1].value if keyword is None and len(positional) > 1 else None


class _CallsIn(cst.CSTVisitor):
    def __init__(self) -> None:
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


def _calls(node: cst.CSTNode) -> list[cst.Call]:
    visitor = _CallsIn()
    node.visit(visitor)
    return visitor.calls


# -- the rewrite pass ---------------------------------------------------------------------------
class _Rewriter(_BodyEditor):
    def __init__(
        self,
        resolver: Resolver,
        path: str,
        target: Target,
        lines: list[str],
        names: Names,
        limit: int,
    ) -> None:
        super().__init__()
        self.r = resolver
        self.path = path
        self.target = target
        self.lines = lines
        self.names = names
        self.limit = limit
        self.rules = load()
        self.functions: list[cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self.loops: list[int] = [0]  # loop depth, per function
        self.shadows: list[set[str]] = []  # names lambdas and comprehensions bind, innermost last
        self.frames: list[str] = []  # "class" / "function": where the code stands
        self.blocks: list[str] = []  # indentation of each enclosing block
        self.block_ids: list[int] = []
        self.statement_calls: set[int] = set()  # calls that are a whole statement
        self.waited: set[int] = set()  # expressions `.wait()` is called on directly
        self.called: set[int] = set()  # the `func` of every call
        self.receivers: set[int] = set()  # what a method is called on (`x` in `x.m()`)
        self.methods_on: dict[int, str] = {}  # id(x) -> m, for `x.m(...)`
        # Runs ended by a statement (`run.complete()`): (receiver code, block id, function id).
        self.ended: list[tuple[str, int, int]] = []
        # Per enclosing loop: the runs a statement of its body ends, and the function id.
        self.loop_ends: list[tuple[set[str], int]] = []
        self.set_attrs: set[int] = set()  # `run.display_name` / `run.description` being assigned
        self.actions: _Marks[Rewrite] = _Marks()  # new expression -> statement-level rewrite
        self.orphans: list[cst.Comment] = []  # comments waiting for their statement
        # Child runs active at this point, innermost last: (receiver code, owning block id).
        self.active: list[tuple[str, int]] = []
        self.with_pushes: list[int] = []
        self.pending_child: list[tuple[str, int]] = []
        self.child_targets: dict[int, str] = {}  # id(child_run call) -> the name it is kept in
        self.enders: set[str] = set()  # receivers something completes, fails or cancels
        self.with_items: set[int] = set()
        # Expressions standing where any expression may (an assigned value, an argument...):
        # elsewhere an output such as `a or b` needs parentheses (`(a or b).info`).
        self.loose: set[int] = set()
        self.findings: list[Finding] = []
        self.needs: set[str] = set()
        self.module: cst.Module = cst.Module(body=[])
        self.unit = "    "
        self.control: dict[str, str] = {}  # experiments control code drives -> why
        self.assigned: dict[int, str] = {}  # id(call) -> the name it is assigned to
        self.assigned_attrs: dict[int, cst.Attribute] = {}  # id(call) -> `self.<attr>` target
        self.workspace_calls: dict[int, int] = {}  # id(Workspace call) -> its finding's index
        self.made_runs: _Marks[bool] = _Marks()  # expressions that start (or get) a run
        # Assignments in functions of a run the rewrite made: statement -> the name.
        self.local_runs: _Marks[str] = _Marks()
        self.positions = _Positions(self.module)
        self._follows: dict[tuple[str, int], bool] = {}
        self.top: cst.CSTNode | None = None  # the top-level statement being visited
        self.depth = 0  # statements entered and not left

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            if self.depth == 0:
                self.top = node
            self.depth += 1
        return super().on_visit(node)

    def on_leave(
        self, original_node: _N, updated_node: _N
    ) -> _N | cst.RemovalSentinel | cst.FlattenSentinel[_N]:
        if isinstance(original_node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            self.depth -= 1
        return super().on_leave(original_node, updated_node)

    def _position(self, node: cst.CSTNode) -> CodeRange:
        return self.positions.get(node, self.top)

    # -- scope tracking -------------------------------------------------------------------------
    def visit_Module(self, node: cst.Module) -> None:
        self.module = node
        self.positions = _Positions(node)
        self.unit = node.default_indent
        self.block_ids.append(id(node))
        self.control = self.r.control()
        self.enders = self.r.facts.enders

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return self.edit_module(updated_node)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.blocks.append(node.indent if node.indent is not None else self.module.default_indent)
        self.block_ids.append(id(node))

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        self.blocks.pop()
        self.block_ids.pop()
        self.active = [(n, b) for n, b in self.active if b != id(original_node)]
        return self.edit_block(updated_node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)
        self.loops.append(0)
        self.frames.append("function")

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self.functions.pop()
        self.loops.pop()
        self.frames.pop()
        return self._attach_above(updated_node)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)
        self.frames.append("class")

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self.classes.pop()
        self.frames.pop()
        return self._attach_above(updated_node)

    def leave_For(
        self, original_node: cst.For, updated_node: cst.For
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        self.loops[-1] -= 1
        self.loop_ends.pop()
        return self._attach_above(updated_node)

    def visit_While(self, node: cst.While) -> None:
        self.loops[-1] += 1
        self.loop_ends.append((self._ends_in(node.body), self._function_id()))

    def leave_While(
        self, original_node: cst.While, updated_node: cst.While
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        self.loops[-1] -= 1
        self.loop_ends.pop()
        return self._attach_above(updated_node)

    def _ends_in(self, body: cst.BaseSuite, target: cst.BaseExpression | None = None) -> set[str]:
        """The runs a statement of a loop's `body` itself ends (`run.complete()` or a `with run:`
        block, not under an if), less those the loop binds anew on each pass (its `target`, an
        assignment in `body`); none when the body leaves the loop after ending them (`break`)."""
        lines = body.body if isinstance(body, cst.IndentedBlock) else [body]
        ends: set[str] = set()
        bound = {self.module.code_for_node(target)} if target is not None else set()
        for line in lines:
            if isinstance(line, cst.With):
                for item in line.items:  # `with run:` ends it; `with run.child_run() as c:`
                    if not isinstance(item.item, cst.Call) and self.kind(item.item) == "run":
                        ends.add(self.module.code_for_node(item.item))  # is a new run each pass
                continue
            if not isinstance(line, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                continue
            for small in line.body:
                if isinstance(small, (cst.Break, cst.Return)) and ends:
                    return set()  # the loop ends with the run: no second pass after it
                if isinstance(small, cst.Assign):
                    bound |= {self.module.code_for_node(t.target) for t in small.targets}
                if isinstance(small, cst.AnnAssign) and small.value is not None:
                    bound.add(self.module.code_for_node(small.target))
                if (
                    isinstance(small, cst.Expr)
                    and isinstance(small.value, cst.Call)
                    and isinstance(small.value.func, cst.Attribute)
                    and small.value.func.attr.value in ENDS
                ):
                    ends.add(self.module.code_for_node(small.value.func.value))
        return ends - bound

    def _ended_in_loop(self, receiver: cst.BaseExpression) -> bool:
        """Whether a loop around this point (in this function) ends `receiver` in its body."""
        if not self.loop_ends:
            return False
        code = self.module.code_for_node(receiver)
        here = self._function_id()
        return any(code in ends and f == here for ends, f in self.loop_ends)

    # A comprehension's element is evaluated once per item: a loop.
    def visit_ListComp(self, node: cst.ListComp) -> None:
        self.loops[-1] += 1
        self.shadows.append(shadowed_by(node))

    def leave_ListComp(
        self, original_node: cst.ListComp, updated_node: cst.ListComp
    ) -> cst.BaseExpression:
        self.loops[-1] -= 1
        self.shadows.pop()
        return updated_node

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self.loops[-1] += 1
        self.shadows.append(shadowed_by(node))

    def leave_SetComp(
        self, original_node: cst.SetComp, updated_node: cst.SetComp
    ) -> cst.BaseExpression:
        self.loops[-1] -= 1
        self.shadows.pop()
        return updated_node

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self.loops[-1] += 1
        self.shadows.append(shadowed_by(node))

    def leave_DictComp(
        self, original_node: cst.DictComp, updated_node: cst.DictComp
    ) -> cst.BaseExpression:
        self.loops[-1] -= 1
        self.shadows.pop()
        return updated_node

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self.loops[-1] += 1
        self.shadows.append(shadowed_by(node))

    def leave_GeneratorExp(
        self, original_node: cst.GeneratorExp, updated_node: cst.GeneratorExp
    ) -> cst.BaseExpression:
        self.loops[-1] -= 1
        self.shadows.pop()
        return updated_node

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.shadows.append(shadowed_by(node))

    def leave_Lambda(self, original_node: cst.Lambda, updated_node: cst.Lambda) -> cst.Lambda:
        self.shadows.pop()
        return updated_node

    def _shadowed(self) -> frozenset[str]:
        return frozenset().union(*self.shadows) if self.shadows else frozenset()

    def _scope(self) -> Scope:
        return self.r.scope_of(self.functions[-1] if self.functions else None)

    def _cls(self) -> cst.ClassDef | None:
        return self.classes[-1] if self.classes else None

    def kind(self, node: cst.BaseExpression) -> Kind | None:
        root = node
        while isinstance(root, (cst.Attribute, cst.Call, cst.Subscript)):
            root = root.func if isinstance(root, cst.Call) else root.value
        if isinstance(root, cst.Name) and root.value in self._shadowed():
            return None  # a lambda parameter or a comprehension variable: unknown
        return self.r.kind_of(node, self._scope(), self._cls())

    def _context(self, receiver: cst.BaseExpression, original: cst.CSTNode) -> Context:
        return Context(
            self.r,
            receiver,
            scope=self._scope(),
            cls=self._cls(),
            statement=id(original) in self.statement_calls,
            in_loop=self.loops[-1] > 0,
            kept=isinstance(receiver, cst.Name) and receiver.value in self.control,
            names=self.names,
            shadowed=self._shadowed(),
        )

    # -- child runs: which run is MLflow's active one -------------------------------------------
    def _child_of_run(self, node: cst.BaseExpression) -> bool:
        return (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "child_run"
            and self.kind(node.func.value) == "run"
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        self.loose.add(id(node.value))

    def visit_Expr(self, node: cst.Expr) -> None:
        self.loose.add(id(node.value))

    def visit_Arg(self, node: cst.Arg) -> None:
        self.loose.add(id(node.value))

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None:
            self.loose.add(id(node.value))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self.loose.add(id(node.item))
        if node.asname is not None and isinstance(node.asname.name, cst.Name):
            self.assigned[id(node.item)] = node.asname.name.value

    def visit_With(self, node: cst.With) -> None:
        self.with_pushes.append(0)
        for item in node.items:
            self.with_items.add(id(item.item))

    def leave_WithItem(
        self, original_node: cst.WithItem, updated_node: cst.WithItem
    ) -> cst.WithItem:
        if original_node.asname is not None:  # a name bound anew: whatever ended before is not it
            code = self.module.code_for_node(original_node.asname.name)
            self.ended = [e for e in self.ended if e[0] != code]
        if (
            self.functions
            and updated_node.item in self.made_runs
            and updated_node.asname is not None
            and isinstance(updated_node.asname.name, cst.Name)
        ):
            self.local_runs.put(updated_node, updated_node.asname.name.value)
        # The child run becomes active once its item is evaluated, for the with block's body.
        if original_node.asname is not None and self._child_of_run(original_node.item):
            target = self.module.code_for_node(original_node.asname.name)
            self.active.append((target, -1))
            self.with_pushes[-1] += 1
        return updated_node

    def leave_With(
        self, original_node: cst.With, updated_node: cst.With
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        for _ in range(self.with_pushes.pop()):
            self.active.pop()
        for item in original_node.items:  # the block ended the run it entered
            if self.kind(item.item) == "run":
                if not isinstance(item.item, cst.Call):  # (a call is reported as itself)
                    # `with run:` stays: MLflow's run ends the same way when the block is left.
                    self.report(item.item, "Run.__enter__", "run-context-manager", item.item)
                bound = item.asname.name if item.asname is not None else item.item
                receiver = self.module.code_for_node(bound)
                self.ended.append((receiver, self.block_ids[-1], self._function_id()))
        return self._attach_above(updated_node)

    def _wrong_run(self, receiver: cst.BaseExpression) -> bool:
        """Whether a child run other than `receiver` is MLflow's active run here."""
        if not self.active:
            return False
        return self.module.code_for_node(receiver) != self.active[-1][0]

    # -- statements -----------------------------------------------------------------------------
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) != 1:
            return
        small = node.body[0]
        if isinstance(small, cst.Expr):
            self.statement_calls.add(id(small.value))
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
        ):
            for value in _branches(small.value):
                self.assigned[id(value)] = small.targets[0].target.value
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Attribute)
            and isinstance(small.targets[0].target.value, cst.Name)
            and small.targets[0].target.value.value == "self"
        ):
            for value in _branches(small.value):
                self.assigned_attrs[id(value)] = small.targets[0].target
        if (
            isinstance(small, cst.AnnAssign)
            and small.value is not None
            and isinstance(small.target, cst.Name)
        ):
            self.assigned[id(small.value)] = small.target.value
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, (cst.Name, cst.Attribute))
            and self._child_of_run(small.value)
        ):
            target = self.module.code_for_node(small.targets[0].target)
            self.pending_child.append((target, id(node)))
            self.child_targets[id(small.value)] = target

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        if self.pending_child and self.pending_child[-1][1] == id(original_node):
            # `child = run.child_run()`: the child is active from the next statement on.
            target, _ = self.pending_child.pop()
            self.active.append((target, self.block_ids[-1]))
        node = self._attach_orphans(updated_node)
        small = node.body[0] if len(node.body) == 1 else None
        if (
            self.functions
            and isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and small.value in self.made_runs
        ):
            self.local_runs.put(node, small.targets[0].target.value)
        action = self.actions.get(small.value) if isinstance(small, cst.Expr) else None
        if action is None:
            return node
        if action.remove:
            self.dropped.put(node, True)
            return node
        assert action.statements
        return cst.FlattenSentinel(in_place(action.statements, node))

    def _attach_orphans(self, node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if not self.orphans:
            return node
        lines = [cst.EmptyLine(indent=True, comment=c) for c in self.orphans]
        self.orphans = []
        return node.with_changes(leading_lines=[*node.leading_lines, *lines])

    def _attach_above(self, node: _Compound) -> _Compound:
        """Comments of a rewritten call in a compound statement's header go above it."""
        if not self.orphans:
            return node
        lines = [cst.EmptyLine(indent=True, comment=c) for c in self.orphans]
        self.orphans = []
        return node.with_changes(leading_lines=[*node.leading_lines, *lines])

    def leave_If(
        self, original_node: cst.If, updated_node: cst.If
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        return self._attach_above(updated_node)

    # -- findings -------------------------------------------------------------------------------
    def report(
        self,
        original: cst.CSTNode,
        api: str,
        rule: str,
        replacement: cst.CSTNode | Sequence[cst.CSTNode] | None,
        detail: str = "",
        fidelity: str | None = None,
    ) -> None:
        pos = self._position(original)
        excerpt = self.module.code_for_node(original).strip().splitlines()[0][:120]
        if replacement is None:
            new = ""
        elif isinstance(replacement, cst.CSTNode):
            new = self.module.code_for_node(replacement)
        else:
            new = "".join(self.module.code_for_node(n) for n in replacement)
        self.findings.append(
            Finding(
                path=self.path,
                line=pos.start.line,
                column=pos.start.column + 1,
                api=api,
                fidelity=fidelity or entry(rule).fidelity,  # type: ignore[arg-type]
                rule=rule,
                replacement=new,
                detail=detail,
                excerpt=excerpt,
            )
        )

    def _where(self, original: cst.CSTNode) -> Where:
        pos = self._position(original)
        line = self.lines[pos.start.line - 1]
        lead = line[: len(line) - len(line.lstrip(" \t"))]
        block = "".join(self.blocks)
        indent = lead[len(block) :] if lead.startswith(block) else ""
        rest = self.lines[pos.end.line - 1][pos.end.column :]
        tail = len(rest.split("#", 1)[0].rstrip())
        start = len(line[: pos.start.column].expandtabs(TAB))
        one_line = pos.start.line == pos.end.line
        return Where(
            start, len(block.expandtabs(TAB)), indent, self.unit, tail, self.limit, one_line
        )

    def _apply(
        self,
        original: cst.Call,
        updated: cst.Call,
        api: str,
        done: Rewrite,
        ctx: Context,
    ) -> cst.BaseExpression:
        """Put a rule's answer in place: layout, comments, statement forms, finding, imports."""
        if done.node is None:
            self.report(original, api, done.rule, None, done.detail, fidelity="manual")
            return updated
        self.needs |= ctx.needs
        if ctx.statement and (done.statements or done.remove):
            present: set[int] = set()
            for stmt in done.statements or ():
                present |= {id(c) for c in comments(stmt)}
            self.orphans.extend(c for c in comments(updated) if id(c) not in present)
            node = done.node
            self.actions.put(node, done)
            self.report(original, api, done.rule, done.statements or [], done.detail, done.fidelity)
            return node
        node, lost = place(done.node, updated, self._where(original))
        self.orphans.extend(lost)
        if (
            isinstance(node, (cst.BooleanOperation, cst.IfExp, cst.NamedExpr))
            and not node.lpar
            and id(original) not in self.loose
        ):
            node = node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        if done.rule in _STARTS:
            self.made_runs.put(node, True)
        self.report(original, api, done.rule, node, done.detail, done.fidelity)
        return node

    # -- calls ----------------------------------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self.target == "shim":
            return updated_node
        self._passed(original_node)
        made = self._constructor(original_node, updated_node)
        if made is not None:
            return made
        func = original_node.func
        if not isinstance(func, cst.Attribute):
            return updated_node
        method = func.attr.value
        if method == "wait" and not original_node.args and isinstance(func.value, cst.Call):
            inner = func.value.func
            if isinstance(inner, cst.Attribute) and self.kind(inner.value) == "logger":
                # logger.log(...).wait(): MLflow's call is synchronous already.
                assert isinstance(updated_node.func, cst.Attribute)
                node = updated_node.func.value
                present = {id(c) for c in comments(node)}
                self.orphans.extend(c for c in comments(updated_node) if id(c) not in present)
                self.report(original_node, "Workbench.wait", "workbench-wait", node)
                return node
        self._offline_check(original_node, method)
        kind = self.kind(func.value)
        if kind is None:
            self._unresolved(original_node, func.value, method)
            return updated_node
        api = f"{'Workbench' if kind == 'logger' else kind.capitalize()}.{method}"
        rule = self.rules.get((kind, method))
        manual = MANUAL.get((kind, method))
        if kind == "attached":
            if method == "get_metrics":
                self.report(original_node, "Run.get_metrics", "run-get-metrics-remote", None)
            elif self.rules.get(("run", method)) or MANUAL.get(("run", method)):
                self.report(original_node, f"Run.{method}", "run-attached", None)
            return updated_node
        if rule is None:
            if manual is not None:
                detail = manual_detail(method, manual) if kind == "run" else ""
                self.report(original_node, api, manual, None, detail, fidelity="manual")
            return updated_node
        if kind == "run" and self._wrong_run(func.value):
            detail = f"'{self.active[-1][0]}' is MLflow's active run here."
            self.report(original_node, api, "run-not-active", None, detail)
            return updated_node
        if kind == "run" and method not in _HARMLESS_AFTER_END and self._ended(func.value):
            self.report(original_node, api, "run-ended", None)
            return updated_node
        if kind == "run" and method not in _HARMLESS_AFTER_END and self._ended_in_loop(func.value):
            detail = (
                "The loop around this call completes the run in its body: from its second pass "
                "on, this call comes after the end."
            )
            self.report(original_node, api, "run-ended", None, detail)
            return updated_node
        unfollowed = self._kept_otherwise(original_node) if method == "start_logging" else ""
        if unfollowed:
            self.report(original_node, api, "unresolved-receiver", None, unfollowed, "manual")
            return updated_node
        args = bind_args(rule, updated_node)
        if args is None:
            self.report(original_node, api, "unsupported-call", None, fidelity="manual")
            return updated_node
        assert isinstance(updated_node.func, cst.Attribute)
        ctx = self._context(updated_node.func.value, original_node)
        done = rule.fn(ctx, updated_node, args)
        if (kind, method) == ("logger", "log") and not (
            id(original_node) in self.statement_calls or id(original_node) in self.waited
        ):
            done = _kept_result(done)
        if method == "child_run" and done.node is not None:
            done = self._child_left_open(original_node, done)
        node = self._apply(original_node, updated_node, api, done, ctx)
        if method in ENDS and self.active and self._same(func.value, self.active[-1][0]):
            self.active.pop()
        elif method in ENDS and kind == "run" and id(original_node) in self.statement_calls:
            receiver = self.module.code_for_node(func.value)
            self.ended.append((receiver, self.block_ids[-1], self._function_id()))
        return node

    def _passed(self, node: cst.Call) -> None:
        """Report a run (or Workbench logger) handed to code the tool does not follow.

        After the rewrite it is an `mlflow.ActiveRun`: a callback or helper that calls
        `.log(...)` on it breaks. Functions of this file (nested ones and `self.<method>` too)
        and module-level classes with a parameter annotated `Run` are followed (their calls are
        rewritten); printing it is harmless, testing its class is not.
        """
        func = node.func
        if isinstance(func, cst.Name) and func.value in _HARMLESS_TAKERS:
            return
        if isinstance(func, cst.Attribute) and func.attr.value in _LOGGING_METHODS:
            return
        followed = (isinstance(func, cst.Name) and self._follows_runs(func.value)) or (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
            and self._follows_runs(func.attr.value, self._cls())
        )
        if followed:
            for a in node.args:  # its calls on that parameter log to MLflow's active run
                if self.kind(a.value) == "run" and self._wrong_run(a.value):
                    name = self.module.code_for_node(a.value)
                    callee = self.module.code_for_node(func)
                    detail = (
                        f"'{name}' is passed to {callee}(...) while '{self.active[-1][0]}' "
                        "is MLflow's active run: the calls it makes on it would log there."
                    )
                    self.report(a.value, "Run", "run-not-active", None, detail)
            return
        for a in node.args:
            if not isinstance(a.value, (cst.Name, cst.Attribute)):
                continue
            kind = self.kind(a.value)
            if kind not in ("run", "logger"):
                continue
            name = self.module.code_for_node(a.value)
            callee = self.module.code_for_node(func)
            detail = f"'{name}' is passed to {callee}(...)."
            if callee in ("isinstance", "type", "hasattr", "getattr"):
                detail += " The answer changes: the object is an mlflow.ActiveRun now."
            api = "Run" if kind == "run" else "get_azureml_logger"
            self.report(a.value, api, "run-passed", None, detail, "manual")

    def _follows_runs(self, name: str, cls: cst.ClassDef | None = None) -> bool:
        """Whether `name` is a function or class of this file (a method of `cls` when given)
        with a parameter annotated as a legacy run: the tool rewrites the calls made on it."""
        key = (name, id(cls))
        if key not in self._follows:
            self._follows[key] = self._annotated_run_param(name, cls)
        return self._follows[key]

    def _annotated_run_param(self, name: str, cls: cst.ClassDef | None) -> bool:
        facts = self.r.facts
        defs: list[cst.FunctionDef] = []
        if cls is not None:
            if isinstance(cls.body, cst.IndentedBlock):
                defs = [s for s in cls.body.body if isinstance(s, cst.FunctionDef)]
            defs = [d for d in defs if d.name.value == name]
        else:
            defs = [d for d in facts.returns if d.name.value == name]  # every def of the file
            found = facts.classes.get(name)
            if found is not None and isinstance(found.body, cst.IndentedBlock):
                defs += [s for s in found.body.body if isinstance(s, cst.FunctionDef)]
        for fn in defs:
            params = fn.params
            for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
                if p.annotation is not None and self.r.kind_of(
                    Annotated(p.annotation.annotation), self.r.facts.module
                ) in ("run", "logger"):
                    return True
        return False

    def _child_left_open(self, node: cst.Call, done: Rewrite) -> Rewrite:
        """A child run kept in a name that nothing in the file ever completes (lossy).

        MLflow's exit handler ends only the innermost active run, so the parent of a child run
        left open stays RUNNING for good, while Azure ML (and the shim) ended both.
        """
        if id(node) in self.with_items:
            return done
        target = self.child_targets.get(id(node))
        if target is None or target in self.enders:
            return done
        note = (
            f"'{target}' is never completed in this file: MLflow ends only the innermost run at "
            "exit, so its parent would stay RUNNING; call mlflow.end_run() when the child is done, "
            "or use it in a `with` block."
        )
        return replace(done, detail=" ".join(p for p in (done.detail, note) if p), fidelity="lossy")

    def _function_id(self) -> int:
        return id(self.functions[-1]) if self.functions else 0

    def _ended(self, receiver: cst.BaseExpression) -> bool:
        """Whether `receiver` was ended by a statement above, in this block or one enclosing it."""
        if not self.ended:
            return False
        code = self.module.code_for_node(receiver)
        here = self._function_id()
        return any(r == code and f == here and b in self.block_ids for r, b, f in self.ended)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        self.called.add(id(func))
        if isinstance(func, cst.Attribute):
            self.receivers.add(id(func.value))
            self.methods_on[id(func.value)] = func.attr.value
        if isinstance(func, cst.Attribute) and func.attr.value == "wait" and not node.args:
            self.waited.add(id(func.value))

    def _same(self, node: cst.BaseExpression, code: str) -> bool:
        return self.module.code_for_node(node) == code

    def _unresolved(self, call_node: cst.Call, receiver: cst.BaseExpression, method: str) -> None:
        """Report a legacy-looking call on a receiver that is not provably a legacy object.

        Reported: any legacy method on an object that is a legacy run on some paths only, and a
        distinctive method (`log_list`, `upload_file`, ...) on anything in a module that imports
        the SDK. Never `logger.log`, `self.log` or `np.log`. (Run-like parameters the tool
        cannot follow are the audit's to report.)
        """
        legacy_method = any(m == method for _, m in (*self.rules, *MANUAL))
        maybe = self.r.maybe_legacy(receiver, self._scope(), self._cls())
        if (maybe and legacy_method) or (method in DISTINCTIVE and self.r.facts.uses_legacy):
            detail = (
                "The object is bound to a legacy run on some paths and to something else on others."
                if maybe
                else ""
            )
            self.report(
                call_node, f"?.{method}", "unresolved-receiver", None, detail, fidelity="manual"
            )

    def _offline_check(self, node: cst.Call, method: str) -> None:
        """`run.id.startswith("OfflineRun")`: always false once the run is an MLflow run."""
        func = node.func
        if (
            method == "startswith"
            and isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Attribute)
            and func.value.attr.value == "id"
            and node.args
            and (literal_str(node.args[0].value) or "").startswith("Offline")
            and self.kind(func.value.value) == "run"
        ):
            self.report(node, "Run.id", "offline-run-check", None, fidelity="manual")

    def _constructor(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression | None:
        """Legacy objects being made: Run.get_context(), Experiment(...), get_azureml_logger().

        None when the call makes no legacy object; the call itself (reported) when it does but
        stays as it is; else its rewrite.
        """
        made = self.r.legacy_class(original.func)
        func = original.func
        owner = self.r.legacy_class(func.value) if isinstance(func, cst.Attribute) else None
        if made is None and owner is None:
            return None
        ctx = self._context(original.func, original)
        if made == "logger":
            return self._apply(
                original,
                updated,
                "get_azureml_logger",
                Rewrite(active_or_new(ctx), "workbench-get-logger", self._ends_note(original)),
                ctx,
            )
        target = self.assigned.get(id(original))
        if made == "experiment" and target in self.control:
            detail = f"Used by {self.control[target]}."
            self.report(original, "Experiment", "experiment-kept", None, detail, "manual")
            return updated
        inline = self.methods_on.get(id(original))
        if made == "experiment" and inline not in (None, "start_logging"):
            detail = f"Used by .{inline}()."  # `Experiment(ws, name).submit(config)`
            self.report(original, "Experiment", "experiment-kept", None, detail, "manual")
            return updated
        unfollowed = self._kept_otherwise(original)
        if (made in ("experiment", "logger") or owner == "run") and unfollowed:
            api = cst.Module(body=[]).code_for_node(func)
            self.report(original, api, "unresolved-receiver", None, unfollowed, "manual")
            return updated
        if made == "experiment":
            name = next((a for a in updated.args if a.keyword and a.keyword.value == "name"), None)
            positional = [a for a in updated.args if a.keyword is None]
            if name is None and len(positional) >= 2:
                name = positional[1]
            if name is None or any(a.star for a in updated.args):
                self.report(original, "Experiment", "unsupported-call", None, fidelity="manual")
                return updated
            done = Rewrite(
                call(ctx.mlflow("set_experiment"), arg(name.value)),
                "experiment-start-logging",
                "Experiment(...) becomes mlflow.set_experiment(name).",
            )
            # A workspace made inline as an argument goes with it.
            dropped = [a for a in original.args if a.value is not _original_arg(original, name)]
            for a in dropped:
                for inner in _calls(a):
                    index = self.workspace_calls.get(id(inner))
                    if index is not None:
                        self.findings[index] = replace(
                            self.findings[index], fidelity="lossy", detail=_GONE
                        )
            return self._apply(original, updated, "Experiment", done, ctx)
        if made == "run":
            self.report(original, "Run", "run-attached", None)
            return updated
        if made == "workspace" or owner == "workspace":
            self.workspace_calls[id(original)] = len(self.findings)
            self.report(original, "Workspace", "workspace", None, fidelity="manual")
            return updated
        if owner == "run" and isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in ("get_context", "get_submitted_run"):
                offline = bool(updated.args)
                detail = "allow_offline= is dropped." if offline else self._ends_note(original)
                rule_id = "run-get-context-offline" if offline else "run-get-context"
                mixed = self._drives_mlflow()
                if mixed and not offline:
                    rule_id, detail = "run-get-context-mixed", f"The file calls {mixed}."
                done = Rewrite(active_or_new(ctx), rule_id, detail)
                return self._apply(original, updated, f"Run.{method}", done, ctx)
            other = {"get": "run-attached", "list": "run-list-kept"}.get(method)
            if other is not None:
                self.report(original, f"Run.{method}", other, None, fidelity="manual")
        return updated

    def _drives_mlflow(self) -> str:
        """The MLflow call by which the file itself starts runs or picks the experiment, if any."""
        facts = self.r.facts
        for local, qualified in sorted(facts.module_imports.items()):
            if qualified == "mlflow":
                called = set().union(*(m for (_, n), m in facts.methods.items() if n == local))
                found = sorted(called & _DRIVES_MLFLOW)
                if found:
                    return f"{local}.{found[0]}()"
        return ""

    def _kept_otherwise(self, call: cst.Call) -> str:
        """Why the legacy object `call` makes cannot be followed ("" when it can): the name, or
        `self.<attr>`, it is kept in is also bound to something else, so its calls stay."""
        target = self.assigned.get(id(call))
        if (
            target is not None
            and not (self.frames and self.frames[-1] == "class")  # a class attribute
            and self.r.maybe_legacy(cst.Name(target), self._scope(), self._cls())
        ):
            return (
                f"'{target}' is also bound to something else in this scope: give the legacy "
                "object a name of its own so the tool can follow it."
            )
        attr = self.assigned_attrs.get(id(call))
        if attr is not None and self.r.maybe_legacy(attr, self._scope(), self._cls()):
            return (
                f"'{self.module.code_for_node(attr)}' is also assigned something else in this "
                "class: its calls cannot be followed, so the object it holds stays as it is."
            )
        return ""

    def _ends_note(self, node: cst.Call) -> str:
        if id(node) in self.with_items:
            return ""
        return ENDS_NOTE

    def _written(self, target: cst.BaseExpression) -> None:
        """Mark the run fields an assignment, `del` or loop writes (never rewritten as reads)."""
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._written(element.value)
        elif isinstance(target, cst.StarredElement):
            self._written(target.value)
        elif isinstance(target, cst.Attribute) and target.attr.value in _RUN_FIELDS:
            self.set_attrs.add(id(target))

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._written(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._written(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.loose.add(id(node.value))
        self._written(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self._written(node.target)

    def visit_For(self, node: cst.For) -> None:
        self.loops[-1] += 1
        self.loop_ends.append((self._ends_in(node.body, node.target), self._function_id()))
        self._written(node.target)

    def _odd_write(self, node: cst.CSTNode, targets: Sequence[cst.BaseExpression]) -> None:
        """Report a run field written other than by `run.<field> = value` alone (manual)."""
        for target in targets:
            for attr in _attributes(target):
                if id(attr) in self.set_attrs and self.kind(attr.value) == "run":
                    detail = (
                        f"Write it on its own line as `run.{attr.attr.value} = value`, which "
                        "the tool converts; mlflow.ActiveRun has no such field."
                    )
                    api = f"Run.{attr.attr.value}"
                    self.report(node, api, "run-member", None, detail, fidelity="manual")

    def leave_AugAssign(
        self, original_node: cst.AugAssign, updated_node: cst.AugAssign
    ) -> cst.AugAssign:
        self._odd_write(original_node, [original_node.target])
        return updated_node

    def leave_Assign(
        self, original_node: cst.Assign, updated_node: cst.Assign
    ) -> cst.BaseSmallStatement:
        """`run.display_name = x` / `run.description = x`: the MLflow run name / note tag."""
        for t in original_node.targets:  # a name bound anew: whatever ended before is not it
            code = self.module.code_for_node(t.target)
            self.ended = [e for e in self.ended if e[0] != code]
        target = original_node.targets[0].target
        if self.target != "mlflow":
            return updated_node
        if len(original_node.targets) != 1 or not isinstance(target, cst.Attribute):
            self._odd_write(original_node, [t.target for t in original_node.targets])
            return updated_node
        if id(target) not in self.set_attrs or self.kind(target.value) != "run":
            return updated_node
        field_name = target.attr.value
        api = f"Run.{field_name}"
        if self._ended(target.value):
            self.report(original_node, api, "run-ended", None)
            return updated_node
        if self._wrong_run(target.value):
            detail = f"'{self.active[-1][0]}' is MLflow's active run here."
            self.report(original_node, api, "run-not-active", None, detail)
            return updated_node
        self.needs.add("mlflow")
        tag = cst.SimpleString(f'"{_RUN_FIELDS[field_name]}"')
        set_tag = cst.Attribute(cst.Name(self.names.module("mlflow")), cst.Name("set_tag"))
        value = updated_node.value
        if field_name == "description" and isinstance(value, cst.Name) and value.value == "None":
            value = string("")  # Azure ML cleared the description; MLflow would store "None"
        node = cst.Expr(call(set_tag, arg(tag), arg(value)), semicolon=updated_node.semicolon)
        self.report(original_node, api, f"run-{field_name.replace('_', '-')}", node)
        return node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        field_name = original_node.attr.value
        if (
            self.target == "mlflow"
            and field_name in _RUN_FIELDS
            and id(original_node) not in self.set_attrs
            and self.kind(original_node.value) == "run"
        ):
            # Read back from the store: the run object's own info is a snapshot.
            mlflow = cst.Name(self.names.module("mlflow"))
            self.needs.add("mlflow")
            run_id = cst.Attribute(
                cst.Attribute(updated_node.value, cst.Name("info")), cst.Name("run_id")
            )
            fresh = call(cst.Attribute(mlflow, cst.Name("get_run")), arg(run_id))
            if field_name == "display_name":
                read: cst.BaseExpression = cst.Attribute(
                    cst.Attribute(fresh, cst.Name("info")), cst.Name("run_name")
                )
            else:
                tags = cst.Attribute(cst.Attribute(fresh, cst.Name("data")), cst.Name("tags"))
                read = call(
                    cst.Attribute(tags, cst.Name("get")),
                    arg(cst.SimpleString(f'"{_RUN_FIELDS[field_name]}"')),
                )
            read = read.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)
            rule_id = f"run-{field_name.replace('_', '-')}"
            self.report(original_node, f"Run.{field_name}", rule_id, read)
            return read
        if (
            self.target == "mlflow"
            and original_node.attr.value == "id"
            and self.kind(original_node.value) == "run"
        ):
            info = cst.Attribute(value=updated_node.value, attr=cst.Name("info"))
            node = cst.Attribute(
                value=info, attr=cst.Name("run_id"), lpar=updated_node.lpar, rpar=updated_node.rpar
            )
            self.report(original_node, "Run.id", "run-id", node)
            return node
        if self.target == "mlflow" and self.kind(original_node.value) == "run":
            self._member(original_node, field_name)
        return updated_node

    def _member(self, node: cst.Attribute, member: str) -> None:
        """Report a member of a run that the rewritten run (an mlflow.ActiveRun) does not have.

        A member with no MLflow form (`run.experiment`, `run.get_portal_url()`), or a legacy
        method used as a value (`partial(run.log, "loss")`, `callback=run.log`): left as it is,
        it would raise AttributeError on plain MLflow.
        """
        if member == "parent":
            if id(node) in self.receivers:
                return  # `run.parent.log(...)`: the call is reported (run-attached)
            detail = (
                "mlflow.ActiveRun has no 'parent': the parent's id is the tag mlflow.parentRunId "
                "(mlflow.get_run(run.info.run_id).data.tags['mlflow.parentRunId'])."
            )
        elif member in _NO_FORM:
            detail = no_form_detail(member)
        elif id(node) not in self.called and (
            ("run", member) in self.rules or ("run", member) in MANUAL
        ):
            detail = value_detail(member)
        else:
            return
        self.report(node, f"Run.{member}", "run-member", None, detail, fidelity="manual")

    # -- annotations: a run is now an mlflow.ActiveRun -------------------------------------------
    def leave_Annotation(
        self, original_node: cst.Annotation, updated_node: cst.Annotation
    ) -> cst.Annotation:
        if self.target != "mlflow":
            return updated_node
        swap = _RunAnnotation(self)
        annotation = original_node.annotation.visit(swap)
        assert isinstance(annotation, cst.BaseExpression)
        for node in swap.swapped:
            self.report(node, "Run (annotation)", "run-annotation", annotation)
        if swap.swapped:
            self.needs.add("mlflow")
        return updated_node.with_changes(annotation=annotation)

    # -- shim target: only the imports change ---------------------------------------------------
    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom:
        if self.target != "shim" or updated_node.module is None or updated_node.relative:
            return updated_node
        module = self.module.code_for_node(updated_node.module)
        if module in SHIM_MODULES:
            self.report(
                original_node,
                f"from {module} import",
                "shim-import",
                updated_node.with_changes(module=cst.Name("shims")),
            )
            return updated_node.with_changes(module=cst.Name("shims"))
        return updated_node


# Members of an SDK v1 run that an mlflow.ActiveRun does not have and no rule converts.
_NO_FORM = frozenset(
    {
        "experiment", "name", "number", "properties", "tags", "status", "type",
        "get_portal_url", "get_secret", "get_secrets", "get_environment", "get_snapshot_id",
        "take_snapshot", "restore_snapshot", "clean", "get_all_logs", "get_detailed_status",
        "get_details_with_logs", "list_by_compute", "add_type_provider", "input_datasets",
        "output_datasets",
    }
)  # fmt: skip


def _attributes(target: cst.BaseExpression) -> list[cst.Attribute]:
    """The attributes an assignment target writes (`a.b`, `(a.b, c)`, `[*a.b]`)."""
    if isinstance(target, (cst.Tuple, cst.List)):
        return [a for e in target.elements for a in _attributes(e.value)]
    if isinstance(target, cst.StarredElement):
        return _attributes(target.value)
    return [target] if isinstance(target, cst.Attribute) else []


# Run fields that are MLflow tags: the display name is the run name, the description its note.
_RUN_FIELDS = {"display_name": "mlflow.runName", "description": "mlflow.note.content"}


def _branches(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The expressions an assigned value may be: itself, and each branch of `a if c else b`,
    `a or b` and `a and b` (b only: a legacy object is never falsy), recursively."""
    if isinstance(value, cst.IfExp):
        return [value, *_branches(value.body), *_branches(value.orelse)]
    if isinstance(value, cst.BooleanOperation) and isinstance(value.operator, cst.And):
        return [value, *_branches(value.right)]
    if isinstance(value, cst.BooleanOperation):
        return [value, *_branches(value.left), *_branches(value.right)]
    return [value]


def _kept_result(done: Rewrite) -> Rewrite:
    """A Workbench `logger.log(...)` whose result is kept (`p = logger.log(...)`, later `p.wait()`).

    The legacy call returned something to wait on; MLflow's synchronous calls return None, so the
    call is made asynchronous: it then returns an `mlflow.utils.async_logging.RunOperations`,
    whose `.wait()` blocks until the value is stored, as the Workbench's did.
    """
    if not isinstance(done.node, cst.Call):
        return done
    func = done.node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "log_batch":
        # Its steps continue from the stored history, which an asynchronous batch before it
        # may not have reached yet: a batch is logged synchronously, so nothing to wait on.
        detail = (
            "Its result is kept to wait on, but a list is logged as one synchronous batch in "
            "MLflow (its steps continue from the stored history): log it as a statement and "
            "drop the .wait()."
        )
        return Rewrite(None, "unsupported-call", detail)
    node = done.node.with_changes(args=[*done.node.args, arg(cst.Name("False"), "synchronous")])
    note = "Its result is kept, so it is logged with synchronous=False: .wait() on it still works."
    return replace(done, node=node, detail=" ".join(p for p in (done.detail, note) if p))


class _RunAnnotation(cst.CSTTransformer):
    """Inside one annotation: `Run` (however imported, also as a string) -> `mlflow.ActiveRun`."""

    def __init__(self, rewriter: _Rewriter) -> None:
        super().__init__()
        self.rewriter = rewriter
        self.swapped: list[cst.CSTNode] = []

    def _active_run(self) -> cst.Attribute:
        name = self.rewriter.names.module("mlflow")
        return cst.Attribute(value=cst.Name(name), attr=cst.Name("ActiveRun"))

    def _is_run(self, node: cst.BaseExpression) -> bool:
        return self.rewriter.r.legacy_class(node) == "run"

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        if self._is_run(original_node):
            self.swapped.append(original_node)
            return self._active_run()
        return updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        if self._is_run(original_node):
            self.swapped.append(original_node)
            return self._active_run()
        return updated_node

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.BaseExpression:
        text = original_node.evaluated_value
        if not isinstance(text, str):
            return updated_node
        try:
            inner = cst.parse_expression(text)
        except cst.ParserSyntaxError:
            return updated_node
        if not self._is_run(inner):
            return updated_node
        self.swapped.append(original_node)
        quote = original_node.quote
        body = cst.Module(body=[]).code_for_node(self._active_run())
        return updated_node.with_changes(value=f"{original_node.prefix}{quote}{body}{quote}")


# -- after the rewrite: unused workspaces and imports ---------------------------------------------
class _After(cst.CSTVisitor):
    """One pass over the rewritten module: how often each name is read (imports, targets,
    parameters, definitions, attribute names and keywords excluded), and the statements
    `ws = Workspace...(...)` that may now be dead."""

    def __init__(self, resolver: Resolver) -> None:
        self.r = resolver
        self.counts: Counter[str] = Counter()
        self.workspaces: list[tuple[cst.SimpleStatementLine, str]] = []
        self._skip: set[int] = set()

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) != 1 or not isinstance(node.body[0], cst.Assign):
            return
        assign = node.body[0]
        if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
            return
        if self.r.kind_of(assign.value, self.r.facts.module) == "workspace":
            self.workspaces.append((node, assign.targets[0].target.value))

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self._skip.add(id(node.target))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._skip.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._skip.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self._skip.add(id(node.name))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None and isinstance(node.asname.name, cst.Name):
            self._skip.add(id(node.asname.name))  # `with ... as run` binds run

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._skip.add(id(node.name))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._skip.add(id(node.name))

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self._skip:
            self.counts[node.value] += 1


def _reads(node: cst.CSTNode, resolver: Resolver) -> _After:
    visitor = _After(resolver)
    node.visit(visitor)
    return visitor


def _bound(alias: cst.ImportAlias, is_from: bool) -> str:
    """The local name an import alias binds."""
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    name = cst.Module(body=[]).code_for_node(alias.name)
    return name if is_from else name.split(".")[0]


def _import_line(module: str, asname: str | None) -> cst.SimpleStatementLine:
    alias = cst.ImportAlias(
        name=cst.parse_expression(module),  # type: ignore[arg-type]
        asname=cst.AsName(name=cst.Name(asname)) if asname else None,
    )
    return cst.SimpleStatementLine([cst.Import(names=[alias])])


def _is_import_line(stmt: Stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
    )


def _is_docstring(stmt: Stmt) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_future(stmt: Stmt) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.ImportFrom)
        and isinstance(stmt.body[0].module, cst.Name)
        and stmt.body[0].module.value == "__future__"
    )


def _plain_import(stmt: Stmt) -> str | None:
    """The module of a one-name `import x` line (no alias), else None."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    small = stmt.body[0]
    if isinstance(small, cst.Import) and len(small.names) == 1:
        return cst.Module(body=[]).code_for_node(small.names[0].name)
    return None


def _top_module(stmt: Stmt) -> str | None:
    """The top-level package an import line imports from (first name), else None."""
    if not _is_import_line(stmt):
        return None
    assert isinstance(stmt, cst.SimpleStatementLine)
    small = stmt.body[0]
    empty = cst.Module(body=[])
    if isinstance(small, cst.Import):
        return empty.code_for_node(small.names[0].name).split(".")[0]
    if isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
        return empty.code_for_node(small.module).split(".")[0]
    return None


class _UsesAtImportTime(cst.CSTVisitor):
    """Whether a statement reads `name` when it runs (function bodies run later)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.found = False

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        return True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name:
            self.found = True


def _uses_at_import_time(stmt: Stmt, name: str) -> bool:
    visitor = _UsesAtImportTime(name)
    stmt.visit(visitor)
    return visitor.found


class _Cleanup(_BodyEditor):
    """Drop dead workspaces and imports the rewrite left unused; add the imports it needs."""

    def __init__(
        self,
        before: Counter[str],
        after: Counter[str],
        adds: dict[str, str | None],
        dead: Sequence[cst.SimpleStatementLine],
        local_runs: _Marks[str],
    ) -> None:
        super().__init__()
        self.before, self.after = before, after
        self.local_runs = local_runs
        self.adds = dict(adds)  # module -> asname for each import to add
        self.dead: _Marks[bool] = _Marks()  # statements of the input tree to remove
        for stmt in dead:
            self.dead.put(stmt, True)
        self.depth = 0
        self.mlflow_comment: cst.TrailingWhitespace | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        # Only statements change here: never walk into expressions (most of the tree).
        return not isinstance(node, cst.BaseExpression) and super().on_visit(node)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.depth += 1

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        self.depth -= 1
        return self.edit_block(updated_node)

    def _unused(self, name: str) -> bool:
        return self.before[name] > 0 and self.after[name] == 0

    def leave_WithItem(
        self, original_node: cst.WithItem, updated_node: cst.WithItem
    ) -> cst.WithItem:
        local = self.local_runs.get(original_node)
        if local is not None and self.after[local] == 0:
            # `with mlflow.start_run() as run:` in a function, the name now unused: no `as`.
            return updated_node.with_changes(asname=None)
        return updated_node

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        if original_node in self.dead:
            self.dropped.put(updated_node, True)
            return updated_node
        local = self.local_runs.get(original_node)
        if local is not None and self.after[local] == 0:
            # `run = mlflow.start_run()` in a function, the name now unused: just the call.
            assign = updated_node.body[0]
            assert isinstance(assign, cst.Assign)
            return updated_node.with_changes(body=[cst.Expr(assign.value)])
        if not _is_import_line(updated_node):
            return updated_node
        body: list[cst.BaseSmallStatement] = []
        changed = False
        for small in updated_node.body:
            assert isinstance(small, (cst.Import, cst.ImportFrom))
            if isinstance(small.names, cst.ImportStar):
                body.append(small)
                continue
            is_from = isinstance(small, cst.ImportFrom)
            names = [a for a in small.names if not self._unused(_bound(a, is_from))]
            if len(names) == len(small.names):
                body.append(small)
                continue
            changed = True
            if names:
                names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                body.append(small.with_changes(names=names))
        if not changed:
            return updated_node
        if body:
            body[-1] = body[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            return updated_node.with_changes(body=body)
        comment = updated_node.trailing_whitespace
        if (
            self.depth == 0
            and "mlflow" in self.adds
            and self.mlflow_comment is None
            and comment.comment is not None
            and _top_module(updated_node) == "azureml"
        ):
            # `from azureml.core import Run  # the run`: the comment goes with `import mlflow`.
            self.mlflow_comment = comment
            updated_node = updated_node.with_changes(trailing_whitespace=cst.TrailingWhitespace())
        self.dropped.put(updated_node, True)
        return updated_node

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        body = list(updated_node.body)
        if "mlflow" in self.adds:
            body = self._add_mlflow(body, self.adds.pop("mlflow"))
        module = self.edit_module(updated_node.with_changes(body=body))
        body = list(module.body)
        for name, asname in sorted(self.adds.items()):
            body = self._add_stdlib(body, name, asname)
        return module.with_changes(body=body)

    def _header_end(self, body: Sequence[Stmt]) -> int:
        at = 0
        if body and _is_docstring(body[0]):
            at = 1
        while at < len(body) and _is_future(body[at]):
            at += 1
        return at

    def _region_end(self, body: Sequence[Stmt]) -> int:
        """The index after the module's leading run of import lines."""
        at = self._header_end(body)
        while at < len(body) and _is_import_line(body[at]):
            at += 1
        return at

    def _add_mlflow(self, body: list[Stmt], asname: str | None) -> list[Stmt]:
        line = _import_line("mlflow", asname)
        if self.mlflow_comment is not None:
            line = line.with_changes(trailing_whitespace=self.mlflow_comment)
        local = asname or "mlflow"
        first_use = next(
            (i for i, s in enumerate(body) if _uses_at_import_time(s, local)), len(body)
        )
        # After the module's leading imports (the legacy ones among them are going), and in any
        # case before the first statement that uses mlflow when the module runs.
        at = min(self._region_end(body), first_use)
        return self._insert(body, at, line)

    def _insert(self, body: list[Stmt], at: int, line: cst.SimpleStatementLine) -> list[Stmt]:
        """Insert `line` before body[at], as an import group member or above the code."""
        if at >= len(body):
            return [*body, line]
        nxt = body[at]
        if at > self._header_end(body) and _is_import_line(body[at - 1]):
            return [*body[:at], line, *body[at:]]
        own = list(nxt.leading_lines)
        if _is_import_line(nxt):
            # First of an import group: take over the group's leading lines.
            return [
                *body[:at],
                line.with_changes(leading_lines=own),
                nxt.with_changes(leading_lines=[]),
                *body[at + 1 :],
            ]
        # Above code: a blank line before the import (after a docstring), the code's own
        # blank lines (at least one) after it.
        blanks: list[cst.EmptyLine] = []
        while own and own[0].comment is None:
            blanks.append(own.pop(0))
        spacer = blanks or [cst.EmptyLine()]
        return [
            *body[:at],
            line.with_changes(leading_lines=blanks[:1]),
            nxt.with_changes(leading_lines=[*spacer, *own]),
            *body[at + 1 :],
        ]

    def _add_stdlib(self, body: list[Stmt], module: str, asname: str | None) -> list[Stmt]:
        line = _import_line(module, asname)
        start, end = self._header_end(body), self._region_end(body)
        stdlib = [i for i in range(start, end) if (_top_module(body[i]) or "") in _STDLIB]
        plain = [i for i in stdlib if _plain_import(body[i]) is not None]
        later = [i for i in plain if (_plain_import(body[i]) or "") > module]
        if later:
            return self._insert(body, later[0], line)
        if plain:
            return [*body[: plain[-1] + 1], line, *body[plain[-1] + 1 :]]
        if stdlib:
            return self._insert(body, stdlib[0], line)
        body = self._insert(body, start, line)
        at = start + 1
        if at < len(body) and _is_import_line(body[at]) and not body[at].leading_lines:
            # The standard library group comes first, a blank line before the others.
            body[at] = body[at].with_changes(leading_lines=[cst.EmptyLine()])
        return body


def _line_limit(lines: Sequence[str]) -> int:
    """The line length to keep to: the file's own longest line, between 88 and 120."""
    longest = max((len(line.expandtabs(TAB)) for line in lines), default=0)
    return max(88, min(120, longest))


def rewrite_module(
    source: str, path: str = "<string>", target: Target = "mlflow", fast: bool = True
) -> Result:
    """Rewrite one module's source.

    The usual script shape goes the fast path (`migrate.fast`), which gives the same result for a
    fraction of the cost; `fast=False` always runs the full engine (the tests compare the two).

    Raises `cst.ParserSyntaxError` when it does not parse, and `RewriteError` when it nests too
    deeply for libcst to parse safely or when the rewrite would break it.
    """
    if not might_contain_legacy(source):
        return Result(source, source)
    try:  # libcst's native parser crashes the process on very deep nesting: refuse it first
        parsed = check_nesting(source, path, measure=not fast)
    except SourceError as exc:
        raise RewriteError(str(exc)) from None
    if fast and parsed is not None:
        from migrate.fast import rewrite_fast  # (it builds on this module)

        quick = rewrite_fast(source, path, target, parsed)  # (it measures what it parses)
        if quick is not None:
            return quick
        too_deep = nesting_error(parsed)
        if too_deep is not None:
            raise RewriteError(str(SourceError(path, *too_deep)))
    # libcst drops a lone "\r" ending a file: keep it aside and put it back.
    tail = "\r" if source.endswith("\r") else ""
    body = source[: len(source) - len(tail)]
    tree = cst.parse_module(body)
    resolver = Resolver(tree)
    if not resolver.facts.uses_legacy:
        return Result(source, source)
    names = Names(resolver)
    lines = _NEWLINES.split(body)
    rewriter = _Rewriter(resolver, path, target, lines, names, _line_limit(lines))
    new_tree = tree.visit(rewriter)
    findings = sorted(rewriter.findings, key=lambda f: (f.line, f.column))
    if not any(f.rewritten for f in findings):
        return Result(source, source, findings)
    if target == "mlflow":
        before = resolver.facts.reads
        seen = _reads(new_tree, resolver)
        after = seen.counts
        dead = [stmt for stmt, name in seen.workspaces if after[name] == 0]
        for stmt in dead:
            after -= _reads(stmt, resolver).counts
        adds = {m: a for m, a in names.to_import.items() if m in rewriter.needs}
        cleanup = _Cleanup(before, after, adds, dead, rewriter.local_runs)
        new_tree = new_tree.visit(cleanup)
        spaces = [f for f in findings if f.rule == "workspace" and not f.rewritten]
        if spaces and len(dead) >= len(spaces):
            findings = [
                replace(f, fidelity="lossy", detail=_GONE) if f in spaces else f for f in findings
            ]
    code = new_tree.code + tail
    if code != source:
        try:
            compile(code, path, "exec", dont_inherit=True)
        except SyntaxError as exc:  # a rule bug: never write such output
            raise RewriteError(f"{path}: rewritten code does not compile: {exc}") from exc
        lost = [c for c, n in resolver.facts.comments.items() if code.count(c) < n]
        if lost:
            raise RewriteError(f"{path}: the rewrite would lose comments: {sorted(lost)}")
    return Result(source, code, findings)
