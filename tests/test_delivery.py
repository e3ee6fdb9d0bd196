"""Nothing is lost when the tracking server goes away: retried, or spooled and replayed once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT
from tests.mlflow_server import free_port, start_server, stop_server

SCRIPT = """
import pathlib, sys, time
from azureml.core import Run
run = Run.get_context()
for i in range(300):
    run.log("m", float(i))
run.flush()
pathlib.Path("phase1").write_text(run.id)
while not pathlib.Path("go").exists():
    time.sleep(0.05)
for i in range(300, 600):
    run.log("m", float(i))
run.log_row("t", a=1)
run.upload_file("copy.py", __file__)
if sys.argv[1:] == ["flush"]:
    run.flush()
    pathlib.Path("flushed").write_text("1")
"""


def _wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"script ended early: {proc.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {path.name}"
        time.sleep(0.05)


def _start_script(tmp_path: Path, url: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "work" / "train.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(SCRIPT)
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        MLFLOW_TRACKING_URI=url,
        AML2MLFLOW_EXIT_TIMEOUT="3",
        AML2MLFLOW_QUIET="1",
        AML2MLFLOW_SPOOL_DIR=str(tmp_path / "spool"),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "shims", str(script), *args],
        cwd=script.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_run(url: str, run_id: str) -> None:
    client = MlflowClient(url)
    history = client.get_metric_history(run_id, "m")
    assert sorted((m.step, m.value) for m in history) == [(i, float(i)) for i in range(600)]
    assert len(history) == 600  # exactly once
    assert client.get_run(run_id).info.status == "FINISHED"
    names = {f.path for f in client.list_artifacts(run_id)}
    assert {"copy.py", "tables"} <= names


@pytest.mark.server
def test_server_down_at_exit_spools_then_replay_lands_everything_once(tmp_path: Path) -> None:
    port = free_port()
    server, url = start_server(tmp_path / "server", port)
    try:
        proc = _start_script(tmp_path, url)
        _wait_for(tmp_path / "work" / "phase1", proc)
    finally:
        stop_server(server)
    (tmp_path / "work" / "go").write_text("1")
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "replay them with: python -m shims.replay" in err
    (folder,) = (tmp_path / "spool").iterdir()
    assert str(folder) in err
    run_id = (tmp_path / "work" / "phase1").read_text()

    server, url = start_server(tmp_path / "server", port)
    try:
        cli = Path(sys.executable).with_name("aml2mlflow")
        replay = subprocess.run(
            [str(cli), "replay", str(folder)], capture_output=True, text=True, timeout=180
        )
        assert replay.returncode == 0, replay.stderr
        _check_run(url, run_id)
        again = subprocess.run(
            [str(cli), "replay", str(folder)], capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 1 and "already replayed" in again.stderr
        _check_run(url, run_id)
    finally:
        stop_server(server)


@pytest.mark.server
def test_server_back_mid_run_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    server, url = start_server(tmp_path / "server", port)
    try:
        proc = _start_script(tmp_path, url, "flush")
        _wait_for(tmp_path / "work" / "phase1", proc)
    finally:
        stop_server(server)
    (tmp_path / "work" / "go").write_text("1")
    time.sleep(3)  # the script logs and flush() blocks while the server is away
    assert not (tmp_path / "work" / "flushed").exists()
    server, url = start_server(tmp_path / "server", port)
    try:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        assert not (tmp_path / "spool").exists()
        _check_run(url, (tmp_path / "work" / "phase1").read_text())
    finally:
        stop_server(server)
