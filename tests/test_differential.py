"""Differential tests: small legacy scripts run under the shim and rewritten on plain MLflow.

Each script in `fixtures/differential/` combines the call shapes real training code uses (values
of every type, names MLflow rejects, argparse values, tags with None, tables and JSON metrics,
log_list in a loop, classes and helpers holding the run, child runs, the Workbench logger). The
rewrite must log exactly what the legacy script logged: `migrate.verify.verify_script` compares
both runs (metric histories, params, tags, artifacts, status, exit code), in a real sqlite store.
Only the catalogued extras of the shim may differ, and they are notes, not differences.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.verify import verify_script

SCRIPTS = sorted(
    (Path(__file__).resolve().parent.parent / "fixtures" / "differential").glob("*.py")
)


def test_scripts_exist() -> None:
    assert len(SCRIPTS) >= 4


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_rewrite_logs_what_the_legacy_script_logged(script: Path, store: str) -> None:
    verdict = verify_script(script, tracking_uri=store, timeout=180)
    assert not verdict.error, f"{verdict.error}\n{verdict.stderr_tail}"
    differences = [
        f"{d.kind} {d.key}: legacy {d.legacy!r} vs rewritten {d.rewritten!r} ({d.note})"
        for d in verdict.differences
    ]
    assert verdict.equivalent, "\n".join(differences)
    # Every site was converted: nothing left to a person, so the rewrite ran on plain MLflow.
    assert not [n for n in verdict.notes if n.kind == "rewrite"], verdict.notes


def test_list_steps_continue_as_in_azure_ml(store: str) -> None:
    """Strict steps: lists logged under one name by several calls continue its steps."""
    script = SCRIPTS[0].with_name("steps.py")
    verdict = verify_script(script, tracking_uri=store, timeout=180, strict_steps=True)
    assert not verdict.error, f"{verdict.error}\n{verdict.stderr_tail}"
    assert verdict.equivalent, [(d.kind, d.key, d.note) for d in verdict.differences]
