"""Hostile inputs (issue 6): `rewrite` and `audit` over a tree of every kind of broken file.

The corpus is `fixtures/hostile/` (its README lists each file) plus what git cannot store, made here
in the test's folder: symlink loops, a dangling link, FIFOs (one named `.gitignore`), a read-only
and an unreadable file, a 5 MB generated module and nesting deep enough to crash libcst's native
parser. Every run is a real `aml2mlflow` process with a timeout, so a FIFO that blocks or a parser
that crashes fails the test instead of hanging or killing the session.

For each mode the test checks one error line per bad file (naming the file, and the line when there
is one), that the good files are still processed, the exit code 3 ("some file could not be
processed"), and a snapshot of the tree: every entry keeps its kind, permission bits, inode and
bytes, except the files a write legitimately rewrites, and nothing is added (no temporary files,
no marker files from code that must never run).
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrate.api import rewrite_paths
from migrate.audit import DEFAULT_MAX_BYTES, audit_paths
from migrate.sources import MAX_NESTING

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="FIFOs, symlink loops and POSIX permission bits"
)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "fixtures" / "hostile"
EXE = Path(sys.executable).with_name("aml2mlflow")
TIMEOUT = 120
EXIT_FAILED = 3
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ELOOP = os.strerror(errno.ELOOP)
EACCES = os.strerror(errno.EACCES)
ENV = {**os.environ, "PYTHONUTF8": "1", "NO_COLOR": "1", "COLUMNS": "200"}

LEGACY = 'from azureml.core import Run\n\nrun = Run.get_context()\nrun.log("loss", 0.5)\n'


@dataclass(frozen=True)
class Bad:
    """An expected error: its line (None: no line), a part of its message, its notebook cell."""

    line: int | None
    message: str
    cell: int | None = None


# Files every mode reports (the file cannot be read, decoded or parsed).
ALWAYS_BAD = {
    "binary.py": Bad(None, "binary file"),
    "binary_no_nul.py": Bad(1, "cannot decode byte 0x80 as utf-8"),
    "bom_cookie_conflict.py": Bad(
        1, "the coding cookie says latin-1 but the file starts with a UTF-8 BOM"
    ),
    "deeply_nested.py": Bad(3, "cannot parse: too many nested parentheses"),
    "deeply_nested_unary.py": Bad(None, "too deeply nested to parse safely (Python's parser: "),
    "notebook_empty.ipynb": Bad(1, "invalid notebook JSON: Expecting value"),
    "notebook_invalid_json.ipynb": Bad(3, "invalid notebook JSON"),
    "notebook_nbformat3.ipynb": Bad(1, "nbformat 3 notebook (no 'cells')"),
    "notebook_no_cells.ipynb": Bad(1, "not a notebook: no 'cells' list"),
    "notebook_python2_cell.ipynb": Bad(
        3, "cannot parse: Missing parentheses in call to 'print'", cell=2
    ),
    "python2.py": Bad(5, "cannot parse: Missing parentheses in call to 'print'"),
    "symlink_loop_a.py": Bad(None, f"cannot read: {ELOOP}"),
    "symlink_loop_b.py": Bad(None, f"cannot read: {ELOOP}"),
    "syntax_error.py": Bad(5, "cannot parse: '(' was never closed (line 4)"),
    "tab_space_mix.py": Bad(6, "cannot parse: inconsistent use of tabs and spaces"),
    "undecodable.py": Bad(4, "cannot decode byte 0xe9 as utf-8"),
    "unknown_cookie.py": Bad(1, "unknown encoding: klingon"),
    "utf16.py": Bad(None, "UTF-16 text: Python source must be UTF-8"),
    "wrong_cookie.py": Bad(5, "cannot decode byte 0xc3 as ascii"),
}
if not IS_ROOT:
    ALWAYS_BAD["unreadable.py"] = Bad(None, f"cannot read: {EACCES}")
# Valid legacy code that every mode converts.
GOOD = {
    "bom.py",
    "cr_only.py",
    "crlf.py",
    "fifo_gitignore/inside.py",
    "form_feed.py",
    "latin1.py",
    "mixed_newlines.py",
    "normal.py",
    "side_effects.ipynb",
    "side_effects.py",
    "side_effects_pkg/train.py",
    "tabs.py",
    "with space/train job.py",
    "ünïcödé/café.py",
}
# Valid legacy code that cannot be written: readable (so --check and --diff see a change).
NOT_WRITABLE = {"read_only.py", *(["unreadable.py"] if IS_ROOT else [])}
# Valid Python too deep for the rewrite; `--check` answers from Python's parser and says "would
# rewrite", the rewrite itself reports them.
TOO_DEEP = {
    "deeply_nested_valid.py": Bad(None, "too deeply nested to rewrite"),
    "deeply_nested_boolop.py": Bad(3, f"nested more than {MAX_NESTING} levels deep"),
}
FORM_FEED = Bad(4, "the rewrite would drop a form feed (a libcst limitation); left untouched")
READ_ONLY = Bad(None, "read-only file")


# --------------------------------------------------------------------------------------------------
# the tree and its snapshot
# --------------------------------------------------------------------------------------------------


def build_corpus(dest: Path) -> Path:
    """`fixtures/hostile/` copied to `dest`, plus the cases made at run time; returns `dest`."""
    shutil.copytree(HOSTILE, dest, symlinks=True)
    os.symlink("symlink_loop_b.py", dest / "symlink_loop_a.py")
    os.symlink("symlink_loop_a.py", dest / "symlink_loop_b.py")
    os.symlink("no_such_file.py", dest / "dangling.py")
    os.mkfifo(dest / "fifo.py")
    (dest / "fifo_gitignore").mkdir()
    os.mkfifo(dest / "fifo_gitignore" / ".gitignore")
    (dest / "fifo_gitignore" / "inside.py").write_text(LEGACY, encoding="utf-8")
    for name, mode in (("read_only.py", 0o444), ("unreadable.py", 0o000)):
        (dest / name).write_text(LEGACY, encoding="utf-8")
        (dest / name).chmod(mode)
    head = 'from azureml.core import Run\nrun = Run.get_context()\nrun.log("x", '
    (dest / "deeply_nested.py").write_text(head + "[" * 5000 + "1" + "]" * 5000 + ")\n")
    (dest / "deeply_nested_unary.py").write_text(head + "-" * 100_000 + "1)\n")
    # One flat node for Python's parser, 20,000 nested ones for libcst's.
    (dest / "deeply_nested_boolop.py").write_text(head + " and ".join(["x"] * 20_000) + ")\n")
    line = "DATA = [" + ", ".join(str(i) for i in range(200)) + "]\n"
    body = '"""Generated: do not edit."""\n' + line * (5_000_000 // len(line) + 1)
    (dest / "generated_5mb.py").write_text(body, encoding="utf-8")
    return dest


@pytest.fixture
def corpus(tmp_path: Path) -> Iterator[Path]:
    tree = build_corpus(tmp_path / "corpus")
    yield tree
    (tree / "unreadable.py").chmod(0o644)  # let pytest clean up


@dataclass(frozen=True)
class Entry:
    kind: str  # file, dir, link, fifo
    mode: int
    inode: int
    data: bytes | str | None  # file bytes (None if unreadable), link target


def snapshot(tree: Path) -> dict[str, Entry]:
    """Every entry under `tree`, without following links or opening anything but regular files."""
    out: dict[str, Entry] = {}
    for folder, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = Path(folder) / name
            st = path.lstat()
            rel = path.relative_to(tree).as_posix()
            data: bytes | str | None = None
            if stat.S_ISLNK(st.st_mode):
                kind, data = "link", os.readlink(path)
            elif stat.S_ISDIR(st.st_mode):
                kind = "dir"
            elif stat.S_ISFIFO(st.st_mode):
                kind = "fifo"
            else:
                kind = "file"
                data = path.read_bytes() if os.access(path, os.R_OK) else None
            out[rel] = Entry(kind, stat.S_IMODE(st.st_mode), st.st_ino, data)
    return out


def assert_unchanged_except(
    before: dict[str, Entry], after: dict[str, Entry], rewritten: set[str]
) -> None:
    """Same entries; the `rewritten` files have new bytes and their old mode, the rest are equal."""
    assert sorted(after) == sorted(before), "entries appeared or vanished (temporary files?)"
    for rel, old in before.items():
        new = after[rel]
        if rel in rewritten:
            assert (new.kind, new.mode) == (old.kind, old.mode), rel
            assert new.data != old.data, f"{rel} should have been rewritten"
        else:
            assert new == old, f"{rel} changed: {old} -> {new}"


# --------------------------------------------------------------------------------------------------
# running the command
# --------------------------------------------------------------------------------------------------


def run_command(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `command` in `cwd` with a timeout; its output decoded as UTF-8, newlines untranslated."""
    raw = subprocess.run(command, cwd=cwd, capture_output=True, timeout=TIMEOUT, env=ENV)
    stdout, stderr = (b.decode("utf-8", "replace") for b in (raw.stdout, raw.stderr))
    return subprocess.CompletedProcess(raw.args, raw.returncode, stdout, stderr)


