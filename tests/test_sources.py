"""migrate.sources: discovery, faithful reading, atomic writing and notebooks, on real files."""

from __future__ import annotations

import ast
import difflib
import json
import os
import stat
from pathlib import Path

import pytest

from migrate.sources import (
    GitIgnore,
    SourceError,
    SourceFile,
    Text,
    decode_error_line,
    decode_source,
    discover,
    encode,
    is_python_cell,
    mask_magics,
    read_notebook,
    read_source,
    write_atomic,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"


def make(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)


def rels(roots: list[Path] | Path, **kwargs: list[str]) -> list[str]:
    return [f.rel for f in discover(roots if isinstance(roots, list) else [roots], **kwargs)]


# --------------------------------------------------------------------------------------------------
# the gitignore matcher
# --------------------------------------------------------------------------------------------------

MATCHES = [
    # pattern, path relative to the .gitignore, is a directory, verdict (None: no pattern matched)
    ("*.pyc", "a/b/x.pyc", False, True),
    ("*.pyc", "x.py", False, None),
    ("build/", "build", True, True),
    ("build/", "build", False, None),
    ("build/", "a/build", True, True),
    ("/top.py", "top.py", False, True),
    ("/top.py", "sub/top.py", False, None),
    ("doc/frotz", "doc/frotz", False, True),
    ("doc/frotz", "a/doc/frotz", False, None),
    ("frotz/", "a/b/frotz", True, True),
    ("foo/*", "foo/x.py", False, True),
    ("foo/*", "foo/x/y.py", False, None),
    ("**/foo", "foo", False, True),
    ("**/foo", "a/b/foo", True, True),
    ("**/foo/bar", "x/y/foo/bar", False, True),
    ("abc/**", "abc/x/y.py", False, True),
    ("abc/**", "abc", True, None),
    ("a/**/b", "a/b", False, True),
    ("a/**/b", "a/x/y/b", False, True),
    ("a/**/b", "a/xb", False, None),
    ("**", "any/thing.py", False, True),
    ("a*b", "x/aXYb", False, True),
    ("a*b", "a/b", False, None),
    ("?.py", "a.py", False, True),
    ("?.py", "ab.py", False, None),
    ("[abc].py", "b.py", False, True),
    ("[abc].py", "d.py", False, None),
    ("[!a].py", "b.py", False, True),
    ("[!a].py", "a.py", False, None),
    ("[^a].py", "a.py", False, None),
    ("[a-c]x", "bx", False, True),
    ("[a-c]x", "dx", False, None),
    ("[[:digit:]]*.py", "1st.py", False, True),
    ("[[:digit:]]*.py", "first.py", False, None),
    ("[]]x", "]x", False, True),
    ("[[:nope:]]", "a", False, None),
    ("[unclosed", "[unclosed", False, True),
    ("\\#hash", "#hash", False, True),
    ("\\!bang", "!bang", False, True),
    ("# comment", "# comment", False, None),
    ("x.py   ", "x.py", False, True),
    ("sp\\ ", "sp ", False, True),
    ("x.py\r", "x.py", False, True),
    ("*.py\n!keep.py", "keep.py", False, False),
    ("*.py\n!keep.py", "other.py", False, True),
    ("!keep.py\n*.py", "keep.py", False, True),
    ("data/\n!data/", "data", True, False),
]


@pytest.mark.parametrize(("pattern", "path", "is_dir", "verdict"), MATCHES)
def test_gitignore_matcher(pattern: str, path: str, is_dir: bool, verdict: bool | None) -> None:
    assert GitIgnore.parse(pattern).match(path, is_dir) is verdict


def test_gitignore_blank_and_comment_only_files_have_no_rules() -> None:
    assert not GitIgnore.parse("\n# only a comment\n   \n!\n/\n")


# --------------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------------


def test_discover_honours_nested_gitignores(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".gitignore": "*.log\nbuild_out/\n/only_top.py\n**/gen/**\nsecret*.py\n"
            "ignored_dir/\n!ignored_dir/x.py\n",
            "a.py": "",
            "only_top.py": "",
            "build_out.py": "",
            "build_out/x.py": "",
            "secret1.py": "",
            "ignored_dir/x.py": "",
            "local/x.py": "",
            "sub/.gitignore": "!secret2.py\n*.ipynb\n!keep.ipynb\nlocal/\n",
            "sub/only_top.py": "",
            "sub/secret2.py": "",
            "sub/secret3.py": "",
            "sub/nb.ipynb": "{}",
            "sub/keep.ipynb": "{}",
            "sub/local/x.py": "",
            "sub/gen/x.py": "",
            "sub/deeper/.gitignore": "/anchored.py\n",
            "sub/deeper/anchored.py": "",
            "sub/deeper/more/anchored.py": "",
            "stub.pyi": "",
            "notes.txt": "",
        },
    )
    assert rels(tmp_path) == [
        "a.py",
        "build_out.py",
        "local/x.py",
        "sub/deeper/more/anchored.py",
        "sub/keep.ipynb",
        "sub/only_top.py",
        "sub/secret2.py",
    ]
    kinds = {f.rel: f.kind for f in discover([tmp_path])}
    assert kinds["sub/keep.ipynb"] == "notebook" and kinds["a.py"] == "python"


