"""`aml2mlflow verify`: legacy scripts under the shim against their rewrite on plain MLflow.

Real runs in a real sqlite store (the `store` fixture's), no mocks. The legacy fixtures must
verify as equivalent, with the shim's catalogued extras reported as notes naming their rule; a
deliberately wrong rewrite (injected through `verify_script`'s `rewritten_source` hook) must be
caught with a precise message per difference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.api import rewrite_source
from migrate.cli import main
from migrate.verify import KNOWN_DIFFERENCES, Verdict, verify_script

ROOT = Path(__file__).resolve().parent.parent
LEGACY = ROOT / "fixtures" / "legacy"

# The notes each fixture must give: (kind, key, catalogue rule).
EXPECTED_NOTES = {
    "diabetes_ridge.py": {
        ("metric", "alpha", "run-log"),
        ("metric", "mse", "run-log"),
        ("artifact", "outputs/alphas.txt", "outputs-folder"),
    },
    "iris_classifier.py": {
        ("artifact", "confusion_matrix.png", "run-log-confusion-matrix"),
        ("artifact", "confusion_matrix_train.png", "run-log-confusion-matrix"),
        ("artifact", "accuracy_table.png", "run-log-accuracy-table"),
    },
    "workbench_logger.py": {("artifact", "outputs/model.pkl", "outputs-folder")},
    "regression_metrics.py": {
        ("metric", "training/epoch", "run-log-row"),
        ("metric", "training/test_rmse", "run-log-row"),
        ("metric", "training/train_rmse", "run-log-row"),
        ("metric", "summary/value", "run-log-table"),
        ("artifact", "predictions.png", "run-log-predictions"),
        ("artifact", "residuals.png", "run-log-residuals"),
        # mlflow.log_table writes floats with 10 decimals: equal within the default rtol
        ("artifact", "tables/training.json", ""),
        ("artifact", "tables/summary.json", ""),
    },
    "odd_names_and_strings.py": {
        ("metric", "Accuracy pct", "run-log"),
        ("metric", "prec_at_1", "run-log"),
        ("artifact", "metrics_text/status.jsonl", "run-log-text"),
        ("artifact", "metrics_text/notes.jsonl", "run-log-text"),
    },
    "fails.py": {
        ("exit", "exit code", ""),
        ("status", "status", "run-get-context"),
        ("metric", "loss", "run-log"),
    },
}
EXIT_CODES = {"fails.py": 1}
NOT_EQUIVALENT = {
    "child_runs.py": (
        "its rewrite stays manual: it reads the workspace (`ws.name`), so the Workspace import "
        "stays and the rewritten script cannot run without the SDK (exit 3)"
    ),
}

SMALL = """\
import sys

from azureml.core import Run

run = Run.get_context()
for i in range(3):
    run.log("loss", 1.0 / (i + 1))
run.log("acc", 0.9)
run.log_list("curve", [0.1, 0.2, 0.3])
with open("model.txt", "w") as f:
    f.write("weights")