def aml2mlflow(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, run in `cwd`; a hang fails the test after TIMEOUT seconds."""
    return run_command([str(EXE), *args], cwd)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def assert_reported(stderr: str, expected: dict[str, Bad]) -> None:
    """One `error:` line per expected file, in `rewrite`'s format, and no other error line."""
    lines = error_lines(stderr)
    for rel, bad in expected.items():
        if bad.cell is not None:
            prefix = f"error: {rel}: {rel}[cell {bad.cell}]:{bad.line}: "
        elif bad.line is not None:
            prefix = f"error: {rel}:{bad.line}: "
        else:
            prefix = f"error: {rel}: "
        mine = [line for line in lines if line.startswith(prefix)]
        assert len(mine) == 1, f"{rel}: expected one line starting {prefix!r} in:\n{stderr}"
        assert bad.message in mine[0], (rel, mine[0])
    assert len(lines) == len(expected), "\n".join(lines)
    assert f"{len(expected)} file(s) skipped with errors" in stderr


def would_rewrite(stderr: str) -> set[str]:
    prefix = "would rewrite "
    return {line[len(prefix) :] for line in stderr.splitlines() if line.startswith(prefix)}


def diffed(stdout: str) -> set[str]:
    return set(re.findall(r"^\+\+\+ b/(.*)$", stdout, re.M))


# --------------------------------------------------------------------------------------------------
# rewrite: --check, --diff, write
# --------------------------------------------------------------------------------------------------


def test_check_reports_each_bad_file_and_changes_nothing(corpus: Path) -> None:
    before = snapshot(corpus)
    out = aml2mlflow(corpus, "rewrite", "--check", "-j", "1", ".")
    assert out.returncode == EXIT_FAILED, out.stderr
    # --check answers from Python's parser only where the rewrite agrees: files the rewrite
    # refuses (too deep, a form feed libcst would drop) get the same message as under --diff.
    assert_reported(out.stderr, {**ALWAYS_BAD, **TOO_DEEP, "form_feed_statement.py": FORM_FEED})
    assert would_rewrite(out.stderr) == GOOD | NOT_WRITABLE
    assert_unchanged_except(before, snapshot(corpus), set())


def test_diff_reports_each_bad_file_in_parallel_workers_and_changes_nothing(corpus: Path) -> None:
    before = snapshot(corpus)
    out = aml2mlflow(corpus, "rewrite", "--diff", "-j", "2", ".")
    assert out.returncode == EXIT_FAILED, out.stderr
    expected = {
        **ALWAYS_BAD,
        **TOO_DEEP,
        "form_feed_statement.py": FORM_FEED,
    }
    assert_reported(out.stderr, expected)
    assert diffed(out.stdout) == GOOD | NOT_WRITABLE
    assert "-run = Run.get_context()\r\n+run = " in out.stdout  # crlf.py, endings as they are
    assert_unchanged_except(before, snapshot(corpus), set())


def test_write_rewrites_the_good_files_and_keeps_every_other_byte(corpus: Path) -> None:
    before = snapshot(corpus)
    out = aml2mlflow(corpus, "rewrite", "-j", "1", ".")
    assert out.returncode == EXIT_FAILED, out.stderr
    expected = {
        **ALWAYS_BAD,
        **TOO_DEEP,
        "form_feed_statement.py": FORM_FEED,
        **dict.fromkeys(NOT_WRITABLE, READ_ONLY),
    }
    assert_reported(out.stderr, expected)
    assert f"{len(GOOD)} rewritten;" in out.stderr
    after = snapshot(corpus)
    assert_unchanged_except(before, after, GOOD)
    assert not [rel for rel in after if "EXECUTED" in rel], "code from the corpus was executed"

    def new(rel: str) -> bytes:
        data = after[rel].data
        assert isinstance(data, bytes)
        return data

    for rel in GOOD:
        assert b"azureml" not in new(rel), rel
        if rel.endswith(".py"):
            compile(new(rel), rel, "exec", dont_inherit=True)  # bytes: BOM and cookie honoured
    assert new("bom.py").startswith(codecs.BOM_UTF8)
    assert "# per époque" in new("bom.py")[3:].decode("utf-8")
    assert new("crlf.py").count(b"\n") == new("crlf.py").count(b"\r\n") == 6
    assert b"\n" not in new("cr_only.py") and new("cr_only.py").count(b"\r") == 6
    mixed = new("mixed_newlines.py")
    for kept in (b"# crlf line\r\n", b"\n# lf line\n", b'log_metric("a", 1)\r# cr line\r'):
        assert kept in mixed
    assert b'log_metric("b", 2)\r\n' in mixed
    assert b'\n\t\tmlflow.log_metric("loss", 1.0 / (epoch + 1))\t# per epoch\n' in new("tabs.py")
    assert not re.search(rb"^ +\S", new("tabs.py"), re.M)
    assert new("form_feed.py").count(b"\f") == 3
    assert new("latin1.py").startswith(b"# -*- coding: latin-1 -*-\n")
    assert "# per époque" in new("latin1.py").decode("latin-1")
    notebook = json.loads(new("side_effects.ipynb"))
    assert "mlflow.log_metric" in "".join(notebook["cells"][0]["source"])
    # A second run finds only what it could not do the first time.
    again = aml2mlflow(corpus, "rewrite", "--check", "-j", "1", ".")
    assert again.returncode == EXIT_FAILED
    assert would_rewrite(again.stderr) == NOT_WRITABLE
    assert_unchanged_except(after, snapshot(corpus), set())


# --------------------------------------------------------------------------------------------------
# audit: text and JSON
# --------------------------------------------------------------------------------------------------

# The audit reads with `rewrite`'s machinery and lists findings where `rewrite` cannot write.
AUDIT_BAD = {
    **ALWAYS_BAD,
    **TOO_DEEP,
    "generated_5mb.py": Bad(None, "5.0 MB, over the audit's limit of 1.0 MB: not audited"),
}
AUDITED = GOOD | NOT_WRITABLE | {"form_feed_statement.py"}


def text_blocks(report: str) -> dict[str, list[str]]:
    """The text report's file blocks: the path line, then its indented lines."""
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in report.splitlines():
        if line == "Summary":
            break
        if line and not line.startswith(" "):
            current = blocks.setdefault(line, [])
        elif line:
            current.append(line.strip())
    return blocks


def test_audit_text_and_json_report_each_bad_file_and_change_nothing(corpus: Path) -> None:
    assert (corpus / "generated_5mb.py").stat().st_size > DEFAULT_MAX_BYTES
    before = snapshot(corpus)
    text = aml2mlflow(corpus, "audit", "-j", "2", ".")
    assert text.returncode == 0, text.stderr  # --fail-on never: the report is the result
    blocks = text_blocks(text.stdout)
    for rel, bad in AUDIT_BAD.items():
        where = f"[cell {bad.cell}]:" if bad.cell is not None else ""
        where += str(bad.line) if bad.line is not None else "-"
        errors = [line for line in blocks[rel] if re.match(rf"{re.escape(where)} +error ", line)]
        assert len(errors) == 1 and bad.message in errors[0], (rel, blocks[rel])
    for rel in AUDITED:
        assert any(" exact " in line for line in blocks[rel]), (rel, blocks.get(rel))
    assert "files scanned: " in text.stdout
    assert f"{len(AUDIT_BAD)} could not be audited" in text.stdout

    out = aml2mlflow(corpus, "audit", "--format", "json", "--fail-on", "manual", ".")
    assert out.returncode == EXIT_FAILED, (out.stderr, out.stdout[-2000:])
    data = json.loads(out.stdout)
    by_path = {e["path"]: e for e in data["errors"]}
    assert set(by_path) == set(AUDIT_BAD)
    for rel, bad in AUDIT_BAD.items():
        assert (by_path[rel]["line"], by_path[rel]["cell"]) == (bad.line, bad.cell), rel
        assert bad.message in by_path[rel]["message"], rel
    assert {f["path"] for f in data["findings"]} == AUDITED
    assert data["summary"]["files_with_errors"] == len(AUDIT_BAD)
    assert_unchanged_except(before, snapshot(corpus), set())


# --------------------------------------------------------------------------------------------------
# what the command names, what it never does
# --------------------------------------------------------------------------------------------------


def test_a_fifo_or_device_named_on_the_command_line_is_refused_without_blocking(
    tmp_path: Path,
) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    os.mkfifo(tmp_path / "pipe.ipynb")
    (tmp_path / "train.py").write_text(LEGACY, encoding="utf-8")
    devices = [d for d in ("/dev/zero", "/dev/null") if Path(d).exists()]
    roots = ["pipe.py", "pipe.ipynb", *devices, "train.py"]
    out = aml2mlflow(tmp_path, "rewrite", *roots)
    assert out.returncode == EXIT_FAILED, out.stderr
    assert "error: pipe.py: not a regular file (a FIFO); left untouched" in out.stderr
    assert "error: pipe.ipynb: not a regular file (a FIFO); left untouched" in out.stderr
    for device in devices:
        assert f"error: {device}: not a regular file (a device); left untouched" in out.stderr
    assert "azureml" not in (tmp_path / "train.py").read_text(encoding="utf-8")
    report = aml2mlflow(tmp_path, "audit", "--format", "json", *roots)
    assert report.returncode == 0, report.stderr
    messages = {e["path"]: e["message"] for e in json.loads(report.stdout)["errors"]}
    assert messages["pipe.py"] == "not a regular file (a FIFO); left untouched"
    assert len(messages) == 2 + len(devices)
    assert stat.S_ISFIFO((tmp_path / "pipe.py").lstat().st_mode)


def test_nothing_read_is_ever_executed_imported_or_evaluated(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("side_effects.py", "side_effects.ipynb", "side_effects_pkg"):
        source = HOSTILE / name
        if source.is_dir():
            shutil.copytree(source, tree / name)
        else:
            shutil.copy2(source, tree / name)
    # Names Python would import from the working directory if the tool ever put it on sys.path.
    marker = "open('EXECUTED-{0}', 'w').write('imported')\nraise SystemExit(42)\n"
    for module in ("mlflow", "libcst", "click", "sitecustomize", "azureml"):
        (tree / f"{module}.py").write_text(marker.format(module), encoding="utf-8")
    before = snapshot(tree)
    for fmt in ("text", "markdown", "json", "sarif", "html"):
        out = aml2mlflow(tree, "audit", "--format", fmt, "-j", "1", ".")
        assert out.returncode == 0, (fmt, out.stderr)
    assert "Run.log" in aml2mlflow(tree, "audit", ".").stdout
    check = aml2mlflow(tree, "rewrite", "--check", ".")
    assert check.returncode == 1, check.stderr  # would change, nothing broken
    assert aml2mlflow(tree, "rewrite", "--diff", ".").returncode == 0
    assert_unchanged_except(before, snapshot(tree), set())
    out = aml2mlflow(tree, "rewrite", ".")
    assert out.returncode == 0, out.stderr
    rewritten = {"side_effects.py", "side_effects.ipynb", "side_effects_pkg/train.py"}
    assert_unchanged_except(before, snapshot(tree), rewritten)  # and no EXECUTED-* file
    assert not list(tmp_path.rglob("EXECUTED-*"))


# --------------------------------------------------------------------------------------------------
# the library
# --------------------------------------------------------------------------------------------------


def test_library_outcomes_carry_the_errors_and_the_run_goes_on(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("python2.py", "undecodable.py", "crlf.py", "notebook_python2_cell.ipynb"):
        shutil.copy2(HOSTILE / name, tree / name)
    os.symlink("loop.py", tree / "loop.py")
    outcomes = {o.path: o for o in rewrite_paths([tree], mode="check", jobs=1)}
    assert set(outcomes) == {
        "crlf.py",
        "loop.py",
        "notebook_python2_cell.ipynb",
        "python2.py",
        "undecodable.py",
    }
    assert outcomes["crlf.py"].changed and not outcomes["crlf.py"].error
    assert outcomes["python2.py"].error.startswith("python2.py:5: cannot parse: Missing paren")
    assert outcomes["undecodable.py"].error.endswith(
        "undecodable.py:4: cannot decode byte 0xe9 as utf-8: invalid continuation byte"
    )
    assert outcomes["loop.py"].error.endswith(f"loop.py: cannot read: {ELOOP}")
    assert "notebook_python2_cell.ipynb[cell 2]:3: cannot parse: " in (
        outcomes["notebook_python2_cell.ipynb"].error
    )
    assert not any(o.changed for o in outcomes.values() if o.error)

    report = audit_paths([tree], jobs=1)
    errors = {e.path: e for e in report.errors}
    assert set(errors) == set(outcomes) - {"crlf.py"}
    assert (errors["python2.py"].line, errors["undecodable.py"].line) == (5, 4)
    assert (errors["notebook_python2_cell.ipynb"].cell, errors["loop.py"].line) == (2, None)
    assert errors["loop.py"].message == f"cannot read: {ELOOP}"
    assert [f.rule for f in report.findings if f.path == "crlf.py"] == [
        "run-get-context",
        "run-log",
        "run-complete",
    ]
    assert (tree / "crlf.py").read_bytes() == (HOSTILE / "crlf.py").read_bytes()


def test_deep_nesting_is_an_error_not_a_crash_of_the_library(tmp_path: Path) -> None:
    """libcst's native parser dies with SIGSEGV on these; in a child process, so a regression
    fails this test instead of killing the test session."""
    code = (
        "import sys\n"
        "from migrate.api import rewrite_paths\n"
        "from migrate.audit import audit_paths\n"
        "for o in rewrite_paths([sys.argv[1]], mode='write', jobs=1):\n"
        "    print('rewrite', o.path, o.changed, o.error, sep='|')\n"
        "for e in audit_paths([sys.argv[1]], jobs=1).errors:\n"
        "    print('audit', e.path, e.line, e.message, sep='|')\n"
    )
    head = "from azureml.core import Run\nrun = Run.get_context()\nrun.log('x', "
    cases = {
        "brackets.py": "[" * 5000 + "1" + "]" * 5000,
        "calls.py": "f(" * 3000 + ")" * 3000,
        "unary.py": "-" * 100_000 + "1",
        "lambdas.py": "lambda: " * 10_000 + "1",
        "boolop.py": " or ".join(["x"] * 20_000),
        "attributes.py": "x" + ".y" * 20_000,  # Python 3.10's parser accepts it
        "subscripts.py": "x" + "[0]" * 10_000,
    }
    for name, expression in cases.items():
        (tmp_path / name).write_text(f"{head}{expression})\n", encoding="utf-8")
    (tmp_path / "fine.py").write_text(LEGACY, encoding="utf-8")
    cell = {"cell_type": "code", "metadata": {}, "source": head + cases["boolop.py"] + ")\n"}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "deep.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line.split("|") for line in out.stdout.splitlines()]
    rewrite = {r[1]: r for r in rows if r[0] == "rewrite"}
    assert rewrite["fine.py"][2:] == ["True", ""]
    for name in cases:
        assert rewrite[name][2] == "False" and rewrite[name][3].startswith(name), rewrite[name]
        assert any(
            reason in rewrite[name][3]
            for reason in (
                "cannot parse: too many nested parentheses",
                "too deeply nested to parse safely",
                f"nested more than {MAX_NESTING} levels deep",
            )
        ), rewrite[name]
        assert (tmp_path / name).read_text(encoding="utf-8").startswith(head)
    assert rewrite["deep.ipynb"][3].endswith(
        f"deep.ipynb[cell 1]:3: nested more than {MAX_NESTING} levels deep: too deep to parse "
        "safely; left untouched"
    )
    audit = {r[1]: r for r in rows if r[0] == "audit"}
    assert set(audit) == {*cases, "deep.ipynb"}
    assert audit["boolop.py"][2:] == ["3", rewrite["boolop.py"][3].removeprefix("boolop.py:3: ")]


# --------------------------------------------------------------------------------------------------
# permissions an unprivileged user meets
# --------------------------------------------------------------------------------------------------


def _unprivileged_prefix() -> list[str] | None:
    """How to run a command as an unprivileged user: [] when we are one, setpriv when root."""
    if not IS_ROOT:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_unreadable_files_and_directories_for_an_unprivileged_user() -> None:
    prefix = _unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root and setpriv is missing: mode 000 does not stop root")
    # Under setpriv the tree must be reachable by uid 65534: pytest's tmp_path is private to root.
    top = Path(tempfile.mkdtemp(prefix="aml2mlflow-hostile-"))
    try:
        top.chmod(0o755)
        tree = top / "tree"
        (tree / "locked").mkdir(parents=True)
        (tree / "locked" / "hidden.py").write_text(LEGACY, encoding="utf-8")
        (tree / "unreadable.py").write_text(LEGACY, encoding="utf-8")
        (tree / "train.py").write_text(LEGACY, encoding="utf-8")
        if IS_ROOT:
            for path in (tree, tree / "locked", *tree.rglob("*.py")):
                os.chown(path, 65534, 65534)
        (tree / "unreadable.py").chmod(0o000)
        (tree / "locked").chmod(0o000)
        probe = subprocess.run(
            [*prefix, sys.executable, "-c", "import migrate.cli"],
            capture_output=True,
            timeout=TIMEOUT,
            cwd=tree,
            env=ENV,
        )
        if probe.returncode != 0:
            pytest.skip(
                f"the unprivileged user cannot run this interpreter: {probe.stderr[-300:]!r}"
            )
        before = snapshot(tree)

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return run_command([*prefix, str(EXE), *args], tree)

        expected = {
            "locked": Bad(None, f"cannot list directory: {EACCES}"),
            "unreadable.py": Bad(None, f"cannot read: {EACCES}"),
        }
        check = run("rewrite", "--check", ".")
        assert check.returncode == EXIT_FAILED, check.stderr
        assert_reported(check.stderr, expected)
        assert would_rewrite(check.stderr) == {"train.py"}
        report = run("audit", "--format", "json", ".")
        assert report.returncode == 0, report.stderr
        errors = {e["path"]: e["message"] for e in json.loads(report.stdout)["errors"]}
        assert errors == {rel: bad.message for rel, bad in expected.items()}
        assert_unchanged_except(before, snapshot(tree), set())
        write = run("rewrite", ".")
        assert write.returncode == EXIT_FAILED, write.stderr
        assert_reported(write.stderr, expected)
        assert_unchanged_except(before, snapshot(tree), {"train.py"})
    finally:
        for path in (top / "tree" / "locked", top / "tree" / "unreadable.py"):
            if path.exists():
                path.chmod(0o755)
        shutil.rmtree(top)


# --------------------------------------------------------------------------------------------------
# file names that are not UTF-8
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def undecodable_name(tmp_path: Path) -> Path:
    """A legacy file whose name holds the byte 0xff (Linux allows it; some file systems do not)."""
    name = os.fsdecode(b"legacy_\xff.py")
    try:
        (tmp_path / name).write_text(LEGACY, encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        pytest.skip(f"this file system refuses non-UTF-8 names: {exc}")
    return tmp_path / name


def test_a_file_name_that_is_not_utf8_is_rewritten_and_audited(undecodable_name: Path) -> None:
    tree = undecodable_name.parent
    check = aml2mlflow(tree, "rewrite", "--check", ".")
    assert check.returncode == 1, check.stderr
    assert "would rewrite legacy_" in check.stderr
    for fmt in ("text", "json", "markdown", "html"):
        out = aml2mlflow(tree, "audit", "--format", fmt, ".")
        assert out.returncode == 0, (fmt, out.stderr)
        assert "legacy_" in out.stdout, fmt
    out = aml2mlflow(tree, "rewrite", ".")
    assert out.returncode == 0, out.stderr
    assert "azureml" not in undecodable_name.read_text(encoding="utf-8")


def test_sarif_and_report_files_accept_a_file_name_that_is_not_utf8(
    undecodable_name: Path,
) -> None:
    tree = undecodable_name.parent
    sarif = aml2mlflow(tree, "audit", "--format", "sarif", ".")
    assert sarif.returncode == 0, sarif.stderr[-500:]
    written = aml2mlflow(tree.parent, "audit", "--format", "json", "-o", "report.json", tree.name)
    assert written.returncode == 0, written.stderr[-500:]
