"""The 2017 Azure ML Workbench logger: `get_azureml_logger()`, `.log`, `.upload`, `.wait()`.

It was never on PyPI; its documented surface was `logger.log(name, value)` (a scalar or a list,
asynchronous, returning an object with `.wait()`) and `logger.upload(path, content)`. Both write to
the script's run (`Run.get_context()`), through the same ordered queue as everything else.
"""

from __future__ import annotations

import types
from typing import Any

from shims.run import Run, artifact_name
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
            ticket = run._log_list(name, value)
        else:
            ticket = run._log(name, value)
        return Pending(run._w, ticket)

    def upload(self, path: Any, content: Any) -> Pending:
        """Store `content` (str or bytes) as the artifact at `path`."""
        run = self.run
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        ticket = run._stage_and_put(artifact_name(path, "path"), data=data)
        return Pending(run._w, ticket)


def get_azureml_logger() -> WorkbenchLogger:
    """The Workbench logger of this script's run."""
    return WorkbenchLogger()
