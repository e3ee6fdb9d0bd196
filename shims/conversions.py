"""What changed at run time: each lossy conversion recorded once per (rule, name).

The text of every entry is the catalogue row's reason, so the shim, the audit and the README say the
same thing. Each run's entries are stored as the artifact `aml2mlflow/conversions.json`, and a short
summary goes to stderr at exit unless `AML2MLFLOW_QUIET=1`.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field

ARTIFACT = "aml2mlflow/conversions.json"


@dataclass
class Conversion:
    rule: str
    name: str
    detail: str
    count: int = 1

    def as_dict(self) -> dict[str, object]:
        from migrate.catalogue import entry

        row = entry(self.rule)
        return {
            "rule": self.rule,
            "api": row.api,
            "fidelity": row.fidelity,
            "name": self.name,
            "detail": self.detail,
            "reason": row.reason,
            "count": self.count,
        }


@dataclass
class Recorder:
    """The conversions of one run."""

    run_id: str
    items: dict[tuple[str, str], Conversion] = field(default_factory=dict)
    dirty: bool = False
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def note(self, rule: str, name: str, detail: str = "") -> None:
        key = (rule, name)
        with self._lock:
            item = self.items.get(key)
            if item is None:
                self.items[key] = Conversion(rule, name, detail)
            else:
                item.count += 1
                if detail and not item.detail:
                    item.detail = detail
            self.dirty = True

    def as_list(self) -> list[dict[str, object]]:
        with self._lock:
            return [c.as_dict() for c in self.items.values()]


def quiet() -> bool:
    return os.environ.get("AML2MLFLOW_QUIET", "").strip().lower() in ("1", "true", "yes")


def summarise(recorders: list[Recorder]) -> str:
    """A few lines for stderr: how many values were converted with a loss, by rule."""
    lines: list[str] = []
    for rec in recorders:
        items = [c for c in rec.as_list() if c["fidelity"] != "exact"]
        if not items:
            continue
        lines.append(
            f"aml2mlflow: run {rec.run_id}: {len(items)} lossy conversion(s), "
            f"details in artifact {ARTIFACT}"
        )
        for c in items[:10]:
            name = f" {c['name']!r}" if c["name"] else ""
            detail = f" ({c['detail']})" if c["detail"] else ""
            lines.append(f"  - {c['api']}{name}: {c['rule']}{detail}")
        if len(items) > 10:
            lines.append(f"  ... and {len(items) - 10} more")
    return "\n".join(lines)


def print_summary(recorders: list[Recorder]) -> None:
    if quiet():
        return
    text = summarise(recorders)
    if text:
        print(text, file=sys.stderr)
