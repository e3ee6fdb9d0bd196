"""The background writer: every record the shim produces reaches MLflow through here, in order.

Azure ML sent metrics from a background thread; so does the shim. `put` is the only thing a training
loop pays for (a lock and a deque append); a daemon thread drains the queue into
`MlflowClient.log_batch` requests within MLflow's per-request limits, uploads artifacts and ends runs,
strictly in the order the records were queued. Against a tracking server it writes the REST
`log-batch` request's JSON itself and sends it through MLflow's REST store: the same request, for
about half the training process's CPU. Nothing is dropped silently:

- transient failures (server down, database locked) are retried with exponential backoff, the
  records kept, also when they happen while a refused batch is being resent record by record;
- a record MLflow rejects for good (a bad value) is isolated from its batch, reported on stderr and
  in the run's conversion report, and the rest of the batch still lands;
- what is still queued when the process exits after the flush timeout is written to a spool
  directory, whose path and replay command are printed (`python -m shims.replay DIR`).

Records are plain tuples so that they are cheap to build and trivially serialisable to the spool:

    ("m", run_id, key, value, timestamp_ms, step)   metric
    ("p", run_id, key, value)                       param
    ("t", run_id, key, value)                       tag
    ("d", run_id, key)                              delete tag
    ("a", run_id, local_path, artifact_dir)         artifact (a staged copy the writer owns)
    ("e", run_id, status, end_time_ms)              end the run
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Record = tuple[Any, ...]

MAX_METRICS = 1000  # MLflow's log_batch limits per request
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000
WAKE_AT = 1000  # queue length at which `put` wakes the writer early
POLL_SECONDS = 0.05
BACKOFF_START = 0.2
BACKOFF_MAX = 5.0
CLOSE_GRACE = 10.0  # seconds `close` lets a request already sent finish before spooling

# MLflow error codes that mean "this record will never be accepted": drop it, loudly.
PERMANENT_CODES = frozenset(
    {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "RESOURCE_DOES_NOT_EXIST", "INVALID_STATE"}
)


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying `exc` cannot help (a rejected value), as opposed to a passing fault."""
    if isinstance(exc, (TypeError, ValueError)):
        return True  # bad values through REST raise TypeError rather than MlflowException
    if isinstance(exc, (NotADirectoryError, IsADirectoryError, FileExistsError)):
        return True  # an artifact path taken by a file where a folder is needed, or the reverse
    if "too large to convert to SQLite INTEGER" in str(exc):
        return True  # an int the store cannot hold (MLflow raises it without an error code)
    code = getattr(exc, "error_code", None)
    return code in PERMANENT_CODES


