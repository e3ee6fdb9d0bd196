"""The fast path (`migrate.fast`) gives exactly the full engine's result, or declines.

Every fixture and every generated program is rewritten both ways: wherever the fast path answers,
its code and its findings (positions, replacements, details) must equal those of
`rewrite_module(..., fast=False)`. Separate tests pin which shapes it takes (the usual training
script, in its common variants) and which it must leave to the full engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.codemod import rewrite_module
from migrate.fast import rewrite_fast

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(p for p in (ROOT / "fixtures").rglob("*.py") if p.is_file())


def _same(source: str, path: str = "t.py") -> bool:
    """Whether the fast path answered; when it did, that it equals the full engine."""
    fast = rewrite_fast(source, path, "mlflow")
    if fast is None:
        return False
    full = rewrite_module(source, path, fast=False)
    assert fast.code == full.code
    assert fast.findings == full.findings
    return True


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_every_fixture_fast_equals_full(newline: str) -> None:
    taken = 0
    for path in FIXTURES:
        source = path.read_bytes().decode("utf-8", errors="replace")
        if newline != "\n":
            if "\r" in source:
                continue
            source = source.replace("\n", newline)
        try:
            full = rewrite_module(source, str(path), fast=False)
        except Exception:  # unparseable fixtures: the fast path must decline them as well
            assert rewrite_fast(source, str(path), "mlflow") is None, path
            continue
        fast = rewrite_fast(source, str(path), "mlflow")
        if fast is None:
            continue
        taken += 1
        assert fast.code == full.code, path
        assert fast.findings == full.findings, path
    assert taken >= 10  # the fixtures hold many scripts of the usual shape


SCRIPT = '''"""Train."""
import os

import numpy as np
from azureml.core import Run

run = Run.get_context()


def train(alpha, X, y):
    mse = float(np.mean((X - y) ** 2))
    run.log("alpha", alpha)
    run.log("mse", mse)  # per alpha
    return mse


for alpha in np.arange(0.0, 1.0, 0.5):
    train(alpha, np.ones(3), np.zeros(3))
run.log_list("coefficients", [1.0, 2.0])
run.log_row("best", alpha=0.5, mse=0.25)
run.tag("dataset", "synthetic")
run.complete()
'''


MAIN = """import argparse

from azureml.core.run import Run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    run = Run.get_context()
    run.log("lr", args.lr)
    for epoch in range(3):
        run.log("loss", 1.0 / (epoch + 1))  # loss
    run.complete()


if __name__ == "__main__":
    main()
