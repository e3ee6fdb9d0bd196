"""Shared fixtures: a real MLflow local store per test, a real `mlflow server` per session, and a
temporary PostgreSQL cluster per session for the tests that need one."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mlflow_server import start_server, stop_server
from tests.pg import Postgres, PostgresUnavailable, start_postgres

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def audit_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The CLI's audit cache for this session (and the processes it starts), not the user's."""
    path = tmp_path_factory.mktemp("audit-cache")
    before = os.environ.get("AML2MLFLOW_CACHE_DIR")
    os.environ["AML2MLFLOW_CACHE_DIR"] = str(path)
    yield path
    if before is None:
        os.environ.pop("AML2MLFLOW_CACHE_DIR", None)
    else:
        os.environ["AML2MLFLOW_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def empty_store_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite database with its schema made once (~1.5 s; a copy takes ~5 ms)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store_db: Path) -> str:
    """A fresh sqlite MLflow store in the test's own folder, which is also the working directory."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(empty_store_db, db)
    with sqlite3.connect(db) as con:  # the Default experiment's artifacts go to this folder too
        con.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
            (str(tmp_path / "mlruns" / "0"),),
        )
    con.close()
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("AML2MLFLOW_QUIET", "1")
    monkeypatch.setenv("AML2MLFLOW_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture
def shim(store: str) -> Iterator[str]:
    """The in-process shim against `store`: a new session before the test, closed after it."""
    from shims import session

    session.reset()
    yield store
    session.reset()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real `mlflow server` on 127.0.0.1, shared by the session, stopped after it."""
    proc, url = start_server(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A temporary PostgreSQL cluster on 127.0.0.1 (`tests.pg`), removed after the session.

    Skips, with the reason, where PostgreSQL's server binaries are missing or it cannot start.
    `postgres.create_database(name)` gives a database's SQLAlchemy URL.
    """
    try:
        pg = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL: {exc}")
    try:
        yield pg
    finally:
        pg.stop()


def run_shim(
    script: Path | str,
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m shims script args...` in a subprocess, as a user would."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "shims", str(script), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
