"""A real `mlflow server` on 127.0.0.1 for tests and benchmarks: start it, wait for it, stop it.

Started in its own folder and process group with job execution off (it would start 7 extra
processes) and one worker; ready when GET /health answers; stopped with SIGTERM to the group. The
backend store is a sqlite file in the folder unless a `backend_store_uri` is given (for example
`postgresql://...` from `tests.pg`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    folder: Path,
    port: int | None = None,
    backend_store_uri: str | None = None,
    workers: int = 1,
    ready_timeout: float = 120,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `mlflow server` on 127.0.0.1 in its own process group; return once /health answers.

    The store is `backend_store_uri`, by default a new sqlite database `server.db` in `folder`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = folder / "server.log"
    cmd = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        backend_store_uri or f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=folder, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mlflow server exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                    if r.status == 200:
                        return proc, url
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"mlflow server did not answer /health within {ready_timeout:g} s")
    except BaseException:
        stop_server(proc)
        raise


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group; SIGKILL it if it has not exited after 20 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
