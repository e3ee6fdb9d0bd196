"""`run.log`, `run.log_list` and the Workbench logger's `.log`.

What a value becomes depends on what it is, which the rule works out from the source (see
`_shape.infer`): a number is a metric point, a bool a 0/1 metric, a string or None a tag (MLflow
metrics are numbers only), a list a batch of points. A value the source does not show is logged as a
metric and reported (`run-log-unknown`), so a person checks it cannot be text.
"""

from __future__ import annotations

import re
from dataclasses import replace

import libcst as cst

from migrate.detect import shadowed_by
from migrate.rules import Args, Context, Rewrite, rule
from migrate.rules._shape import ValueKind, arg, call, code, infer, literal_str, string
from shims.names import mlflow_name

_LOOP_NOTE = (
    "Logged in a loop without step=: MLflow puts every value at step 0 (the history is kept, "
    "ordered by time); pass step= to chart it by step."
)


def metric_name(ctx: Context, name: cst.BaseExpression) -> tuple[cst.BaseExpression | None, str]:
    """The name to log under, and a note when it changes; None when it cannot be made valid.

    A literal MLflow rejects is replaced by its valid form (the name the shim uses), so is a
    name bound only to one such literal. An f-string or a `+` of literals and values whose
    literal text MLflow rejects gets its literal parts mapped the way the shim maps the whole
    name, when that gives the same name for any plain value; otherwise the call is left to a
    person (MLflow would raise on it). So is a `%` or `.format` template, and a `+` part bound
    to text, whose text MLflow rejects (those are checked, not mapped).
    """
    text = literal_str(name)
    if text is not None:
        if mlflow_name(text) == text:
            return name, ""
        return string(mlflow_name(text)), f"'{text}' is stored as '{mlflow_name(text)}'."
    if isinstance(name, cst.Name):
        texts = _bound_texts(ctx, name)
        if texts is None or all(mlflow_name(t) == t for t in texts):
            return name, ""
        if len(set(texts)) == 1:
            new = mlflow_name(texts[0])
            return string(new), f"'{texts[0]}' ({name.value}) is stored as '{new}'."
        return None, f"{name.value} is bound to names MLflow rejects: {_listed(texts)}."
    template = _template_texts(name)
    if template is not None:  # "%s (%s)" % (a, b), "{} (val)".format(x): checked, not mapped
        if _valid_template(template):
            return name, ""
        source = _EMPTY.code_for_node(name)
        return None, f"MLflow rejects the literal text of {source}: choose a valid name."
    parts = _name_parts(name)
    if parts is None:
        return name, ""
    for part in parts:  # a value bound only to text: that text is part of the name
        if not isinstance(part, cst.Name):
            continue
        bound = _bound_texts(ctx, part)
        if bound and not all(_valid_inside(t) for t in bound):
            listed = ", ".join(f"'{t}'" for t in sorted(set(bound)) if not _valid_inside(t))
            return None, f"{part.value} is bound to text MLflow rejects in a name: {listed}."
    texts = [p for p in parts if isinstance(p, str)]
    if all(_valid_inside(t) for t in texts) and all(
        mlflow_name(whole) == whole for whole in _wholes(parts)
    ):
        return name, ""  # valid inside and at both ends, for plain values: nothing to map
    source = _EMPTY.code_for_node(name)
    mapped = _mapped_parts(parts)
    if mapped is None or (isinstance(name, cst.BinaryOperation) and not _plain_concat(name)):
        return None, f"MLflow rejects the literal text of {source}: choose a valid name."
    new_node = _rebuild(name, mapped)
    new_source = _EMPTY.code_for_node(new_node)
    return new_node, f"{source} is stored as {new_source}."


_EMPTY = cst.Module(body=[])
_SENTINEL = "a"
_SAMPLES = ("0", "1", "x", "ab")


def _valid_inside(text: str) -> bool:
    """Whether MLflow takes `text` inside a name (between other valid characters)."""
    return mlflow_name(_SENTINEL + text + _SENTINEL) == _SENTINEL + text + _SENTINEL


_SPECIFIER = re.compile(r"%%|%(\([^)]*\))?[#0\- +]*(\*|\d+)?(\.(\*|\d+))?[hlL]?[a-zA-Z]")
_FIELD = re.compile(r"\{\{|\}\}|\{[^{}]*\}")
_ESCAPES = {"%%": "%", "{{": "{", "}}": "}"}


