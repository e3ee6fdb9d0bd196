"""The audit's result cache (`migrate.cache`): a hit is exactly what a fresh audit gives."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import migrate
from migrate import audit
from migrate.audit import AuditReport, FileAudit, audit_paths, file_data, file_from_data
from migrate.cache import MAX_AGE_DAYS, AuditCache, default_dir, fingerprint
from migrate.cli import main
from migrate.report import FORMATS, render
from migrate.sources import DEFAULT_MAX_BYTES, SourceFile, discover

ROOT = Path(__file__).resolve().parent.parent
AUDIT = ROOT / "fixtures" / "audit"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The audit's pattern and error fixtures and some legacy scripts, with a notebook or two."""
    root = tmp_path / "tree"
    shutil.copytree(AUDIT / "patterns", root / "patterns")
    shutil.copytree(AUDIT / "errors", root / "errors")
    shutil.copytree(ROOT / "fixtures" / "demo", root / "demo")
    return root


def _same(a: AuditReport, b: AuditReport) -> None:
    assert a.files == b.files
    for fmt in FORMATS:
        if fmt != "html":  # (the chart's PNG bytes are matplotlib's business)
            assert render(a, fmt) == render(b, fmt), fmt


def _cached(cache: Path) -> dict[str, dict[str, object]]:
    (only,) = cache.glob("audit-*.json")
    entries: dict[str, dict[str, object]] = json.loads(only.read_text("utf-8"))["entries"]
    return entries