def test_discover_skips_tool_and_build_directories(tmp_path: Path) -> None:
    skipped = [".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules"]
    skipped += [".mypy_cache", ".ruff_cache", ".tox", "build", "dist", "site-packages"]
    skipped += [".ipynb_checkpoints"]
    make(tmp_path, {f"{d}/x.py": "" for d in skipped} | {f"pkg/{d}/y.py": "" for d in skipped})
    make(tmp_path, {"pkg/ok.py": "", "builder/ok.py": "", "venv2/ok.py": ""})
    assert rels(tmp_path) == ["builder/ok.py", "pkg/ok.py", "venv2/ok.py"]


def test_discover_uses_git_info_exclude_and_gitignores_above_the_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    files = {
        ".gitignore": "generated/\n/src/legacy/\n",
        "src/ok.py": "",
        "src/by_info.py": "",
        "src/generated/x.py": "",
        "src/legacy/x.py": "",
        "src/pkg/legacy/x.py": "",
    }
    make(repo, files | {".git/info/exclude": "# local\nby_info.py\n", ".git/HEAD": ""})
    assert rels(repo / "src") == ["ok.py", "pkg/legacy/x.py"]
    assert rels(repo) == ["src/ok.py", "src/pkg/legacy/x.py"]
    # Outside a work tree only the root's own and nested .gitignore files count.
    plain = tmp_path / "plain"
    make(plain, files)
    assert rels(plain / "src") == [
        "by_info.py",
        "generated/x.py",
        "legacy/x.py",
        "ok.py",
        "pkg/legacy/x.py",
    ]


def test_discover_finds_info_exclude_of_a_linked_worktree(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "main/.git/info/exclude": "not_mine.py\n",
            "main/.git/worktrees/wt/commondir": "../..\n",
            "wt/.git": "gitdir: ../main/.git/worktrees/wt\n",
            "wt/mine.py": "",
            "wt/not_mine.py": "",
        },
    )
    assert rels(tmp_path / "wt") == ["mine.py"]


def test_discover_include_and_exclude(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "train.py": "",
            "nb.ipynb": "{}",
            "src/legacy/old.py": "",
            "src/legacy/deep/older.py": "",
            "src/new.py": "",
            "src/train_test.py": "",
            "src/tests/t.py": "",
            "tests/t.py": "",
            "pkg/a/train_model.py": "",
        },
    )
    assert rels(tmp_path, include=["*.ipynb"]) == ["nb.ipynb"]
    assert rels(tmp_path, include=["legacy"]) == ["src/legacy/deep/older.py", "src/legacy/old.py"]
    assert rels(tmp_path, include=["**/train*.py"]) == [
        "pkg/a/train_model.py",
        "src/train_test.py",
        "train.py",
    ]
    assert rels(tmp_path, include=["src/*.py"]) == ["src/new.py", "src/train_test.py"]
    assert rels(tmp_path, exclude=["tests", "*_test.py", "src/legacy/**", "*.ipynb"]) == [
        "pkg/a/train_model.py",
        "src/new.py",
        "train.py",
    ]
    assert rels(tmp_path, exclude=["/tests/", "./src/legacy"]) == [
        "nb.ipynb",
        "pkg/a/train_model.py",
        "src/new.py",
        "src/tests/t.py",
        "src/train_test.py",
        "train.py",
    ]
    assert rels(tmp_path, include=["src"], exclude=["legacy"]) == [
        "src/new.py",
        "src/tests/t.py",
        "src/train_test.py",
    ]


