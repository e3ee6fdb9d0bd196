"""A cache of per-file audit results, so that auditing an unchanged file again costs one read.

The audit's cost is the codemod's, run on every file that holds legacy code; a CI gate or a
pre-commit hook audits the same, mostly unchanged, tree again and again. Like black's and ruff's,
this cache keeps each file's result under a key made of everything the result depends on, so a hit
is the very result a fresh audit would give:

- the file's bytes, its path as discovered (findings and errors name it) and its kind;
- the tool itself: the text of every module of `migrate` and of `shims/names.py` (the codemod, the
  catalogue, the audit's own checks, MLflow's naming rules), libcst's version, the Python version
  (its `ast` parses the file) and the size limit. A changed tool starts a new cache file.

A hit never reads the file beyond hashing it, so nothing is trusted from a file's modification time.
Only files that gave findings, silenced findings or errors are kept (for the others the prefilter
is cheaper than a lookup). The cache lives outside the audited tree by default (`default_dir`), in one JSON file per
tool fingerprint, written atomically; entries unused for `MAX_AGE_DAYS` go, and so do stale
fingerprints' files. A cache that cannot be read is ignored and one that cannot be written is
skipped: the audit's result never depends on it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migrate import __version__
from migrate.sources import SourceFile

__all__ = ["MAX_AGE_DAYS", "MAX_ENTRIES", "AuditCache", "default_dir", "fingerprint"]

#: Entries not used for this long are dropped when the cache is written.
MAX_AGE_DAYS = 30
#: At most this many entries are kept (the most recently used).
MAX_ENTRIES = 50_000
_DAY = 86_400
_PACKAGE = Path(__file__).resolve().parent
_FORMAT = 1  # of the file's layout below; part of the fingerprint


def default_dir() -> Path:
    """Where the cache lives unless told: `$AML2MLFLOW_CACHE_DIR`, else the user's cache folder
    (`$XDG_CACHE_HOME/aml2mlflow`, `~/.cache/aml2mlflow`; `~/Library/Caches/aml2mlflow` on macOS,
    `%LOCALAPPDATA%\\aml2mlflow\\Cache` on Windows), never inside the audited tree."""
    chosen = os.environ.get("AML2MLFLOW_CACHE_DIR")
    if chosen:
        return Path(chosen)
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "aml2mlflow" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "aml2mlflow"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "aml2mlflow"


def _tool_files() -> Iterator[Path]:
    yield from sorted(_PACKAGE.rglob("*.py"))
    yield _PACKAGE.parent / "shims" / "names.py"
    spec = importlib.util.find_spec("libcst")  # (found, not imported)
    if spec is not None and spec.origin:
        yield Path(spec.origin).parent / "_version.py"


def fingerprint(max_bytes: int) -> str:
    """What the audit's result depends on besides the file: the tool's code, libcst's version, the
    Python version and the size limit (see the module docstring)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{_FORMAT}\0{__version__}\0{sys.version}\0{max_bytes}\0".encode())
    for path in _tool_files():
        try:
            data = path.read_bytes()
        except OSError:
            data = b"?"
        h.update(path.name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


class AuditCache:
    """The results of earlier audits made by this very tool with this size limit.

    `key` a file, `get` its result or `put` a new one, and `save` once at the end. Results are
    stored as the plain data `migrate.audit` makes of them (its `file_data` and `file_from_data`).
    """

    def __init__(self, directory: Path | str, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.file = self.directory / f"audit-{fingerprint(max_bytes)}.json"
        self.entries: dict[str, dict[str, Any]] = self._load()
        self.now = int(time.time())
        self._dirty = False

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            with open(self.file, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError, RecursionError):
            return {}  # none yet, unreadable, torn or hand-made: start afresh
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            return {}
        return {
            k: v
            for k, v in entries.items()
            if isinstance(v, dict)
            and isinstance(v.get("used"), int)
            and isinstance(v.get("result"), dict)
        }

    def key(self, source: SourceFile) -> str | None:
        """The file's key, or None when it is not worth caching (over the size limit: the audit
        reports that from its size alone) or cannot be read (the audit says why)."""
        if source.error:
            return None
        try:
            st = source.path.stat()
            if not stat.S_ISREG(st.st_mode):  # (a FIFO or a device: never read it here)
                return None
            if source.kind == "python" and st.st_size > self.max_bytes:
                return None
            data = source.path.read_bytes()
        except OSError:
            return None
        h = hashlib.blake2b(digest_size=16)
        for part in (str(source.path), source.rel, source.kind):
            h.update(part.encode("utf-8", "surrogateescape") + b"\0")
        h.update(data)
        return h.hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result for `key`, or None (a miss)."""
        found = self.entries.get(key)
        if found is None:
            return None
        if self.now - found["used"] > _DAY:  # (refreshed at most daily)
            found["used"] = self.now
            self._dirty = True
        return found["result"]  # type: ignore[no-any-return]

    def put(self, key: str, result: dict[str, Any]) -> None:
        """Keep `result` (a file's audit as data) under `key`."""
        self.entries[key] = {"used": self.now, "result": result}
        self._dirty = True

    def save(self) -> bool:
        """Write the cache if it changed (atomically; pruned of old entries and of other tools'
        cache files). Returns whether it was written; a failure to write is not an error."""
        if not self._dirty:
            return False
        oldest = self.now - MAX_AGE_DAYS * _DAY
        kept = [(k, v) for k, v in self.entries.items() if v["used"] >= oldest]
        kept.sort(key=lambda kv: kv[1]["used"], reverse=True)
        data = {"fingerprint": self.file.stem, "entries": dict(kept[:MAX_ENTRIES])}
        try:
            if not self.directory.exists():
                self.directory.mkdir(parents=True)
                self._mark()  # (only a folder of its own: never one of the user's)
            fd, tmp = tempfile.mkstemp(prefix=".audit-", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, separators=(",", ":"))
                os.replace(tmp, self.file)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._prune(oldest)
        except OSError:
            return False
        self._dirty = False
        return True

    def _mark(self) -> None:
        """Tell git and backup tools to leave the folder the cache made alone (as ruff does)."""
        (self.directory / ".gitignore").write_text(
            "# Made by aml2mlflow's audit cache.\n*\n", encoding="utf-8"
        )
        (self.directory / "CACHEDIR.TAG").write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n"
            "# This file is a cache directory tag created by aml2mlflow.\n",
            encoding="utf-8",
        )

    def _prune(self, oldest: int) -> None:
        """Drop other fingerprints' cache files no audit has written for `MAX_AGE_DAYS`."""
        for other in self.directory.glob("audit-*.json"):
            if not re.fullmatch(r"audit-[0-9a-f]{24}\.json", other.name):
                continue  # (not one of ours)
            try:
                if other != self.file and other.stat().st_mtime < oldest:
                    other.unlink()
            except OSError:
                pass
