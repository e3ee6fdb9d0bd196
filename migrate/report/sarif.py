"""The SARIF 2.1.0 report, for GitHub code scanning (findings shown inline in pull requests).

One run, tool `aml2mlflow`; one reporting descriptor per catalogue rule that occurs (its reason is
the rule's description, its fidelity a property); one result per finding with the excerpt as the
region's snippet and the replacement `rewrite` writes in the message and in `properties`. Levels:
manual -> warning (a person must act), lossy and exact -> note. Files that could not be audited
are results of the rule `unparseable` (level error) and tool execution notifications.

URIs are relative to `base` (the working directory by default, which is the checkout in CI) under
`uriBaseId` "%SRCROOT%", the form GitHub resolves against the repository; a file outside `base`
gets an absolute file: URI. Notebook findings carry no region (their lines count within a cell,
which no viewer of the .ipynb file can place); the cell and line are in the message instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from migrate.audit import TOOL_NAME, AuditError, AuditFinding, AuditReport
from migrate.catalogue import entry
from migrate.report._util import one_line

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_LEVELS = {"manual": "warning", "lossy": "note", "exact": "note"}


def _location(root: str, path: str, base: Path) -> dict[str, Any]:
    file = (Path(root) if Path(root).is_file() else Path(root) / path).resolve()
    try:
        rel = file.relative_to(base)
    except ValueError:
        return {"uri": file.as_uri()}
    # A file name that is not valid UTF-8 holds surrogate escapes: percent-encode its raw bytes.
    return {"uri": quote(os.fsencode(rel.as_posix())), "uriBaseId": "%SRCROOT%"}


def _rule(rule_id: str) -> dict[str, Any]:
    row = entry(rule_id)
    when = f" ({row.when})" if row.when else ""
    return {
        "id": row.id,
        "name": "".join(part.capitalize() for part in row.id.split("-")),
        "shortDescription": {"text": f"{row.api}{when} -> {row.target}"},
        "fullDescription": {"text": row.reason},
        "help": {
            "text": f"{row.api}{when} becomes {row.target} ({row.fidelity}). {row.reason}",
            "markdown": f"`{row.api}`{when} becomes `{row.target}` (**{row.fidelity}**).\n\n{row.reason}",
        },
        "defaultConfiguration": {
            "level": _LEVELS[row.fidelity] if rule_id != "unparseable" else "error"
        },
        "properties": {"fidelity": row.fidelity, "tags": ["azureml-migration", row.fidelity]},
    }


def _physical(item: AuditFinding | AuditError, base: Path, snippet: str = "") -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _location(item.root, item.path, base)}
    if item.cell is None and item.line is not None:
        region: dict[str, Any] = {"startLine": item.line}
        if isinstance(item, AuditFinding):
            region["startColumn"] = item.column
        if snippet:
            region["snippet"] = {"text": snippet}
        physical["region"] = region
    return physical


def _where(item: AuditFinding | AuditError) -> str:
    if item.cell is None:
        return ""
    line = f", line {item.line}" if item.line is not None else ""
    return f"Cell {item.cell}{line}: "


def _result(f: AuditFinding, index: dict[str, int], base: Path) -> dict[str, Any]:
    becomes = f" Rewrite writes: {one_line(f.replacement, 300)}" if f.replacement else ""
    return {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": _LEVELS[f.fidelity],
        "message": {"text": f"{_where(f)}{f.api} ({f.fidelity}): {f.reason}{becomes}"},
        "locations": [{"physicalLocation": _physical(f, base, f.excerpt)}],
        "properties": {
            "api": f.api,
            "fidelity": f.fidelity,
            "replacement": f.replacement,
            "origin": f.origin,
            "cell": f.cell,
        },
    }


def _error_result(e: AuditError, index: dict[str, int], base: Path) -> dict[str, Any]:
    return {
        "ruleId": "unparseable",
        "ruleIndex": index["unparseable"],
        "level": "error",
        "message": {"text": f"{_where(e)}could not be audited: {one_line(e.message)}"},
        "locations": [{"physicalLocation": _physical(e, base)}],
    }


def to_dict(report: AuditReport, base: Path | None = None) -> dict[str, Any]:
    """The SARIF log as plain JSON data."""
    base = (base or Path.cwd()).resolve()
    findings, errors = report.findings, report.errors
    ids = sorted({f.rule for f in findings} | ({"unparseable"} if errors else set()))
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    results = [_result(f, index, base) for f in findings]
    results += [_error_result(e, index, base) for e in errors]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{e.path}: {one_line(e.message)}"},
            "locations": [{"physicalLocation": _physical(e, base)}],
        }
        for e in errors
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": report.version,
                        "semanticVersion": report.version,
                        "rules": [_rule(rule_id) for rule_id in ids],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": base.as_uri().rstrip("/") + "/"}},
                "invocations": [
                    {
                        "executionSuccessful": not errors,
                        "toolExecutionNotifications": notifications,
                        "workingDirectory": {"uri": Path(os.getcwd()).resolve().as_uri()},
                    }
                ],
                "columnKind": "unicodeCodePoints",
                "results": results,
                # (findings silenced by `# aml2mlflow: ignore` are not results: only counted)
                "properties": {"suppressed": report.summary().suppressed},
            }
        ],
    }


def render(report: AuditReport, base: Path | None = None) -> str:
    """The SARIF 2.1.0 log as JSON text."""
    return json.dumps(to_dict(report, base), indent=2, ensure_ascii=False) + "\n"
