"""Benchmark of the runtime shim against plain MLflow, on a sqlite store and on a `mlflow server`.

    .venv/bin/python bench/bench_shim.py [--quick]

Prints a Markdown table and writes bench/results.json. See bench/README.md for what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results.json"

TARGET_IMPORT_MS = 50.0
TARGET_RATIO = 0.67
TARGET_MEDIAN_US = 20.0

BATCH = 1000  # MLflow's log_batch limit of metrics per request
IMPORT_RUNS = 5
EXPERIMENT = "bench"

# (N, mlflow.log_metric count on sqlite, mlflow.log_metric count on the server)
SIZES = {"full": (100_000, 2000, 500), "quick": (20_000, 500, 200)}

_IMPORT_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import shims
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({"ms": ms, "mlflow_loaded": "mlflow" in sys.modules}))
"""


# -- 1. import time ------------------------------------------------------------------------------
def measure_import(runs: int = IMPORT_RUNS) -> dict[str, Any]:
    """`import shims` in fresh interpreters: time of the import statement and of the process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    import_ms: list[float] = []
    process_ms: list[float] = []
    mlflow_loaded = False
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        process_ms.append((time.perf_counter() - t0) * 1000)
        probe = json.loads(out.stdout.strip().splitlines()[-1])
        import_ms.append(float(probe["ms"]))
        mlflow_loaded = mlflow_loaded or bool(probe["mlflow_loaded"])
    median = statistics.median(import_ms)
    return {
        "runs": runs,
        "import_ms": import_ms,
        "median_ms": median,
        "process_median_ms": statistics.median(process_ms),
        "mlflow_loaded": mlflow_loaded,
        "target_ms": TARGET_IMPORT_MS,
        "met": median < TARGET_IMPORT_MS and not mlflow_loaded,
    }


# -- tracking stores -----------------------------------------------------------------------------
@contextmanager
def sqlite_store(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / 'mlflow.db'}"


@contextmanager
def server_store(folder: Path) -> Iterator[str]:
    from tests.mlflow_server import start_server, stop_server  # ROOT is on sys.path (main)

    proc, url = start_server(folder)
    try:
        yield url
    finally:
        stop_server(proc)


def bind(uri: str) -> None:
    """Point MLflow and a new shim session at `uri` (closing the previous session)."""
    import mlflow

    import shims.session

    shims.session.reset()
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)


# -- 2. measurements on one store ----------------------------------------------------------------
def verify(client: Any, run_id: str, key: str, values: list[float]) -> str | None:
    """None if the run's history of `key` is exactly `values` at steps 0..N-1, else the problem."""
    history = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
    if len(history) != len(values):
        return f"{key!r}: {len(history)} values stored, expected {len(values)}"
    for i, (m, v) in enumerate(zip(history, values, strict=True)):
        if m.step != i:
            return f"{key!r}: step {m.step} stored where step {i} was expected"
        if m.value != v:
            return f"{key!r}: step {i} stored {m.value!r}, expected {v!r}"
    return None


def _shim_run() -> Any:
    from shims.run import Experiment

    return Experiment(None, EXPERIMENT).start_logging(outputs=None)


def _timed(
    client: Any, run: Any, key: str, values: list[float], body: Callable[[], None]
) -> dict[str, Any]:
    """Time `body` plus `run.flush()`, then end the run and check what was stored."""
    t0 = time.perf_counter()
    body()
    run.flush()
    seconds = time.perf_counter() - t0
    run.complete()
    return {
        "n": len(values),
        "seconds": seconds,
        "per_second": len(values) / seconds,
        "error": verify(client, run.id, key, values),
    }


def bench_shim_log(client: Any, values: list[float]) -> dict[str, Any]:
    """a. N `run.log("loss", v)` calls, then flush."""
    run = _shim_run()

    def body() -> None:
        log = run.log
        for v in values:
            log("loss", v)

    return _timed(client, run, "loss", values, body)


def bench_shim_log_list(client: Any, values: list[float]) -> dict[str, Any]:
    """b. One `run.log_list("l", values)`, then flush."""
    run = _shim_run()
    return _timed(client, run, "l", values, lambda: run.log_list("l", values))


def bench_shim_latency(client: Any, values: list[float]) -> dict[str, Any]:
    """e. Each `run.log` call timed on its own, as the training loop sees it."""
    run = _shim_run()
    lat = [0] * len(values)
    clock = time.perf_counter_ns
    log = run.log
    for i, v in enumerate(values):
        t = clock()
        log("loss", v)
        lat[i] = clock() - t
    run.flush()
    run.complete()
    lat.sort()
    n = len(lat)
    median_us = statistics.median(lat) / 1000
    return {
        "n": n,
        "median_us": median_us,
        "p99_us": lat[min(n - 1, int(n * 0.99))] / 1000,
        "max_us": lat[-1] / 1000,
        "met": median_us < TARGET_MEDIAN_US,
        "error": verify(client, run.id, "loss", values),
    }


