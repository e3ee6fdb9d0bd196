"""Notebooks are rewritten and audited as one module of their Python cells, cut back into cells.

A notebook imports in one cell, makes the run in another and logs in later ones: rewriting cells one
by one missed the later calls and broke them (`run` became an `mlflow.ActiveRun` that has no `log`).
These tests hold the joined rewrite to what a person expects: every call rewritten, findings naming
the right cell and line, cell magics kept first, everything else byte-identical, and a refusal
rather than a wrong cut.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import migrate.api
from migrate.api import FileOutcome, process, rewrite_paths
from migrate.audit import audit_paths
from migrate.cli import main
from migrate.codemod import Result, RewriteError
from migrate.sources import (
    CellModule,
    SourceFile,
    cell_modules,
    mask_magics,
    python_cells,
    read_notebook,
    split_cell_magic,
)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "fixtures" / "notebooks"
MAGIC_LINE = re.compile(r"__aml2mlflow_magic\d*_\d+__")


def make(path: Path, sources: list[str], **code_cell: Any) -> Path:
    """A Jupyter-formatted notebook: a markdown cell, then one code cell per source."""
    cells: list[dict[str, Any]] = [
        {"cell_type": "markdown", "id": "md", "metadata": {}, "source": ["# Notes ✓\n"]}
    ]
    for n, source in enumerate(sources):
        cell = {
            "cell_type": "code",
            "execution_count": n + 1,
            "id": f"c{n}",
            "metadata": {"tags": [f"t{n}"]},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": [f"out {n}\n"]}],
            "source": source,
        }
        cells.append({**cell, **code_cell})
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def run_one(path: Path, mode: migrate.api.Mode = "write") -> FileOutcome:
    return process(SourceFile(path, path.parent, "notebook"), mode=mode)


def code_sources(path: Path) -> list[str]:
    """The code cells' sources, in order."""
    return [c.source for c in read_notebook(path).code_cells]


def sites(outcome: FileOutcome) -> list[tuple[str, int, int, str]]:
    return [(f.path, f.line, f.column, f.rule) for f in outcome.findings]


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr


