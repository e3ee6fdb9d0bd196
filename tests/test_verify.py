"""`aml2mlflow verify`: legacy scripts under the shim against their rewrite on plain MLflow.

Real runs in a real sqlite store (the `store` fixture's), no mocks. The legacy fixtures must
verify as equivalent, with the shim's catalogued extras reported as notes naming their rule; a
deliberately wrong rewrite (injected through `verify_script`'s `rewritten_source` hook) must be
caught with a precise message per difference.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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
    # ws.name has no MLflow form: the Workspace stays (manual), so the rewrite runs bridged
    "child_runs.py": {("rewrite", "line 7", "workspace"), ("rewrite", "child_runs.py", "")},
    "fails.py": {
        ("exit", "exit code", ""),
        ("status", "status", "run-get-context"),
        ("metric", "loss", "run-log"),
    },
}
EXIT_CODES = {"fails.py": 1}
NOT_EQUIVALENT: dict[str, str] = {}

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
    # only a rewrite that keeps a legacy import (manual sites) runs with the shim bridging them
    bridged = [n.note for n in verdict.notes if "still imports" in n.note]
    assert bridged == (
        [
            "still imports azureml.core (manual sites): it ran with the shim answering for those; "
            "finish them by hand to run on plain MLflow"
        ]
        if name == "child_runs.py"
        else []
    )
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
    assert ("run", "depth_4~depth_four", "the nested run's name differs") in found

    # a child dropped altogether is missing
    start = code.index("# second child")
    broken = code[:start] + code[code.index("\nbest = ", start) :]
    verdict = verify_script(script, tracking_uri=store, rewritten_source=broken)
    found = {(d.kind, d.key, d.note) for d in verdict.differences}
    assert ("run", "depth_4", "missing from the rewritten run") in found


UNNAMED = """\
from azureml.core import Run

run = Run.get_context()
for fold in range(3):
    child = run.child_run()  # no name: MLflow makes one up, differently on each side
    child.log("fold", fold)
    child.complete()
for k in range(2):
    with run.child_run(name="repeat") as child:  # one name, twice
        child.log("k", k)