def _template_texts(name: cst.BaseExpression) -> list[str] | None:
    """The literal text around the value slots of a `%` or `.format` name template (escapes
    such as `%%` read as the text they give), else None."""
    text, slots = None, _SPECIFIER
    if isinstance(name, cst.BinaryOperation) and isinstance(name.operator, cst.Modulo):
        text = literal_str(name.left)
    elif (
        isinstance(name, cst.Call)
        and isinstance(name.func, cst.Attribute)
        and name.func.attr.value == "format"
    ):
        text, slots = literal_str(name.func.value), _FIELD
    if text is None:
        return None
    texts, start, buffer = [], 0, ""
    for match in slots.finditer(text):
        buffer += text[start : match.start()]
        start = match.end()
        if match.group() in _ESCAPES:
            buffer += _ESCAPES[match.group()]
        else:
            texts.append(buffer)
            buffer = ""
    texts.append(buffer + text[start:])
    return texts


def _valid_template(texts: list[str]) -> bool:
    """Whether MLflow takes every name the template can give for plain values."""
    return all(_valid_inside(t) for t in texts) and all(
        mlflow_name(sample.join(texts)) == sample.join(texts) for sample in _SAMPLES
    )


def _listed(texts: list[str]) -> str:
    return ", ".join(f"'{t}'" for t in sorted(set(texts)) if mlflow_name(t) != t)


def _bound_texts(ctx: Context, name: cst.Name) -> list[str] | None:
    """The literal strings a name is bound to, when it is bound to literal strings only."""
    if ctx.scope is None or name.value in ctx.shadowed:
        return None
    values = ctx.resolver.values_of(name.value, ctx.scope)
    if not values:
        return None
    texts: list[str] = []
    pending = list(values)
    while pending:
        value = pending.pop(0)
        if isinstance(value, cst.IfExp):
            pending += [value.body, value.orelse]
            continue
        text = literal_str(value)
        if text is None:
            return None
        texts.append(text)
    return texts


Part = str | cst.BaseExpression


def _name_parts(name: cst.BaseExpression) -> list[Part] | None:
    """An f-string or a `+` chain as literal text and expressions, in order; else None."""
    if isinstance(name, cst.FormattedString):
        if name.prefix.lower() not in ("f",):
            return None
        out: list[Part] = []
        for part in name.parts:
            if isinstance(part, cst.FormattedStringText):
                if "\\" in part.value or "{" in part.value or "}" in part.value:
                    return None
                out.append(part.value)
            elif isinstance(part, cst.FormattedStringExpression):
                out.append(part.expression)
            else:
                return None
        return out
    if isinstance(name, cst.BinaryOperation) and isinstance(name.operator, cst.Add):
        return [*_operand_parts(name.left), *_operand_parts(name.right)]
    return None


def _operand_parts(node: cst.BaseExpression) -> list[Part]:
    """One operand of a `+` chain as parts: its literal text, its own parts, or itself."""
    text = literal_str(node)
    if text is not None:
        return [text]
    return _name_parts(node) or [node]


def _is_literal(node: cst.BaseExpression) -> bool:
    return literal_str(node) is not None


def _plain_concat(node: cst.BaseExpression) -> bool:
    """Whether every literal of a `+` chain is a plain string literal (so it can be replaced)."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return _plain_concat(node.left) and _plain_concat(node.right)
    return not isinstance(node, cst.ConcatenatedString)


def _wholes(parts: list[Part]) -> list[str]:
    """The whole name with each sample standing for every value part."""
    return ["".join(p if isinstance(p, str) else sample for p in parts) for sample in _SAMPLES]


def _mapped_parts(parts: list[Part]) -> list[Part] | None:
    """Each literal part as the shim would map it within the whole name, checked on samples."""
    mapped: list[Part] = []
    for part in parts:
        if isinstance(part, str):
            wrapped = mlflow_name(_SENTINEL + part + _SENTINEL)
            if not (wrapped.startswith(_SENTINEL) and wrapped.endswith(_SENTINEL)):
                return None
            mapped.append(wrapped[1:-1])
        else:
            mapped.append(part)
    for sample in _SAMPLES:
        whole = "".join(p if isinstance(p, str) else sample for p in parts)
        new = "".join(p if isinstance(p, str) else sample for p in mapped)
        if mlflow_name(whole) != new:
            return None
    return mapped


class _Texts(cst.CSTTransformer):
    """Replace the literal texts of an f-string or a `+` chain, in order."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def on_visit(self, node: cst.CSTNode) -> bool:
        # Never into the expressions: only the name's own literal text changes.
        return not isinstance(node, cst.FormattedStringExpression)

    def leave_FormattedStringText(
        self, original_node: cst.FormattedStringText, updated_node: cst.FormattedStringText
    ) -> cst.FormattedStringText:
        return updated_node.with_changes(value=self.texts.pop(0))

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.SimpleString:
        return string(self.texts.pop(0))