def test_discover_does_not_follow_symlinked_directories(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    make(root, {"a/x.py": "", "real.py": ""})
    make(outside, {"far.py": "", "far_dir/y.py": ""})
    os.symlink(root, root / "a" / "loop")  # a loop back to the root
    os.symlink(root / "a", root / "a" / "self")  # and one to its own directory
    os.symlink(outside / "far_dir", root / "linked_dir")
    os.symlink(outside / "far.py", root / "linked_file.py")
    os.symlink(root / "real.py", root / "same_as_real.py")
    os.symlink(tmp_path / "missing.py", root / "dangling.py")
    found = list(discover([root]))
    assert [f.rel for f in found] == ["a/x.py", "linked_file.py", "real.py"]
    assert found[1].path == root / "linked_file.py"  # the link's path, read through the link


def test_discover_takes_explicitly_named_files(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".gitignore": "*.py\n",
            "node_modules/lib.py": "",
            "ignored.py": "",
            "script": "",
            "nb.ipynb": "{}",
        },
    )
    roots = [
        tmp_path / "node_modules" / "lib.py",
        tmp_path / "ignored.py",
        tmp_path / "script",
        tmp_path / "nb.ipynb",
    ]
    found = list(discover(roots, exclude=["*"]))
    assert [(f.path, f.root, f.rel, f.kind) for f in found] == [
        (roots[0], roots[0], "lib.py", "python"),
        (roots[1], roots[1], "ignored.py", "python"),
        (roots[2], roots[2], "script", "python"),
        (roots[3], roots[3], "nb.ipynb", "notebook"),
    ]
    assert rels(tmp_path) == ["nb.ipynb"]


def test_discover_several_roots_yields_each_file_once_in_sorted_order(tmp_path: Path) -> None:
    make(tmp_path, {"b.py": "", "a.py": "", "a/b.py": "", "a-b.py": "", "B.py": "", "a/c.py": ""})
    found = list(discover([tmp_path / "a", tmp_path, tmp_path / "a.py", str(tmp_path / "a")]))
    assert [(f.root.name, f.rel) for f in found] == [
        ("a", "b.py"),
        ("a", "c.py"),
        (tmp_path.name, "B.py"),
        (tmp_path.name, "a-b.py"),
        (tmp_path.name, "a.py"),
        (tmp_path.name, "b.py"),
    ]
    within_root = [f.path for f in discover([tmp_path])]
    assert within_root == sorted(within_root)


def test_discover_relative_root_and_single_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, {"x.py": "", "pkg/y.py": ""})
    monkeypatch.chdir(tmp_path)
    found = list(discover(["."]))
    assert [(str(f.path), f.rel) for f in found] == [("pkg/y.py", "pkg/y.py"), ("x.py", "x.py")]
    assert [f.rel for f in discover("pkg")] == ["y.py"]
    assert SourceFile(Path("pkg/y.py"), Path("pkg"), "python").rel == "y.py"


def test_discover_checks_every_root_first(tmp_path: Path) -> None:
    make(tmp_path, {"x.py": ""})
    found = discover([tmp_path, tmp_path / "nope"])
    with pytest.raises(SourceError) as info:
        next(found)
    assert info.value.path == tmp_path / "nope" and info.value.line is None
    assert str(info.value) == f"{tmp_path / 'nope'}: no such file or directory"


# --------------------------------------------------------------------------------------------------
# reading and encoding Python sources
# --------------------------------------------------------------------------------------------------

ROUND_TRIPS = {
    "lf": (b"x = 1\ny = 2\n", "utf-8", False, "\n", "x = 1\ny = 2\n"),
    "crlf": (b"x = 1\r\ny = 2\r\n", "utf-8", False, "\r\n", "x = 1\r\ny = 2\r\n"),
    "cr": (b"x = 1\ry = 2\r", "utf-8", False, "\r", "x = 1\ry = 2\r"),
    "mixed": (b"x = 1\r\ny = 2\nz = 3\r", "utf-8", False, "\r\n", "x = 1\r\ny = 2\nz = 3\r"),
    "bom": (b"\xef\xbb\xbfs = '\xc3\xa9'\r\n", "utf-8", True, "\r\n", "s = 'é'\r\n"),
    "bom only": (b"\xef\xbb\xbf", "utf-8", True, "\n", ""),
    "bom and utf-8 cookie": (
        b"\xef\xbb\xbf# coding: utf-8\n",
        "utf-8",
        True,
        "\n",
        "# coding: utf-8\n",
    ),
    "latin-1 cookie": (
        b"# -*- coding: latin-1 -*-\ns = '\xe9'\n",
        "iso-8859-1",
        False,
        "\n",
        "# -*- coding: latin-1 -*-\ns = 'é'\n",
    ),
    "cookie on line 2": (
        b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = '\x80'\n",
        "cp1252",
        False,
        "\n",
        "#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = '€'\n",
    ),
    "multibyte cookie": (
        "# coding: shift_jis\ns = '日本語'\n".encode("shift_jis"),
        "shift_jis",
        False,
        "\n",
        "# coding: shift_jis\ns = '日本語'\n",
    ),
    "tabs and form feeds": (
        b"def f():\n\tif x:\n\t\treturn 1\n\x0c\nclass A:\n    pass\n",
        "utf-8",
        False,
        "\n",
        "def f():\n\tif x:\n\t\treturn 1\n\x0c\nclass A:\n    pass\n",
    ),
    "empty": (b"", "utf-8", False, "\n", ""),
    "no trailing newline": (b"x = 1", "utf-8", False, "\n", "x = 1"),
    "trailing whitespace": (b"x = 1   \n\n\n  ", "utf-8", False, "\n", "x = 1   \n\n\n  "),
    "unicode line breaks are not newlines": (
        "s = 'a\u2028b\x85c'  # ü ✓ 🎉\n".encode(),
        "utf-8",
        False,
        "\n",
        "s = 'a\u2028b\x85c'  # ü ✓ 🎉\n",
    ),
}