run.complete()
"""


def test_unnamed_and_repeated_child_runs_pair_in_start_order(store: str, tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    script = tmp_path / "project" / "unnamed.py"
    script.write_text(UNNAMED, encoding="utf-8")
    verdict = verify_script(script, tracking_uri=store)
    assert verdict.equivalent, _explain(verdict)
    paired = [n for n in verdict.notes if n.note == "unnamed nested runs, paired in start order"]
    assert len(paired) == 3
    # a rewrite that logs the folds in another order is caught on the paired runs
    code = rewrite_source(UNNAMED, "unnamed.py").code
    broken = code.replace("range(3)", "reversed(range(3))", 1)
    verdict = verify_script(script, tracking_uri=store, rewritten_source=broken)
    assert {d.kind for d in verdict.differences} == {"metric"}
    assert verdict.differences


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
    assert data["config"] == "aml2mlflow-verify.toml"
    (only,) = data["scripts"]
    assert only["script"] == "train.py"
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


LEGACY_LINE = "from azureml.core import Run\nrun = Run.get_context()\nrun.log('x', 1)\n"


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_directory_mode_walks_subfolders_with_yaml(store: str, tmp_path: Path) -> None:
    """A nested repository: legacy scripts at any depth are verified, each with its YAML settings;
    .gitignore'd folders, virtualenvs, notebooks and scripts without legacy calls are not run."""
    from mlflow.tracking import MlflowClient

    repo = tmp_path / "repo"
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": LEGACY_LINE.splitlines(keepends=True),
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    _write_tree(
        repo,
        {
            ".gitignore": "scratch/\n",
            "train.py": "import sys\nfrom azureml.core import Run\nrun = Run.get_context()\n"
            "run.log('lr', float(sys.argv[2]))\nrun.tag('raw', sys.argv[2])\n",
            # nested two deep, importing a helper from its own folder; it logs unseeded noise
            # and a random file, which only its settings (rtol, exclude) make equivalent
            "jobs/eval/score.py": "import random\nimport uuid\nfrom azureml.core import Run\n"
            "from helper import double\nrun = Run.get_context()\n"
            "run.log('double', double(2))\n"
            "run.log('noise', 1.0 + random.random() * 1e-6)\n"
            "with open('stamp.txt', 'w') as f:\n    f.write(uuid.uuid4().hex)\n"
            "run.upload_file('stamp.txt', 'stamp.txt')\n",
            "jobs/eval/helper.py": "def double(x):\n    return 2 * x\n",
            "jobs/cluster.py": LEGACY_LINE,
            "jobs/util.py": "import os\nprint(os.getcwd())\n",
            # not run: ignored by .gitignore (it would fail: exit 3), a virtualenv, a notebook
            "scratch/old.py": "import no_such_module_anywhere\n" + LEGACY_LINE,
            ".venv/lib/site.py": "import no_such_module_anywhere\n" + LEGACY_LINE,
            "analysis.ipynb": json.dumps(notebook),
            "aml2mlflow-verify.yaml": "scripts:\n"
            "  train.py:\n"
            "    args: [--lr, 0.010]        # a number is passed as written\n"
            "  jobs/eval/score.py:\n"
            "    rtol: 1e-4\n"
            "    exclude: [stamp.txt]\n"
            "  jobs/cluster.py:\n"
            "    skip: needs the cluster\n",
        },
    )
    before = _tree(repo)
    result = CliRunner().invoke(main, ["verify", str(repo), "--json", "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["equivalent"] is True and data["config"] == "aml2mlflow-verify.yaml"
    assert [(v["script"], v["args"]) for v in data["scripts"]] == [
        ("jobs/eval/score.py", []),
        ("train.py", ["--lr", "0.010"]),
    ]
    assert data["skipped"] == [{"script": "jobs/cluster.py", "reason": "needs the cluster"}]
    score, train = data["scripts"]
    assert {(n["key"], n["note"]) for n in score["notes"]} >= {
        ("stamp.txt", "excluded by stamp.txt")
    }
    assert all("excluded" not in n["note"] for n in train["notes"])  # score.py's own setting
    # the noise did differ (beyond the default rtol): the script's own rtol made it equivalent
    client = MlflowClient(store)
    noise = [
        client.get_run(score[k]).data.metrics["noise"] for k in ("legacy_run", "rewritten_run")
    ]
    assert noise[0] != noise[1] and abs(noise[0] - noise[1]) < 1e-4
    assert client.get_run(train["rewritten_run"]).data.tags["raw"] == "0.010"
    assert _tree(repo) == before  # nothing written into the user's folders


def _config(root: Path, fmt: str, text: str) -> None:
    (root / f"aml2mlflow-verify.{fmt}").write_text(text, encoding="utf-8")


def test_yaml_and_toml_configurations_are_equivalent(tmp_path: Path) -> None:
    from migrate.verify import ScriptConfig, read_config

    toml = """\
[scripts."train.py"]
args = ["--epochs", 3, "--lr", 0.5]
rtol = 1e-6
atol = 0
exclude = ["*.png", "outputs/*"]
strict_steps = true
timeout = 90

[scripts."jobs/deep/eval.py"]
skip = "needs the cluster"

[scripts."./jobs/plain.py"]
"""
    yaml = """\
scripts:
  train.py:
    args: [--epochs, 3, "--lr", 0.5]
    rtol: 1e-6          # YAML 1.1 reads this as a string; taken as the number it is
    atol: 0
    exclude:
      - "*.png"
      - outputs/*
    strict_steps: true
    timeout: 90
  jobs/deep/eval.py: {skip: needs the cluster}
  ./jobs/plain.py:
"""
    expected = {
        "train.py": ScriptConfig(
            args=("--epochs", "3", "--lr", "0.5"),
            rtol=1e-6,
            atol=0.0,
            exclude=("*.png", "outputs/*"),
            strict_steps=True,
            timeout=90.0,
        ),
        "jobs/deep/eval.py": ScriptConfig(skip="needs the cluster"),
        "jobs/plain.py": ScriptConfig(),
    }
    for fmt, text in (("toml", toml), ("yaml", yaml), ("yml", yaml)):
        root = tmp_path / fmt
        _write_tree(root, {"train.py": "", "jobs/deep/eval.py": "", "jobs/plain.py": ""})
        _config(root, fmt, text)
        path, config = read_config(root)
        assert path == root / f"aml2mlflow-verify.{fmt}"
        assert config == expected, fmt
    assert read_config(tmp_path) == (None, {})


# (format, content, what the error must say): the file, the key and, for YAML, the line
BAD_CONFIGS = [
    # unknown keys
    ("toml", "other = 1\n", "aml2mlflow-verify.toml: other: unknown key"),
    ("yaml", "scripts:\n  a.py:\n    arg: [x]\n", ':3: scripts."a.py".arg: unknown key'),
    ("toml", "[scripts.'a.py']\narg = ['x']\n", 'toml: scripts."a.py".arg: unknown key'),
    # wrong types
    ("toml", "[scripts.'a.py']\nargs = 3\n", "args: must be a list of strings, not a number"),
    (
        "yaml",
        "scripts:\n  a.py:\n    args: [--v, yes]\n",
        ':3: scripts."a.py".args[1]: must be a string, not true/false (quote it)',
    ),
    ("toml", "[scripts.'a.py']\nrtol = 'x'\n", "rtol: must be a number, not a string"),
    ("yaml", "scripts:\n  a.py:\n    atol: -1\n", ':3: scripts."a.py".atol: must be a non'),
    ("yaml", "scripts:\n  a.py:\n    exclude: '*.png'\n", "exclude: must be a list of globs"),
    ("toml", "[scripts.'a.py']\nstrict_steps = 1\n", "strict_steps: must be true or false"),
    ("toml", "[scripts.'a.py']\ntimeout = 0\n", "timeout: must be a positive finite number"),
    ("yaml", "scripts: [a.py]\n", ":1: scripts: must map script paths to settings"),
    ("yaml", "scripts:\n  a.py: 3\n", ':2: scripts."a.py": must be a table of settings'),
    # scripts that do not exist, or are not scripts inside the folder
    ("yaml", "scripts:\n  gone.py: {}\n", ':2: scripts."gone.py": no such script in'),
    ("toml", "[scripts.'../a.py']\n", 'scripts."../a.py": must be a script\'s path relative'),
    ("toml", "[scripts.'notes.txt']\n", 'scripts."notes.txt": is not a Python script'),
    # syntax
    ("toml", "[scripts.'a.py'\n", "aml2mlflow-verify.toml:1: invalid TOML"),
    ("yaml", "scripts:\n  a.py:\n    args: [x\n", "aml2mlflow-verify.yaml:4: invalid YAML"),
    (
        "yaml",
        "scripts:\n  a.py: {}\n  a.py: {}\n",
        ':3: scripts."a.py": duplicate key (first at line 2)',
    ),
]


@pytest.mark.parametrize(
    ("fmt", "text", "message"), BAD_CONFIGS, ids=[f"{f}: {m}" for f, _, m in BAD_CONFIGS]
)
def test_an_invalid_configuration_exits_2_naming_file_key_and_line(
    tmp_path: Path, fmt: str, text: str, message: str
) -> None:
    _write_tree(tmp_path, {"a.py": LEGACY_LINE, "notes.txt": ""})
    _config(tmp_path, fmt, text)
    result = CliRunner().invoke(main, ["verify", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert str(tmp_path / f"aml2mlflow-verify.{fmt}") in result.output
    assert message in " ".join(result.output.split()), result.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(LEGACY_LINE, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["verify", str(tmp_path), "--", "x"])
    assert result.exit_code == 2 and "a directory takes no script arguments" in result.output
    # two configuration files: which one counts would be a guess
    _config(tmp_path, "toml", "")
    _config(tmp_path, "yml", "")
    result = runner.invoke(main, ["verify", str(tmp_path)])
    assert result.exit_code == 2
    assert "aml2mlflow-verify.toml and aml2mlflow-verify.yml: keep one" in result.output
    (tmp_path / "aml2mlflow-verify.yml").unlink()
    # a folder with no legacy script (a.py's only legacy code is in an ignored folder)
    (tmp_path / ".gitignore").write_text("old/\n")
    (tmp_path / "old").mkdir()
    (tmp_path / "a.py").rename(tmp_path / "old" / "a.py")
    result = runner.invoke(main, ["verify", str(tmp_path)])
    assert result.exit_code == 2 and "no legacy script to verify" in result.output
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


def test_only_names_mlflow_makes_up_count_as_generated() -> None:
    from mlflow.utils.name_utils import _generate_random_name

    from migrate.verify import _is_generated_name

    assert all(_is_generated_name(_generate_random_name()) for _ in range(2000))
    assert _is_generated_name("bold-fox-0") and _is_generated_name("bold-fox-1000")
    for name in (
        "cv-fold-1",
        "train-split-2",
        "bold-fox-1001",
        "bold-fox-01",
        "bold-fox",
        "b-fox-1",
    ):
        assert not _is_generated_name(name), name


def _child_runs(
    client: Any, experiment: str, specs: list[tuple[str | None, int, int, int]]
) -> list[Any]:
    """Finished runs in a real store, from (name or None for MLflow's own, start, end, k param)."""
    runs = []
    for name, start, end, k in specs:
        run = client.create_run(experiment, start_time=start, run_name=name)
        client.log_param(run.info.run_id, "k", k)
        client.set_terminated(run.info.run_id, "FINISHED", end_time=end)
        runs.append(client.get_run(run.info.run_id))
    return runs


def test_nested_run_pairing_names_and_ties(store: str) -> None:
    from mlflow.tracking import MlflowClient

    from migrate.verify import Difference, _pair_children

    client = MlflowClient(store)
    experiment = client.create_experiment("pairing")

    def pair(
        old: list[Any], new: list[Any]
    ) -> tuple[list[tuple[str, Any, Any]], list[Difference], list[Difference]]:
        diffs: list[Difference] = []
        notes: list[Difference] = []
        return _pair_children(old, new, diffs, notes), diffs, notes

    # a user's name that only looks like MLflow's ("cv-fold-1") is a real name difference
    named = _child_runs(client, experiment, [("cv-fold-1", 1000, 1001, 0)])
    unnamed = _child_runs(client, experiment, [(None, 1000, 1001, 0)])
    _, diffs, notes = pair(named, unnamed)
    assert [(d.legacy, d.note) for d in diffs] == [("cv-fold-1", "the nested run's name differs")]
    assert not notes
    # two names MLflow made up are only a note
    other = _child_runs(client, experiment, [(None, 1000, 1001, 0)])
    _, diffs, notes = pair(unnamed, other)
    assert not diffs and [n.note for n in notes] == ["unnamed nested runs, paired in start order"]

    # runs started in the same millisecond pair by when they ended, never by their random ids,
    # both among runs of one name and among the unnamed runs paired in start order
    for name in ("fold", None):
        old = _child_runs(client, experiment, [(name, 5000, 5001 + k, k) for k in range(6)])
        new = _child_runs(client, experiment, [(name, 7000, 7001 + k, k) for k in range(6)])
        pairs, _, _ = pair(old[::-1], new)
        assert len(pairs) == 6
        got = [(x.data.params["k"], y.data.params["k"]) for _, x, y in pairs]
        assert got == [(str(k), str(k)) for k in range(6)], name


LOCKED_LEGACY = "from azureml.core import Run\nrun = Run.get_context()\nrun.log('x', 1)\n"


def test_a_folder_that_cannot_be_listed_is_an_error_not_a_script(tmp_path: Path) -> None:
    """`verify DIR` with a subfolder it may not list: the folder is reported as an error (exit 3),
    never verified as a script, and the scripts elsewhere are still verified."""
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    prefix: list[str] = []
    if is_root:  # mode 000 does not stop root: run as an unprivileged user
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is missing: mode 000 does not stop root")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    # Under setpriv the tree must be reachable by uid 65534: pytest's tmp_path is private to root.
    top = Path(tempfile.mkdtemp(prefix="aml2mlflow-verify-"))
    try:
        top.chmod(0o755)
        tree, home = top / "tree", top / "home"
        (tree / "locked").mkdir(parents=True)
        (tree / "locked" / "hidden.py").write_text(LOCKED_LEGACY, encoding="utf-8")
        (tree / "train.py").write_text(LOCKED_LEGACY, encoding="utf-8")
        home.mkdir()
        if is_root:
            for path in (home, tree, tree / "locked", *tree.rglob("*.py")):
                os.chown(path, 65534, 65534)
        (tree / "locked").chmod(0o000)
        env = {**os.environ, "HOME": str(home), "PYTHONUTF8": "1", "AML2MLFLOW_QUIET": "1"}
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
            env.pop(name, None)
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", "import migrate.cli, mlflow"],
            capture_output=True,
            timeout=300,
            cwd=home,
            env=env,
        )
        if probe.returncode != 0:
            pytest.skip(
                f"the unprivileged user cannot run this interpreter: {probe.stderr[-300:]!r}"
            )
        store = f"sqlite:///{home / 'mlflow.db'}"
        command = [*prefix, sys.executable, "-m", "migrate.cli", "verify", str(tree)]
        result = subprocess.run(
            [*command, "--json", "--tracking-uri", store],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=home,
            env=env,
        )
        assert result.returncode == 3, result.stderr
        data = json.loads(result.stdout)
        assert [v["script"] for v in data["scripts"]] == ["train.py"], data
        assert data["scripts"][0]["equivalent"], data
        # the script's own folder is copied for both runs, less what cannot be read
        assert {(n["kind"], n["key"]) for n in data["scripts"][0]["notes"]} >= {("copy", "locked")}
        denied = f"locked: cannot list directory: {os.strerror(errno.EACCES)}"
        assert data["errors"] == [denied]
        assert f"error: {denied}" in result.stderr.splitlines()
    finally:
        if (top / "tree" / "locked").exists():
            (top / "tree" / "locked").chmod(0o755)
        shutil.rmtree(top)


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


def test_two_runs_failing_differently_are_not_equivalent(tmp_path: Path, store: str) -> None:
    script = tmp_path / "step.py"
    script.write_text(
        "from azureml.core import Run\n\nrun = Run.get_context()\nrun.log('a', 1)\n"
        "raise ValueError('bad input')\n"
    )
    # same exit code (1), another error: a rewrite that breaks earlier must not pass as "alike"
    broken = rewrite_source(script.read_text(), "step.py").code.replace(
        "raise ValueError('bad input')", "raise KeyError('elsewhere')"
    )
    verdict = verify_script(script, tracking_uri=store, rewritten_source=broken)
    assert verdict.legacy_exit == verdict.rewritten_exit == 1
    assert not verdict.equivalent
    found = {(d.kind, d.key, d.legacy, d.rewritten) for d in verdict.differences}
    assert ("exit", "error", "ValueError: bad input", "KeyError: 'elsewhere'") in found
    assert "--- rewritten stderr" in verdict.stderr_tail

    # the same failure on both sides is a note
    verdict = verify_script(script, tracking_uri=store)
    assert verdict.equivalent, _explain(verdict)
    notes = {(n.kind, n.note) for n in verdict.notes}
    assert ("exit", "both failed alike: ValueError: bad input") in notes


def test_failures_that_differ_only_by_copy_folder_or_run_id_are_alike(
    tmp_path: Path, store: str
) -> None:
    script = tmp_path / "step.py"
    script.write_text(
        "import os\n\nfrom azureml.core import Run\n\nrun = Run.get_context()\nrun.log('a', 1)\n"
        "open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'missing.csv'))\n"
    )
    verdict = verify_script(script, tracking_uri=store)
    assert verdict.equivalent, _explain(verdict)
    assert any(n.note.startswith("both failed alike: FileNotFoundError") for n in verdict.notes)
