"""The Markdown report: ready to paste into a pull request or an issue (GitHub-flavoured tables).

The summary comes first (what a reviewer reads), then one table per file, then the files that could
not be audited. Text from source code is put in code spans whose fence is longer than any backtick
run inside, with `|` escaped, so an excerpt can neither break a table nor inject markup.
"""

from __future__ import annotations

import re

from migrate.audit import AuditReport, Summary
from migrate.report._util import (
    cell_note,
    error_where,
    files_with_something,
    one_line,
    percent,
    shown_path,
)


def code(text: str, limit: int = 0) -> str:
    """`text` as an inline code span that is safe inside a table cell."""
    flat = one_line(text, limit)
    if not flat:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    body = flat.replace("|", "\\|")
    return f"{fence}{pad}{body}{pad}{fence}"


def plain(text: str) -> str:
    """Prose in a table cell: one line, markup characters neutralised."""
    flat = one_line(text)
    for ch, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        flat = flat.replace(ch, entity)
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", flat)


def _fidelity_line(s: Summary) -> str:
    c = s.findings
    return (
        f"**{c.total}** findings: **{c.exact}** exact, **{c.lossy}** lossy, **{c.manual}** manual"
        f" · **{percent(s.convertible_share)}** convertible without a person"
        + (f" · {s.suppressed} suppressed by `# aml2mlflow: ignore`" if s.suppressed else "")
    )


def render(report: AuditReport) -> str:
    """The Markdown report."""
    s = report.summary()
    out = [
        "## aml2mlflow audit",
        "",
        f"Roots: {', '.join(code(r) for r in report.roots)} · aml2mlflow {report.version}",
        "",
        f"**{s.files_scanned}** files scanned · **{s.files_with_findings}** with findings · "
        f"**{s.files_with_errors}** could not be audited",
        "",
        _fidelity_line(s),
        "",
        "Fidelity: **exact** nothing is lost; **lossy** converted, something changes (the reason "
        "says what); **manual** a person must decide.",
        "",
    ]
    if s.by_api:
        out += [
            "### By API",
            "",
            "| API | exact | lossy | manual | total |",
            "|---|---:|---:|---:|---:|",
        ]
        for api, c in s.by_api.items():
            out.append(f"| {code(api)} | {c.exact} | {c.lossy} | {c.manual} | {c.total} |")
        out.append("")
    if len(report.roots) > 1:
        out += [
            "### Per root",
            "",
            "| root | files | with findings | errors | exact | lossy | manual | convertible |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for root, rs in report.per_root():
            c = rs.findings
            out.append(
                f"| {code(root)} | {rs.files_scanned} | {rs.files_with_findings} | "
                f"{rs.files_with_errors} | {c.exact} | {c.lossy} | {c.manual} | "
                f"{percent(rs.convertible_share)} |"
            )
        out.append("")
    files = [f for f in files_with_something(report.files) if f.findings]
    if files:
        out += ["### Findings", ""]
    for file in files:
        out += [
            f"#### {code(shown_path(file.root, file.path))} ({len(file.findings)})",
            "",
            "| line | API | fidelity | code | becomes | why | rule |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in file.findings:
            out.append(
                f"| {cell_note(f)}{f.line}:{f.column} | {code(f.api)} | {f.fidelity} | "
                f"{code(f.excerpt)} | {code(f.replacement, 200) or '—'} | {plain(f.reason)} | "
                f"{code(f.rule)} |"
            )
        out.append("")
    errors = report.errors
    if errors:
        out += ["### Could not be audited", "", "| file | line | problem |", "|---|---|---|"]
        for e in errors:
            line = error_where(e, "—")
            out.append(f"| {code(shown_path(e.root, e.path))} | {line} | {plain(e.message)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
