"""Load: 8 training processes and 8 threads of one more process log 1,000,000 metric values at once
through the shim into one `mlflow server` backed by PostgreSQL; every value is stored exactly once
and each key's order is kept.

The layout (`tests/load.py`, `tests/load_worker.py`): each of the 8 processes is a legacy SDK v1
script run with `python -m shims`, logging into its own run; the ninth runs 8 threads that share its
run, each thread with its own keys. The 1,000,000 values are shared out evenly between the 9
processes (the threaded one's share between its threads), each unit over 4 keys logged with
`run.log`, `run.log_list` and both. The count is `tests.load.VALUES`; AML2MLFLOW_LOAD_VALUES
overrides it for quicker runs while developing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.load import check_postgres, load_values, run_load
from tests.load_worker import KEYS, key_counts, key_name, unit_values, value
from tests.mlflow_server import start_server, stop_server
from tests.pg import Postgres

pytestmark = [pytest.mark.server, pytest.mark.load]


@pytest.fixture(scope="module")
def pg_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real `mlflow server` on a new PostgreSQL database: (url, server process, database URL)."""
    pytest.importorskip("psycopg2", reason="MLflow needs psycopg2 for PostgreSQL (the dev extra)")
    uri = postgres.create_database("mlflow_load")
    proc, url = start_server(tmp_path_factory.mktemp("pg-server"), backend_store_uri=uri, workers=4)
    try:
        yield url, proc, uri
    finally:
        stop_server(proc)


def test_million_values_from_processes_and_threads(
    pg_server: Any, postgres: Postgres, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    url, server, uri = pg_server
    total = load_values()
    result = run_load(url, tmp_path, total, groups={"server": server.pid, "postgres": postgres.pid})
    cpu = result["cpu_seconds"]
    print(
        f"\n{total:,} values from {result['processes']} processes + {result['threads']} threads "
        f"in {result['seconds']:.1f} s: {result['per_second']:,.0f} values/s; CPU: server "
        f"{cpu['server']:.1f} s, PostgreSQL {cpu['postgres']:.1f} s, "
        f"clients {result['client_cpu_seconds']:.1f} s"
    )

    # Straight from PostgreSQL: every point once, at its step with its value, in order.
    stored = check_postgres(uri, result["expected"])
    assert stored["problems"] == []
    assert stored["lost"] == 0
    assert stored["extra"] == 0
    assert stored["order_violations"] == 0
    assert stored["stored"] == stored["expected"] == total
    assert stored["table_rows"] == total  # nothing anywhere else in the database either

    # Through MLflow's API too: every run ended FINISHED with each key's last value as its latest,
    # and two full histories (a process's key and a thread's key) are exactly what was logged.
    client = MlflowClient(url)
    latest: dict[str, dict[str, float]] = {run_id: {} for run_id in result["run_ids"]}
    for run_id, key, n, offset in result["expected"]:
        latest[run_id][key] = (n - 1) + offset  # value(unit, k, n - 1)
    for run_id, metrics in latest.items():
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.metrics == metrics

    values = unit_values(total, result["processes"], result["threads"])
    for unit, run_id in ((0, result["run_ids"][0]), (result["processes"], result["run_ids"][-1])):
        k = KEYS.index("mix")
        n = key_counts(values[unit])[k]
        history = client.get_metric_history(run_id, key_name(unit, k))
        points = sorted((m.step, m.value, m.timestamp) for m in history)
        assert [(s, v) for s, v, _ in points] == [(i, value(unit, k, i)) for i in range(n)]
        stamps = [t for _, _, t in points]
        assert stamps == sorted(stamps)