def bench_raw_batch(client: Any, exp_id: str, values: list[float]) -> dict[str, Any]:
    """c. `MlflowClient.log_batch` with chunks of BATCH Metric entities."""
    from mlflow.entities import Metric

    run_id = client.create_run(exp_id, run_name="raw-log-batch").info.run_id
    n = len(values)
    t0 = time.perf_counter()
    ts = int(time.time() * 1000)
    for start in range(0, n, BATCH):
        chunk = values[start : start + BATCH]
        metrics = [Metric("loss", v, ts, start + i) for i, v in enumerate(chunk)]
        client.log_batch(run_id, metrics=metrics)
    seconds = time.perf_counter() - t0
    client.set_terminated(run_id)
    return {
        "n": n,
        "seconds": seconds,
        "per_second": n / seconds,
        "error": verify(client, run_id, "loss", values),
    }


def bench_fluent(client: Any, exp_id: str, values: list[float]) -> dict[str, Any]:
    """d. A plain `mlflow.log_metric` loop (one request per value)."""
    import mlflow

    with mlflow.start_run(experiment_id=exp_id, run_name="fluent-log-metric") as active:
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            mlflow.log_metric("loss", v, step=i)
        seconds = time.perf_counter() - t0
    return {
        "n": len(values),
        "seconds": seconds,
        "per_second": len(values) / seconds,
        "error": verify(client, active.info.run_id, "loss", values),
    }


