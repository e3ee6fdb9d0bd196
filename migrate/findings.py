"""A finding: one legacy call site, what it becomes, and what a person should know about it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from migrate.catalogue import Fidelity, entry


@dataclass(frozen=True)
class Finding:
    """One legacy site. `reason` is the catalogue row's, plus `detail` about this very call."""

    path: str
    line: int
    column: int
    api: str
    fidelity: Fidelity
    rule: str
    replacement: str
    detail: str = ""
    excerpt: str = ""

    @property
    def reason(self) -> str:
        text = entry(self.rule).reason
        return f"{text} {self.detail}".strip() if self.detail else text

    @property
    def rewritten(self) -> bool:
        return self.fidelity != "manual"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reason"] = self.reason
        return out
