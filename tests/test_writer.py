"""The background writer against a real `mlflow server`: faults in awkward places lose nothing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from shims.writer import Writer, is_permanent
from tests.mlflow_server import free_port, start_server, stop_server


@pytest.mark.server
def test_a_fault_while_isolating_a_refused_batch_does_not_stop_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow's own HTTP retries would hide the fault for minutes; the writer retries by itself.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("AML2MLFLOW_SPOOL_DIR", str(tmp_path / "spool"))
    port = free_port()
    writer = Writer(f"http://127.0.0.1:{port}")
    refused = 0
    some_refused = threading.Event()

    def on_reject(rec: Any, exc: BaseException) -> None:
        nonlocal refused
        refused += 1
        if refused == 20:
            some_refused.set()

    writer.on_reject = on_reject
    try:
        _refused_batch_then_server_restart(writer, tmp_path, port, some_refused)
        assert refused == 300
    finally:
        writer.close(0)  # after a failure: stop its thread (what is left goes to tmp_path/spool)
    assert not (tmp_path / "spool").exists()


def _refused_batch_then_server_restart(
    writer: Writer, tmp_path: Path, port: int, some_refused: threading.Event
) -> None:
    server, url = start_server(tmp_path / "server", port)
    try:
        client = MlflowClient(url)
        good = client.create_run(client.create_experiment("w")).info.run_id
        # Points for a run that does not exist: their batch is refused for good, and the writer
        # resends them one by one to report each (every one is refused in turn)...
        writer.put_many(("m", "0" * 32, "x", float(i), 0, i) for i in range(300))
        ticket = writer.put_many(("m", good, "m", float(i), 0, i) for i in range(100))
        assert some_refused.wait(60)
    finally:
        stop_server(server)  # ...when the server goes away in the middle of that
    server, url = start_server(tmp_path / "server", port)
    try:
        # The writer keeps going: once the server is back, the rest is refused and reported and the
        # good points after it land, once each.
        assert writer.wait(ticket, timeout=90), writer.last_error
        history = MlflowClient(url).get_metric_history(good, "m")
        assert sorted((m.step, m.value) for m in history) == [(i, float(i)) for i in range(100)]
        assert len(history) == 100
        assert writer.close(5) is None
    finally:
        stop_server(server)


@pytest.mark.server
def test_batches_sent_to_a_server_store_what_mlflows_own_log_batch_stores(
    mlflow_server: str,
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(mlflow_server)
    exp = client.create_experiment("writer-equivalence")
    mine, theirs = (client.create_run(exp).info.run_id for _ in range(2))
    values = [0.0, -1.5, 1e308, -1e-308, 2**53, float("nan"), float("inf"), float("-inf"), 7]
    metrics = [("m", "loss", v, 1_700_000_000_000 + i, i * 10**12) for i, v in enumerate(values)]
    metrics += [("m", "val/loss x:1", 3.25, 5, -3)]
    params = [("p", "lr", "0.1"), ("p", "naïve", "é" * 300)]
    tags = [("t", "note", 'line\nnext "quoted" \\'), ("t", "empty", "")]

    writer = Writer(mlflow_server)
    recs = [(kind, mine, *rest) for kind, *rest in metrics + params + tags]
    assert writer.wait(writer.put_many(recs), timeout=60)
    assert writer._rest_store() is not None  # the direct REST path was the one taken
    client.log_batch(
        theirs,
        metrics=[Metric(k, v, ts, step) for _, k, v, ts, step in metrics],
        params=[Param(k, v) for _, k, v in params],
        tags=[RunTag(k, v) for _, k, v in tags],
    )

    def stored(run_id: str) -> Any:
        run = client.get_run(run_id)
        history = {
            key: sorted(
                (m.step, m.timestamp, repr(m.value)) for m in client.get_metric_history(run_id, key)
            )
            for key in run.data.metrics
        }
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        return history, run.data.params, tags

    assert stored(mine) == stored(theirs)
    history, params_stored, _ = stored(mine)
    assert len(history["loss"]) == len(values) and params_stored["naïve"] == "é" * 300


@pytest.mark.server
def test_exit_while_a_request_is_in_flight_spools_only_what_was_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AML2MLFLOW_SPOOL_DIR", str(tmp_path / "spool"))
    server, url = start_server(tmp_path / "server")
    try:
        client = MlflowClient(url)
        run_id = client.create_run(client.create_experiment("w")).info.run_id
        writer = Writer(url)
        first = writer.put_many(("m", run_id, "m", float(i), 0, i) for i in range(1000))
        assert writer.wait(first, timeout=60)
        os.killpg(server.pid, signal.SIGSTOP)  # the server freezes with the next request in hand
        try:
            writer.put_many(("m", run_id, "m", float(i), 0, i) for i in range(1000, 5000))
            time.sleep(0.5)  # the writer is sending the next 1,000 and waits for the answer
            threading.Timer(1.5, os.killpg, (server.pid, signal.SIGCONT)).start()
            # The process exits now: the flush gives up at once, while that request is in flight.
            folder = writer.close(0.1)
        finally:
            os.killpg(server.pid, signal.SIGCONT)
        assert writer._thread is not None
        writer._thread.join(60)  # closing: it stops once that request is answered
        assert folder is not None
        lines = (folder / "records.jsonl").read_text().splitlines()
        spooled = [json.loads(line)[5] for line in lines]  # their steps
        stored = sorted(m.step for m in client.get_metric_history(run_id, "m"))
        # The request that was in flight landed; exactly what did not land is in the spool.
        assert stored == list(range(len(stored))) and len(stored) >= 2000
        assert spooled == list(range(len(stored), 5000))
    finally:
        stop_server(server)


def test_errors_retrying_cannot_fix_are_permanent(store: str, tmp_path: Path) -> None:
    """Real failures, raised by a real store and filesystem, are told from passing faults."""
    client = MlflowClient(tracking_uri=store)
    run = client.create_run(client.create_experiment("permanent")).info.run_id
    with pytest.raises(Exception) as too_big:  # whatever the store raises
        client.log_metric(run, "a", 1.0, step=2**70)
    assert is_permanent(too_big.value)
    (tmp_path / "model").write_text("a file where a folder is wanted")
    with pytest.raises(NotADirectoryError) as clash:
        (tmp_path / "model" / "w.bin").write_text("x")
    assert is_permanent(clash.value)
    assert not is_permanent(ConnectionError("connection refused"))
    assert not is_permanent(TimeoutError("timed out"))