@pytest.mark.parametrize("case", ROUND_TRIPS, ids=list(ROUND_TRIPS))
def test_read_source_round_trips_byte_for_byte(tmp_path: Path, case: str) -> None:
    data, encoding, bom, newline, text = ROUND_TRIPS[case]
    path = tmp_path / "f.py"
    path.write_bytes(data)
    t = read_source(path)
    assert (t.text, t.encoding, t.bom, t.newline, t.path) == (text, encoding, bom, newline, path)
    assert encode(t, t.text) == data
    assert encode(t, t.text + "pass" + t.newline) == data + b"pass" + newline.encode()


def test_read_source_records_the_permission_bits(tmp_path: Path) -> None:
    path = tmp_path / "tool.py"
    path.write_bytes(b"#!/usr/bin/env python\n")
    path.chmod(0o750)
    assert read_source(path).mode == 0o750


DECODE_ERRORS = {
    "bad byte on line 3": (b"x = 1\ny = 2\nz = '\xff'\n", 3, "cannot decode byte 0xff as utf-8"),
    "crlf lines": (b"a = 1\r\nb = 2\r\n\xff", 3, "0xff"),
    "cr lines": (b"a = 1\rb = 2\r\xff", 3, "0xff"),
    "latin-1 on line 1 without cookie": (b"s = '\xe9'\n", 1, "0xe9 as utf-8"),
    "latin-1 on line 2 without cookie": (b"# hi\ns = '\xe9'\n", 2, "0xe9 as utf-8"),
    "wrong cookie": (
        b"# -*- coding: ascii -*-\nx = 1\ns = '\xc3\xa9'\n",
        3,
        "cannot decode byte 0xc3 as ascii",
    ),
    "bad byte after a bom": (b"\xef\xbb\xbfa = 1\nb = '\xe9'\n", 2, "0xe9 as utf-8"),
    "unknown encoding": (b"# coding: klingon\nx = 1\n", 1, "unknown encoding: klingon"),
    "unknown encoding on line 2": (b"#!python\n# coding: klingon\n", 2, "unknown encoding"),
    "bom contradicts cookie": (
        b"\xef\xbb\xbf# coding: latin-1\n",
        1,
        "the coding cookie says latin-1 but the file starts with a UTF-8 BOM",
    ),
    "not ascii-compatible": (b"# coding: utf-16\nx = 1\n", 1, "not ASCII-compatible"),
    "does not round-trip": (
        b"# coding: iso2022_jp\nx = 1\x1b(B\n",
        2,
        "iso2022_jp does not give back the same bytes",
    ),
}


@pytest.mark.parametrize("case", DECODE_ERRORS, ids=list(DECODE_ERRORS))
def test_read_source_reports_the_line_of_undecodable_bytes(tmp_path: Path, case: str) -> None:
    data, line, message = DECODE_ERRORS[case]
    path = tmp_path / "bad.py"
    path.write_bytes(data)
    with pytest.raises(SourceError) as info:
        read_source(path)
    assert (info.value.path, info.value.line) == (path, line)
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_read_source_refuses_binary_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "blob.py"
    path.write_bytes(b"x = 1\n\x00\x01\x02")
    with pytest.raises(SourceError, match="binary file") as info:
        read_source(path)
    assert info.value.line is None and str(info.value) == f"{path}: binary file"
    with pytest.raises(SourceError, match="No such file"):
        read_source(tmp_path / "missing.py")


def test_decode_error_line_counts_python_newlines() -> None:
    data = b"a\r\nb\rc\nd\xff"
    with pytest.raises(UnicodeDecodeError) as info:
        data.decode("utf-8")
    assert decode_error_line(data, "utf-8", info.value) == 4


def test_encode_reports_characters_the_encoding_cannot_hold(tmp_path: Path) -> None:
    t = decode_source(b"# coding: latin-1\nx = 1\n", tmp_path / "l1.py")
    with pytest.raises(SourceError) as info:
        encode(t, "# coding: latin-1\ns = '€'\n")
    assert (info.value.path, info.value.line) == (tmp_path / "l1.py", 2)
    assert "'€'" in info.value.message and "iso-8859-1" in info.value.message
    unnamed = Text("", "ascii", False, "\n", 0o644)
    with pytest.raises(SourceError, match="<text>:1: "):
        encode(unnamed, "é")


