"""The concurrent load through the shim, shared by `tests/test_load.py` and `bench/bench_load.py`.

`run_load` starts PROCESSES training processes (`python -m shims tests/load_worker.py`, one unit
each, each its own run) and one more process whose THREADS threads log one unit each into that
process's run, all against one `mlflow server`. Every worker creates its run and waits; the harness
then releases them at once and waits until each says its `run.flush()` returned (everything stored).
It measures the wall time from the first value logged to the last flush returning, and the CPU time
the server's and PostgreSQL's process groups spent meanwhile.

`check_postgres` then reads the stored points straight from PostgreSQL's `metrics` table, with one
aggregate query, and counts per key: points stored, points with the right step and value (each
exactly once), and order violations. Order is checked two ways: timestamps never go down as the
steps go up, and neither does the id of the transaction that stored the point (PostgreSQL's `xmin`),
so a later point of a key was never stored by an earlier request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.load_worker import key_counts, key_name, unit_values, value

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().with_name("load_worker.py")

VALUES = 1_000_000  # the load: metric values in all
VALUES_ENV = "AML2MLFLOW_LOAD_VALUES"  # overrides VALUES (smaller runs while developing)
PROCESSES = 8
THREADS = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")


def load_values() -> int:
    """VALUES, or the count in AML2MLFLOW_LOAD_VALUES."""
    raw = os.environ.get(VALUES_ENV, "").replace("_", "").replace(",", "")
    return int(raw) if raw else VALUES


# -- CPU accounting ------------------------------------------------------------------------------
def _stat(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()  # fields 3.. (the name may hold spaces)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and all its live descendants (Linux /proc).

    Children they have already reaped count too (cutime/cstime): PostgreSQL's backends that ended,
    a server's restarted workers. By tree, not by process group: PostgreSQL's backends call
    setsid() and leave the postmaster's group.
    """
    children: dict[int, list[int]] = {}
    times: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(entry)
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        times[int(entry)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        total += times.get(p, 0)
        todo.extend(children.get(p, ()))
    return total / CLK_TCK


def machine_cpu_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (Linux /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (its own threads; children not included)."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


# -- the load ------------------------------------------------------------------------------------
@dataclass
class Worker:
    units: list[int]
    proc: subprocess.Popen[str]
    stderr: Path
    run_id: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    cpu: float = 0.0

    timed_out: bool = False

    def fail(self, what: str) -> AssertionError:
        self.proc.kill()
        self.proc.wait()
        if self.timed_out:
            what += " (killed: the load's time limit passed)"
        tail = self.stderr.read_text(errors="replace")[-3000:]
        return AssertionError(f"worker for units {self.units} {what}; stderr:\n{tail}")

    def line(self) -> dict[str, Any]:
        """The worker's next JSON line (anything else it prints is skipped)."""
        assert self.proc.stdout is not None
        while True:
            text = self.proc.stdout.readline()
            if not text:
                raise self.fail(f"ended (exit {self.proc.wait()}) before reporting")
            if text.startswith("{"):
                return dict(json.loads(text))


def run_load(
    url: str,
    folder: Path,
    total: int,
    processes: int = PROCESSES,
    threads: int = THREADS,
    groups: dict[str, int] | None = None,
    timeout: float = 900,
) -> dict[str, Any]:
    """Run the load against the server at `url`; return timings, CPU and the expected points.

    `groups` names processes (e.g. {"server": pid, "postgres": pid}) whose CPU time during the
    load, their descendants' included, is measured. The workers' own stdout/stderr go to `folder`.
    Workers still running `timeout` seconds after the start (a deadlock) are killed: it fails.
    """
    folder.mkdir(parents=True, exist_ok=True)
    units = processes + threads
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=url,
        MLFLOW_EXPERIMENT_NAME="load",
        AML2MLFLOW_QUIET="1",
        AML2MLFLOW_SPOOL_DIR=str(folder / "spool"),
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true",
        DO_NOT_TRACK="true",
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    plan = [[u] for u in range(processes)]
    if threads:
        plan.append(list(range(processes, units)))
    workers: list[Worker] = []

    def time_is_up() -> None:
        for w in workers:
            w.timed_out = True
            if w.proc.poll() is None:
                w.proc.kill()

    watchdog = threading.Timer(timeout, time_is_up)
    watchdog.start()
    try:
        for group in plan:
            args = ["--total", str(total), "--processes", str(processes), "--threads", str(threads)]
            args += ["--threaded"] if group[0] >= processes else ["--unit", str(group[0])]
            err = folder / f"worker-{group[0]:02d}.stderr"
            with open(err, "wb") as stderr:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "shims", str(WORKER), *args],
                    cwd=folder,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
            workers.append(Worker(group, proc, err))
        for w in workers:  # every run created: MLflow imported, experiment found, run started
            w.run_id = str(w.line()["ready"])
        groups = groups or {}
        cpu_before = {name: tree_cpu_seconds(pid) for name, pid in groups.items()}
        machine_before = machine_cpu_seconds()
        client_before = [process_cpu_seconds(w.proc.pid) for w in workers]
        for w in workers:
            assert w.proc.stdin is not None
            w.proc.stdin.write("go\n")
            w.proc.stdin.close()
        for w in workers:
            w.report = w.line()
        cpu = {name: tree_cpu_seconds(pid) - cpu_before[name] for name, pid in groups.items()}
        machine = machine_cpu_seconds() - machine_before
        for w, before in zip(workers, client_before):
            w.cpu = process_cpu_seconds(w.proc.pid) - before
        for w in workers:
            code = w.proc.wait()
            if code != 0:
                raise w.fail(f"exited with {code}")
    finally:
        watchdog.cancel()
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
            for stream in (w.proc.stdin, w.proc.stdout):
                if stream is not None and not stream.closed:
                    stream.close()

    first = min(w.report["first"] for w in workers)
    flushed = max(w.report["flushed"] for w in workers)
    seconds = flushed - first
    values = unit_values(total, processes, threads)
    expected = [
        (w.run_id, key_name(u, k), n, value(u, k, 0))
        for w in workers
        for u in w.units
        for k, n in enumerate(key_counts(values[u]))
    ]
    return {
        "values": total,
        "processes": processes,
        "threads": threads,
        "keys": len(expected),
        "run_ids": [w.run_id for w in workers],
        "seconds": seconds,
        "per_second": total / seconds,
        "logging_seconds": max(w.report["logged"] for w in workers) - first,
        "cpu_seconds": cpu,
        "client_cpu_seconds": sum(w.cpu for w in workers),
        "machine_cpu_seconds": machine,  # all cores, every process: shows what else was running
        "expected": expected,
    }


# -- reading back --------------------------------------------------------------------------------
_CHECK = """
WITH m AS (
    SELECT run_uuid, key, step, value, is_nan, timestamp, xmin::text::bigint AS tx,
           lag(timestamp) OVER w AS prev_ts,
           lag(xmin::text::bigint) OVER w AS prev_tx
    FROM metrics
    WHERE run_uuid IN (SELECT DISTINCT run_uuid FROM expected)
    WINDOW w AS (PARTITION BY run_uuid, key ORDER BY step, timestamp)
)
SELECT m.run_uuid, m.key, e.n,
       count(*) AS stored,
       count(DISTINCT m.step) FILTER (
           WHERE m.step BETWEEN 0 AND e.n - 1 AND m.value = m.step + e.off AND NOT m.is_nan
       ) AS good,
       count(*) FILTER (WHERE m.timestamp < m.prev_ts) AS ts_back,
       count(*) FILTER (WHERE m.tx < m.prev_tx) AS tx_back
FROM m
LEFT JOIN expected e ON e.run_uuid = m.run_uuid AND e.key = m.key
GROUP BY m.run_uuid, m.key, e.n
"""


def check_postgres(uri: str, expected: list[tuple[str, str, int, float]]) -> dict[str, Any]:
    """Count, per expected key, what PostgreSQL's `metrics` table holds; see the module doc."""
    import psycopg2

    con = psycopg2.connect(uri.replace("+psycopg2", "", 1))  # libpq wants no driver name
    try:
        cur = con.cursor()
        cur.execute(
            "CREATE TEMP TABLE expected (run_uuid text, key text, n bigint, off double precision)"
        )
        cur.executemany("INSERT INTO expected VALUES (%s, %s, %s, %s)", expected)
        cur.execute(_CHECK)
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM metrics")
        (table_rows,) = cur.fetchone()
    finally:
        con.close()
    found = {(r[0], r[1]): r for r in rows}
    problems: list[str] = []
    lost = extra = ts_back = tx_back = stored = 0
    for run_id, key, n, _ in expected:
        row = found.pop((run_id, key), None)
        if row is None:
            lost += n
            problems.append(f"{run_id}/{key}: nothing stored, {n} expected")
            continue
        _, _, _, count, good, ts, tx = row
        stored += count
        lost += n - good
        extra += count - good
        ts_back += ts
        tx_back += tx
        if good != n or count != n or ts or tx:
            problems.append(
                f"{run_id}/{key}: {count} stored, {good} of {n} right once, "
                f"{ts} timestamp and {tx} transaction order violations"
            )
    for (run_id, key), row in found.items():
        stored += row[3]
        extra += row[3]
        problems.append(f"{run_id}/{key}: {row[3]} points under a key nobody logged")
    return {
        "expected": sum(e[2] for e in expected),
        "stored": stored,
        "lost": lost,
        "extra": extra,
        "order_violations": ts_back + tx_back,
        "table_rows": table_rows,
        "problems": problems,
    }
