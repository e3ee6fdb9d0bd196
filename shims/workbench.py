"""The 2017 Azure ML Workbench logger: `get_azureml_logger()`, `.log`, `.upload`, `.wait()`.

It was never on PyPI; its documented surface was `logger.log(name, value)` (a scalar or a list,
asynchronous, returning an object with `.wait()`) and `logger.upload(path, content)`. Both write to
the script's run (`Run.get_context()`), through the same ordered queue as everything else.

There is no recorded behaviour of the original to be faithful to, so `.log` never rejects a value:
a 1-d numpy array is a list, and items of a list that are containers themselves (which `Run.log_list`
rejects, as Azure ML did) are kept as text. What changed is in the run's conversion report.
"""

from __future__ import annotations

import types
from typing import Any

from shims.run import Run, _is_array, _text
from shims.writer import Writer


class Pending:
    """What `.log` and `.upload` return: `.wait()` blocks until that record is stored."""

    def __init__(self, writer: Writer, ticket: int) -> None:
        self._writer = writer
        self._ticket = ticket

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stored; False if `timeout` seconds passed first."""
        return self._writer.wait(self._ticket, timeout)

    @property
    def done(self) -> bool:
        return self._writer.wait(self._ticket, 0)


class WorkbenchLogger:
    """The object `get_azureml_logger()` returns."""

    def __init__(self, run: Run | None = None) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        if self._run is None:
            self._run = Run.get_context()
        return self._run

    def log(self, name: Any, value: Any) -> Pending:
        """Log a scalar (a metric point) or a list (one point per item), asynchronously."""
        run = self.run
        if isinstance(value, (list, tuple, range, types.GeneratorType)):
            ticket = run._log_list(name, value, strict=False)
        elif _is_array(value) and getattr(value, "ndim", 0) == 1:
            ticket = run._log_list(name, value.tolist(), strict=False)
            run._recorder.note(
                "workbench-log",
                run._key(name),
                "numpy array logged as a list (one point per value)",
            )
        else:
            ticket = run._log(name, value)
        return Pending(run._w, ticket)

    def upload(self, path: Any, content: Any) -> Pending:
        """Store `content` (str or bytes; anything else as its repr) as the artifact at `path`."""
        run = self.run
        target = run._artifact(path, "workbench-upload", what="path")
        if isinstance(content, str):
            data = content.encode("utf-8", "surrogatepass")
        elif isinstance(content, (bytes, bytearray, memoryview)):
            data = bytes(content)
        else:
            data = _text(content).encode("utf-8", "surrogatepass")
            run._recorder.note(
                "workbench-upload", target, f"{type(content).__name__} content stored as its repr"
            )
        ticket = run._stage_and_put(target, data=data, rule="workbench-upload")
        return Pending(run._w, ticket)


def get_azureml_logger() -> WorkbenchLogger:
    """The Workbench logger of this script's run."""
    return WorkbenchLogger()