# --------------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------------


def entries(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_write_atomic_replaces_content_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "run.py"
    path.write_bytes(b"old\n")
    path.chmod(0o755)
    inode = path.stat().st_ino
    write_atomic(path, b"new\r\n")
    assert path.read_bytes() == b"new\r\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert path.stat().st_ino != inode  # replaced, never rewritten in place
    assert entries(tmp_path) == ["run.py"]
    write_atomic(path, b"again", mode=0o640)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_write_atomic_creates_a_new_file_with_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.py", b"x = 1\n")
    finally:
        os.umask(umask)
    assert (tmp_path / "new.py").read_bytes() == b"x = 1\n"
    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o640


def test_write_atomic_writes_through_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real" / "train.py"
    make(tmp_path, {"real/train.py": "old", "links/.keep": ""})
    real.chmod(0o700)
    link = tmp_path / "links" / "train.py"
    os.symlink("../real/train.py", link)
    os.symlink(link, tmp_path / "chain.py")
    write_atomic(link, b"new")
    assert link.is_symlink() and os.readlink(link) == "../real/train.py"
    assert real.read_bytes() == b"new" and stat.S_IMODE(real.stat().st_mode) == 0o700
    write_atomic(tmp_path / "chain.py", b"newer")
    assert (tmp_path / "chain.py").is_symlink() and real.read_bytes() == b"newer"
    assert entries(tmp_path / "real") == ["train.py"]
    assert entries(tmp_path / "links") == [".keep", "train.py"]


def test_write_atomic_refuses_read_only_files(tmp_path: Path) -> None:
    path = tmp_path / "locked.py"
    path.write_bytes(b"keep me")
    path.chmod(0o444)  # root may write it anyway: the mode bits decide
    with pytest.raises(SourceError, match="read-only file") as info:
        write_atomic(path, b"changed")
    assert info.value.path == path
    assert path.read_bytes() == b"keep me" and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert entries(tmp_path) == ["locked.py"]


def test_write_atomic_cleans_up_after_failures(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot write"):
        write_atomic(tmp_path / "no" / "such" / "dir.py", b"x")
    assert entries(tmp_path) == []
    (tmp_path / "a_dir").mkdir()
    with pytest.raises(SourceError, match="cannot write"):  # the temp file exists, replace fails
        write_atomic(tmp_path / "a_dir", b"x")
    assert entries(tmp_path) == ["a_dir"] and entries(tmp_path / "a_dir") == []
    (tmp_path / "f.py").write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "f.py", "not bytes")  # type: ignore[arg-type]
    assert entries(tmp_path) == ["a_dir", "f.py"] and (tmp_path / "f.py").read_bytes() == b"old"


# --------------------------------------------------------------------------------------------------
# notebooks
# --------------------------------------------------------------------------------------------------

CHANGED_CELL_2 = (
    "import mlflow\n"
    "for alpha in (0.1, 1.0):\n"
    "    mlflow.log_metric('alpha', alpha)\n"
    "    mlflow.log_metric('mse', 0.5 / alpha)\n"
    'mlflow.set_tag("note", "terminé")\n'
)


def test_jupyter_written_notebook_renders_byte_identical() -> None:
    """Both files were written by nbformat 5.11; the second after editing cell 2 in Jupyter's way."""
    nb = read_notebook(FIXTURES / "jupyter.ipynb")
    assert nb.language == "python"
    assert [(c.index, c.cell_type, c.is_python) for c in nb.cells] == [
        (0, "markdown", False),
        (1, "code", True),
        (2, "code", True),
        (3, "code", False),  # %%bash
        (4, "code", True),
        (5, "raw", False),
        (6, "code", True),
    ]
    assert [c.index for c in nb.code_cells] == [1, 2, 3, 4, 6]
    assert nb.cells[2].source.startswith("for alpha in (0.1, 1.0):\n    run.log('alpha', alpha)\n")
    assert nb.render({}) == nb.raw
    assert nb.render({2: nb.cells[2].source, 4: nb.cells[4].source}) == nb.raw
    assert nb.render({2: CHANGED_CELL_2}) == (FIXTURES / "jupyter_changed.ipynb").read_bytes()


def notebook(sources: list[str | list[str]]) -> dict[str, object]:
    cells: list[dict[str, object]] = [
        {
            "cell_type": "markdown",
            "metadata": {"tags": ["intro"]},
            "source": ["# Métriques ✓ 🎉\n", "tab\there, ctl \x01, del \x7f, sep \u2028"],
        }
    ]
    for n, source in enumerate(sources):
        cells.append(
            {
                "cell_type": "code",
                "execution_count": n + 1,
                "id": f"c{n}",
                "metadata": {"collapsed": False, "scrolled": True},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": ["é\n", "2.5\n"]}],
                "source": source,
            }
        )
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}, "z": [1, 2.5, None]},
        "cells": cells,
    }