def _rebuild(name: cst.BaseExpression, mapped: list[Part]) -> cst.BaseExpression:
    texts = [p for p in mapped if isinstance(p, str)]
    if isinstance(name, cst.BinaryOperation):
        return _replace_literals(name, texts)
    node = name.visit(_Texts(texts))
    assert isinstance(node, cst.BaseExpression)
    return node


def _replace_literals(node: cst.BaseExpression, texts: list[str]) -> cst.BaseExpression:
    """A `+` chain with its direct literal operands replaced by `texts`, in order."""
    if literal_str(node) is not None:
        return string(texts.pop(0))
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        left = _replace_literals(node.left, texts)
        right = _replace_literals(node.right, texts)
        if literal_str(right) == "" and literal_str(node.right) != "":
            return left  # `x + ")"` became `x + ""`: just `x`
        return node.with_changes(left=left, right=right)
    if isinstance(node, cst.FormattedString) and _name_parts(node) is not None:
        new = node.visit(_Texts(texts))
        assert isinstance(new, cst.BaseExpression)
        return new
    return node  # a value (an f-string `_name_parts` does not split is one too)


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def log_value(ctx: Context, a: Args, key: str = "name", kind: ValueKind | None = None) -> Rewrite:
    """One scalar value: a metric point, or a tag when it is text or None."""
    name, renamed = metric_name(ctx, a[key].value)
    if name is None:
        return Rewrite(None, "metric-name", renamed)
    value = a["value"].value
    kind = kind or infer(ctx, value)
    if kind in ("str", "none", "dict", "object"):
        text = string("None") if kind == "none" else value
        node = call(ctx.mlflow("set_tag"), arg(name), arg(text))
        note = "Only the latest value is kept, as a tag."
        return Rewrite(node, "run-log-text", _join(renamed, note))
    extra = [arg(a["step"].value, "step")] if "step" in a else []
    node = call(ctx.mlflow("log_metric"), arg(name), arg(value), *extra)
    loop = _LOOP_NOTE if ctx.in_loop and not extra else ""
    if kind == "bool":
        return Rewrite(node, "run-log-bool", _join(renamed, loop))
    if kind == "infinite":
        return Rewrite(node, "run-log-infinite", _join(renamed, loop))
    if kind == "unknown":
        return Rewrite(node, "run-log-unknown", _join(renamed, loop))
    if renamed:
        return Rewrite(node, "metric-name", _join(renamed, loop))
    return Rewrite(node, "run-log", loop)