# --------------------------------------------------------------------------------------------------
# the fixtures: import in one cell, run in the next, log in later ones
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cross_cell", "cell_magics"])
def test_fixture_is_rewritten_as_expected_and_only_its_code_changes(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / f"{name}.ipynb"
    shutil.copyfile(NOTEBOOKS / f"{name}.ipynb", path)
    expected = NOTEBOOKS / f"{name}.expected.ipynb"
    outcome = run_one(path)
    assert outcome.error == "" and outcome.changed
    assert path.read_bytes() == expected.read_bytes()
    before = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    after = json.loads(path.read_text(encoding="utf-8"))
    assert len(after["cells"]) == len(before["cells"])
    for old, new in zip(before["cells"], after["cells"]):
        assert {k: v for k, v in old.items() if k != "source"} == {
            k: v for k, v in new.items() if k != "source"
        }
        if old["cell_type"] != "code":
            assert old == new
    # A second rewrite has nothing to do.
    again = run_one(path)
    assert not again.changed and again.error == "" and again.findings == []
    assert cli("rewrite", "--check", str(path))[0] == 0


def test_every_cross_cell_call_is_found_in_its_cell(tmp_path: Path) -> None:
    path = shutil.copy(NOTEBOOKS / "cross_cell.ipynb", tmp_path / "cross_cell.ipynb")
    outcome = run_one(Path(path), "scan")
    where = "cross_cell.ipynb[cell {}]".format
    assert sites(outcome) == [
        (where(4), 1, 6, "workspace"),
        (where(4), 2, 7, "experiment-start-logging"),
        (where(4), 3, 7, "experiment-start-logging"),
        (where(4), 4, 7, "run-id"),
        (where(6), 3, 5, "run-log"),
        (where(6), 4, 1, "run-log-text"),
        (where(10), 1, 1, "run-complete"),
    ]
    assert all(f.rewritten for f in outcome.findings)
    new = code_sources(NOTEBOOKS / "cross_cell.expected.ipynb")
    # The import goes to the first cell with code after its imports, not to the `%pip` cell.
    assert new[0] == "%pip install -q azureml-core scikit-learn"
    assert new[1] == "import os\nimport mlflow\n"
    python = [s for s in new[1:] if not s.startswith("%%bash")]
    assert not re.search(r"azureml|Workspace|run\.(log|complete|id\b)", "\n".join(python))
    assert new[4] == "%%bash\necho \"run.log('not python', 1)\""  # not Python: untouched


def test_cell_magics_stay_first_and_lines_count_from_the_top_of_the_cell(tmp_path: Path) -> None:
    path = shutil.copy(NOTEBOOKS / "cell_magics.ipynb", tmp_path / "cell_magics.ipynb")
    outcome = run_one(Path(path), "scan")
    where = "cell_magics.ipynb[cell {}]".format
    assert sites(outcome) == [
        (where(1), 3, 7, "run-get-context"),
        (where(1), 4, 1, "run-log"),
        (where(2), 4, 1, "run-log"),
        (where(3), 4, 1, "run-log"),
        (where(4), 2, 1, "run-complete"),
    ]
    new = code_sources(NOTEBOOKS / "cell_magics.expected.ipynb")
    assert new[0].startswith("%%time\nimport mlflow\n")
    assert new[1].startswith("%%capture captured\nimport json\n")
    assert new[2].startswith("\n\n%%timeit -n 1 -r 1\nmlflow.log_metric(")
    assert new[3].startswith('%time run.log("line magic", 3)\n')  # a line magic is left alone


def test_rewritten_cross_cell_notebook_runs_on_mlflow(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cells of the rewritten fixture, run in order in one namespace as a kernel would."""
    import mlflow
    from mlflow.tracking import MlflowClient, fluent

    # `mlflow.set_experiment` sets process-wide state: restore it for the tests that follow.
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    notebook = read_notebook(NOTEBOOKS / "cross_cell.expected.ipynb")
    try:
        for cell in python_cells(notebook):
            code = MAGIC_LINE.sub("pass", cell.code)
            exec(compile(code, f"<cell {cell.index + 1}>", "exec"), namespace)
        assert mlflow.active_run() is None, "the last cell ends the run"
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("ridge")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.value for m in history] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert run.data.tags["note"] == "terminé" and run.info.status == "FINISHED"


def test_audit_reports_the_cross_cell_sites_rewrite_reports(tmp_path: Path) -> None:
    shutil.copytree(NOTEBOOKS, tmp_path / "nb")
    report = audit_paths([tmp_path / "nb"], jobs=1)
    assert report.errors == []
    for name in ("cross_cell.ipynb", "cell_magics.ipynb", "future_later.ipynb"):
        outcome = run_one(tmp_path / "nb" / name, "scan")
        from_rewrite = [
            (int(f.path.rsplit("[cell ", 1)[1][:-1]), f.line, f.column, f.rule)
            for f in outcome.findings
        ]
        from_audit = [
            (f.cell, f.line, f.column, f.rule)
            for f in report.findings
            if f.path == name and f.origin == "rewrite"
        ]
        assert from_audit == from_rewrite, name
    cross = [(f.cell, f.line, f.rule) for f in report.findings if f.path == "cross_cell.ipynb"]
    assert (6, 3, "run-log") in cross and (10, 1, "run-complete") in cross


def test_audit_only_checks_see_imports_from_earlier_cells(tmp_path: Path) -> None:
    path = make(
        tmp_path / "nb.ipynb",
        [
            "import matplotlib.pyplot as plt\nfrom azureml.core import Run, ScriptRunConfig",
            "run = Run.get_context()",
            "%%time\nplt.savefig('outputs/a.png')\ncfg = ScriptRunConfig(script='t.py')",
        ],
    )
    report = audit_paths([path.parent], jobs=1)
    audit_only = [
        (f.cell, f.line, f.column, f.rule) for f in report.findings if f.origin == "audit"
    ]
    assert audit_only == [(4, 2, 1, "outputs-write"), (4, 3, 7, "service-only")]


# --------------------------------------------------------------------------------------------------
# cells the join must cope with
# --------------------------------------------------------------------------------------------------


def test_empty_comment_and_magic_cells_between_keep_lines_right(tmp_path: Path) -> None:
    path = make(
        tmp_path / "nb.ipynb",
        [
            "!pip install azureml-core",
            "from azureml.core import Run\n",
            "",
            "# a comment only\n\n",
            "%matplotlib inline\n%load_ext autoreload",
            "run = Run.get_context()",
            "x = 1\n\n\nrun.log('x', x)\n",
        ],
    )
    outcome = run_one(path)
    assert outcome.error == ""
    assert sites(outcome) == [
        ("nb.ipynb[cell 7]", 1, 7, "run-get-context"),
        ("nb.ipynb[cell 8]", 4, 1, "run-log"),
    ]
    assert code_sources(path) == [
        "!pip install azureml-core",
        "import mlflow\n",
        "",
        "# a comment only\n\n",
        "%matplotlib inline\n%load_ext autoreload",
        "run = mlflow.active_run() or mlflow.start_run()",
        "x = 1\n\n\nmlflow.log_metric('x', x)\n",
    ]


def test_crlf_inside_cells_is_kept(tmp_path: Path) -> None:
    path = make(
        tmp_path / "nb.ipynb",
        [
            ["import os\r\n", "from azureml.core import Run\r\n"],
            ["run = Run.get_context()\r\n", "run.log('a', 1)"],
            ["%%time\r\n", "run.log('b', 2)\r\n"],
        ],
    )
    assert run_one(path).error == ""
    assert code_sources(path) == [
        "import os\r\nimport mlflow\r\n",
        "run = mlflow.active_run() or mlflow.start_run()\r\nmlflow.log_metric('a', 1)",
        "%%time\r\nmlflow.log_metric('b', 2)\r\n",
    ]
    assert not run_one(path).changed


def test_a_first_cell_with_a_cell_magic_and_imports(tmp_path: Path) -> None:
    path = make(
        tmp_path / "nb.ipynb",
        [
            "%%capture\nimport os\nfrom azureml.core import Run\nrun = Run.get_context()",
            "run.flush()",
        ],
    )
    assert run_one(path).error == ""
    [first, second] = code_sources(path)
    assert (
        first
        == "%%capture\nimport os\nimport mlflow\nrun = mlflow.active_run() or mlflow.start_run()"
    )
    assert "run." not in second


def test_the_marker_prefix_avoids_names_in_the_cells(tmp_path: Path) -> None:
    path = make(
        tmp_path / "nb.ipynb",
        [
            "from azureml.core import Run\n__aml2mlflow_cell_1__ = 'mine'",
            "run = Run.get_context()",
            "run.log(__aml2mlflow_cell_1__, 1)",
        ],
    )
    assert run_one(path).error == ""
    assert code_sources(path)[1:] == [
        "run = mlflow.active_run() or mlflow.start_run()",
        "mlflow.log_metric(__aml2mlflow_cell_1__, 1)",
    ]


def test_a_cell_in_another_language_stays_out(tmp_path: Path) -> None:
    path = make(tmp_path / "nb.ipynb", ["from azureml.core import Run", "SELECT run.log FROM t"])
    data = json.loads(path.read_text(encoding="utf-8"))
    data["cells"][2]["metadata"] = {"vscode": {"languageId": "sql"}}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    outcome = run_one(path, "scan")
    assert outcome.error == "" and outcome.findings == []


# --------------------------------------------------------------------------------------------------
# cells that do not compile together, and syntax errors
# --------------------------------------------------------------------------------------------------


def test_future_import_in_a_later_cell_falls_back_to_one_module_per_cell(tmp_path: Path) -> None:
    path = tmp_path / "future_later.ipynb"
    shutil.copyfile(NOTEBOOKS / "future_later.ipynb", path)
    old = code_sources(path)
    assert len(cell_modules(read_notebook(path))) == 3
    outcome = run_one(path)
    assert outcome.error == ""
    assert sites(outcome) == [
        ("future_later.ipynb[cell 1]", 1, 1, "notebook-cells-apart"),  # said, not silent
        ("future_later.ipynb[cell 1]", 2, 7, "run-get-context"),
        ("future_later.ipynb[cell 1]", 3, 1, "run-log"),
    ]
    new = code_sources(path)
    assert new[0] == (
        "import mlflow\nrun = mlflow.active_run() or mlflow.start_run()\n"
        'mlflow.log_metric("first", 1)'
    )
    assert new[1:] == old[1:], "each cell on its own, as before joining"
    for source in new:
        compile(source, "<cell>", "exec")


def test_a_future_import_in_the_first_cell_still_joins(tmp_path: Path) -> None:
    path = make(
        tmp_path / "nb.ipynb",
        [
            "from __future__ import annotations\nfrom azureml.core import Run",
            "run = Run.get_context()",
        ],
    )
    assert len(cell_modules(read_notebook(path))) == 1
    assert run_one(path).error == ""
    assert code_sources(path) == [
        "from __future__ import annotations\nimport mlflow",
        "run = mlflow.active_run() or mlflow.start_run()",
    ]


def test_top_level_await_falls_back_and_leaves_that_cell(tmp_path: Path) -> None:
    path = make(
        tmp_path / "nb.ipynb",
        [
            "import asyncio\nfrom azureml.core import Run\n"
            "run = Run.get_context()\nrun.log('a', 1)",
            "await asyncio.sleep(0)",
        ],
    )
    outcome = run_one(path)
    assert outcome.error == ""
    assert code_sources(path)[1] == "await asyncio.sleep(0)"
    assert [f.rule for f in outcome.findings] == [
        "notebook-cells-apart",
        "run-get-context",
        "run-log",
    ]
    assert code_sources(path)[0].endswith("mlflow.log_metric('a', 1)")


@pytest.mark.parametrize(
    ("cells", "cell", "line", "message"),
    [
        (
            ["from azureml.core import Run\nrun = Run.get_context()", "x = 1\ny = (\n"],
            3,
            2,
            "never closed",
        ),
        (
            [
                "from azureml.core import Run",
                "run = Run.get_context()",
                "%%time\nimport os\nprint 'x'",
            ],
            4,
            3,
            "Missing parentheses in call to 'print'",
        ),
    ],
    ids=["unclosed bracket", "python 2 under a cell magic"],
)
def test_a_syntax_error_names_its_cell_and_line_and_nothing_is_written(
    tmp_path: Path, cells: list[str], cell: int, line: int, message: str
) -> None:
    path = make(tmp_path / "nb.ipynb", cells)
    before = path.read_bytes()
    outcome = run_one(path)
    assert f"nb.ipynb[cell {cell}]:{line}: cannot parse: " in outcome.error
    assert message in outcome.error
    assert path.read_bytes() == before and outcome.findings == []
    report = audit_paths([path.parent], jobs=1)
    [error] = report.errors
    assert (error.cell, error.line) == (cell, line)


# --------------------------------------------------------------------------------------------------
# a rewrite that cannot be cut back into the same cells is refused
# --------------------------------------------------------------------------------------------------

MANGLERS = {
    "marker lost": lambda text: re.sub(r"(?m)^__aml2mlflow_cell_1__\n", "", text),
    "marker duplicated": lambda text: text.replace(
        "__aml2mlflow_cell_2__", "__aml2mlflow_cell_2__\n__aml2mlflow_cell_2__"
    ),
    "markers swapped": lambda text: (
        text.replace("_cell_1__", "_cell_x__")
        .replace("_cell_2__", "_cell_1__")
        .replace("_cell_x__", "_cell_2__")
    ),
    "marker indented": lambda text: text.replace(
        "\n__aml2mlflow_cell_2__", "\n    __aml2mlflow_cell_2__"
    ),
    "marker inside a line": lambda text: text.replace(
        "\n__aml2mlflow_cell_1__\n", "\nx = __aml2mlflow_cell_1__\n"
    ),
}


@pytest.mark.parametrize("mangle", MANGLERS, ids=list(MANGLERS))
def test_a_boundary_lost_or_moved_refuses_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mangle: str
) -> None:
    path = make(
        tmp_path / "nb.ipynb",
        ["from azureml.core import Run", "run = Run.get_context()", "run.log('a', 1)"],
    )
    before = path.read_bytes()
    real = migrate.api.rewrite_module

    def mangled(code: str, where: str = "<string>", target: Any = "mlflow") -> Result:
        result = real(code, where, target)
        return Result(result.source, MANGLERS[mangle](result.code), result.findings)

    monkeypatch.setattr(migrate.api, "rewrite_module", mangled)
    outcome = run_one(path)
    assert "boundary between cells" in outcome.error and "left untouched" in outcome.error
    assert path.read_bytes() == before and not outcome.changed


def test_a_joined_rewrite_that_fails_where_each_cell_passes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(tmp_path / "nb.ipynb", ["from azureml.core import Run", "run = Run.get_context()"])
    before = path.read_bytes()
    real = migrate.api.rewrite_module

    def fails_joined(code: str, where: str = "<string>", target: Any = "mlflow") -> Result:
        if "__aml2mlflow_cell_1__" in code:
            raise RewriteError(f"{where}: the rewrite would lose comments: ['# x']")
        return real(code, where, target)

    monkeypatch.setattr(migrate.api, "rewrite_module", fails_joined)
    outcome = run_one(path)
    assert "could not be rewritten together" in outcome.error and "left untouched" in outcome.error
    assert path.read_bytes() == before


def test_the_size_limit_counts_the_code_cells_together(tmp_path: Path) -> None:
    cell = "from azureml.core import Run\nrun = Run.get_context()\n" + "x = 1\n" * 10
    path = make(tmp_path / "nb.ipynb", [cell, cell])
    size = 2 * len(cell)
    [outcome] = rewrite_paths([path], jobs=1, max_bytes=size - 1)
    assert f"code cells of {size} bytes, over the limit of {size - 1} bytes" in outcome.error
    [outcome] = rewrite_paths([path], jobs=1, max_bytes=size)
    assert outcome.error == "" and outcome.changed


# --------------------------------------------------------------------------------------------------
# the helpers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "head"),
    [
        ("%%time\nx = 1", "%%time\n"),
        ("\n  \n%%timeit -n 1\nx = 1\n", "\n  \n%%timeit -n 1\n"),
        ("%%time\n%%capture out\nx = 1", "%%time\n%%capture out\n"),
        ("%%capture", "%%capture"),
        ("%%time\r\nx = 1", "%%time\r\n"),
        ("%%bash\necho", ""),
        ("%%time?\n", ""),
        ("x = 1\n%%time\n", ""),
        ("%time x = 1\n", ""),
    ],
)
def test_split_cell_magic(source: str, head: str) -> None:
    assert split_cell_magic(source) == (head, source[len(head) :])


def _module(tmp_path: Path, sources: list[str]) -> CellModule:
    [module] = cell_modules(read_notebook(make(tmp_path / "nb.ipynb", sources)))
    return module


def test_join_and_split_round_trip_and_locate(tmp_path: Path) -> None:
    sources = ["import os\n", "%%time\nx = 1", "# c\n\n", "%ls\ny = 2\r\nz = 3\r\n", "w = 4"]
    module = _module(tmp_path, sources)
    assert [c.index for c in module.cells] == [1, 2, 4, 5]  # the comment-only cell stays out
    assert module.split(module.text) == [c.code for c in module.cells]
    assert [c.new_source(c.code) for c in module.cells] == sources[:2] + sources[3:]
    # Every line of every cell maps to its module line and back.
    for cell in module.cells:
        for line in range(cell.offset + 1, cell.source.count("\n") + 2):
            at = module.module_line(cell.index, line)
            assert at is not None and module.locate(at) == (cell, line)
    assert module.module_line(2, 1) is None  # the %%time line is not in the module
    assert module.module_line(0, 1) is None  # the markdown cell


def test_split_refuses_other_boundaries(tmp_path: Path) -> None:
    module = _module(tmp_path, ["a = 1", "b = 2", "c = 3"])
    assert module.text == "a = 1\n__aml2mlflow_cell_1__\nb = 2\n__aml2mlflow_cell_2__\nc = 3"
    assert module.split(module.text.replace("b = 2", "")) == ["a = 1", "", "c = 3"]
    assert module.split("__aml2mlflow_cell_1__\n__aml2mlflow_cell_2__") == ["", "", ""]
    for bad in MANGLERS.values():
        with pytest.raises(ValueError, match="boundary between cells"):
            module.split(bad(module.text))


def test_masked_magics_keep_their_cell(tmp_path: Path) -> None:
    module = _module(tmp_path, ["%env A=1\nimport os", "!ls\nx = 1"])
    first, second = module.cells
    assert mask_magics("%env A=1\nimport os")[0] == first.code
    assert [c.new_source(code) for c, code in zip(module.cells, module.split(module.text))] == [
        "%env A=1\nimport os",
        "!ls\nx = 1",
    ]
    assert not python_cells(read_notebook(make(tmp_path / "m.ipynb", ["!ls"])))[0].has_code()
    assert second.has_code()


def test_cells_that_only_compile_together_are_syntax_errors(tmp_path: Path) -> None:
    """A string opened in one cell and closed in the next: IPython fails on both cells."""
    path = make(
        tmp_path / "nb.ipynb",
        ['from azureml.core import Run\nrun = Run.get_context()\ns = """', '"""\nrun.log("a", 1)'],
    )
    before = path.read_bytes()
    outcome = run_one(path)
    assert "cell 2" in outcome.error or "cell 1" in outcome.error, outcome.error
    assert path.read_bytes() == before


def test_a_writefile_cell_is_reported_and_left_as_it_is(tmp_path: Path) -> None:
    """`%%writefile train.py` writes a script, it does not run it: the cell stays byte for byte,
    and both rewrite and audit say why (the kernel cells around it are still rewritten)."""
    script = (
        "\n%%writefile train.py\nfrom azureml.core import Run\n\nrun = Run.get_context()\n"
        "run.log('loss', 0.5)\n"
    )
    kernel = "from azureml.core import Run\nrun = Run.get_context()\nrun.log('acc', 0.9)\n"
    path = make(tmp_path / "nb.ipynb", [script, kernel])
    outcome = run_one(path)
    assert not outcome.error and outcome.changed
    after = code_sources(path)
    assert after[0] == script
    assert "mlflow.log_metric('acc', 0.9)" in after[1]
    written = [s for s in sites(outcome) if s[3] == "notebook-writefile"]
    assert written == [("nb.ipynb[cell 2]", 2, 1, "notebook-writefile")]  # (cell 1: markdown)
    note = next(f for f in outcome.findings if f.rule == "notebook-writefile")
    assert note.fidelity == "manual" and "%%writefile train.py" in note.detail
    report = audit_paths([path.parent], jobs=1)
    assert [
        (f.cell, f.line, f.rule) for f in report.findings if f.rule == "notebook-writefile"
    ] == [(2, 2, "notebook-writefile")]