"""


def test_the_usual_script_takes_the_fast_path() -> None:
    assert _same(SCRIPT)


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda s: s.replace('"""Train."""\n', ""), id="no-docstring"),
        pytest.param(
            lambda s: s.replace("import os\n", "from __future__ import annotations\n\nimport os\n"),
            id="future",
        ),
        pytest.param(
            lambda s: s.replace("import Run\n", "import Run  # the run\n"), id="import-comment"
        ),
        pytest.param(lambda s: s.replace("import os\n", "import os\nimport time\n"), id="time"),
        pytest.param(lambda s: s.replace("    ", "  "), id="two-spaces"),
        pytest.param(
            lambda s: s.replace(
                "from azureml.core import Run", "from azureml.core.run import Run as R"
            ).replace("Run.get_context", "R.get_context"),
            id="alias",
        ),
        pytest.param(lambda s: s.replace("run.complete()\n", ""), id="not-completed"),
        pytest.param(
            lambda s: s.replace('"""Train."""\nimport os\n', "").replace(
                "import numpy as np\nfrom azureml.core import Run\n",
                "from azureml.core import Run\nimport numpy as np\n",
            ),
            id="legacy-import-first",
        ),
        pytest.param(
            lambda s: s.replace("import Run\n", "import Dataset, Run\n").replace(
                "run = Run.get_context()\n",
                "run = Run.get_context()\nds = Dataset.get_by_name(None, 'd')\n",
            ),
            id="other-names-from-azureml",
        ),
        pytest.param(
            lambda s: s.replace("import Run\n", "import Run, Workspace  # unused one\n"),
            id="unused-workspace-import",
        ),
        pytest.param(
            lambda s: s.replace("import os\n", "import os\nfrom azureml.core.model import Model\n"),
            id="another-azureml-import",
        ),
        pytest.param(
            lambda s: MAIN.replace(
                "    run = Run.get_context()\n",
                "    import json, os\n\n    run = Run.get_context()\n    print(os.sep)\n"
                "    run.log_accuracy_table('acc', json.dumps({'a': 1}))\n",
            ),
            id="import-edited-in-a-function",
        ),
        pytest.param(lambda s: MAIN, id="run-made-in-main"),
        pytest.param(lambda s: s.rstrip("\n"), id="no-final-line-break"),
        pytest.param(
            lambda s: s.replace(
                "run = Run.get_context()\n",
                "run = Run.get_context()\nprint(run)\nws = run.experiment.workspace\n"
                "metrics = run.get_metrics()\nhook = run.log\n",
            ),
            id="other-uses-reported",
        ),
        pytest.param(lambda s: MAIN.replace("    run.complete()\n", ""), id="main-not-completed"),
        pytest.param(
            lambda s: s.replace(
                'run.tag("dataset", "synthetic")',
                'run.tag(\n    "dataset",  # where\n    "synthetic",\n)',
            ),
            id="comments-in-call",
        ),
        pytest.param(
            lambda s: s.replace("2.0]", "2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]"),
            id="long",
        ),
        pytest.param(
            lambda s: s.replace("# per alpha", "# pér alpha ✓").replace(
                'run.tag("dataset", "synthetic")', 'run.tag("dätaset", "sÿnthetic")'
            ),
            id="non-ascii-text",
        ),
    ],
)
def test_common_variants_take_the_fast_path(variant: object) -> None:
    assert callable(variant)
    assert _same(variant(SCRIPT))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            ("import numpy as np", "import numpy as np\nimport mlflow"), id="mlflow-there"
        ),
        pytest.param(
            (
                "from azureml.core import Run",
                "from azureml.core import Run, Experiment\nexp = Experiment(None, 'e')",
            ),
            id="experiment-used",
        ),
        pytest.param(("run.tag(", "run.complete()\nrun.tag("), id="after-end"),
        pytest.param(
            ("def train(", "class T:\n    def go(self):\n        run.log('a', 1)\n\n\ndef train("),
            id="class",
        ),
        pytest.param(("run.log_list(", "x = 1; run.log_list("), id="semicolon"),
        pytest.param(("run.tag(", "print(run.id)\nrun.tag("), id="run-id"),
        pytest.param(("run.tag(", "callback(run)\nrun.tag("), id="passed-on"),
        pytest.param(
            ("import Run\n", "import Run, Workspace\nws = Workspace.from_config()\n"),
            id="workspace-used",
        ),
        pytest.param(("    ", "\t"), id="tab"),
        pytest.param(("\n", "\r\n", 1), id="crlf-mixed-with-lf"),
        pytest.param(("\n", "\r", 1), id="lone-cr"),
        pytest.param(
            ("run.log_row(", "other.log_row(1)\nrun.log_row("), id="distinctive-elsewhere"
        ),
        pytest.param(("def train(alpha", "def train(run, alpha"), id="rebound"),
        pytest.param(
            ("run = Run.get_context()", "def main():\n    run = Run.get_context()\n\n\nrun = 1"),
            id="also-module-level",
        ),
    ],
)
def test_other_shapes_go_to_the_full_engine(change: tuple[str, ...]) -> None:
    old, new, *count = change
    source = SCRIPT.replace(old, new, *count)
    assert source != SCRIPT
    assert rewrite_fast(source, "t.py", "mlflow") is None
    ast.parse(rewrite_module(source, "t.py").code)  # the full engine still rewrites it


def test_shim_target_is_the_full_engines() -> None:
    assert rewrite_fast(SCRIPT, "t.py", "shim") is None


# -- found by a review: each once differed from the full engine (or made the fast path fail) ----
R0 = "from azureml.core import Run\n\nrun = Run.get_context()\n"
REVIEW = {
    "A1 module alias from azureml": "from azureml import core\nfrom azureml.core import Run\n\nrun = Run.get_context()\nexp = core.Experiment(None, 'name')\nrun.log('a', 1)\n",
    "A2 unused alias in string annotation": "from azureml.core import Run\nfrom azureml.core import Run as V1\n\nrun = Run.get_context()\n\ndef report(r: 'V1'):\n    r.log('x', 1.5)\n\nrun.log('a', 1)\n",
    "A3 nested string annotation": "from typing import Optional\nfrom azureml.core import Run\n\nrun = Run.get_context()\nruns: Optional['Run'] = None\nrun.log('a', 1)\n",
    "A4 *args string annotation": R0 + "def f(*rs: 'Run'): pass\nrun.log('a', 1)\n",
    "B1 ';' after dropped import": "import os\nfrom azureml.core import Run;\n\nrun = Run.get_context()\nrun.log('a', 1)\nprint(os)\n",
    "B2 ';' after dropped json import": "import json;\nfrom azureml.core import Run\n\nrun = Run.get_context()\nrun.log_accuracy_table('acc', json.dumps({}))\n",
    "B3 ';' after partially edited import": "import json, os;\nfrom azureml.core import Run\n\nrun = Run.get_context()\nrun.log_accuracy_table('acc', json.dumps({}))\nprint(os)\n",
    "B4 stale plain after partial edit": "import sys, json\nfrom azureml.core import Run\n\nrun = Run.get_context()\nrun.log_accuracy_table('acc', json.dumps({}))\nrun.log_list('a', [1.0])\n",
    "B5 stale stdlib after partial edit": "import json, numpy\nfrom azureml.core import Run\n\nrun = Run.get_context()\nrun.log_accuracy_table('acc', json.dumps({}))\nrun.log_list('a', [1.0])\nprint(numpy)\n",
    "C with-as rebinding an import": "import os\nfrom azureml.core import Run\n\nrun = Run.get_context()\nwith open('f') as os:\n    pass\nrun.log('a', 1)\n",
    "D .log(None/True) first arg": R0
    + "import logging\nlogging.getLogger().log(True, 'x')\nrun.log_list('a', [1.0])\n",
    "E comprehension attr target": R0
    + "def f():\n    import time\n    return [0 for time.t in range(3)]\nrun.log_list('a', [1.0])\n",
    "F walrus in decorator": R0
    + "x = 1.0\ndef deco(f): return f\n@(deco if (x := 's') else deco)\ndef f(): pass\nrun.log('a', x)\n",
    "G NFKC identifier": R0 + "\uff52\uff55\uff4e.log('a', 1)\n",
    "H backslash-continued first indent": R0
    + "if True: \\\n    pass\nfor i in range(2):\n  run.log_list('a', [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0])\n",
    "I parenthesised note with comment": R0
    + "x = (\n    run.experiment  # c\n)\nrun.log('a', 1)\n",
    "J owner run unused, comment in call": "from azureml.core import Run\n\n\ndef main():\n    run = Run.get_context(  # c\n    )\n    print('x')\n",
    "K1 lone backslash line (libcst)": R0 + "\\\nrun.log('a', 1)\n",
    "K2 blank lines + whitespace-only last line (libcst)": R0 + "run.log('a', 1)\n\n   ",
    "K3 backslash line opening a block (libcst can't parse)": "from azureml.core import Run\n\ndef main():\n    run = Run.get_context()\n    try:\n        \\\n        run.log('t', 1)\n    except Exception:\n        pass\n",
    "L nesting > MAX_NESTING elsewhere": R0 + "x = " + "-" * 1005 + "1\nrun.log('a', 1)\n",
    # second review
    "1 comment ending in backslash hides the first INDENT (_unit)": R0
    + "def f():\n    # C:\\temp\\\n    pass\nfor k in range(2):\n  run.remove_tags(k)\n",
    "2a site in a backslash-continued suite: finding replacement": R0
    + "if True: \\\n    run.log_list('a', ["
    + ", ".join(str(float(i)) for i in range(25))
    + "])\n",
    "2b site in a backslash-continued suite: fast raises": R0
    + "if True: \\\n    run.remove_tags(keys)\n",
    "2c `x; \\` then the site: fast raises": R0
    + "def f(keys):\n    x = 1; \\\n    run.remove_tags(keys)\n",
    "2d `x; \\` top-level fail": R0 + "x = 1; \\\nrun.fail('bad')\n",
    "2e `x; \\` then run made in main": "from azureml.core import Run\n\ndef main():\n    x = 1; \\\n    run = Run.get_context()\n    run.log('a', x)\n",
    "3a partial import edit on a `x; import` line": R0
    + "def f():\n    x = 1; import json, os\n    run.log_accuracy_table('acc', json.dumps({}))\n    print(os, x)\n",
    "3b partial import edit in a one-line suite": R0
    + "if True: import json, os\nrun.log_accuracy_table('acc', json.dumps({}))\nprint(os)\n",
    "4 region import with a module path component named mlflow": "from azureml.mlflow import get_uri\nfrom azureml.core import Run\n\nrun = Run.get_context()\nrun.log('a', 1)\nprint(get_uri)\n",
}


@pytest.mark.parametrize("source", list(REVIEW.values()), ids=list(REVIEW))
def test_reviewed_cases_decline_or_equal_the_full_engine(source: str) -> None:
    fast = rewrite_fast(source, "t.py", "mlflow")
    if fast is None:
        return
    full = rewrite_module(source, "t.py", fast=False)
    assert fast.code == full.code
    assert fast.findings == full.findings


# -- generated programs ----------------------------------------------------------------------------
NAMES = st.sampled_from(["loss", "acc", "Accuracy (%)", "f1,macro", "a/b", "lr"])
VALUES = st.sampled_from(
    ["0.5", "-1", "True", "'text'", "None", "x", "float(x)", "x * 2", "len(xs)", "name", "args.lr"]
)
CALLS = st.one_of(
    st.builds(lambda n, v: f"run.log({n!r}, {v})", NAMES, VALUES),
    st.builds(lambda n, v: f"run.log(name={n!r}, value={v}, step=i)", NAMES, VALUES),
    st.builds(lambda n, v: f"run.log(\n    {n!r},  # the name\n    {v},\n)", NAMES, VALUES),
    st.builds(lambda n: f"run.log_list({n!r}, xs)", NAMES),
    st.builds(lambda n: f"run.log_row({n!r}, a=1, b=x)", NAMES),
    st.builds(lambda n: f"run.log_table({n!r}, {{'a': [1, 2], 'b': xs}})", NAMES),
    st.builds(lambda n, v: f"run.tag({n!r}, {v})", NAMES, VALUES),
    st.just("run.set_tags({'k': 'v'})"),
    st.just("run.add_properties({'p': 1})"),
    st.just("run.log_confusion_matrix('cm', {'data': {'class_labels': [0], 'matrix': [[1]]}})"),
    st.just("run.log_accuracy_table('acc', json.dumps({'a': 1}))"),
    st.just("run.upload_file('outputs/m.txt', 'm.txt')"),
    st.just("run.upload_folder('outputs', 'out')"),
    st.just("run.log_image('img', plot=plt)"),
    st.just("run.fail('bad')"),
    st.just("run.flush()"),
    st.just("print(run)"),
    st.just("ws = run.experiment.workspace"),
    st.just("metrics = run.get_metrics()"),
)
HEADERS = st.sampled_from(
    [
        "",
        '"""Doc."""\n',
        "#!/usr/bin/env python\n# a comment\n",
        '"""Doc."""\nfrom __future__ import annotations\n\n',
    ]
)
IMPORTS = st.lists(
    st.sampled_from(
        [
            "import os",
            "import json",
            "import time",
            "import argparse",
            "import numpy as np",
            "import matplotlib.pyplot as plt",
            "from time import time",
            "# imports",
            "",
        ]
    ),
    max_size=5,
)


@st.composite
def programs(draw: st.DrawFn) -> str:
    header = draw(HEADERS)
    imports = draw(IMPORTS)
    legacy = draw(
        st.sampled_from(
            [
                "from azureml.core import Run",
                "from azureml.core import Run  # v1",
                "from azureml.core.run import Run",
                "from azureml.core import Dataset, Run",
                "from azureml.core import Run, Workspace  # ws unused",
            ]
        )
    )
    imports.insert(draw(st.integers(0, len(imports))), legacy)
    if not any(line.startswith(("import", "from")) and "azureml" not in line for line in imports):
        imports.append("import json")
    calls = draw(st.lists(CALLS, min_size=1, max_size=6))
    shape = draw(st.sampled_from(["flat", "loop", "function", "main", "local"]))
    unit = draw(st.sampled_from(["    ", "  "]))
    lines = [header + "\n".join(imports), "", "xs = [1.0, 2.0]", "x = 0.25", "i = 0", "name = 'n'"]
    lines += ["args = argparse.Namespace(lr=0.1)" if "import argparse" in imports else "args = x"]
    if shape != "local":
        lines += ["run = Run.get_context()", ""]
    body = [line for c in calls for line in c.split("\n")]
    if shape == "local":  # the run made in a function, completed there or not
        end = ["run.complete()"] if draw(st.booleans()) else []
        lines.append("def main():")
        lines += [unit + b for b in ["run = Run.get_context()", *body, *end]]
        lines += ["", "", "main()"]
        newline = draw(st.sampled_from(["\n", "\r\n"]))
        return ("\n".join(lines) + "\n").replace("\n", newline)
    if shape == "loop":
        lines.append("for i in range(3):")
        lines += [unit + b for b in body]
    elif shape in ("function", "main"):
        lines.append("def train(x):")
        lines += [unit + b for b in body]
        lines += ["", ""]
        if shape == "main":
            lines += ['if __name__ == "__main__":', f"{unit}train(x)"]
        else:
            lines.append("train(x)")
    else:
        lines += body
    if draw(st.booleans()):
        lines.append("run.complete()")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return ("\n".join(lines) + "\n").replace("\n", newline)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_generated_programs_fast_equals_full(source: str) -> None:
    try:
        compile(source, "gen.py", "exec")
    except SyntaxError:
        return
    _same(source, "gen.py")