def test_a_warm_audit_is_the_fresh_audit(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    fresh = audit_paths([tree], jobs=1)
    assert fresh.findings and fresh.errors
    cold = audit_paths([tree], jobs=1, cache=cache)
    _same(cold, fresh)
    kept = _cached(cache)
    worth = [f for f in fresh.files if f.findings or f.errors]
    assert len(kept) == len(worth), "every file with a finding or an error, and only those"

    # The second audit takes those files from the cache: the codemod never runs on them.
    store = AuditCache(cache, DEFAULT_MAX_BYTES)
    by_path = {s.rel: s for s in discover([tree])}
    for f in worth:
        key = store.key(by_path[f.path])
        assert key is not None
        held = store.get(key)
        assert held is not None and file_from_data(held, f.root) == f
    again = {f.path for f in worth}
    real = audit._audit_one

    def only_the_others(item: tuple[SourceFile, int]) -> FileAudit:
        assert item[0].rel not in again, f"audited again: {item[0].rel}"
        return real(item)

    monkeypatch.setattr(audit, "_audit_one", only_the_others)
    warm = audit_paths([tree], jobs=1, cache=cache)
    _same(warm, fresh)


def test_a_changed_file_is_audited_again(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    audit_paths([tree], jobs=1, cache=cache)
    script = tree / "patterns" / "names.py"
    before = [
        f for f in audit_paths([tree], jobs=1, cache=cache).findings if f.path.endswith("names.py")
    ]
    script.write_text(script.read_text("utf-8") + "run.log('another metric name!', 1.0)\n", "utf-8")
    now = audit_paths([tree], jobs=2, cache=cache)  # (the misses go to worker processes)
    _same(now, audit_paths([tree], jobs=1))
    after = [f for f in now.findings if f.path == "patterns/names.py"]
    assert len(after) > len(before)
    assert any("another metric name!" in f.excerpt for f in after)
    # Undo the change: the first result is still there, and right again.
    shutil.copy(AUDIT / "patterns" / "names.py", script)
    _same(audit_paths([tree], jobs=1, cache=cache), audit_paths([tree], jobs=1))


def test_the_key_is_the_file_its_path_and_kind(tree: Path, tmp_path: Path) -> None:
    store = AuditCache(tmp_path / "cache", DEFAULT_MAX_BYTES)
    sources = {s.rel: s for s in discover([tree])}
    names = sources["patterns/names.py"]
    key = store.key(names)
    assert key == store.key(names)
    twin = tree / "patterns" / "names_copy.py"
    shutil.copy(names.path, twin)
    copy = next(s for s in discover([tree]) if s.rel == "patterns/names_copy.py")
    assert store.key(copy) != key, "findings name their file: a copy is another entry"
    names.path.write_bytes(names.path.read_bytes() + b"\n")
    assert store.key(names) != key
    small = AuditCache(tmp_path / "cache", 10)
    assert small.key(names) is None, "over the size limit: the audit says so from the size"
    assert small.file != store.file, "the size limit is part of the fingerprint"


def test_the_fingerprint_covers_the_whole_tool() -> None:
    from migrate import cache

    files = {p.resolve() for p in cache._tool_files()}
    package = Path(migrate.__file__).resolve().parent
    assert {p.resolve() for p in package.rglob("*.py")} <= files
    assert (package.parent / "shims" / "names.py").resolve() in files
    assert any(p.name == "_version.py" and p.parent.name == "libcst" for p in files)
    assert fingerprint(DEFAULT_MAX_BYTES) == fingerprint(DEFAULT_MAX_BYTES)
    assert fingerprint(DEFAULT_MAX_BYTES) != fingerprint(DEFAULT_MAX_BYTES + 1)


def test_file_data_round_trips_every_field(tree: Path) -> None:
    report = audit_paths([tree], jobs=1)
    for f in report.files:
        data = json.loads(json.dumps(file_data(f)))
        assert file_from_data(data, f.root) == f


def test_a_broken_or_unwritable_cache_never_changes_the_result(tree: Path, tmp_path: Path) -> None:
    fresh = audit_paths([tree], jobs=1)
    cache = tmp_path / "cache"
    cache.mkdir()
    torn = cache / f"audit-{fingerprint(DEFAULT_MAX_BYTES)}.json"
    names = next(s for s in discover([tree]) if s.rel == "patterns/names.py")
    key = AuditCache(cache, DEFAULT_MAX_BYTES).key(names)
    wrong = {"entries": {key: {"used": int(time.time()), "result": {"path": 1}}}}
    junks = [b'{"entries": {"ab', b"\xff\xfe", b"[1, 2]", b'{"entries": {"k": 3}}']
    for junk in [*junks, json.dumps(wrong).encode()]:
        torn.write_bytes(junk)
        _same(audit_paths([tree], jobs=1, cache=cache), fresh)
        assert _cached(cache), "rewritten whole"
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    _same(audit_paths([tree], jobs=1, cache=blocked / "cache"), fresh)
    store = AuditCache(blocked / "cache", DEFAULT_MAX_BYTES)
    store.put("k", file_data(fresh.files[0]))
    assert store.save() is False


def test_old_entries_and_other_tools_caches_go(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    store = AuditCache(cache, DEFAULT_MAX_BYTES)
    day = 86_400
    store.entries = {
        "new": {"used": store.now, "result": {}},
        "old": {"used": store.now - (MAX_AGE_DAYS + 1) * day, "result": {}},
    }
    store.put("put", {"path": "x.py", "kind": "python", "findings": [], "errors": []})
    assert store.save() is True  # (makes the folder)
    stale, recent = cache / f"audit-{'a' * 24}.json", cache / f"audit-{'b' * 24}.json"
    mine = cache / "audit-notes.json"  # (not a name the cache gives)
    for other in (stale, recent, mine):
        other.write_text("{}")
    aged = time.time() - (MAX_AGE_DAYS + 1) * day
    for old in (stale, mine):
        os.utime(old, (aged, aged))
    store.put("put", {"path": "x.py", "kind": "python", "findings": [], "errors": []})
    assert store.save() is True
    assert set(_cached_file(store.file)) == {"new", "put"}
    assert not stale.exists() and recent.exists() and mine.exists()
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (
        (cache / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    assert store.save() is False, "nothing changed since"


def _cached_file(path: Path) -> dict[str, object]:
    entries: dict[str, object] = json.loads(path.read_text("utf-8"))["entries"]
    return entries


def test_the_cli_caches_outside_the_tree_unless_told_not_to(tree: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    env_dir = Path(os.environ["AML2MLFLOW_CACHE_DIR"])  # (conftest: this session's)
    assert default_dir() == env_dir
    chosen = tmp_path / "chosen"
    plain = runner.invoke(main, ["audit", str(tree), "--format", "json", "-j", "1", "--no-cache"])
    assert plain.exit_code == 0
    assert not chosen.exists()
    for _ in range(2):
        result = runner.invoke(
            main, ["audit", str(tree), "--format", "json", "-j", "1", "--cache-dir", str(chosen)]
        )
        assert result.exit_code == 0
        assert result.output == plain.output
    assert _cached(chosen)
    listed = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*"))
    assert not any("audit-" in p or "CACHEDIR" in p for p in listed), "nothing in the tree"


def test_default_dir_follows_the_platform_conventions(monkeypatch: pytest.MonkeyPatch) -> None:
    from migrate import cache

    monkeypatch.delenv("AML2MLFLOW_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    monkeypatch.setattr(cache.sys, "platform", "linux")
    assert default_dir() == Path("/x/cache/aml2mlflow")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_dir() == Path.home() / ".cache" / "aml2mlflow"
    monkeypatch.setattr(cache.sys, "platform", "darwin")
    assert default_dir() == Path.home() / "Library" / "Caches" / "aml2mlflow"
    monkeypatch.setattr(cache.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", "/y/local")
    assert default_dir() == Path("/y/local/aml2mlflow/Cache")
    monkeypatch.setenv("AML2MLFLOW_CACHE_DIR", "/z")
    assert default_dir() == Path("/z")


def test_a_file_changed_during_the_scan_is_not_kept_under_its_old_bytes(
    tree: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    sources = list(discover([tree]))
    last = sources[-1]  # (keys are made for every file before the first is audited)
    before = last.path.read_bytes()
    assert b"azureml" in before or last.kind == "notebook"
    changed = before + b"\nrun.log('added while scanning', 1.0)\n"

    def edit(done: int, total: int) -> None:
        if done == 1:
            last.path.write_bytes(changed)

    audit_paths([tree], jobs=1, cache=cache, progress=edit)
    last.path.write_bytes(before)
    _same(audit_paths([tree], jobs=1, cache=cache), audit_paths([tree], jobs=1))
    last.path.write_bytes(changed)
    _same(audit_paths([tree], jobs=1, cache=cache), audit_paths([tree], jobs=1))


def test_a_cache_folder_of_the_users_own_is_not_marked(tree: Path) -> None:
    fresh = audit_paths([tree], jobs=1)
    for _ in range(2):  # (the cache inside the audited tree: its files are not sources)
        _same(audit_paths([tree], jobs=1, cache=tree), fresh)
    assert not (tree / ".gitignore").exists() and not (tree / "CACHEDIR.TAG").exists()
    assert _cached(tree)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_never_read_for_a_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    os.mkfifo(tmp_path / "pipe.py")
    code = (
        "import sys\n"
        "from migrate.audit import audit_paths\n"
        "r = audit_paths([sys.argv[1]], jobs=1, cache=sys.argv[2])\n"
        "print([e.message for e in r.errors])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "pipe.py"), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "not a regular file" in out.stdout


def test_hand_made_entries_are_misses(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fresh = audit_paths([tree], jobs=1)
    audit_paths([tree], jobs=1, cache=cache)
    (only,) = cache.glob("audit-*.json")
    data = json.loads(only.read_text("utf-8"))
    for entry in data["entries"].values():
        for f in entry["result"]["findings"]:
            f["fidelity"] = "bogus"
    only.write_text(json.dumps(data), "utf-8")
    _same(audit_paths([tree], jobs=1, cache=cache), fresh)
    only.write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    _same(audit_paths([tree], jobs=1, cache=cache), fresh)