run.upload_file("model.txt", "model.txt")
run.complete()
"""


def _notes(verdict: Verdict) -> set[tuple[str, str, str]]:
    return {(n.kind, n.key, n.rule) for n in verdict.notes}


def _explain(verdict: Verdict) -> str:
    return f"{verdict.error}\n{verdict.differences}\n{verdict.stderr_tail}"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(p.name, marks=pytest.mark.xfail(strict=True, reason=NOT_EQUIVALENT[p.name]))
        if p.name in NOT_EQUIVALENT
        else p.name
        for p in sorted(LEGACY.glob("*.py"))
    ],
)
def test_legacy_fixture_verifies_against_its_rewrite(name: str, store: str) -> None:
    verdict = verify_script(LEGACY / name, tracking_uri=store)
    assert verdict.equivalent, _explain(verdict)
    assert verdict.legacy_exit == verdict.rewritten_exit == EXIT_CODES.get(name, 0)
    assert EXPECTED_NOTES[name] <= _notes(verdict)
    # the user's folder is never written to
    assert not (LEGACY / "outputs").exists()
    assert not (LEGACY / "mlruns").exists()


def test_child_runs_match_by_name(store: str, tmp_path: Path) -> None:
    """child_runs.py less its one workspace read: its nested runs compare by run name.

    Both processes pick the experiment `exp` themselves, in the same store: the runs are still
    told apart (each process tags its runs through MLFLOW_RUN_CONTEXT).
    """
    source = (LEGACY / "child_runs.py").read_text(encoding="utf-8")
    source = source.replace('run.log("workspace", ws.name)', 'run.log("workspace", "local")')
    (tmp_path / "project").mkdir()
    script = tmp_path / "project" / "child_runs.py"
    script.write_text(source, encoding="utf-8")
    verdict = verify_script(script, tracking_uri=store)
    assert verdict.equivalent, _explain(verdict)
    keys = {n.key for n in verdict.notes if n.rule == "run-log"}
    assert keys == {"depth_2: fold_accuracy", "depth_4: fold_accuracy"}

    # a rewrite that loses one child is caught
    code = rewrite_source(source, "child_runs.py").code
    assert code.count('run_name="depth_4"') == 1
    broken = code.replace('run_name="depth_4"', 'run_name="depth_four"')
    verdict = verify_script(script, tracking_uri=store, rewritten_source=broken)
    found = {(d.kind, d.key, d.note) for d in verdict.differences}
    assert ("run", "depth_4", "missing from the rewritten run") in found
    assert ("run", "depth_four", "not in the legacy run") in found


def _small_script(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    script = folder / "small.py"
    script.write_text(SMALL, encoding="utf-8")
    return script


def test_a_wrong_rewrite_is_caught_precisely(store: str, tmp_path: Path) -> None:
    script = _small_script(tmp_path)
    code = rewrite_source(SMALL, "small.py").code
    broken = code.replace('mlflow.log_metric("acc", 0.9)\n', "")  # a dropped metric
    broken = broken.replace("enumerate([0.1, 0.2, 0.3])", "enumerate([0.1, 0.2, 0.3], start=1)")
    broken = broken.replace(
        'mlflow.log_artifact("model.txt")', 'mlflow.log_text("weights", "w.txt")'
    )
    assert broken.count("mlflow.") == code.count("mlflow.") - 1
    verdict = verify_script(script, tracking_uri=store, rewritten_source=broken)
    assert not verdict.error, _explain(verdict)
    assert not verdict.equivalent
    found = {(d.kind, d.key): d for d in verdict.differences}
    assert set(found) == {
        ("metric", "acc"),
        ("metric", "curve"),
        ("artifact", "model.txt"),
        ("artifact", "w.txt"),
    }
    assert found["metric", "acc"].note == "missing from the rewritten run"
    assert found["metric", "acc"].legacy == "[0.9]"
    assert found["metric", "curve"].note == "value 1 of 3 is at step 0 vs 1"
    assert found["metric", "curve"].legacy == "steps [0, 1, 2]"
    assert found["metric", "curve"].rewritten == "steps [1, 2, 3]"
    assert found["artifact", "model.txt"].note == (
        "missing from the rewritten run (same content as w.txt: renamed?)"
    )
    assert found["artifact", "w.txt"].note == (
        "not in the legacy run (same content as model.txt: renamed?)"
    )
    # the series logged without step= is still only a note
    assert ("metric", "loss", "run-log") in _notes(verdict)
    assert script.read_text(encoding="utf-8") == SMALL


def test_cli_json_strict_steps_and_a_changed_value(store: str, tmp_path: Path) -> None:
    script = _small_script(tmp_path)
    options = ["--json", "--strict-steps", "--exclude", "*.txt", "--tracking-uri", store]
    result = CliRunner().invoke(main, ["verify", str(script), *options])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["equivalent"] is False
    (diff,) = data["differences"]
    assert (diff["kind"], diff["key"], diff["rule"]) == ("metric", "loss", "run-log")
    assert "(--strict-steps)" in diff["note"]
    excluded = [n for n in data["notes"] if n["note"] == "excluded by *.txt"]
    assert [n["key"] for n in excluded] == ["model.txt"]

    # the same script without --strict-steps, but its metric scaled beyond the tolerance
    code = rewrite_source(SMALL, "small.py").code
    verdict = verify_script(
        script, tracking_uri=store, rewritten_source=code.replace("0.9)", "0.9000001)")
    )
    (diff_acc,) = verdict.differences
    assert (diff_acc.kind, diff_acc.key, diff_acc.note) == (
        "metric",
        "acc",
        "value 1 of 1 (step 0) differs",
    )
    assert (diff_acc.legacy, diff_acc.rewritten) == ("0.9", "0.9000001")
    assert verify_script(
        script, tracking_uri=store, rtol=1e-6, rewritten_source=code.replace("0.9)", "0.9000001)")
    ).equivalent


def test_directory_mode_with_toml(store: str, tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "helpers.py").write_text("def scale(x):\n    return 2 * x\n", encoding="utf-8")
    (folder / "data.csv").write_text("3\n", encoding="utf-8")
    (folder / "train.py").write_text(
        "import sys\n"
        "from azureml.core import Run\n"
        "from helpers import scale\n"
        "run = Run.get_context()\n"
        "run.log('lr', float(sys.argv[1]))\n"
        "run.log('n', scale(int(open('data.csv').read())))\n"
        "run.tag('mode', sys.argv[2])\n",
        encoding="utf-8",
    )
    (folder / "cluster_only.py").write_text(
        "from azureml.core import Run\nrun = Run.get_context()\nrun.log('x', 1)\n",
        encoding="utf-8",
    )
    (folder / "aml2mlflow-verify.toml").write_text(
        '[scripts."train.py"]\nargs = ["0.01", "fast"]\n\n'
        '[scripts."cluster_only.py"]\nskip = "needs the cluster"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["verify", str(folder), "--json", "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["equivalent"] is True
    (only,) = data["scripts"]
    assert only["script"].endswith("train.py")
    assert only["args"] == ["0.01", "fast"]
    assert data["skipped"] == [{"script": "cluster_only.py", "reason": "needs the cluster"}]
    assert sorted(p.name for p in folder.iterdir()) == [
        "aml2mlflow-verify.toml",
        "cluster_only.py",
        "data.csv",
        "helpers.py",
        "train.py",
    ]

    # the text output: the table and a summary line
    text = CliRunner().invoke(main, ["verify", str(folder), "--tracking-uri", store])
    assert text.exit_code == 0, text.output
    assert "equivalent: 0 difference(s)" in text.output
    assert "skipped cluster_only.py: needs the cluster" in text.output


def test_a_script_that_cannot_run_exits_3_with_its_stderr(store: str, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "broken.py").write_text(
        "import no_such_module_anywhere\nfrom azureml.core import Run\nRun.get_context()\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["verify", str(folder / "broken.py"), "--tracking-uri", store]
    )
    assert result.exit_code == 3, result.output
    assert "could not be run: the legacy (under the shim) script exited with 1" in result.output
    assert "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in result.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from azureml.core import Run\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["verify", str(tmp_path), "--", "x"]).exit_code == 2
    (tmp_path / "aml2mlflow-verify.toml").write_text("[scripts.'a.py']\nargs = 3\n")
    result = runner.invoke(main, ["verify", str(tmp_path)])
    assert result.exit_code == 2 and "args must be a list" in result.output
    (tmp_path / "aml2mlflow-verify.toml").write_text("[scripts.'gone.py']\nargs = []\n")
    assert "names no file" in runner.invoke(main, ["verify", str(tmp_path)]).output
    (tmp_path / "notes.txt").write_text("")
    assert runner.invoke(main, ["verify", str(tmp_path / "notes.txt")]).exit_code == 2


def test_every_known_difference_names_a_catalogue_rule() -> None:
    from migrate.catalogue import ENTRIES

    ids = {e.id for e in ENTRIES}
    for rule in ("run-log", "run-get-context", "run-log-row", "run-log-table", "run-log-text"):
        assert rule in ids
    for rule in ("outputs-folder", "run-log-confusion-matrix", "run-log-accuracy-table"):
        assert rule in ids
    assert {k.kind for k in KNOWN_DIFFERENCES} == {"metric", "artifact"}


def test_series_comparison_rules() -> None:
    """The step rules on histories built by hand (no runs): what is a note, what a difference."""
    from mlflow.entities import Metric

    from migrate.verify import Difference, _compare_series

    def series(values: list[float], steps: list[int], stamps: list[int]) -> list[Metric]:
        return [Metric("m", v, t, s) for v, s, t in zip(values, steps, stamps)]

    def compare(
        old: list[Metric], new: list[Metric], strict: bool = False
    ) -> tuple[list[Difference], list[Difference]]:
        diffs: list[Difference] = []
        notes: list[Difference] = []
        _compare_series("m", old, new, 1e-9, 0.0, strict, diffs, notes)
        return diffs, notes

    shim = series([3.0, 1.0, 2.0], [0, 1, 2], [5, 5, 6])
    # logged without step=, two values in the same millisecond: their order is unknown
    diffs, notes = compare(shim, series([1.0, 3.0, 2.0], [0, 0, 0], [5, 5, 6]))
    assert not diffs and [n.rule for n in notes] == ["run-log"]
    diffs, _ = compare(shim, series([3.0, 2.0, 1.5], [0, 0, 0], [5, 6, 6]))
    assert diffs[0].note.startswith("value 2 of 3 (step 1) differs")
    assert (diffs[0].legacy, diffs[0].rewritten) == ("1", "1.5")
    diffs, notes = compare(shim, series([3.0, 1.0, 2.0], [0, 0, 0], [5, 6, 7]), strict=True)
    assert not notes and diffs[0].note.endswith("(--strict-steps)")
    # explicit legacy steps the rewrite lost are a difference, not a note
    diffs, notes = compare(series([1.0, 2.0], [0, 10], [1, 2]), series([1.0, 2.0], [0, 0], [1, 2]))
    assert not notes and diffs[0].note == "value 2 of 2 is at step 10 vs 0"
    # NaN equals NaN; lengths must agree
    nan = float("nan")
    assert compare(series([nan], [0], [1]), series([nan], [0], [1])) == ([], [])
    diffs, _ = compare(series([1.0], [0], [1]), series([1.0, 1.0], [0, 1], [1, 2]))
    assert diffs[0].note == "1 value(s) vs 2"


@pytest.mark.server
def test_against_a_real_mlflow_server(mlflow_server: str, tmp_path: Path) -> None:
    script = _small_script(tmp_path)
    verdict = verify_script(script, tracking_uri=mlflow_server)
    assert verdict.equivalent, _explain(verdict)
    assert ("metric", "loss", "run-log") in _notes(verdict)
    # a second verification in the same store compares only its own runs
    code = rewrite_source(SMALL, "small.py").code
    verdict = verify_script(
        script, tracking_uri=mlflow_server, rewritten_source=code.replace('"acc"', '"accuracy"')
    )
    assert {(d.kind, d.key) for d in verdict.differences} == {
        ("metric", "acc"),
        ("metric", "accuracy"),
    }