STYLES = {
    "jupyter": dict(indent=1, ensure_ascii=False, separators=(",", ": "), trailer="\n"),
    "indent 2, escaped": dict(indent=2, ensure_ascii=True, separators=(",", ": "), trailer=""),
    "indent 2, raw, no newline": dict(
        indent=2, ensure_ascii=False, separators=(",", ": "), trailer=""
    ),
    "indent 4, escaped": dict(indent=4, ensure_ascii=True, separators=(",", ": "), trailer="\n"),
    "tabs": dict(indent="\t", ensure_ascii=False, separators=(",", ": "), trailer="\n\n"),
    "compact": dict(indent=None, ensure_ascii=True, separators=(",", ":"), trailer=""),
    "compact, default separators": dict(
        indent=None, ensure_ascii=False, separators=None, trailer=""
    ),
    "crlf": dict(indent=1, ensure_ascii=False, separators=(",", ": "), trailer="\r\n", crlf=True),
    "bom": dict(indent=1, ensure_ascii=False, separators=(",", ": "), trailer="\n", bom=True),
}


def styled(data: object, style: dict[str, object]) -> bytes:
    text = json.dumps(
        data,
        indent=style["indent"],  # type: ignore[arg-type]
        ensure_ascii=style["ensure_ascii"],  # type: ignore[arg-type]
        separators=style["separators"],  # type: ignore[arg-type]
    )
    if style.get("crlf"):
        text = text.replace("\n", "\r\n")
    raw = (text + str(style["trailer"])).encode()
    return b"\xef\xbb\xbf" + raw if style.get("bom") else raw


@pytest.mark.parametrize("name", STYLES, ids=list(STYLES))
def test_notebook_render_changes_only_the_changed_cell(tmp_path: Path, name: str) -> None:
    data = notebook(
        [
            ["from azureml.core import Run\n", "run = Run.get_context()\n", "run.log('é', 1)"],
            "run.log('a', 2)\nrun.log('b', 3)\n",
            ["%matplotlib inline\n", "run.log('c', 4)\n"],
        ]
    )
    path = tmp_path / "nb.ipynb"
    raw = styled(data, STYLES[name])
    path.write_bytes(raw)
    nb = read_notebook(path)
    assert nb.render({}) == raw
    assert [c.source for c in nb.code_cells] == [
        "from azureml.core import Run\nrun = Run.get_context()\nrun.log('é', 1)",
        "run.log('a', 2)\nrun.log('b', 3)\n",
        "%matplotlib inline\nrun.log('c', 4)\n",
    ]
    new = "import mlflow\nmlflow.log_metric('é', 1)\n"
    out = nb.render({1: new, 2: "mlflow.log_metric('a', 2)\n"})
    expected = json.loads(json.dumps(data))
    expected["cells"][1]["source"] = ["import mlflow\n", "mlflow.log_metric('é', 1)\n"]
    expected["cells"][2]["source"] = "mlflow.log_metric('a', 2)\n"  # a string stays a string
    assert out == styled(expected, STYLES[name])
    assert json.loads(out.decode("utf-8-sig")) == expected
    if STYLES[name]["indent"] is not None:  # line by line: only lines of those sources differ
        sources = [data["cells"][n]["source"] for n in (1, 2)]  # type: ignore[index]
        sources += [expected["cells"][n]["source"] for n in (1, 2)]
        strings = [
            s for source in sources for s in ([source] if isinstance(source, str) else source)
        ]
        allowed = {json.dumps(s, ensure_ascii=bool(STYLES[name]["ensure_ascii"])) for s in strings}

        def value(line: bytes) -> str:
            return line.decode("utf-8-sig").strip().rstrip(",").removeprefix('"source": ')

        old_lines, new_lines = raw.splitlines(), out.splitlines()
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        opcodes = [op for op in matcher.get_opcodes() if op[0] != "equal"]
        assert opcodes
        for _, i1, i2, j1, j2 in opcodes:
            changed = old_lines[i1:i2] + new_lines[j1:j2]
            assert all(value(line) in allowed for line in changed), changed


