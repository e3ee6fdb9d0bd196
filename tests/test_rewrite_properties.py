"""Property-based: on generated legacy-looking programs, rewrite never crashes, its output parses, a
second pass changes nothing, and the audit reports every generated call site."""

from __future__ import annotations

import ast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.api import rewrite_source
from migrate.audit import audit_source

NAMES = st.sampled_from(["loss", "acc", "Accuracy (%)", "prec@1", "f1,macro", "lr", "a/b"])
VALUES = st.sampled_from(
    ["0.5", "-1", "True", "'text'", "None", "x", "float(x)", "x * 2", "len(xs)"]
)
CALLS = st.one_of(
    st.builds(lambda n, v: f"run.log({n!r}, {v})", NAMES, VALUES),
    st.builds(lambda n, v: f"run.log(name={n!r}, value={v}, step=i)", NAMES, VALUES),
    st.builds(lambda n: f"run.log_list({n!r}, xs)", NAMES),
    st.builds(lambda n: f"run.log_row({n!r}, a=1, b=x)", NAMES),
    st.builds(lambda n: f"run.tag({n!r}, 'v')", NAMES),
    st.just("run.set_tags({'k': 'v'})"),
    st.just("run.add_properties({'p': 1})"),
    st.just("run.log_confusion_matrix('cm', {'data': {'class_labels': [0], 'matrix': [[1]]}})"),
    st.just("run.upload_file('outputs/m.txt', 'm.txt')"),
)


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, int]:
    """A module with an SDK v1 run, and how many legacy calls it makes on it."""
    calls = draw(st.lists(CALLS, min_size=1, max_size=8))
    shape = draw(st.sampled_from(["flat", "loop", "function", "with"]))
    legacy = "Experiment" if shape == "with" else "Run"  # an import the file uses, as real ones do
    lines = [f"from azureml.core import {legacy}", "", "xs = [1.0, 2.0]", "x = 0.25", "i = 0"]
    if shape == "with":
        lines.append("with Experiment(None, 'e').start_logging() as run:")
        lines += [f"    {c}  # keep {k}" for k, c in enumerate(calls)]
    else:
        lines.append("run = Run.get_context()")
        if shape == "loop":
            lines.append("for i in range(3):")
            lines += [f"    {c}" for c in calls]
        elif shape == "function":
            lines.append("def train(x):")
            lines += [f"    {c}" for c in calls]
            lines.append("train(x)")
        else:
            lines += calls
        lines.append("run.complete()")
    return "\n".join(lines) + "\n", len(calls)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_rewrite_never_crashes_parses_is_idempotent_and_audit_agrees(
    case: tuple[str, int],
) -> None:
    source, calls = case
    result = rewrite_source(source, "gen.py")
    ast.parse(result.code)
    assert rewrite_source(result.code, "gen.py").code == result.code
    assert "azureml" not in result.code  # every generated call has an MLflow form
    for k in range(calls):
        if f"# keep {k}" in source:
            assert f"# keep {k}" in result.code  # comments survive
    sites = [f for f in audit_source(source, "gen.py") if f.api.startswith("Run.")]
    generated = [f for f in sites if f.api not in ("Run.get_context", "Run.complete")]
    assert len(generated) == calls
