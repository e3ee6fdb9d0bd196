"""Load benchmark: 8 processes and 8 threads log through the shim into one `mlflow server` on PostgreSQL.

    .venv/bin/python bench/bench_load.py [--values N] [--workers W]

The same load as tests/test_load.py (tests/load.py): 8 legacy training processes, each
`python -m shims tests/load_worker.py` with its own run, plus one process whose 8 threads share its
run, 1,000,000 metric values in all by default, against a real `mlflow server` whose backend store
is a temporary PostgreSQL cluster on 127.0.0.1. It reports the end-to-end throughput (from the first
value logged to the last `run.flush()` returning), the CPU time of the server and of PostgreSQL
meanwhile, and what PostgreSQL's `metrics` table holds afterwards (records lost must be 0). Prints
a Markdown table and writes bench/load_results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "load_results.json"
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from tests.load import check_postgres, load_values, run_load  # noqa: E402
from tests.mlflow_server import start_server, stop_server  # noqa: E402
from tests.pg import PostgresUnavailable, start_postgres  # noqa: E402


def bench(values: int, workers: int, durable: bool) -> dict[str, Any]:
    """Start PostgreSQL and the server, run the load, read it back; stop everything."""
    pg = start_postgres(durable=durable)
    try:
        version = subprocess.run(
            [str(pg.bin_dir / "postgres"), "--version"], capture_output=True, text=True
        ).stdout.strip()
        uri = pg.create_database("mlflow")
        with tempfile.TemporaryDirectory(prefix="aml2mlflow-bench-load-") as tmp:
            t0 = time.perf_counter()
            proc, url = start_server(Path(tmp) / "server", backend_store_uri=uri, workers=workers)
            try:
                started = time.perf_counter() - t0
                print(f"[load] server on PostgreSQL ready in {started:.1f} s", file=sys.stderr)
                print(f"[load] logging {values:,} values", file=sys.stderr)
                result = run_load(
                    url, Path(tmp) / "load", values, groups={"server": proc.pid, "postgres": pg.pid}
                )
            finally:
                stop_server(proc)
        expected = result.pop("expected")
        del result["run_ids"]  # random ids, of no use once the database is gone
        print("[load] reading the metrics table back", file=sys.stderr)
        t0 = time.perf_counter()
        stored = check_postgres(uri, expected)
        stored["seconds"] = time.perf_counter() - t0
    finally:
        pg.stop()
    seconds = result["seconds"]
    cpu = result.pop("cpu_seconds")
    result.update(
        {
            "postgres_version": version,
            "postgres_durable": durable,
            "server_workers": workers,
            "server_start_seconds": started,
            "server_cpu_seconds": cpu["server"],
            "server_cpu_percent_of_one_core": 100 * cpu["server"] / seconds,
            "postgres_cpu_seconds": cpu["postgres"],
            "postgres_cpu_percent_of_one_core": 100 * cpu["postgres"] / seconds,
            "client_cpu_percent_of_one_core": 100 * result["client_cpu_seconds"] / seconds,
            "cores": len(os.sched_getaffinity(0)),
            "other_cpu_seconds": result["machine_cpu_seconds"]
            - cpu["server"]
            - cpu["postgres"]
            - result["client_cpu_seconds"],
            "stored": stored,
        }
    )
    return result


def table(r: dict[str, Any]) -> str:
    s = r["stored"]
    rows = [
        ("values logged", f"{r['values']:,}"),
        (
            "loggers",
            f"{r['processes']} processes (`python -m shims`, a run each) + "
            f"{r['threads']} threads of one more process (one shared run); {r['keys']} keys",
        ),
        ("duration, first value logged to last `run.flush()` returned", f"{r['seconds']:.1f} s"),
        ("**throughput, end to end**", f"**{r['per_second']:,.0f} values/s**"),
        ("time the training loops spent in `run.log`/`log_list`", f"{r['logging_seconds']:.2f} s"),
        (
            f"`mlflow server` CPU ({r['server_workers']} workers), user+sys",
            f"{r['server_cpu_seconds']:.1f} s = {r['server_cpu_percent_of_one_core']:.0f}% "
            "of one core",
        ),
        (
            "PostgreSQL CPU, user+sys",
            f"{r['postgres_cpu_seconds']:.1f} s = {r['postgres_cpu_percent_of_one_core']:.0f}% "
            "of one core",
        ),
        (
            "the 9 logging processes' CPU, user+sys",
            f"{r['client_cpu_seconds']:.1f} s = {r['client_cpu_percent_of_one_core']:.0f}% "
            "of one core",
        ),
        (
            "everything else on the machine meanwhile, user+sys",
            f"{r['other_cpu_seconds']:.1f} s (all cores were busy {r['machine_cpu_seconds']:.0f} "
            f"of {r['cores'] * r['seconds']:.0f} core-seconds)",
        ),
        ("points in PostgreSQL's `metrics` table", f"{s['stored']:,} of {s['expected']:,}"),
        ("**records lost**", f"**{s['lost']:,}**"),
        ("points stored twice or wrong", f"{s['extra']:,}"),
        ("per-key order violations (timestamp or transaction)", f"{s['order_violations']:,}"),
    ]
    lines = ["| Measurement | Result |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally`s that stop the servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--values", type=int, default=None, help="metric values in all (default 1,000,000)"
    )
    parser.add_argument("--workers", type=int, default=4, help="mlflow server workers")
    parser.add_argument(
        "--fast-pg",
        action="store_true",
        help="PostgreSQL without fsync/synchronous_commit, as in the test (default: its defaults)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    values = args.values if args.values is not None else load_values()

    signal.signal(signal.SIGTERM, _on_sigterm)
    info = machine()
    try:
        result = bench(values, args.workers, durable=not args.fast_pg)
    except PostgresUnavailable as exc:
        print(f"bench_load: PostgreSQL is not available: {exc}", file=sys.stderr)
        return 2
    results = {
        "command": " ".join([".venv/bin/python", "bench/bench_load.py", *sys.argv[1:]]),
        "machine": info,
        **result,
    }
    problems = result["stored"]["problems"]
    results["all_correct"] = not problems
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    load = ", ".join(f"{x:.2f}" for x in info["load_average"])
    print(
        f"\n{info['date']}, nproc {info['nproc']}, Python {info['python']}, mlflow "
        f"{info['mlflow']}, {result['postgres_version']}, load average at start {load}"
    )
    print(f"`{results['command']}`\n")
    print(table(result))
    print(f"\nresults written to {args.json}")
    if problems:
        print("\nCORRECTNESS FAILURES:\n  " + "\n  ".join(problems[:20]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
