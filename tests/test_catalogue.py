"""The catalogue is the single source of truth: the README, the shim and the data must agree."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from migrate import catalogue
from migrate.catalogue import BY_ID, ENTRIES, FIDELITIES, GROUPS

ROOT = Path(__file__).resolve().parent.parent
SIGNATURES = json.loads((ROOT / "fixtures/reference/azureml_run_signatures.json").read_text())

# Members of the legacy Run about metrics, images, tables, files, tags, properties, lifecycle and
# reading back: each must have a catalogue row. (Snapshots, secrets, environments, portal URLs and
# internal hooks are not about logging.)
IN_SCOPE = [
    "log",
    "log_list",
    "log_row",
    "log_table",
    "log_image",
    "log_accuracy_table",
    "log_confusion_matrix",
    "log_predictions",
    "log_residuals",
    "upload_file",
    "upload_files",
    "upload_folder",
    "tag",
    "set_tags",
    "remove_tags",
    "add_properties",
    "get_properties",
    "get_tags",
    "get_metrics",
    "get_file_names",
    "download_file",
    "download_files",
    "complete",
    "fail",
    "cancel",
    "start",
    "child_run",
    "create_children",
    "get_children",
    "parent",
    "id",
    "display_name",
    "description",
    "get_context",
    "get_status",
    "get_details",
    "wait_for_completion",
    "flush",
    "register_model",
    "get",
    "list",
    "submit_child",
    "__enter__",
]


def test_readme_table_matches_catalogue() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert catalogue.splice_readme(readme) == readme, (
        "README.md's mapping table is out of date: run `python3 dev.py readme`"
    )


def test_readme_has_one_line_per_row() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(catalogue.START)[1].split(catalogue.END)[0]
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", block, flags=re.M)
    assert ids == [e.id for g in GROUPS for e in ENTRIES if e.group == g]


def test_rows_are_well_formed() -> None:
    assert len(BY_ID) == len(ENTRIES), "rule ids must be unique"
    for e in ENTRIES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", e.id), e.id
        assert e.fidelity in FIDELITIES, e.id
        assert e.group in GROUPS, e.id
        assert e.target.strip(), e.id
        # One sentence a user understands: ends with a full stop, not a fragment.
        assert len(e.reason) > 20 and e.reason.endswith("."), e.id


@pytest.mark.parametrize("member", IN_SCOPE)
def test_every_in_scope_legacy_member_has_a_row(member: str) -> None:
    assert f"Run.{member}" in SIGNATURES, f"Run.{member} is not a real SDK member"
    apis = {e.api for e in ENTRIES} | {e.shim for e in ENTRIES}
    assert f"Run.{member}" in apis


@pytest.mark.parametrize(
    "api",
    [
        "Experiment.start_logging",
        "Experiment.submit",
        "Run.get_context",
        "get_azureml_logger",
        "Workbench.log",
        "Workbench.upload",
        "Workbench.wait",
        "./outputs",
    ],
)
def test_required_non_run_rows(api: str) -> None:
    assert any(e.api == api for e in ENTRIES)


def _shim_member(path: str) -> object:
    from shims import run, workbench

    owner_name, _, attr = path.rpartition(".")
    owners = {
        "Run": run.Run,
        "Experiment": run.Experiment,
        "Workspace": run.Workspace,
        "WorkbenchLogger": workbench.WorkbenchLogger,
        "Pending": workbench.Pending,
        "": workbench,  # module-level functions, e.g. get_azureml_logger
    }
    owner = owners[owner_name]
    return inspect.getattr_static(owner, attr)


@pytest.mark.parametrize("row", [e for e in ENTRIES if e.shim], ids=lambda e: e.id)
def test_shim_member_named_by_row_exists(row: catalogue.Entry) -> None:
    assert _shim_member(row.shim) is not None


def test_rules_the_shim_records_exist_in_the_catalogue() -> None:
    """Every rule id the shim quotes at run time (note("..."), entry("...")) is a catalogue row."""
    quoted: set[str] = set()
    for path in (ROOT / "shims").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        quoted |= set(re.findall(r'(?:note|entry|_instead)\(\s*"([a-z0-9-]+)"', text))
        quoted |= set(re.findall(r'"(run-[a-z0-9-]+)"', text))
    assert quoted, "the scan found nothing: the pattern is stale"
    unknown = sorted(quoted - set(BY_ID))
    assert not unknown, f"shim quotes rule ids missing from the catalogue: {unknown}"


def test_lossy_and_manual_rows_say_why() -> None:
    for e in ENTRIES:
        if e.fidelity != "exact":
            assert e.reason and e.target, e.id
        if e.fidelity == "manual":
            # A manual row tells the user what to do instead.
            assert re.search(
                r"\b(use|run|save|look|launch|read|rewrite|check|remove)\b", e.reason, re.I
            ), e.id


def test_cli_catalogue_json_lists_every_row() -> None:
    from click.testing import CliRunner

    from migrate.cli import main

    result = CliRunner().invoke(main, ["catalogue", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [e.id for e in ENTRIES]
    assert all(set(r) >= {"api", "target", "fidelity", "reason"} for r in rows)


def test_static_cli_commands_never_import_mlflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from migrate.cli import main\n"
        "for args in (['--help'], ['--version'], ['catalogue'], ['run', '--help']):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'matplotlib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# Rows `rewrite` or `audit` report that no fixture's expected findings hold, and the test that
# asserts each of them instead.
ASSERTED_ELSEWHERE = {
    "notebook-cells-apart": "tests/test_notebooks.py",
    "notebook-writefile": "tests/test_notebooks.py",
    "unparseable": "tests/test_audit.py::test_unreadable_files_are_errors_and_the_scan_goes_on",
    "shim-import": "tests/test_rewrite_fixtures.py::test_shim_target_swaps_only_the_imports",
    "outputs-folder": "tests/test_verify.py (a note of the shim's, never a finding)",
}


def test_every_row_rewrite_or_audit_reports_has_expected_findings() -> None:
    """A row the codemod or the audit names in its code is asserted, with its fidelity, by a
    fixture's expected findings (or by the test named above); a row neither names describes what
    only the shim does, and names the shim member that does it."""
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for p in sorted((ROOT / "migrate").rglob("*.py"))
        if p.name != "catalogue.py"
    )
    named = {e.id for e in ENTRIES if f'"{e.id}"' in code}
    expected: dict[str, set[str]] = {}
    fixtures = [
        *(ROOT / "fixtures" / "rewrite").glob("*.findings.json"),
        *(ROOT / "fixtures" / "audit" / "patterns").glob("*.expected.json"),
    ]
    for path in fixtures:
        for row in json.loads(path.read_text(encoding="utf-8")):
            expected.setdefault(row["rule"], set()).add(row["fidelity"])
    missing = named - set(expected) - set(ASSERTED_ELSEWHERE)
    assert not missing, f"rows reported with no fixture asserting them: {sorted(missing)}"
    for rule in expected:
        assert rule in BY_ID, rule
    for e in ENTRIES:
        if e.id not in named and e.id not in expected:
            assert e.shim or e.group == "implicit", f"{e.id}: reported by nothing, done by nothing"
