"""Render an audit report: one module per format, every one drawn from the same `AuditReport`.

    render(report, "text" | "markdown" | "json" | "sarif" | "html") -> str

Each format module has a `render(report, ...) -> str` and imports only what it needs: the HTML report
alone imports matplotlib (for its chart, when installed), and none imports mlflow. Paths are shown
relative to their root, as `aml2mlflow audit` promises.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from migrate.audit import AuditReport

Format = Literal["text", "markdown", "json", "sarif", "html"]
FORMATS: tuple[Format, ...] = ("text", "markdown", "json", "sarif", "html")


def render(
    report: AuditReport, fmt: Format, *, color: bool = False, base: Path | None = None
) -> str:
    """The report in format `fmt`.

    `color` applies to text only (ANSI colours, for a terminal); `base` to SARIF only (the folder
    its relative URIs start from; default the working directory, as GitHub code scanning expects).
    """
    module = importlib.import_module(f"migrate.report.{fmt}")
    if fmt == "text":
        return str(module.render(report, color=color))
    if fmt == "sarif":
        return str(module.render(report, base=base))
    return str(module.render(report))
