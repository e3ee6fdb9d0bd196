"""`python -m shims` and `aml2mlflow run` behave like plain `python script.py`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, run_shim

QUIET = {"AML2MLFLOW_QUIET": "1"}


def plain(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def only_run(experiment: str) -> object:
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    (run,) = client.search_runs([exp.experiment_id])
    return run


def test_argv_name_and_path_as_with_python(store: str, tmp_path: Path) -> None:
    script = tmp_path / "show.py"
    script.write_text(
        "import json, os, sys\n"
        "print(json.dumps([sys.argv, __name__, os.path.realpath(sys.path[0])]))\n"
    )
    args = ("--epochs", "3", "-x", "a b")
    assert run_shim(script, *args, cwd=tmp_path).stdout == plain(script, *args, cwd=tmp_path).stdout
    assert json.loads(plain(script, *args, cwd=tmp_path).stdout)[0] == [str(script), *args]


def test_traceback_and_exit_code_as_with_python(store: str, tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text("def inner():\n    raise ValueError('bad value')\n\ninner()\n")
    shimmed, bare = run_shim(script, cwd=tmp_path, env=QUIET), plain(script, cwd=tmp_path)
    assert (
        (shimmed.returncode, shimmed.stderr) == (bare.returncode, bare.stderr) == (1, bare.stderr)
    )
    assert bare.stderr.startswith("Traceback (most recent call last):\n  File ")


def test_sys_exit_codes_pass_through(store: str, tmp_path: Path) -> None:
    script = tmp_path / "leave.py"
    script.write_text("import sys\nsys.exit(int(sys.argv[1]) if sys.argv[1:] else 'msg')\n")
    assert run_shim(script, "0", cwd=tmp_path).returncode == 0
    assert run_shim(script, "3", cwd=tmp_path).returncode == 3
    out = run_shim(script, cwd=tmp_path, env=QUIET)
    assert (out.returncode, out.stderr) == (1, "msg\n")


def test_failing_script_ends_run_failed_with_metrics_kept(store: str, tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text(
        "from azureml.core import Run\n"
        "run = Run.get_context()\n"
        "for i in range(50):\n"
        "    run.log('loss', 1.0 / (i + 1))\n"
        "raise RuntimeError('diverged')\n"
    )
    out = run_shim(script, cwd=tmp_path, env=QUIET)
    assert out.returncode == 1 and "RuntimeError: diverged" in out.stderr
    run = only_run("fails")
    assert run.info.status == "FAILED"
    assert run.data.tags["aml2mlflow.error"] == "RuntimeError: diverged"
    history = MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(i, 1.0 / (i + 1)) for i in range(50)]


def test_sigterm_flushes_and_ends_run_killed(store: str, tmp_path: Path) -> None:
    script = tmp_path / "long.py"
    script.write_text(
        "import pathlib, time\n"
        "from azureml.core import Run\n"
        "run = Run.get_context()\n"
        "for i in range(2000):\n"
        "    run.log('step_metric', float(i))\n"
        "pathlib.Path('ready').write_text('1')\n"
        "time.sleep(120)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), **QUIET)
    proc = subprocess.Popen([sys.executable, "-m", "shims", str(script)], cwd=tmp_path, env=env)
    deadline = time.monotonic() + 120
    while not (tmp_path / "ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    # Still dies of SIGTERM, as without the shim. Its exit flush may take the exit timeout (30 s)
    # and the close grace (10 s) before it spools: on a loaded machine (the suite runs one worker
    # per core, beside the load test) 60 s proved too short once.
    assert proc.wait(150) == -signal.SIGTERM
    run = only_run("long")
    assert run.info.status == "KILLED"
    history = MlflowClient().get_metric_history(run.info.run_id, "step_metric")
    assert len(history) == 2000 and {m.step for m in history} == set(range(2000))


def test_module_mode_and_cli_run(store: str, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "train.py").write_text(
        "import sys\nfrom azureml.core.run import Run\n"
        "Run.get_context().log('arg', float(sys.argv[1]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), MLFLOW_EXPERIMENT_NAME="modes")
    env.pop("AML2MLFLOW_QUIET", None)
    subprocess.run(
        [sys.executable, "-m", "shims", "-m", "pkg.train", "1"],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=120,
    )
    cli = Path(sys.executable).with_name("aml2mlflow")
    out = subprocess.run(
        [str(cli), "run", str(pkg / "train.py"), "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "mlflow ui --backend-store-uri" in out.stderr  # says where to look
    client = MlflowClient()
    exp = client.get_experiment_by_name("modes")
    values = sorted(r.data.metrics["arg"] for r in client.search_runs([exp.experiment_id]))
    assert values == [1.0, 2.0]


def test_missing_script_is_a_usage_error(store: str, tmp_path: Path) -> None:
    out = run_shim(tmp_path / "nope.py", cwd=tmp_path)
    assert out.returncode == 2 and "can't open file" in out.stderr
