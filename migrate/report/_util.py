"""Small helpers shared by the report formats."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from migrate.audit import AuditError, AuditFinding, FileAudit


def one_line(text: str, limit: int = 0) -> str:
    """`text` with every run of whitespace (newlines included) made one space, cut at `limit`."""
    flat = re.sub(r"\s+", " ", text).strip()
    if limit and len(flat) > limit:
        return flat[: limit - 1] + "…"
    return flat


def percent(share: float) -> str:
    """0.4194 -> '41.9%'."""
    return f"{share * 100:.1f}%"


def shown_path(root: str, path: str) -> str:
    """Where a user finds the file from where they ran the audit: the root joined with the path."""
    root_posix = root.replace("\\", "/")
    if PurePosixPath(root_posix).name == path and not root_posix.endswith("/"):
        return root_posix  # the root is the file itself
    if root_posix in ("", "."):
        return path
    return f"{root_posix.rstrip('/')}/{path}"


def cell_note(item: AuditFinding | AuditError) -> str:
    """`[cell N]:`, the prefix of a line number in a notebook (as the codemod's messages write it)."""
    return f"[cell {item.cell}]:" if item.cell is not None else ""


def error_where(error: AuditError, missing: str) -> str:
    """Where an error is: `[cell N]:L`, `L`, `[cell N]`, or `missing` when nothing is known."""
    if error.line is not None:
        return f"{cell_note(error)}{error.line}"
    return f"[cell {error.cell}]" if error.cell is not None else missing


def files_with_something(files: list[FileAudit]) -> list[FileAudit]:
    return [f for f in files if f.findings or f.errors]