class Writer:
    """One per process: an ordered queue of records and the thread that delivers them."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self._queue: deque[Record] = deque()
        self._lock = threading.RLock()  # re-entrant: the SIGTERM handler may flush mid-put
        # Re-entrant too: a SIGTERM handler may flush while the main thread waits here.
        self._done = threading.Condition(threading.RLock())
        self._wake = threading.Event()
        self._queued = 0  # records ever queued
        self._processed = 0  # records ever processed (delivered or reported as rejected)
        self._inflight: list[Record] = []  # taken off the queue, not yet processed
        # Held by the writer thread while it moves records in flight, sends and settles them, so
        # that `close` spools exactly what was not stored.
        self._busy = threading.Lock()
        self._closing = False
        self._client: Any = None
        self._rest: Any = None  # the client's REST store when tracking through a server, or False
        self._thread: threading.Thread | None = None
        self._staging = Path(tempfile.mkdtemp(prefix="aml2mlflow-staging-"))
        self.failing_since: float | None = None  # monotonic time of the first unresolved failure
        self.last_error: str = ""
        self.on_reject: Callable[[Record, BaseException], None] | None = None

    # -- producer side --------------------------------------------------------------------------
    def put(self, record: Record) -> int:
        """Queue one record; return its ticket for `wait`. Cheap: this is the training loop's cost."""
        with self._lock:
            self._queue.append(record)
            self._queued += 1
            ticket = self._queued
        if len(self._queue) >= WAKE_AT and not self._wake.is_set():
            self._wake.set()
        if self._thread is None:
            self._start()
        return ticket

    def put_many(self, records: Iterable[Record]) -> int:
        with self._lock:
            for rec in records:
                self._queue.append(rec)
                self._queued += 1
            ticket = self._queued
        self._wake.set()
        if self._thread is None:
            self._start()
        return ticket

    def stage_file(self, src: str | os.PathLike[str] | None, data: bytes | None, name: str) -> str:
        """Copy `src` (or write `data`) to a private file named `name`, for a later upload.

        Staging at call time keeps the upload faithful even if the user overwrites or deletes the
        file right after the call, and lets an undelivered upload be spooled.
        """
        folder = Path(tempfile.mkdtemp(dir=self._staging))
        dest = folder / name
        if data is not None:
            dest.write_bytes(data)
        else:
            assert src is not None
            shutil.copyfile(src, dest)
        return str(dest)

    def wait(self, ticket: int | None = None, timeout: float | None = None) -> bool:
        """Block until the record with `ticket` (default: everything queued so far) is processed."""
        if ticket is None:
            ticket = self._queued
        if self._processed >= ticket:
            return True
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while self._processed < ticket:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._done.wait(0.5 if remaining is None else min(remaining, 0.5))
                self._wake.set()
        return True

    @property
    def pending(self) -> int:
        return self._queued - self._processed

    # -- consumer side --------------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, name="aml2mlflow-writer", daemon=True
            )
            self._thread.start()

    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            while self._queue and not self._closing:
                with self._busy:
                    if self._closing:
                        return
                    self._take()
                self._deliver()

    def _take(self) -> None:
        """Move up to a few thousand records from the queue to the in-flight list."""
        q = self._queue
        take = self._inflight
        n = 0
        while q and n < 5000:
            take.append(q.popleft())
            n += 1

    def _mark(self, n: int) -> None:
        with self._done:
            self._processed += n
            self._done.notify_all()

    def _deliver(self) -> None:
        """Process the in-flight records in order, retrying transient failures forever."""
        backoff = BACKOFF_START
        while self._inflight and not self._closing:
            failure: Exception | None = None
            with self._busy:  # `close` waits for this request rather than spool it as well
                if self._closing:
                    return
                try:
                    try:
                        n = self._send_next()
                    except Exception as exc:  # refused for good: report the bad ones, send the rest
                        if not is_permanent(exc):
                            raise
                        # Resends one by one; a passing fault met there (the server going away in
                        # the middle) is raised with what was processed removed, and retried below.
                        n = self._isolate(exc)
                except Exception as exc:  # a passing failure of the store: keep the records
                    failure = exc
                else:
                    del self._inflight[:n]
                    self._mark(n)
            if failure is not None:  # retry after a pause (not holding `_busy`)
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.last_error = f"{type(failure).__name__}: {failure}"[:500]
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            self.failing_since = None
            backoff = BACKOFF_START

    def _batch_len(self) -> int:
        """How many leading in-flight records form one log_batch request."""
        recs = self._inflight
        first = recs[0]
        if first[0] not in "mpt":
            return 1
        run_id = first[1]
        m = p = t = 0
        n = 0
        for rec in recs:
            kind = rec[0]
            if kind not in "mpt" or rec[1] != run_id:
                break
            if kind == "m":
                if m == MAX_METRICS:
                    break
                m += 1
            elif kind == "p":
                if p == MAX_PARAMS:
                    break
                p += 1
            else:
                if t == MAX_TAGS:
                    break
                t += 1
            n += 1
            if n == MAX_ENTITIES:
                break
        return n

    def _send_next(self) -> int:
        """Send the next request; return how many in-flight records it covered."""
        n = self._batch_len()
        self._send(self._inflight[:n])
        return n

    def _send(self, recs: list[Record]) -> None:
        kind = recs[0][0]
        if kind in "mpt":
            self._send_batch(recs)
            return
        (rec,) = recs
        client = self.client()
        if kind == "a":
            _, run_id, local, artifact_dir = rec
            client.log_artifact(run_id, local, artifact_dir or None)
            shutil.rmtree(os.path.dirname(local), ignore_errors=True)
        elif kind == "d":
            try:
                client.delete_tag(rec[1], rec[2])
            except Exception as exc:
                if getattr(exc, "error_code", None) != "RESOURCE_DOES_NOT_EXIST":
                    raise
        elif kind == "e":
            client.set_terminated(rec[1], status=rec[2], end_time=rec[3])
        else:  # pragma: no cover - a programming error, not a user one
            raise AssertionError(f"unknown record kind {kind!r}")

    def _rest_store(self) -> Any:
        """The REST store behind the client when it talks to a tracking server, else None."""
        if self._rest is None:
            from mlflow.store.tracking.rest_store import RestStore

            store = getattr(getattr(self.client(), "_tracking_client", None), "store", None)
            fast = isinstance(store, RestStore) and callable(getattr(store, "_call_endpoint", None))
            self._rest = store if fast else False
        return self._rest or None

    def _send_batch(self, recs: list[Record]) -> None:
        store = self._rest_store()
        if store is not None:
            # Through a server: the LogBatch request's JSON made directly. MLflow's own path
            # (entities, protobuf messages, an indented pure-Python JSON dump) takes ten times
            # the CPU to build the same request.
            from mlflow.protos.service_pb2 import LogBatch

            store._call_endpoint(LogBatch, batch_json(recs))
            return
        from mlflow.entities import Metric, Param, RunTag

        metrics = [Metric(r[2], r[3], r[4], r[5]) for r in recs if r[0] == "m"]
        params = [Param(r[2], r[3]) for r in recs if r[0] == "p"]
        tags = [RunTag(r[2], r[3]) for r in recs if r[0] == "t"]
        self.client().log_batch(recs[0][1], metrics=metrics, params=params, tags=tags)

    def _isolate(self, exc: BaseException) -> int:
        """A request was refused for good: resend its records one by one and report the bad ones."""
        n = self._batch_len()
        recs = self._inflight[:n]
        if n == 1:
            self._reject(recs[0], exc)
            return 1
        for i, rec in enumerate(recs):
            while True:
                try:
                    self._send([rec])
                    break
                except Exception as one:
                    if is_permanent(one):
                        self._reject(rec, one)
                        break
                    # A transient fault in the middle: keep the rest for the normal retry loop.
                    del self._inflight[:i]
                    self._mark(i)
                    raise
        return n

    def _reject(self, rec: Record, exc: BaseException) -> None:
        msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        what = {"m": "metric", "p": "param", "t": "tag"}.get(rec[0], "record")
        key = rec[2] if len(rec) > 2 else ""
        print(f"aml2mlflow: MLflow rejected {what} {key!r}: {msg}", file=sys.stderr)
        if self.on_reject is not None:
            with contextlib.suppress(Exception):
                self.on_reject(rec, exc)

    # -- shutdown -------------------------------------------------------------------------------
    def close(self, timeout: float) -> Path | None:
        """Deliver what is queued within `timeout` seconds; spool the rest and return its folder."""
        self.wait(timeout=timeout)
        if self.pending == 0:
            return None  # the thread stays: a record logged later (another atexit) still lands
        self._closing = True
        # A request already sent may still be answered: let it finish (within CLOSE_GRACE) so that
        # what it stores is not spooled too, to be stored again by a replay.
        idle = self._busy.acquire(timeout=CLOSE_GRACE)
        try:
            with self._lock:
                rest = list(self._inflight) + list(self._queue)
                self._queue.clear()
        finally:
            if idle:
                self._busy.release()
        return spool(rest, self.tracking_uri, self.last_error)


