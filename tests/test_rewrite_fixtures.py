"""Before/after fixture pairs for the codemod, "must not change" fixtures, idempotency, parsing.

Every `fixtures/rewrite/<case>.before.py` has a reviewed `<case>.after.py` (the exact expected
output) and `<case>.findings.json` (one entry per legacy site, in source order: line, api, fidelity
and rule; an entry may add "detail", a text the finding's detail must contain). On every pair the
harness checks: output == after, output compiles, a second rewrite changes nothing, every comment
survives, and the after files are clean for pyflakes (no undefined name, no unused import the
rewrite left). Files under `noop/` are lookalikes that must come out byte for byte unchanged.

Sources whose bytes editors would mangle (CRLF, tabs, a file ending in a lone "\\r") are built as
strings in the tests below.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import tokenize
from collections import Counter
from pathlib import Path

import libcst as cst
import pytest

from migrate.api import rewrite_source
from migrate.codemod import Result

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "rewrite"
PAIRS = sorted(CASES.glob("*.before.py"))
NOOPS = sorted((CASES / "noop").glob("*.py"))


def _id(path: Path) -> str:
    return str(path.relative_to(CASES)).removesuffix(".before.py")


def _comments(code: str) -> Counter[str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return Counter(t.string for t in tokens if t.type == tokenize.COMMENT)


def _legacy_imports(code: str) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
    return [m for m in modules if m.split(".")[0] == "azureml"]


def _findings(result: Result) -> list[dict[str, object]]:
    return [
        {"line": f.line, "api": f.api, "fidelity": f.fidelity, "rule": f.rule}
        for f in result.findings
    ]


def test_fixtures_exist() -> None:
    assert len(PAIRS) >= 30 and len(NOOPS) >= 6


@pytest.mark.parametrize("before", PAIRS, ids=_id)
def test_rewrite_matches_after(before: Path) -> None:
    after = before.with_name(before.name.replace(".before.py", ".after.py"))
    source = before.read_text(encoding="utf-8")
    result = rewrite_source(source, before.name)
    assert result.code == after.read_text(encoding="utf-8")
    compile(result.code, str(after), "exec")  # output parses
    again = rewrite_source(result.code, after.name)
    assert again.code == result.code, "a second rewrite must change nothing"
    assert not _comments(source) - _comments(result.code), "a comment was lost"
    expected = json.loads(
        before.with_name(before.name.replace(".before.py", ".findings.json")).read_text("utf-8")
    )
    got = _findings(result)
    assert got == [{k: v for k, v in e.items() if k != "detail"} for e in expected]
    for finding, entry in zip(result.findings, expected):
        assert str(entry.get("detail", "")) in finding.detail
    lines = [(f.line, f.column) for f in result.findings]
    assert lines == sorted(lines), "findings come in source order"
    if all(f.rewritten for f in result.findings):
        assert not _legacy_imports(result.code), "a fully rewritten file needs no Azure ML SDK"


def test_after_files_are_clean_for_pyflakes() -> None:
    """No undefined names, no unused imports, no unused locals in any expected output."""
    ruff = Path(sys.executable).with_name("ruff")
    afters = sorted(str(p) for p in CASES.glob("*.after.py"))
    out = subprocess.run(
        [str(ruff), "check", "--isolated", "--no-cache", "--select", "F", *afters],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize("path", NOOPS, ids=lambda p: p.name)
def test_lookalikes_are_never_touched(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    result = rewrite_source(source, path.name)
    assert result.code == source
    assert all(f.fidelity == "manual" for f in result.findings)


# -- bytes editors mangle: CRLF, tabs, a lone "\r" at the end ------------------------------------
LEGACY = (
    '"""Doc."""\n'
    "from azureml.core import Run  # the SDK\n"
    "\n"
    "run = Run.get_context()\n"
    "for i in range(3):\n"
    "    run.log(\n"
    '        "loss",  # per epoch\n'
    "        1.0 / (i + 1),\n"
    "    )\n"
    '    run.log_list("losses", [0.5, 0.4])\n'
    "run.complete()\n"
)
EXPECTED = (
    '"""Doc."""\n'
    "import time\n"
    "\n"
    "import mlflow  # the SDK\n"
    "\n"
    "run = mlflow.active_run() or mlflow.start_run()\n"
    "for i in range(3):\n"
    "    mlflow.log_metric(\n"
    '        "loss",  # per epoch\n'
    "        1.0 / (i + 1),\n"
    "    )\n"
    "    mlflow.MlflowClient().log_batch(\n"
    "        mlflow.active_run().info.run_id,\n"
    "        metrics=[\n"
    "            mlflow.entities.Metric(\n"
    '                "losses", float(value), int(time.time() * 1000), step\n'
    "            )\n"
    "            for step, value in enumerate(\n"
    "                [0.5, 0.4],\n"
    "                len(\n"
    "                    mlflow.MlflowClient().get_metric_history(\n"
    '                        mlflow.active_run().info.run_id, "losses"\n'
    "                    )\n"
    "                ),\n"
    "            )\n"
    "        ],\n"
    "    )\n"
    "mlflow.end_run()\n"
)


def test_plain_lf_source() -> None:
    assert rewrite_source(LEGACY).code == EXPECTED


def test_crlf_stays_crlf() -> None:
    result = rewrite_source(LEGACY.replace("\n", "\r\n"))
    assert result.code == EXPECTED.replace("\n", "\r\n")
    assert rewrite_source(result.code).code == result.code


def _tabs(code: str) -> str:
    """Each leading run of four spaces as a tab."""
    lines = []
    for line in code.split("\n"):
        stripped = line.lstrip(" ")
        lines.append("\t" * ((len(line) - len(stripped)) // 4) + stripped)
    return "\n".join(lines)


def test_tab_indented_source_stays_tab_indented() -> None:
    source = _tabs(LEGACY)
    result = rewrite_source(source)
    assert result.code == _tabs(EXPECTED)
    compile(result.code, "<tabs>", "exec")
    assert rewrite_source(result.code).code == result.code


def test_tabs_and_crlf_together() -> None:
    source = _tabs(LEGACY).replace("\n", "\r\n")
    result = rewrite_source(source)
    assert "\r\n" in result.code and "\n" not in result.code.replace("\r\n", "")
    assert "\tmlflow.log_metric(\r\n" in result.code
    compile(result.code, "<tabs-crlf>", "exec")


def test_a_file_ending_in_a_lone_carriage_return() -> None:
    source = "from azureml.core import Run\nrun = Run.get_context()\nrun.log('a', 1)\r"
    result = rewrite_source(source)
    assert result.code == (
        "import mlflow\nrun = mlflow.active_run() or mlflow.start_run()\n"
        "mlflow.log_metric('a', 1)\r"
    )
    assert rewrite_source(result.code).code == result.code


def test_a_file_without_a_final_newline() -> None:
    source = "from azureml.core import Run\nrun = Run.get_context()\nrun.log('a', 1)"
    result = rewrite_source(source)
    assert result.code.endswith("mlflow.log_metric('a', 1)")
    compile(result.code, "<no-newline>", "exec")


def test_an_indented_block_emptied_by_the_rewrite_gets_pass() -> None:
    source = "from azureml.core import Run\nrun = Run.get_context()\nif run:\n    run.start()\n"
    result = rewrite_source(source)
    assert result.code == (
        "import mlflow\nrun = mlflow.active_run() or mlflow.start_run()\nif run:\n    pass\n"
    )


def test_a_removed_statement_hands_its_comments_to_the_next() -> None:
    source = (
        "from azureml.core import Run\n"
        "run = Run.get_context()\n"
        "# start the run\n"
        "run.start()  # nothing to do\n"
        "run.log('a', 1)\n"
    )
    result = rewrite_source(source)
    assert result.code == (
        "import mlflow\n"
        "run = mlflow.active_run() or mlflow.start_run()\n"
        "# start the run\n"
        "# nothing to do\n"
        "mlflow.log_metric('a', 1)\n"
    )


def test_files_without_legacy_calls_are_returned_as_they_are() -> None:
    for source in ("x = 1\n", "# azureml\nx = 1\n", "import azureml.core\n"):
        result = rewrite_source(source)
        assert result.code == source and not result.changed


def test_shim_target_swaps_only_the_imports() -> None:
    source = "from azureml.core import Run\nrun = Run.get_context()\nrun.log('a', 1)\n"
    result = rewrite_source(source, target="shim")
    assert result.code == "from shims import Run\nrun = Run.get_context()\nrun.log('a', 1)\n"
    assert [f.rule for f in result.findings] == ["shim-import"]


def _every_node(module: cst.Module) -> list[tuple[cst.CSTNode, cst.CSTNode]]:
    """Every node below the module's statements, with its top-level statement."""
    out: list[tuple[cst.CSTNode, cst.CSTNode]] = []

    class Collect(cst.CSTVisitor):
        def __init__(self, top: cst.CSTNode) -> None:
            self.top = top

        def on_visit(self, node: cst.CSTNode) -> bool:
            out.append((node, self.top))
            return True

    for stmt in module.body:
        stmt.visit(Collect(stmt))
    return out


SOURCES = [
    *PAIRS,
    *NOOPS,
    *sorted((CASES.parent / "legacy").glob("*.py")),
    *sorted((CASES.parent / "differential").glob("*.py")),
]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_positions_agree_with_libcst_position_provider(path: Path) -> None:
    """The codemod's per-statement positions are the ones libcst's PositionProvider gives."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    from migrate.codemod import _Positions

    source = path.read_text(encoding="utf-8")
    for text in (source, source.replace("\n", "\r\n"), "# lead\n\n" + source.replace("\n", "\r")):
        module = cst.parse_module(text)
        expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        positions = _Positions(module)
        nodes = _every_node(module)
        assert nodes
        for node, top in nodes:
            if node in expected:
                assert positions.get(node, top) == expected[node], type(node).__name__
        late = _Positions(module)  # asked without its statement: found all the same
        node, _ = nodes[-1]
        if node in expected:
            assert late.get(node, None) == expected[node]