def test_notebook_keeps_how_a_cell_split_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_bytes(styled(notebook([["a = 1 \x0c b\n", "c = 2"]]), STYLES["jupyter"]))
    nb = read_notebook(path)
    out = json.loads(nb.render({1: "a = 1 \x0c b\nd = 3\n"}))
    assert out["cells"][1]["source"] == ["a = 1 \x0c b\n", "d = 3\n"]


NOT_REPRODUCIBLE = {
    "float exponent": b'{\n "cells": [],\n "x": 1e5\n}\n',
    "mixed escaping": '{\n "cells": [],\n "a": "\\u00e9",\n "b": "é"\n}\n'.encode(),
    "uppercase escapes": b'{\n "cells": [],\n "a": "\\u00E9"\n}\n',
    "duplicate keys": b'{\n "cells": [],\n "a": 1,\n "a": 2\n}\n',
    "uneven indentation": b'{\n "cells": [],\n   "a": 1\n}\n',
    "escaped slash": b'{\n "cells": [],\n "a": "\\/"\n}\n',
}


@pytest.mark.parametrize("case", NOT_REPRODUCIBLE, ids=list(NOT_REPRODUCIBLE))
def test_notebook_render_refuses_unreproducible_formatting(tmp_path: Path, case: str) -> None:
    path = tmp_path / "odd.ipynb"
    path.write_bytes(NOT_REPRODUCIBLE[case])
    nb = read_notebook(path)
    with pytest.raises(SourceError, match="notebook formatting not reproducible; left untouched"):
        nb.render({})


def test_notebook_cell_without_source_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text('{\n "cells": [\n  {\n   "cell_type": "code"\n  }\n ]\n}\n')
    nb = read_notebook(path)
    assert nb.cells[0].source == "" and nb.render({}) == path.read_bytes()
    assert json.loads(nb.render({0: "x = 1\n"}))["cells"][0]["source"] == ["x = 1\n"]