def _json_double(x: float) -> float | str:
    """A double as protobuf's JSON mapping writes it: non-finite values as strings."""
    x = float(x)
    if x - x == 0.0:
        return x
    return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")


def batch_json(recs: list[Record]) -> str:
    """The body of MLflow's REST `runs/log-batch` request for metric/param/tag records of a run."""
    metrics = [
        {"key": r[2], "value": _json_double(r[3]), "timestamp": int(r[4]), "step": int(r[5])}
        for r in recs
        if r[0] == "m"
    ]
    params = [{"key": r[2], "value": r[3]} for r in recs if r[0] == "p"]
    tags = [{"key": r[2], "value": r[3]} for r in recs if r[0] == "t"]
    body = {"run_id": recs[0][1], "metrics": metrics, "params": params, "tags": tags}
    return json.dumps(body, allow_nan=False)


def spool_root() -> Path:
    return Path(os.environ.get("AML2MLFLOW_SPOOL_DIR") or Path.cwd() / ".aml2mlflow-spool")


def spool(records: list[Record], tracking_uri: str | None, last_error: str) -> Path:
    """Write undelivered records (and their staged files) to a new spool folder."""
    folder = spool_root() / time.strftime(f"%Y%m%dT%H%M%S-{os.getpid()}")
    files = folder / "files"
    files.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, rec in enumerate(records):
        if rec[0] == "a":
            dest = files / str(i) / os.path.basename(rec[2])
            dest.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                shutil.move(rec[2], dest)
            rec = (rec[0], rec[1], str(dest.relative_to(folder)), rec[3])
        lines.append(json.dumps(list(rec), allow_nan=True))
    meta = {
        "tracking_uri": tracking_uri or _current_uri(),
        "records": len(lines),
        "last_error": last_error,
        "created": time.time(),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    tmp = folder / "records.jsonl.tmp"
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
    os.replace(tmp, folder / "records.jsonl")
    return folder


def _current_uri() -> str:
    try:
        import mlflow

        return str(mlflow.get_tracking_uri())
    except Exception:
        return os.environ.get("MLFLOW_TRACKING_URI", "")
