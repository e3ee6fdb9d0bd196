"""What changed at run time: each conversion recorded once per (rule, name).

The text of every entry is the catalogue row's reason, so the shim, the audit and the README say the
same thing; `detail` says what happened to that name (each distinct detail once, in order). An entry
noted `lossy` is reported as lossy even under an exact row (a value or name the row's API usually
keeps intact, changed this time). Each run's entries are stored as the artifact
`aml2mlflow/conversions.json`, and a short summary of the lossy ones goes to stderr at exit unless
`AML2MLFLOW_QUIET=1`.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field

ARTIFACT = "aml2mlflow/conversions.json"
MAX_DETAIL = 1000  # characters of detail kept per entry


@dataclass
class Conversion:
    rule: str
    name: str
    detail: str
    count: int = 1
    lossy: bool = False

    def add_detail(self, detail: str) -> None:
        """Append the parts of `detail` ("; "-separated) not in this entry's detail yet."""
        if not detail or detail == self.detail:
            return
        known = self.detail.split("; ") if self.detail else []
        for part in detail.split("; "):
            if part not in known and len(self.detail) < MAX_DETAIL:
                known.append(part)
                self.detail = "; ".join(known)[:MAX_DETAIL]

    def as_dict(self) -> dict[str, object]:
        from migrate.catalogue import entry

        row = entry(self.rule)
        return {
            "rule": self.rule,
            "api": row.api,
            "fidelity": "lossy" if self.lossy and row.fidelity == "exact" else row.fidelity,
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

    def note(self, rule: str, name: str, detail: str = "", lossy: bool = False) -> None:
        """Record one occurrence; a detail not seen yet for (rule, name) is added to the entry's."""
        key = (rule, name)
        with self._lock:
            item = self.items.get(key)
            if item is None:
                item = self.items[key] = Conversion(rule, name, "", lossy=lossy)
                item.add_detail(detail)
            else:
                item.count += 1
                item.add_detail(detail)
                item.lossy = item.lossy or lossy
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
