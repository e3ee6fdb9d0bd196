"""Before/after fixture pairs for the codemod, "must not change" fixtures, idempotency, parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrate.api import rewrite_source

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "rewrite"
PAIRS = sorted(CASES.rglob("*.before.py"))
NOOPS = sorted((CASES / "noop").glob("*.py"))


def _id(path: Path) -> str:
    return str(path.relative_to(CASES)).removesuffix(".before.py")


def test_fixtures_exist() -> None:
    assert PAIRS and NOOPS


@pytest.mark.parametrize("before", PAIRS, ids=_id)
def test_rewrite_matches_after(before: Path) -> None:
    after = before.with_name(before.name.replace(".before.py", ".after.py"))
    source = before.read_text(encoding="utf-8")
    result = rewrite_source(source, before.name)
    assert result.code == after.read_text(encoding="utf-8")
    compile(result.code, str(after), "exec")  # output parses
    again = rewrite_source(result.code, after.name)
    assert again.code == result.code, "a second rewrite must change nothing"
    expected = before.with_name(before.name.replace(".before.py", ".findings.json"))
    if expected.exists():
        got = [
            {"line": f.line, "api": f.api, "fidelity": f.fidelity, "rule": f.rule}
            for f in result.findings
        ]
        assert got == json.loads(expected.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOOPS, ids=lambda p: p.name)
def test_lookalikes_are_never_touched(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    result = rewrite_source(source, path.name)
    assert result.code == source
    assert all(f.fidelity == "manual" for f in result.findings)
