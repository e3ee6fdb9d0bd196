"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests and benchmarks: make it, start it, remove it.

    pg = start_postgres()             # raises PostgresUnavailable with the reason when it cannot
    try:
        uri = pg.create_database("mlflow")    # postgresql+psycopg2://postgres@127.0.0.1:PORT/mlflow
    finally:
        pg.stop()                      # stops every PostgreSQL process and deletes the cluster

The server binaries (`initdb`, `postgres`, `pg_isready`, `createdb`) are taken from PATH, else from
Debian's /usr/lib/postgresql/<version>/bin (the newest version). The cluster lives in a new temporary
folder: `initdb` with trust authentication for the superuser `postgres`, the server listening on
127.0.0.1 only (a free port) with its unix socket in that folder, in its own process group. PostgreSQL
refuses to run as root: as root, the cluster is owned by and run as the `postgres` system user when
there is one, else `nobody`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.mlflow_server import free_port

TOOLS = ("initdb", "postgres", "pg_isready", "createdb")
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be used here; the message says why (tests skip with it)."""


def find_bin_dir() -> Path | None:
    """The folder holding PostgreSQL's server binaries: PATH first, then Debian's layout."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        folder = Path(found).resolve().parent
        if all((folder / tool).exists() for tool in TOOLS):
            return folder

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", path))

    for folder_name in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        folder = Path(folder_name)
        if all((folder / tool).exists() for tool in TOOLS):
            return folder
    return None


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run PostgreSQL as when we are root; None when we are not."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable(
        "running as root, and there is neither a `postgres` nor a `nobody` account to run "
        "PostgreSQL as (it refuses to run as root)"
    )


@dataclass
class Postgres:
    """A running temporary cluster; `stop()` ends it and deletes its folder."""

    bin_dir: Path
    folder: Path
    port: int
    proc: subprocess.Popen[bytes]
    user: pwd.struct_passwd | None
    databases: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def pid(self) -> int:
        """The postmaster's pid, which is also its process group (its backends are in it)."""
        return self.proc.pid

    def url(self, database: str) -> str:
        """The libpq URL of `database` (`psycopg2.connect(url)`, `psql url`)."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def sqlalchemy_url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` (MLflow's `--backend-store-uri`), naming the driver.

        psycopg2 explicitly: SQLAlchemy 2.1 made a bare `postgresql://` mean psycopg 3.
        """
        return f"postgresql+psycopg2://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name`; return its SQLAlchemy URL."""
        out = subprocess.run(
            [
                str(self.bin_dir / "createdb"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                name,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {out.stderr.strip()}")
        self.databases.append(name)
        return self.sqlalchemy_url(name)

    def log(self) -> str:
        return (self.folder / "postgres.log").read_text(errors="replace")

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster); SIGKILL to its group after 20 s; delete."""
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGINT)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            # Backends left behind by a killed postmaster exit on their own; make sure of it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(durable: bool = False, attempts: int = 3) -> Postgres:
    """Make and start a temporary cluster; raise PostgresUnavailable when that is impossible.

    `durable=False` (tests) turns off fsync and synchronous commit, which only matter after a crash
    of the machine; `durable=True` keeps PostgreSQL's defaults (benchmarks).
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            "PostgreSQL's server binaries (initdb, postgres) are not on PATH nor under "
            "/usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)"
        )
    user = _run_as()
    # Not under pytest's tmp folders: those are private to root, and PostgreSQL may run as another
    # account. A short path, too: the unix socket's path is limited to about 100 bytes.
    folder = Path(tempfile.mkdtemp(prefix="aml2mlflow-pg-"))
    try:
        return _start(bin_dir, folder, user, durable, attempts)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _start(
    bin_dir: Path, folder: Path, user: pwd.struct_passwd | None, durable: bool, attempts: int
) -> Postgres:
    data = folder / "data"
    sock = folder / "sock"
    sock.mkdir()
    as_user: dict[str, object] = {}
    if user is not None:
        for path in (folder, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "LC_ALL": "C",
        "LANG": "C",
        "TZ": "UTC",
    }
    init = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        **as_user,  # type: ignore[arg-type]
    )
    if init.returncode != 0:
        raise PostgresUnavailable(f"initdb failed: {(init.stderr or init.stdout).strip()[-1000:]}")
    settings = ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100"]
    if not durable:
        settings += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
        settings += ["-c", "full_page_writes=off"]
    last = ""
    for _ in range(attempts):  # another program may take the free port before the server does
        port = free_port()
        log_path = folder / "postgres.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data),
                    "-k",
                    str(sock),
                    "-p",
                    str(port),
                    *settings,
                ],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **as_user,  # type: ignore[arg-type]
            )
        pg = Postgres(bin_dir, folder, port, proc, user)
        try:
            if _wait_ready(pg):
                return pg
        except BaseException:
            _halt(pg)
            raise
        last = log_path.read_text(errors="replace")[-1500:]
        _halt(pg)
    raise PostgresUnavailable(f"the PostgreSQL server did not start: {last.strip()}")


def _halt(pg: Postgres) -> None:
    """Stop a server without deleting the cluster (used between start attempts)."""
    if pg.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pg.proc.pid, signal.SIGKILL)
        pg.proc.wait()


def _wait_ready(pg: Postgres, seconds: float = 60) -> bool:
    """True once the server accepts connections on its port; False if it exited or timed out."""
    deadline = time.monotonic() + seconds
    cmd = [
        str(pg.bin_dir / "pg_isready"),
        "-q",
        "-h",
        pg.host,
        "-p",
        str(pg.port),
        "-U",
        SUPERUSER,
        "-d",
        "postgres",
    ]
    while time.monotonic() < deadline:
        if pg.proc.poll() is not None:
            return False
        if subprocess.run(cmd, timeout=30).returncode == 0:
            return True
        time.sleep(0.1)
    return False