def test_notebook_render_rejects_cells_that_are_not_code(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_bytes(styled(notebook(["x = 1\n"]), STYLES["jupyter"]))
    nb = read_notebook(path)
    for index in (0, 2, -1):
        with pytest.raises(ValueError, match="not a code cell"):
            nb.render({index: "y = 2\n"})


BAD_NOTEBOOKS = {
    "invalid json": (b'{\n "cells": [\n  {,\n ]\n}\n', 3, "invalid notebook JSON"),
    "truncated": (b'{\n "cells": [\n', 3, "invalid notebook JSON"),
    "no cells": (b'\n\n{\n "metadata": {}\n}\n', 3, "not a notebook: no 'cells' list"),
    "cells not a list": (b'{"cells": {}}', 1, "no 'cells' list"),
    "not an object": (b"[1, 2]", 1, "no 'cells' list"),
    "nbformat 3": (b'{"nbformat": 3, "worksheets": []}', 1, "nbformat 3 notebook"),
    "not utf-8": (b'{\n "cells": [\n  "\xe9"]}', 3, "not UTF-8"),
    "cell without type": (b'{"cells": [{"source": ""}]}', None, "cell 1 has no cell_type"),
    "source not text": (b'{"cells": [{"cell_type": "code", "source": 3}]}', None, "not text"),
}


@pytest.mark.parametrize("case", BAD_NOTEBOOKS, ids=list(BAD_NOTEBOOKS))
def test_read_notebook_errors_name_the_line(tmp_path: Path, case: str) -> None:
    data, line, message = BAD_NOTEBOOKS[case]
    path = tmp_path / "bad.ipynb"
    path.write_bytes(data)
    with pytest.raises(SourceError) as info:
        read_notebook(path)
    assert (info.value.path, info.value.line) == (path, line)
    assert message in info.value.message


def test_notebook_languages(tmp_path: Path) -> None:
    r_nb = {
        "metadata": {"kernelspec": {"language": "R", "name": "ir"}},
        "cells": [{"cell_type": "code", "metadata": {}, "source": "x <- 1", "outputs": []}],
    }
    (tmp_path / "r.ipynb").write_text(json.dumps(r_nb))
    nb = read_notebook(tmp_path / "r.ipynb")
    assert nb.language == "r" and nb.cells[0].language == "r" and not nb.cells[0].is_python
    mixed = notebook(["x = 1\n", "SELECT 1"])
    mixed["cells"][2]["metadata"] = {"vscode": {"languageId": "sql"}}  # type: ignore[index]
    (tmp_path / "m.ipynb").write_text(json.dumps(mixed))
    cells = read_notebook(tmp_path / "m.ipynb").cells
    assert [(c.language, c.is_python) for c in cells] == [
        ("markdown", False),
        ("python", True),
        ("sql", False),
    ]


# --------------------------------------------------------------------------------------------------
# IPython magics
# --------------------------------------------------------------------------------------------------

MAGIC_CELLS = {
    "line magics and shell": (
        "%matplotlib inline\n!pip install -q scikit-learn\nfrom azureml.core import Run\n",
        [0, 1],
    ),
    "time cell magic": ("%%time\nrun.log('a', 1)\n", [0]),
    "timeit with options after blank lines": ("\n  \n%%timeit -n 1 -r 1\nf()\n", [2]),
    "capture": ("%%capture out\nrun.log('a', 1)", [0]),
    "help": ("?run.log\nrun.log?\nrun.log??\n%timeit?\nx = 1  # really?\n", [0, 1, 2, 3]),
    "assignments from the shell": (
        "files = !ls *.csv\na, b = %sx echo 1 2\nn = len(files)\n",
        [0, 1],
    ),
    "autocall escapes": ("/print 1\n,print a b\n;print a b\n", [0, 1, 2]),
    "indented in a block": ("for i in range(3):\n    !echo {i}\n    %time f(i)\n", [1, 2]),
    "only statement of a block": ("if True:\n    %who\nelse:\n  !ls\n", [1, 3]),
    "backslash continuation": (
        "!pip install \\\n    numpy \\\n    pandas\nimport numpy\n",
        [0, 1, 2],
    ),
    "crlf": ("%load_ext autoreload\r\n%autoreload 2\r\nx = 1\r\n", [0, 1]),
    "not at a statement start": (
        "x = (7\n% 2)\ny = (1\n!= 0)\ns = '''\n%not magic\n!nor this?\n'''\n"
        "t = 'what?'\nu = x % 2 != 1\nv = \\\n  3\n",
        [],
    ),
    "after a string with a hash": ("s = '# not a comment ('\n%time f()\n", [1]),
    "trailing magic without newline": ("import os\n%pwd", [1]),
}


@pytest.mark.parametrize("case", MAGIC_CELLS, ids=list(MAGIC_CELLS))
def test_mask_magics_round_trips(case: str) -> None:
    source, masked_lines = MAGIC_CELLS[case]
    masked, restore = mask_magics(source)
    ast.parse(masked)  # the codemod can parse it
    old, new = source.splitlines(), masked.splitlines()
    assert len(old) == len(new)
    changed = [n for n, (a, b) in enumerate(zip(old, new)) if a != b]
    assert changed == masked_lines
    assert all(new[n].strip().startswith("__aml2mlflow_magic_") for n in changed)
    assert restore(masked) == source


def test_mask_magics_restores_around_a_rewrite() -> None:
    source = "%matplotlib inline\nrun.log('a', 1)\nfor i in range(2):\n    !echo \\\n      {i}\n"
    masked, restore = mask_magics(source)
    rewritten = masked.replace("run.log(", "mlflow.log_metric(")
    assert restore(rewritten) == source.replace("run.log(", "mlflow.log_metric(")
    # Code re-indented around a magic (say, wrapped in a with block): the magic follows it.
    wrapped = "with ctx:\n" + "".join("    " + line for line in masked.splitlines(True))
    assert restore(wrapped) == (
        "with ctx:\n    %matplotlib inline\n    run.log('a', 1)\n    for i in range(2):\n"
        "        !echo \\\n          {i}\n"
    )
    with pytest.raises(ValueError, match="lost or duplicated"):
        restore(masked.replace("__aml2mlflow_magic_0__", "pass"))
    with pytest.raises(ValueError, match="lost or duplicated"):
        restore(masked + masked)


def test_mask_magics_placeholder_cannot_collide() -> None:
    source = "__aml2mlflow_magic_0__ = 1\n%time f()\nprint(__aml2mlflow_magic_0__)\n"
    masked, restore = mask_magics(source)
    assert masked.splitlines()[0] == "__aml2mlflow_magic_0__ = 1"
    assert "__aml2mlflow_magic1_0__" in masked
    assert restore(masked) == source


def test_mask_magics_leaves_plain_python_and_foreign_cells_alone() -> None:
    for source in ("x = 1\n", "", "%%bash\necho $HOME\n!ls\n"):
        masked, restore = mask_magics(source)
        assert masked == source and restore("anything") == "anything"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%%bash\necho hi\n", False),
        ("\n\n%%writefile train.py\nimport os\n", False),
        ("  %%html\n<b>x</b>", False),
        ("%%script python\nx = 1\n", False),
        ("%%\n", False),
        ("%%time\nx = 1\n", True),
        ("%%timeit -n 1\nx = 1\n", True),
        ("%%capture out\nx = 1\n", True),
        ("%time x = 1\n", True),
        ("x = 1\n%%bash\n", True),
        ("", True),
    ],
)
def test_is_python_cell(source: str, expected: bool) -> None:
    assert is_python_cell(source) is expected