@rule("run", "log", "name", "value", "description", "step")
def run_log(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.log(name, value)`: a metric point, a 0/1 metric, or a tag for text (see `log_value`)."""
    kind = infer(ctx, a["value"].value)
    if kind == "list":
        return Rewrite(None, "unsupported-call", "A list value raised in Azure ML: use log_list.")
    done = log_value(ctx, a, kind=kind)
    if done.rule == "run-log" and "description" in a:  # (dropped: say why nothing is lost)
        return replace(done, rule="run-log-description")
    return done


def batch(
    ctx: Context, name: cst.BaseExpression, values: cst.BaseExpression, logged_as: str | None
) -> cst.Call:
    """One `log_batch` request (MLflow splits it within its limits) with the name's next steps.

    Azure ML (and the shim) continue a name's steps from call to call. A call that may run more
    than once (in a loop, in a function), under a computed name, or under a name that another
    call in the file also logs to, starts at the length of the name's stored history (one small
    read); a literal name logged by this one call, at module level, starts at 0, which reads
    better. `logged_as` is the name as the source writes it, when it is a literal.
    """
    step, item = ctx.fresh("step"), ctx.fresh("value")
    once = (
        not ctx.in_loop
        and ctx.scope is not None
        and ctx.scope is ctx.resolver.facts.module
        and logged_as is not None
        and ctx.resolver.facts.metric_calls[logged_as] <= 1
        and not ctx.resolver.facts.metric_calls[""]  # a name computed elsewhere may be this one
    )
    start = (
        ""
        if once
        else ", len(MLFLOW.MlflowClient().get_metric_history(MLFLOW.active_run().info.run_id, NAME))"
    )
    template = (
        "MLFLOW.MlflowClient().log_batch(MLFLOW.active_run().info.run_id, metrics=["
        f"MLFLOW.entities.Metric(NAME, float({item}), int(TIME.time() * 1000), {step}) "
        f"for {step}, {item} in enumerate(VALUES{start})])"
    )
    expr = code(ctx, template, NAME=name, VALUES=values)
    assert isinstance(expr, cst.Call)
    return expr


def _texts(values: cst.BaseExpression) -> bool:
    """Whether a literal list holds a string or None (which cannot be a metric)."""
    if not isinstance(values, (cst.List, cst.Tuple)):
        return False
    return any(isinstance(e, cst.Element) and value_is_text(e.value) for e in values.elements)


def value_is_text(node: cst.BaseExpression) -> bool:
    """Whether a literal is a string or None."""
    return isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)) or (
        isinstance(node, cst.Name) and node.value == "None"
    )


def _values(ctx: Context, a: Args, values: cst.BaseExpression, rule_id: str, keep: str) -> Rewrite:
    """A list of values as one `batch`, unless it holds text (reported, with where to `keep` it)."""
    if _texts(values):
        detail = f"Text items cannot be metric values: keep them with {keep}."
        return Rewrite(None, "run-log-list-text", detail)
    name, renamed = metric_name(ctx, a["name"].value)
    if name is None:
        return Rewrite(None, "metric-name", renamed)
    node = batch(ctx, name, values, literal_str(a["name"].value))
    if not _numbers(ctx, values, 0):
        return Rewrite(node, "run-log-list-unknown", renamed)
    return Rewrite(node, "metric-name" if renamed else rule_id, renamed)


_NUMBER_SEQUENCES = frozenset(
    {"numpy.arange", "numpy.linspace", "numpy.logspace", "numpy.geomspace"}
)


def _numbers(ctx: Context, values: cst.BaseExpression, depth: int) -> bool:
    """Whether the source shows that every item of `values` is a number (or a bool).

    Literal lists and tuples of numbers, comprehensions of numbers, `range(...)`, numpy's
    number sequences, `list(...)` or `np.array(...)` of such, and names bound only to such
    values.
    """
    if depth > 8:
        return False
    if isinstance(values, (cst.List, cst.Tuple)):
        return all(
            isinstance(e, cst.Element) and infer(ctx, e.value) in ("number", "bool")
            for e in values.elements
        )
    if isinstance(values, (cst.ListComp, cst.GeneratorExp)):
        return infer(replace(ctx, shadowed=ctx.shadowed | shadowed_by(values)), values.elt) in (
            "number",
            "bool",
        )
    if isinstance(values, cst.Call):
        q = ctx.resolver.qualified(values.func)
        if q in _NUMBER_SEQUENCES or (
            q is None and isinstance(values.func, cst.Name) and values.func.value == "range"
        ):
            return True
        wraps = q in ("numpy.array", "numpy.asarray") or (
            q is None
            and isinstance(values.func, cst.Name)
            and values.func.value in ("list", "tuple", "sorted")
        )
        first = values.args[0] if values.args else None
        return (
            wraps and first is not None and not first.star and _numbers(ctx, first.value, depth + 1)
        )
    if isinstance(values, cst.Name) and ctx.scope is not None and values.value not in ctx.shadowed:
        bound = ctx.resolver.values_of(values.value, ctx.scope)
        return bool(bound) and all(_numbers(ctx, v, depth + 1) for v in bound or ())
    return False


@rule("run", "log_list", "name", "value", "description")
def run_log_list(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """`run.log_list(name, values)` -> one `log_batch` request with the name's next steps."""
    return _values(ctx, a, a["value"].value, "run-log-list", "mlflow.log_dict or mlflow.set_tag")


@rule("logger", "log", "name", "value")
def workbench_log(ctx: Context, node: cst.Call, a: Args) -> Rewrite:
    """Workbench `logger.log(name, value)`: a list as `log_list`, a scalar as `run.log`."""
    value = a["value"].value
    kind = infer(ctx, value)
    if kind == "list" or isinstance(value, cst.Tuple):
        return _values(ctx, a, value, "workbench-log", "mlflow.log_dict")
    done = log_value(ctx, a, kind=kind)
    if done.rule == "run-log-unknown":
        detail = _join(done.detail, "If it can be a list, log it with MlflowClient().log_batch.")
        return Rewrite(done.node, done.rule, detail)
    return Rewrite(done.node, "workbench-log" if done.rule == "run-log" else done.rule, done.detail)
