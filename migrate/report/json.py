"""The JSON report: a stable, documented schema for tools and dashboards.

The schema is `fixtures/audit/audit.schema.json` (JSON Schema 2020-12); `schema_version` is
`migrate.audit.SCHEMA_VERSION` ("MAJOR.MINOR": a new field raises MINOR, a changed or removed field
raises MAJOR). Shape:

    {
      "schema_version": "1.1",
      "tool": {"name": "aml2mlflow", "version": "0.1.0"},
      "roots": ["src", "notebooks"],                       # as given on the command line
      "summary": SUMMARY,                                  # the whole scan
      "per_root": [{"root": "src", "summary": SUMMARY}],  # one per root, in the given order
      "findings": [{"root", "path", "cell", "line", "column", "api", "excerpt", "fidelity",
                    "reason", "replacement", "rule", "origin"}],
      "errors": [{"root", "path", "cell", "line", "message"}]
    }
    SUMMARY = {"files_scanned", "files_with_findings", "files_with_errors",
               "findings": {"exact", "lossy", "manual", "total"}, "convertible",
               "convertible_share", "errors", "by_api": {API: {"exact", "lossy", "manual", "total"}},
               "by_rule": {RULE: count}, "suppressed"}

`path` is relative to its `root` (posix separators); `cell` is the 1-based notebook cell or null;
`line` and `column` are 1-based (within the cell for a notebook; an error's line may be null);
`fidelity` is exact | lossy | manual; `rule` is a catalogue row id (`aml2mlflow catalogue`);
`replacement` is the code `rewrite` writes for the site ("" when it writes none); `origin` is
"rewrite" for the codemod's own findings and "audit" for what only the audit flags;
`convertible_share` is (exact + lossy) / total, 1.0 when there are no findings; `suppressed` counts
the findings left out because their line says `# aml2mlflow: ignore` (added in 1.1).
"""

from __future__ import annotations

import json
from typing import Any

from migrate.audit import SCHEMA_VERSION, TOOL_NAME, AuditReport


def to_dict(report: AuditReport) -> dict[str, Any]:
    """The report as plain JSON data."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": report.version},
        "roots": list(report.roots),
        "summary": report.summary().as_dict(),
        "per_root": [{"root": root, "summary": s.as_dict()} for root, s in report.per_root()],
        "findings": [f.as_dict() for f in report.findings],
        "errors": [e.as_dict() for e in report.errors],
    }


def render(report: AuditReport) -> str:
    """The JSON report (UTF-8 text, two-space indent, keys in schema order)."""
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"
