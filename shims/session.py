"""Process-wide state of the shim: the tracking client, the writer, the live runs, and exit handling.

Legacy scripts never end their runs explicitly as often as they should; Azure ML ended the job's run
when the process exited. The session does the same: at normal exit, after an uncaught exception and
on SIGTERM it writes pending side files, uploads `./outputs`, ends every run the shim started that is
still open (FINISHED, FAILED or KILLED), flushes the writer and spools what could not be delivered.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from shims.conversions import Recorder, print_summary
from shims.writer import Writer

if TYPE_CHECKING:
    from shims.run import Run


def exit_timeout() -> float:
    """Seconds the exit flush waits for an unreachable tracking server before spooling."""
    try:
        return float(os.environ.get("AML2MLFLOW_EXIT_TIMEOUT", "30"))
    except ValueError:
        return 30.0


class Session:
    """The one per process: created on first use, when mlflow is first imported."""

    def __init__(self) -> None:
        # The writer retries forever with its own backoff; MLflow's default of 7 HTTP retries with
        # exponential backoff would stall it for minutes on an unreachable server. Only defaults:
        # a value the user set wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        import mlflow

        self.tracking_uri: str = mlflow.get_tracking_uri()
        self.writer = Writer(self.tracking_uri)
        self.writer.on_reject = self._on_reject
        self.client: Any = self.writer.client()
        self.lock = threading.RLock()
        self.context: Run | None = None
        self.live: dict[str, Run] = {}
        self.started: list[Run] = []  # every run the shim created, in order
        self.recorders: dict[str, Recorder] = {}
        self.failure: BaseException | None = None
        self.closed = False
        self.spooled: list[str] = []
        atexit.register(self.close)
        self._hook_signals()
        self._hook_excepthook()

    # -- failures -------------------------------------------------------------------------------
    def _on_reject(self, rec: tuple[Any, ...], exc: BaseException) -> None:
        recorder = self.recorders.get(rec[1])
        if recorder is not None:
            what = {"m": "run-log", "p": "run-add-properties", "t": "run-tag"}.get(
                rec[0], "run-log"
            )
            recorder.note(what, str(rec[2]), f"rejected by MLflow: {exc}"[:300])

    def _hook_excepthook(self) -> None:
        previous = sys.excepthook

        def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
            self.failure = value
            previous(kind, value, tb)

        sys.excepthook = hook

    def _hook_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.close(status="KILLED")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    # -- runs -----------------------------------------------------------------------------------
    def recorder(self, run_id: str) -> Recorder:
        with self.lock:
            return self.recorders.setdefault(run_id, Recorder(run_id))

    def register(self, run: Run) -> Recorder:
        """Track a run the shim started, so that exit ends it."""
        with self.lock:
            self.live[run.id] = run
            self.started.append(run)
        return self.recorder(run.id)

    def where_to_look(self) -> str:
        """One line per top-level run started, saying where it is and how to browse it."""
        uri = self.tracking_uri
        if uri.startswith(("http://", "https://")):
            browse = f"open {uri}"
        else:
            browse = f"browse with: mlflow ui --backend-store-uri {uri}"
        lines = []
        for run in self.started:
            if run._parent_obj is None:
                lines.append(
                    f"aml2mlflow: logged run {run.id} (experiment id {run._exp_id}) to {uri}"
                )
        if lines:
            lines.append(f"aml2mlflow: {browse}")
        return "\n".join(lines)

    def forget(self, run: Run) -> None:
        with self.lock:
            self.live.pop(run.id, None)

    def close(self, status: str | None = None) -> None:
        """End open runs, flush, spool leftovers, print the conversion summary. Idempotent."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            runs = list(self.live.values())
        if status is None:
            status = "FAILED" if self.failure is not None else "FINISHED"
        # Children first, so a parent never ends before its nested runs.
        for run in reversed(runs):
            with contextlib.suppress(Exception):
                run._finish(status, self.failure, wait=False)
        folder = self.writer.close(exit_timeout())
        if folder is not None:
            self.spooled.append(str(folder))
            print(
                f"aml2mlflow: the tracking server did not take {self.writer.pending} record(s) "
                f"({self.writer.last_error or 'no error recorded'}).\n"
                f"aml2mlflow: they are saved in {folder}\n"
                f"aml2mlflow: replay them with: python -m shims.replay {folder}",
                file=sys.stderr,
            )
        print_summary(list(self.recorders.values()))


_session: Session | None = None
_session_lock = threading.Lock()


def session() -> Session:
    """The process's session, created on first use (this is where mlflow gets imported)."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                _session = Session()
    return _session


def current() -> Session | None:
    """The session if one exists, without creating it."""
    return _session


def reset() -> None:
    """Close the current session and forget it (tests and `python -m shims` between scripts)."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
            atexit.unregister(_session.close)
        _session = None
