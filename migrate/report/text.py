"""The default report: grouped by file, one line per finding, the summary last.

Meant for a terminal and for grep: every finding is one line
`  LINE:COL  FIDELITY  API  excerpt -> replacement  [rule] reason`, with the replacement only when
`rewrite` writes one and the reason only when something is lost or a person must act. Colour (ANSI)
only when asked for, which the CLI does on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from migrate.audit import AuditReport, Summary
from migrate.report._util import (
    cell_note,
    error_where,
    files_with_something,
    one_line,
    percent,
    shown_path,
)

_COLOURS = {"exact": "green", "lossy": "yellow", "manual": "red"}


def _counts(summary: Summary) -> str:
    c = summary.findings
    return f"{c.total} (exact {c.exact}, lossy {c.lossy}, manual {c.manual})"


def render(report: AuditReport, color: bool = False) -> str:
    """The text report; `color` adds ANSI colours (for a terminal only)."""

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    fidelity: Callable[[str], str] = lambda f: style(f"{f:<6}", fg=_COLOURS[f])  # noqa: E731
    lines: list[str] = []
    for file in files_with_something(report.files):
        lines.append(style(shown_path(file.root, file.path), bold=True))
        for e in file.errors:
            where = error_where(e, "-")
            lines.append(
                f"  {where:<9} {style('error ', fg='red', bold=True)} {one_line(e.message)}"
            )
        for f in file.findings:
            where = f"{cell_note(f)}{f.line}:{f.column}"
            parts = [f"  {where:<9} {fidelity(f.fidelity)} {f.api}  {one_line(f.excerpt)}"]
            if f.replacement:
                parts.append(f" -> {one_line(f.replacement, 160)}")
            parts.append(f"  [{f.rule}]")
            if f.fidelity != "exact":
                parts.append(f" {one_line(f.reason)}")
            lines.append("".join(parts))
        lines.append("")
    lines += _summary(report)
    return "\n".join(lines) + "\n"


def _summary(report: AuditReport) -> list[str]:
    s = report.summary()
    out = [
        "Summary",
        f"  files scanned: {s.files_scanned} ({s.files_with_findings} with findings, "
        f"{s.files_with_errors} could not be audited)",
        f"  findings: {_counts(s)}",
        f"  convertible without a person: {percent(s.convertible_share)} "
        f"({s.convertible} of {s.findings.total})",
    ]
    if s.suppressed:
        out.append(f"  suppressed by `# aml2mlflow: ignore` comments: {s.suppressed}")
    if s.by_api:
        out.append("  by API:")
        width = max(len(api) for api in s.by_api)
        for api, c in s.by_api.items():
            detail = ", ".join(f"{k} {v}" for k, v in c.as_dict().items() if k != "total" and v)
            out.append(f"    {api:<{width}}  {c.total:>5}  ({detail})")
    if len(report.roots) > 1:
        out.append("  per root:")
        for root, rs in report.per_root():
            out.append(
                f"    {root}: {rs.files_scanned} files, {rs.files_with_findings} with findings, "
                f"{rs.files_with_errors} with errors; findings {_counts(rs)}; convertible "
                f"{percent(rs.convertible_share)}"
                + (f"; {rs.suppressed} suppressed" if rs.suppressed else "")
            )
    return out