def _median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One throughput result from several rounds: median rate, first error, every round kept."""
    errors = [r["error"] for r in rounds if r["error"]]
    return {
        "n": rounds[0]["n"],
        "seconds": statistics.median(r["seconds"] for r in rounds),
        "per_second": statistics.median(r["per_second"] for r in rounds),
        "rounds_per_second": [r["per_second"] for r in rounds],
        "error": errors[0] if errors else None,
    }


def _progress(store: str, key: str, r: dict[str, Any]) -> None:
    shown = f"{r['per_second']:,.0f}/s" if "per_second" in r else f"{r['median_us']:.1f} us"
    status = f"FAILED: {r['error']}" if r["error"] else "stored ok"
    print(f"[{store}]   {key}: {shown} ({status})", file=sys.stderr)


def bench_store(name: str, uri: str, n: int, fluent_n: int, repeat: int) -> dict[str, Any]:
    """All measurements on one store, each on a fresh run; a, b and c `repeat` times, interleaved."""
    from mlflow.tracking import MlflowClient

    import shims.session

    print(f"[{name}] {uri}", file=sys.stderr)
    bind(uri)
    try:
        client: Any = MlflowClient(tracking_uri=uri)
        rng = random.Random(42)
        values = [rng.random() for _ in range(n)]
        # Untimed: creates the experiment, runs the store's migrations, warms MLflow's code paths.
        warm = _shim_run()
        warm.log_list("warmup", values[: 2 * BATCH])
        warm.complete()
        exp_id = str(client.get_experiment_by_name(EXPERIMENT).experiment_id)

        throughput: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("shim_log", lambda: bench_shim_log(client, values)),
            ("shim_log_list", lambda: bench_shim_log_list(client, values)),
            ("raw_log_batch", lambda: bench_raw_batch(client, exp_id, values)),
        ]
        rounds: dict[str, list[dict[str, Any]]] = {key: [] for key, _ in throughput}
        for _ in range(repeat):
            for key, step in throughput:
                rounds[key].append(step())
                _progress(name, key, rounds[key][-1])
        # The scheme only: the temporary folder's path means nothing once the run is over.
        scheme = uri.split(":", 1)[0]
        result: dict[str, Any] = {"store": scheme, "n": n, "repeat": repeat}
        result.update({key: _median_of(rs) for key, rs in rounds.items()})
        for key in ("shim_log", "shim_log_list"):
            # Ratio within each round (same load on the machine), then the median over rounds.
            ratios = [
                a["per_second"] / c["per_second"]
                for a, c in zip(rounds[key], rounds["raw_log_batch"], strict=True)
            ]
            result[key]["ratio_to_raw"] = statistics.median(ratios)
            result[key]["met"] = result[key]["ratio_to_raw"] >= TARGET_RATIO

        result["fluent_log_metric"] = bench_fluent(client, exp_id, values[:fluent_n])
        _progress(name, "fluent_log_metric", result["fluent_log_metric"])
        result["shim_latency"] = bench_shim_latency(client, values)
        _progress(name, "shim_latency", result["shim_latency"])
    finally:
        shims.session.reset()  # while the store is still up, also when interrupted
    return result


# -- report --------------------------------------------------------------------------------------
def _mark(met: bool) -> str:
    return "PASS" if met else "**MISS**"


def _rate(r: dict[str, Any]) -> str:
    text = f"{r['per_second']:,.0f}/s ({r['seconds']:.2f} s)"
    return text if not r["error"] else f"{text} **WRONG**"


def table(results: dict[str, Any]) -> str:
    imp = results["import"]
    stores = results["stores"]
    names = list(stores)
    n = results["n"]
    repeat = results["repeat"]
    fluent_counts = "/".join(f"{stores[s]['fluent_log_metric']['n']:,}" for s in names)
    rows: list[list[str]] = []

    def row(label: str, cell: Callable[[dict[str, Any]], str], target: str) -> None:
        rows.append([label, *(cell(stores[s]) for s in names), target])

    loaded = "mlflow imported!" if imp["mlflow_loaded"] else "mlflow not imported"
    rows.append(
        [
            f"1. `import shims`, median of {imp['runs']} fresh processes",
            f"{imp['median_ms']:.1f} ms ({loaded}; process {imp['process_median_ms']:.0f} ms)",
            *([""] * (len(names) - 1)),
            f"< {TARGET_IMPORT_MS:.0f} ms, no mlflow: {_mark(imp['met'])}",
        ]
    )
    row(f"a. shim `run.log` x {n:,} + flush", lambda s: _rate(s["shim_log"]), "")
    row(f"b. shim `run.log_list` of {n:,} + flush", lambda s: _rate(s["shim_log_list"]), "")
    row(f"c. raw `log_batch`, {n // BATCH:,} x {BATCH:,}", lambda s: _rate(s["raw_log_batch"]), "")
    row(f"d. `mlflow.log_metric` x {fluent_counts}", lambda s: _rate(s["fluent_log_metric"]), "")

    def ratio(key: str) -> Callable[[dict[str, Any]], str]:
        return lambda s: f"{s[key]['ratio_to_raw']:.2f} {_mark(s[key]['met'])}"

    over = f", median of {repeat}" if repeat > 1 else ""
    row(f"a/c throughput ratio{over}", ratio("shim_log"), f">= {TARGET_RATIO}")
    row(f"b/c throughput ratio{over}", ratio("shim_log_list"), f">= {TARGET_RATIO}")
    row(
        "e. `run.log` latency median",
        lambda s: f"{s['shim_latency']['median_us']:.1f} us {_mark(s['shim_latency']['met'])}",
        f"< {TARGET_MEDIAN_US:.0f} us",
    )
    row(
        "e. `run.log` latency p99 / max",
        lambda s: f"{s['shim_latency']['p99_us']:.1f} us / {s['shim_latency']['max_us']:,.0f} us",
        "",
    )
    row("stored values read back", lambda s: "ok" if s["correct"] else "**FAILED**", "all ok")

    header = ["Measurement", *names, "Target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------
def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally` that stops the server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="N=20000 instead of 100000")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of a, b and c; the median is reported"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    # Installed before the shim's session exists, so the session leaves SIGTERM to us.
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.path.insert(0, str(ROOT))
    from bench.machine import machine

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"  # keep stdout for the table
    os.environ["AML2MLFLOW_QUIET"] = "1"
    os.environ["AML2MLFLOW_EXIT_TIMEOUT"] = "5"  # an interrupted run need not deliver its backlog
    for var in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        os.environ.pop(var, None)

    n, fluent_sqlite, fluent_server = SIZES["quick" if args.quick else "full"]
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/bench_shim.py", *sys.argv[1:]]),
        "quick": args.quick,
        "n": n,
        "repeat": args.repeat,
        "machine": machine(),
        "targets": {
            "import_ms": TARGET_IMPORT_MS,
            "ratio_to_raw": TARGET_RATIO,
            "latency_median_us": TARGET_MEDIAN_US,
        },
    }
    print("[import] measuring `import shims`", file=sys.stderr)
    results["import"] = measure_import()

    stores: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="aml2mlflow-bench-") as tmp:
        os.environ["AML2MLFLOW_SPOOL_DIR"] = str(Path(tmp) / "spool")
        cwd = os.getcwd()
        os.chdir(tmp)  # anything the shim leaves behind stays in the temporary folder
        try:
            plan = (
                ("sqlite", sqlite_store, fluent_sqlite),
                ("server", server_store, fluent_server),
            )
            for name, store, fluent_n in plan:
                folder = Path(tmp) / name
                folder.mkdir()
                with store(folder) as uri:
                    stores[name] = bench_store(name, uri, n, fluent_n, args.repeat)
        finally:
            import shims.session

            shims.session.reset()
            os.chdir(cwd)

    keys = ("shim_log", "shim_log_list", "raw_log_batch", "fluent_log_metric", "shim_latency")
    failures = [
        f"{name}/{key}: {s[key]['error']}"
        for name, s in stores.items()
        for key in keys
        if s[key]["error"]
    ]
    for s in stores.values():
        s["correct"] = not any(s[key]["error"] for key in keys)
    results["stores"] = stores
    results["all_correct"] = not failures
    results["targets_met"] = results["import"]["met"] and all(
        s[k]["met"] for s in stores.values() for k in ("shim_log", "shim_log_list", "shim_latency")
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["load_average"])
    print(
        f"\n{m['date']}, nproc {m['nproc']}, Python {m['python']}, mlflow {m['mlflow']}, "
        f"N={n:,}, repeat {args.repeat}, load average at start {load}"
    )
    print(f"`{results['command']}`\n")
    print(table(results))
    print(f"\nresults written to {args.json}")
    if failures:
        print("\nCORRECTNESS FAILURES:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
