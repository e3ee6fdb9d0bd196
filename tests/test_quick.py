"""`migrate.quick.verdict` (the `rewrite --check` shortcut) never contradicts the codemod.

Whenever it answers, the answer must be what `rewrite_module` does to the same source: on every
Python fixture of the project, on targeted lookalikes, and on generated programs that mix the
shapes it knows with the ones that must make it defer (rebinding, arguments, star imports...).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.api import rewrite_paths
from migrate.codemod import rewrite_module
from migrate.quick import verdict
from migrate.sources import SourceError, read_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SOURCES = sorted(
    p for p in FIXTURES.rglob("*.py") if "hostile" not in p.parts and p.stat().st_size < 200_000
)


def _agrees(source: str) -> bool | None:
    known = verdict(source)
    if known is not None:
        assert known == rewrite_module(source).changed, source
    return known


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_agrees_with_the_codemod_on_every_fixture(path: Path) -> None:
    try:
        source = read_source(path).text
    except SourceError:
        return  # never reaches either of them: reading reports it
    try:
        rewrite_module(source)
    except Exception:  # unparseable on purpose: the codemod reports it, verdict must defer
        assert verdict(source) in (None, False)
        return
    _agrees(source)


def test_answers_for_the_usual_first_lines() -> None:
    usual = [
        "from azureml.core import Run\nrun = Run.get_context()\nrun.log('a', 1)\n",
        "from azureml.core.run import Run as R\n\ndef f():\n    r = R.get_context()\n",
        "from azureml.logging import get_azureml_logger\nlogger = get_azureml_logger()\n",
        "import os\n# azureml is only named here\nprint(os.getcwd())\n",
    ]
    assert [_agrees(s) for s in usual] == [True, True, True, False]


@pytest.mark.parametrize(
    "source",
    [
        # the run name also bound to something else: the codemod reports, does not rewrite
        "from azureml.core import Run\nrun = Run.get_context()\nrun = 3\n",
        "from azureml.core import Run\nrun = Run.get_context()\nfor run in []:\n    pass\n",
        "from azureml.core import Run\n\ndef f(run):\n    run = Run.get_context()\n",
        # the class name rebound, shadowed or star-imported
        "from azureml.core import Run\nRun = object\nrun = Run.get_context()\n",
        "from azureml.core import Run\nf = lambda Run: Run.get_context()\n",
        "from azureml.core import *\nrun = Run.get_context()\n",
        # offline form, other factories, submitted runs, function-level import
        "from azureml.core import Run\nrun = Run.get_context(allow_offline=True)\n",
        "from azureml.core import Experiment\nrun = Experiment(ws, 'e').start_logging()\n",
        "from azureml.core import Run\nrun = Run(exp, 'id')\nrun.log('a', 1)\n",
        "def f():\n    from azureml.core import Run\n    return Run.get_context()\n",
        "from .azureml.core import Run\nrun = Run.get_context()\n",
        "import azureml.core\nrun = azureml.core.Run.get_context()\n",
        "from azureml.core import Run\nx = 1; run = Run.get_context()\n",
        "from azureml.core import Run\nclass A:\n    run = Run.get_context()\n",
        # kept under a condition, in an attribute, in a with name bound otherwise: reported
        "from azureml.core import Run\nrun = Run.get_context() if c else None\nrun.log('a', 1)\n",
        "from azureml.core import Run\nrun = Run.get_context() or None\nrun.log('a', 1)\n",
        "from azureml.logging import get_azureml_logger\nlog = get_azureml_logger() if c else None\n",
        "from azureml.core import Run\nclass T:\n    def __init__(self, o):\n"
        "        self.run = Run.get_context()\n        self.run = o\n",
        "from azureml.core import Run\nwith Run.get_context() as run:\n    run.log('a', 1)\nrun = 2\n",
    ],
)
def test_defers_or_agrees_on_lookalikes(source: str) -> None:
    _agrees(source)


HEADERS = st.sampled_from(
    [
        "from azureml.core import Run",
        "from azureml.core import Run as R",
        "from azureml.core import Run, Experiment",
        "from azureml.core.run import Run",
        "from azureml.logging import get_azureml_logger",
        "import azureml.core",
        "from azureml.core import *",
        "import logging",
    ]
)
LINES = st.sampled_from(
    [
        "run = Run.get_context()",
        "run = R.get_context()",
        "run = Run.get_context(allow_offline=False)",
        "logger = get_azureml_logger()",
        "run = azureml.core.Run.get_context()",
        "run.log('a', 1)",
        "run = None",
        "Run = None",
        "R = dict",
        "def f(run):\n    run.log('b', 2)",
        "def g():\n    global run\n    run = Run.get_context()",
        "for run in range(2):\n    pass",
        "exp = Experiment(None, 'e')\nrun = exp.start_logging()",
        "logger.log('loss', 0.5)",
        "run.complete()",
        "x = [Run.get_context() for Run in []]",
        "try:\n    pass\nexcept ValueError as run:\n    pass",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HEADERS, min_size=1, max_size=3), st.lists(LINES, min_size=1, max_size=6))
def test_never_contradicts_the_codemod_on_generated_programs(
    headers: list[str], lines: list[str]
) -> None:
    _agrees("\n".join([*headers, *lines]) + "\n")


def test_check_mode_reports_the_same_files_as_a_full_rewrite(tmp_path: Path) -> None:
    """End to end: `rewrite_paths(mode="check")` (with the shortcut) and a diff (without it)."""
    for i, source in enumerate(
        [
            "from azureml.core import Run\nrun = Run.get_context()\nrun.log('a', 1)\n",
            "from azureml.core import Run\nrun = Run.get_context()\nrun = 3\n",
            "import logging\nlogging.getLogger().log(20, 'azureml')\n",
            "from azureml.core import Run\nrun = Run(exp, 'id')\nrun.log('a', 1)\n",
        ]
    ):
        (tmp_path / f"m{i}.py").write_text(source)
    check = {o.path: o.changed for o in rewrite_paths([tmp_path], mode="check", jobs=1)}
    diff = {o.path: o.changed for o in rewrite_paths([tmp_path], mode="diff", jobs=1)}
    assert check == diff == {"m0.py": True, "m1.py": False, "m2.py": False, "m3.py": False}
