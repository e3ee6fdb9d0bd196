"""Source files for `rewrite` and `audit`: find them, read them faithfully, write them back safely.

Rewriting someone's code is only acceptable when everything the rewrite did not mean to change stays
byte-identical, and when a crash or a concurrent reader never sees half a file. This module is that
guarantee, kept apart from the codemod so it can be tested on its own:

- `discover` walks roots the way a developer expects: `.py` and `.ipynb` files, without virtualenvs,
  caches and build output, honouring `.gitignore` (a small matcher of our own, no git needed).
- `read_source` decodes by Python's own rules (PEP 263 cookie, UTF-8 BOM) without touching newlines,
  and `encode` gives back the exact original bytes for unchanged text.
- `write_atomic` replaces a file through a temporary file and `os.replace`.
- `read_notebook` / `Notebook.render` change only the code cells' `source`; `mask_magics` hides
  IPython syntax (`%magic`, `!shell`, `obj?`) from a Python parser and puts it back afterwards;
  `cell_modules` joins a notebook's Python cells into one module (they share one namespace) and
  cuts a rewrite of it back into the same cells.

Nothing here imports mlflow or libcst.
"""

from __future__ import annotations

import ast
import bisect
import codecs
import contextlib
import io
import json
import os
import re
import stat
import tempfile
import tokenize
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "MAX_NESTING",
    "QUICK_MARKERS",
    "SKIP_DIRS",
    "Cell",
    "CellModule",
    "GitIgnore",
    "Notebook",
    "PythonCell",
    "SourceError",
    "SourceFile",
    "Text",
    "cell_modules",
    "check_nesting",
    "decode_error_line",
    "decode_source",
    "discover",
    "encode",
    "is_python_cell",
    "mask_magics",
    "might_contain_legacy",
    "python_cells",
    "read_notebook",
    "read_source",
    "split_cell_magic",
    "write_atomic",
]


# Larger files are reported, not parsed, by `rewrite` and `audit` unless told otherwise: libcst's
# parse of a 5 MB module takes most of a minute and gigabytes, and such files are generated code.
DEFAULT_MAX_BYTES = 1_000_000
# A file that mentions none of these holds no legacy call (see `might_contain_legacy`).
QUICK_MARKERS = ("azureml",)


def might_contain_legacy(text: str) -> bool:
    """Cheap prefilter: a file that never mentions azureml cannot hold legacy calls."""
    return any(marker in text for marker in QUICK_MARKERS)


def size_text(n: int) -> str:
    """A file size for messages: `5.0 MB`, `12,345 bytes`."""
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


class SourceError(Exception):
    """A file that cannot be found, read, decoded or written; `line` is 1-based, or None."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        super().__init__(path, line, message)
        self.path = Path(path)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


def _count_newlines(text: str) -> int:
    """Line breaks in `text` as Python counts them: \\r\\n, \\r and \\n each end one line."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


# --------------------------------------------------------------------------------------------------
# gitignore matching
# --------------------------------------------------------------------------------------------------

_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}
_NEVER = "(?!)"


def _class_char(ch: str) -> str:
    return "\\" + ch if ch in "\\]^-[" else ch


def _translate_class(pattern: str, start: int) -> tuple[str, int] | None:
    """The regex for the bracket expression at `pattern[start] == "["` and the index after it.

    None when the bracket is never closed (it is then an ordinary character, as in fnmatch).
    """
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < len(pattern):
        ch = pattern[i]
        if ch == "]" and not first:
            body = "".join(items)
            if negate:
                return f"[^/{body}]", i + 1
            return (f"[{body}]" if body else _NEVER), i + 1
        first = False
        if ch == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            if end != -1:
                name = pattern[i + 2 : end]
                if name not in _POSIX_CLASSES:
                    return _NEVER, len(pattern)  # git: an unknown class makes the pattern invalid
                items.append(_POSIX_CLASSES[name])
                i = end + 2
                continue
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            ch = pattern[i]
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            hi_at = i + 2
            if pattern[hi_at] == "\\" and hi_at + 1 < len(pattern):
                hi_at += 1
            hi = pattern[hi_at]
            if ch <= hi:
                items.append(f"{_class_char(ch)}-{_class_char(hi)}")
            i = hi_at + 1
            continue
        items.append(_class_char(ch))
        i += 1
    return None


def _translate_segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            translated = _translate_class(segment, i)
            if translated is not None:
                out.append(translated[0])
                i = translated[1]
                continue
            out.append(re.escape(ch))
        elif ch == "\\" and i + 1 < len(segment):
            i += 1
            out.append(re.escape(segment[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _translate(pattern: str, anchored: bool) -> re.Pattern[str]:
    """Compile a gitignore-style glob to a regex over a whole posix path relative to its base.

    `*` and `?` never cross `/`; a `**` segment spans any number of directories (`**/x` anywhere,
    `x/**` everything inside x, `a/**/b` zero or more levels between). An unanchored pattern matches
    at any depth, i.e. against the last components of the path.
    """
    parts = pattern.split("/")
    out: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:.*/)?")
            continue
        out.append(_translate_segment(part))
        if not last:
            out.append("/")
    body = "".join(out)
    return re.compile(body if anchored else f"(?:.*/)?{body}", re.DOTALL)


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool

    def matches(self, rel: str, is_dir: bool) -> bool:
        return (is_dir or not self.dir_only) and self.regex.fullmatch(rel) is not None


def _glob_rule(pattern: str, negate: bool = False) -> _Rule | None:
    """A rule from one glob: trailing `/` = directories only; a `/` elsewhere anchors it."""
    dir_only = pattern.endswith("/")
    if dir_only:
        pattern = pattern.rstrip("/")
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    if not pattern:
        return None
    return _Rule(_translate(pattern, anchored), negate, dir_only)


def _trim_trailing_spaces(line: str) -> str:
    """Drop trailing spaces unless the last one is escaped with a backslash (git's rule)."""
    stripped = line.rstrip(" ")
    if stripped != line:
        backslashes = len(stripped) - len(stripped.rstrip("\\"))
        if backslashes % 2:
            return stripped + " "
    return stripped


class GitIgnore:
    """The patterns of one `.gitignore` (or `info/exclude`) file, with git's matching rules.

    `match` takes a posix path relative to the file's directory and says True (ignored), False
    (re-included by a `!` pattern) or None (no pattern matched: a shallower file decides). The last
    matching pattern wins. Directory pruning is the caller's job: git cannot re-include a file
    whose directory is ignored, because it never looks inside.
    """

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self._rules = tuple(rules)

    @classmethod
    def parse(cls, text: str) -> GitIgnore:
        """Parse gitignore text: `#` comments, `!` negation, `\\` escapes, CRLF tolerated."""
        rules: list[_Rule] = []
        for raw in text.removeprefix("\ufeff").split("\n"):
            line = _trim_trailing_spaces(raw.removesuffix("\r"))
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            rule = _glob_rule(line[1:] if negate else line, negate)
            if rule is not None:
                rules.append(rule)
        return cls(rules)

    def match(self, rel: str, is_dir: bool) -> bool | None:
        """True if `rel` is ignored, False if re-included, None if no pattern speaks about it."""
        for rule in reversed(self._rules):
            if rule.matches(rel, is_dir):
                return not rule.negate
        return None

    def __bool__(self) -> bool:
        return bool(self._rules)


@dataclass(frozen=True)
class _Scope:
    """A GitIgnore applied to walk paths: its own rel path is `lead + rel_from_root[strip:]`."""

    rules: GitIgnore
    strip: int
    lead: str


def _is_ignored(rel: str, is_dir: bool, scopes: Sequence[_Scope]) -> bool:
    for scope in reversed(scopes):  # deepest file first; info/exclude is scopes[0]
        verdict = scope.rules.match(scope.lead + rel[scope.strip :], is_dir)
        if verdict is not None:
            return verdict
    return False


def _read_text_or_none(path: Path) -> str | None:
    """A git bookkeeping file's text, or None when it is missing, unreadable or not a regular file
    (a FIFO named `.gitignore` must not hang discovery)."""
    try:
        return _read_regular(path)[0].decode("utf-8", "surrogateescape")
    except SourceError:
        return None


def _read_ignore_file(path: Path) -> GitIgnore | None:
    text = _read_text_or_none(path)
    if text is None:
        return None
    rules = GitIgnore.parse(text)
    return rules or None


def _git_dir(top: Path) -> Path | None:
    """The directory holding `info/exclude` for the work tree at `top` (worktrees included)."""
    dot_git = top / ".git"
    if dot_git.is_dir():
        return dot_git
    text = _read_text_or_none(dot_git)
    first = text.splitlines()[0] if text else ""
    if not first.startswith("gitdir:"):
        return None
    git_dir = top / first[len("gitdir:") :].strip()
    common = _read_text_or_none(git_dir / "commondir")
    if common is None:
        return git_dir
    return git_dir / common.strip()


def _outer_scopes(root: Path) -> list[_Scope]:
    """`info/exclude` and the `.gitignore` files above `root`, when `root` is inside a work tree."""
    absolute = Path(os.path.abspath(root))
    for top in (absolute, *absolute.parents):
        if (top / ".git").exists():
            break
    else:
        return []
    scopes: list[_Scope] = []
    lead = absolute.relative_to(top).as_posix()
    lead = "" if lead == "." else lead + "/"
    git_dir = _git_dir(top)
    if git_dir is not None:
        exclude = _read_ignore_file(git_dir / "info" / "exclude")
        if exclude is not None:
            scopes.append(_Scope(exclude, 0, lead))
    folder = top
    for name in absolute.relative_to(top).parts:  # ancestors strictly above root, top first
        rules = _read_ignore_file(folder / ".gitignore")
        if rules is not None:
            scopes.append(_Scope(rules, 0, absolute.relative_to(folder).as_posix() + "/"))
        folder = folder / name
    return scopes


# --------------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------------

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".ipynb_checkpoints",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        "build",
        "dist",
        "site-packages",
    }
)
_KINDS: dict[str, Literal["python", "notebook"]] = {".py": "python", ".ipynb": "notebook"}


@dataclass(frozen=True)
class SourceFile:
    """A file to rewrite or audit: where it is, which root found it, and how to read it.

    `error` is set when discovery could not look inside a directory (`path` is then that
    directory): the caller reports it as that path's error and the run goes on.
    """

    path: Path
    root: Path
    kind: Literal["python", "notebook"]
    error: str = ""

    @property
    def rel(self) -> str:
        """The posix path relative to the root (the file's name when the root is the file)."""
        if self.path == self.root:
            return self.path.name
        return self.path.relative_to(self.root).as_posix()


class _Globs:
    """`--include` / `--exclude` patterns: gitignore-style globs relative to the root."""

    def __init__(self, patterns: Sequence[str]) -> None:
        rules = (_glob_rule(p.replace(os.sep, "/").removeprefix("./")) for p in patterns)
        self._rules = [r for r in rules if r is not None]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def match(self, rel: str, is_dir: bool) -> bool:
        return any(rule.matches(rel, is_dir) for rule in self._rules)

    def match_file_or_parent(self, rel: str) -> bool:
        parts = rel.split("/")
        dirs = ("/".join(parts[:n]) for n in range(1, len(parts)))
        return self.match(rel, False) or any(self.match(d, True) for d in dirs)


def _kind_of(name: str) -> Literal["python", "notebook"] | None:
    return _KINDS.get(os.path.splitext(name)[1])


def _list_dir(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError as exc:
        raise SourceError(folder, None, f"cannot list directory: {exc.strerror or exc}") from None


def _walk(root: Path, include: _Globs, exclude: _Globs) -> Iterator[SourceFile]:
    outer = _outer_scopes(root)
    # Each frame: remaining entries of one directory, its path relative to root, its scopes.
    stack: list[tuple[Iterator[os.DirEntry[str]], str, list[_Scope]]] = []

    def enter(folder: Path, rel_dir: str, scopes: list[_Scope]) -> SourceFile | None:
        """Push the folder's entries; a folder that cannot be listed comes back as an error."""
        try:
            entries = _list_dir(folder)
        except SourceError as exc:
            return SourceFile(folder, root, "python", exc.message)
        rules = _read_ignore_file(folder / ".gitignore")
        if rules is not None:
            scopes = [*scopes, _Scope(rules, len(rel_dir) + 1 if rel_dir else 0, "")]
        stack.append((iter(entries), rel_dir, scopes))
        return None

    failed = enter(root, "", outer)
    if failed is not None:
        yield failed
    while stack:
        entries, rel_dir, scopes = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        if entry.is_dir(follow_symlinks=False):
            if (
                entry.name in SKIP_DIRS
                or _is_ignored(rel, True, scopes)
                or exclude.match(rel, True)
            ):
                continue
            failed = enter(Path(entry.path), rel, scopes)
            if failed is not None:
                yield failed
            continue
        kind = _kind_of(entry.name)
        if kind is None:
            continue
        try:
            regular = entry.is_file()  # follows a symlink; a dangling one is no file
        except OSError:  # a symlink loop (ELOOP): taken, so that reading it reports the error
            regular = True
        if not regular:  # directories, dangling links, and FIFOs, devices, sockets: never opened
            continue
        if _is_ignored(rel, False, scopes) or exclude.match(rel, False):
            continue
        if include and not include.match_file_or_parent(rel):
            continue
        yield SourceFile(Path(entry.path), root, kind)


def discover(
    roots: Sequence[str | Path],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Iterator[SourceFile]:
    """Yield the `.py` and `.ipynb` files under `roots`, each once, in a deterministic order.

    A root that is a file is always yielded, whatever its extension (`.ipynb` is a notebook, anything
    else Python), like ruff does for files named on its command line. A directory root is walked
    without following symlinked directories (symlinked files are taken), skipping `SKIP_DIRS`,
    whatever `.gitignore` files ignore (the root's, nested ones, and when the root is inside a git
    work tree also those above it up to the top and `.git/info/exclude`; not the user's global
    excludes file), and whatever `exclude` matches. When `include` is given a file must match one of
    its patterns, or lie in a directory that does. Patterns match the posix path relative to the
    root: a pattern without `/` matches a name at any depth, `**` spans directories, a trailing `/`
    matches directories only.

    Roots are taken in the given order, each root's files sorted by path components (the order of
    `sorted()` on Paths); a file reached again (another root, a symlink) is skipped. Every root is
    checked before anything is yielded: a missing one raises SourceError. A directory that cannot
    be listed (no permission) does not stop the walk: it is yielded with `error` set. A symlink
    loop named like a source file is yielded (reading it reports the loop); FIFOs, devices and
    sockets met in a walk are skipped, never opened.
    """
    if isinstance(roots, (str, os.PathLike)):  # one root passed bare, not a list of characters
        roots = [roots]
    include = [include] if isinstance(include, str) else include
    exclude = [exclude] if isinstance(exclude, str) else exclude
    paths = [Path(r) for r in roots]
    for path in paths:
        if not path.exists():
            raise SourceError(path, None, "no such file or directory")
    inc, exc = _Globs(include), _Globs(exclude)
    seen: set[str] = set()
    for root in paths:
        if root.is_dir():
            found: Iterator[SourceFile] = _walk(root, inc, exc)
        else:
            found = iter([SourceFile(root, root, _kind_of(root.name) or "python")])
        for source in found:
            key = os.path.normcase(os.path.realpath(source.path))
            if key not in seen:
                seen.add(key)
                yield source


# --------------------------------------------------------------------------------------------------
# Python sources
# --------------------------------------------------------------------------------------------------


@dataclass
class Text:
    """A decoded source file and what is needed to write it back byte-for-byte.

    `text` is exactly the file's characters: newlines are never translated, so mixed line endings
    survive. `newline` is the first line ending found ("\\n" when there is none), for code the
    codemod inserts. `encoding` is a codec name without BOM ("utf-8" for a BOM file, with
    `bom=True`). `mode` is the file's permission bits. `path` is used in error messages.
    """

    text: str
    encoding: str
    bom: bool
    newline: str
    mode: int
    path: Path | None = None


_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
_ASCII_PROBE = "\t\n\r !\"#%'()*+,-./0123456789:;<=>@ABCZ[\\]_abcz{}"


def _cookie(data: bytes) -> tuple[int, str | None]:
    """The line (1 or 2) of the PEP 263 coding cookie and the name it gives; (1, None) if none."""
    lines = data[len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0 :].split(b"\n", 2)
    for number, line in enumerate(lines[:2], 1):
        found = _COOKIE.match(line)
        if found:
            return number, found.group(1).decode("ascii")
    return 1, None


def decode_error_line(data: bytes, encoding: str, exc: UnicodeDecodeError) -> int:
    """The 1-based line of the first undecodable byte of `data` (bytes after any BOM).

    The prefix before the bad byte decodes cleanly, so its line breaks are counted as Python
    counts them (\\r\\n, \\r, \\n).
    """
    prefix = data[: exc.start].decode(encoding, "replace")
    return _count_newlines(prefix) + 1


def decode_source(data: bytes, path: Path | str = "<bytes>", mode: int = 0o644) -> Text:
    """Decode Python source bytes as the interpreter would (PEP 263, BOM; default UTF-8).

    Raises SourceError for UTF-16 or UTF-32 text (by its BOM), a NUL byte ("binary file"), an
    unknown or non-ASCII-compatible encoding, a BOM that contradicts the cookie, undecodable bytes
    (with their line), and the rare codec whose decoding does not re-encode to the same bytes: a
    file is accepted only if `encode(text, text.text)` gives back `data` exactly.
    """
    path = Path(path)
    wide = [codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]
    for mark in wide:  # UTF-32 first: its little-endian BOM starts with UTF-16's
        if data.startswith(mark):
            name = "UTF-32" if len(mark) == 4 else "UTF-16"
            message = f"{name} text: Python source must be UTF-8 or an ASCII-compatible encoding"
            raise SourceError(path, None, message)
    if b"\x00" in data:
        raise SourceError(path, None, "binary file")
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError as exc:
        message = str(exc.msg)
        line, named = _cookie(data)
        if message.startswith("invalid or missing encoding declaration"):
            encoding = "utf-8"  # non-UTF-8 bytes in the first lines: decoding reports the byte
        elif message.startswith("encoding problem"):
            message = f"the coding cookie says {named} but the file starts with a UTF-8 BOM"
            raise SourceError(path, line, message) from None
        else:
            raise SourceError(path, line, message) from None
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    try:
        ascii_compatible = _ASCII_PROBE.encode(encoding) == _ASCII_PROBE.encode("ascii")
    except UnicodeError:
        ascii_compatible = False
    if not ascii_compatible:
        message = f"encoding {encoding} is not ASCII-compatible (PEP 263)"
        raise SourceError(path, _cookie(data)[0], message)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = body[exc.start : max(exc.end, exc.start + 1)]
        shown = " ".join(f"0x{b:02x}" for b in bad[:4])
        raise SourceError(
            path,
            decode_error_line(body, encoding, exc),
            f"cannot decode byte{'s' if len(bad) > 1 else ''} {shown} as {encoding}: {exc.reason}",
        ) from None
    try:
        again = text.encode(encoding)
    except UnicodeError:
        again = b""
    if again != body:
        at = next((i for i, (a, b) in enumerate(zip(again, body)) if a != b), len(body))
        line = _count_newlines(body[:at].decode("latin-1")) + 1  # ASCII-compatible, see above
        message = f"{encoding} does not give back the same bytes; left untouched"
        raise SourceError(path, line, message)
    first = re.search(r"\r\n|\r|\n", text)
    return Text(text, encoding, bom, first.group() if first else "\n", mode, path)


def _read_regular(path: Path) -> tuple[bytes, int]:
    """The bytes and permission bits of the regular file at `path`; SourceError for anything else.

    The file is opened without blocking and checked on the open descriptor, so a FIFO, device or
    socket named like a source file is refused at once instead of hanging the run (a FIFO blocks
    until a writer comes) or reading forever (/dev/zero).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SourceError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kinds = (
                (stat.S_ISFIFO, "a FIFO"),
                (stat.S_ISDIR, "a directory"),
                (stat.S_ISSOCK, "a socket"),
            )
            kind = next((name for test, name in kinds if test(st.st_mode)), "a device")
            raise SourceError(path, None, f"not a regular file ({kind}); left untouched")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: ordinary reads from here on
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), stat.S_IMODE(st.st_mode)
    except OSError as exc:
        raise SourceError(path, None, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


#: Nesting beyond which a module is not handed to libcst. Its native parser overflows the C stack
#: (SIGSEGV: the whole process dies) or runs for minutes on chains of several thousand levels, which
#: Python's parser may accept (`a and b and ...` is one flat node for `ast`); the codemod's own
#: visitors give up (RecursionError) after a few hundred levels anyway.
MAX_NESTING = 1000


def check_nesting(
    text: str, path: Path | str = "<string>", measure: bool = True
) -> ast.Module | None:
    """Raise SourceError when `text` is nested too deeply to be parsed safely by libcst.

    Python's own parser speaks first: it refuses more than 200 nested brackets or 100 indentation
    levels (reported as `cannot parse: too many ...` with the line) and gives up cleanly on deeper
    expression chains. What it accepts is measured, counting each operand of an `and` / `or` chain
    as a level (libcst nests them; `ast` keeps them flat). Other syntax errors are left for the
    caller's parser to report in its own words. Nothing is executed: `ast.parse` only parses.
    Returns the `ast` tree when Python parsed the text (None when it did not). With
    `measure=False` only Python's parser speaks: the caller measures the tree (`nesting_error`)
    when it is about to hand the text to libcst.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings about the user's code are not ours
            tree = ast.parse(text)
    except SyntaxError as exc:
        if exc.msg.startswith("too many"):  # nested parentheses, levels of indentation
            raise SourceError(path, exc.lineno, f"cannot parse: {exc.msg}") from None
        return None
    except (RecursionError, MemoryError) as exc:
        reason = str(exc) or type(exc).__name__
        message = f"too deeply nested to parse safely (Python's parser: {reason}); left untouched"
        raise SourceError(path, None, message) from None
    except ValueError:  # NUL bytes: decode_source refuses them before this is called
        return None
    too_deep = nesting_error(tree) if measure else None
    if too_deep is not None:
        raise SourceError(path, *too_deep)
    return tree


def nesting_error(tree: ast.AST, limit: int = MAX_NESTING) -> tuple[int | None, str] | None:
    """(line, message) when a parsed module nests deeper than `limit` (default: deeper than
    libcst parses safely), else None."""
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        depth += len(node.values) - 1 if isinstance(node, ast.BoolOp) else 1
        if depth > limit:
            line = getattr(node, "lineno", None)
            message = f"nested more than {limit} levels deep: too deep to parse safely"
            return line, message + "; left untouched"
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))
    return None


def read_source(path: Path) -> Text:
    """Read a Python source file (see `decode_source`); OS errors become SourceError.

    Only regular files are read (see `_read_regular`): a FIFO or device is refused, never opened
    for a blocking read.
    """
    path = Path(path)
    data, mode = _read_regular(path)
    return decode_source(data, path, mode)


def encode(text: Text, new: str) -> bytes:
    """`new` as bytes in `text`'s encoding, BOM included: `encode(t, t.text)` is the original file.

    Raises SourceError (with the line) when `new` has a character the file's encoding cannot hold.
    """
    try:
        body = new.encode(text.encoding)
    except UnicodeEncodeError as exc:
        raise SourceError(
            text.path or "<text>",
            _count_newlines(new[: exc.start]) + 1,
            f"cannot encode {new[exc.start : exc.end]!r} as {text.encoding}",
        ) from None
    return codecs.BOM_UTF8 + body if text.bom else body


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # not thread-safe, hence only the fallback
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace the file at `path` with `data` so that readers and crashes see old or new, never half.

    The data goes to a temporary file in the same directory, is flushed and fsynced, gets the
    original file's permission bits (or `mode`; a new file gets 0o666 less the umask) and, when
    possible, its owner, and then atomically replaces the target with `os.replace`. A symlink is
    written through (its final target is replaced; the link stays a link). A hard link elsewhere
    keeps the old content. A file without any write bit, or one this process may not write, raises
    SourceError("read-only file") instead of being replaced (os.replace would not mind, and root may
    write anything). Any failure removes the temporary file and raises SourceError.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise SourceError(path, None, f"cannot write: {exc.strerror or exc}") from None
    writable = st is None or (bool(st.st_mode & 0o222) and os.access(target, os.W_OK))
    if st is not None and stat.S_ISREG(st.st_mode) and not writable:
        raise SourceError(path, None, "read-only file")
    if mode is None:
        mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if st is not None and hasattr(os, "chown"):
            # Keep the owner when root edits someone's file; others may not, and that is fine.
            with contextlib.suppress(OSError):
                os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, mode)  # after chown, which clears set-id bits
        os.replace(tmp, target)
        tmp = None
        _fsync_dir(target.parent)
    except OSError as exc:
        raise SourceError(path, None, f"cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); harmless to skip where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------------
# notebooks
# --------------------------------------------------------------------------------------------------

_PYTHON_LANGUAGE = re.compile(r"i?python\d*")


@dataclass(frozen=True)
class Cell:
    """One notebook cell: its position in the notebook, type, source as one string, and language.

    `language` is the cell's own (`metadata.vscode.languageId`) or the notebook's kernel language
    for code cells, "markdown" / "raw" for the others.
    """

    index: int
    cell_type: str
    source: str
    language: str

    @property
    def is_python(self) -> bool:
        """A code cell the codemod may parse: Python, and not a `%%bash`-like cell magic."""
        return (
            self.cell_type == "code"
            and _PYTHON_LANGUAGE.fullmatch(self.language) is not None
            and is_python_cell(self.source)
        )


@dataclass(frozen=True)
class _Style:
    leader: str
    trailer: str
    newline: str
    indent: str | None
    separators: tuple[str, str]
    ensure_ascii: bool


def _json_line(text: str, pos: int) -> int:
    return _count_newlines(text[:pos]) + 1


def _split_like(old: list[str], new: str) -> list[str]:
    """Split `new` into lines the way the cell's existing list was split (nbformat: splitlines)."""
    joined = "".join(old)
    if old != joined.splitlines(True) and old == re.findall(r"[^\n]*\n|[^\n]+", joined):
        return re.findall(r"[^\n]*\n|[^\n]+", new)
    return new.splitlines(True)


class Notebook:
    """A Jupyter notebook read for rewriting: its cells, and `render` to write back changed sources.

    Formatting is detected from the file (indent, separators, `ensure_ascii`, CRLF, BOM, leading
    and trailing whitespace) and key order is kept, so re-serialising reproduces the file exactly;
    `render` checks that it does before producing anything.
    """

    def __init__(self, path: Path, raw: bytes, data: dict[str, Any], cells: list[Cell]) -> None:
        self.path = path
        self.raw = raw
        self.cells = cells
        self._data = data
        self._style: _Style | None = None

    @property
    def language(self) -> str:
        """The kernel's language (`language_info.name`, else `kernelspec.language`), lower case."""
        return _notebook_language(self._data)

    @property
    def code_cells(self) -> list[Cell]:
        """The code cells, in order."""
        return [cell for cell in self.cells if cell.cell_type == "code"]

    def render(self, new_sources: Mapping[int, str]) -> bytes:
        """The notebook's bytes with the code cells at the given indices given new sources.

        Only those cells' `source` values differ from the file; each keeps its form (a list of
        lines split as the file did, or one string). Raises SourceError when this notebook's
        formatting cannot be reproduced byte-for-byte (then nothing should be written), and
        ValueError for an index that is not a code cell.
        """
        style = self._reproducible_style()
        cells = list(self._data["cells"])
        for index, source in new_sources.items():
            if not 0 <= index < len(cells) or self.cells[index].cell_type != "code":
                raise ValueError(f"cell {index} is not a code cell of {self.path}")
            if source == self.cells[index].source:
                continue
            old = cells[index].get("source", [])  # absent: nbformat writes a list
            cells[index] = {
                **cells[index],
                "source": source if isinstance(old, str) else _split_like(old, source),
            }
        out = _dump({**self._data, "cells": cells}, style)
        if out is None:
            raise SourceError(self.path, None, "new cell source cannot be written as UTF-8")
        return out

    def _reproducible_style(self) -> _Style:
        if self._style is None:
            for style in _candidate_styles(self.raw):
                if _dump(self._data, style) == self.raw:
                    self._style = style
                    break
            else:
                raise SourceError(
                    self.path, None, "notebook formatting not reproducible; left untouched"
                )
        return self._style


def _dump(data: dict[str, Any], style: _Style) -> bytes | None:
    text = json.dumps(
        data, indent=style.indent, ensure_ascii=style.ensure_ascii, separators=style.separators
    )
    if style.newline != "\n":
        text = text.replace("\n", style.newline)  # JSON strings hold no raw newline
    try:
        body = (style.leader + text + style.trailer).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, written escaped by the original tool
        return None
    return body


def _candidate_styles(raw: bytes) -> list[_Style]:
    """The formatting the file was most likely written with, best guess first.

    Compact files get both item separators; pure-ASCII files are tried with `ensure_ascii` on (it
    reproduces escaped and plain ASCII alike) and then off (a raw DEL, which True would escape).
    """
    bom = raw.startswith(codecs.BOM_UTF8)
    text = raw[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8")
    body = text.strip(" \t\r\n")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    leader = ("\ufeff" if bom else "") + text[:start]
    trailer = text[start + len(body) :]
    newline = "\r\n" if "\r\n" in body else "\n"
    key = re.match(r'[{[]\s*"(?:[^"\\]|\\.)*"([ \t]*:[ \t]*)', body)
    key_sep = key.group(1) if key else ": "
    indented = re.match(r"[{[]\r?\n([ \t]*)", body)
    indent: str | None = None
    items = [", ", ","]
    if indented:
        indent = indented.group(1)
        item = re.search(r",([ \t]*)\r?\n", body)
        items = ["," + (item.group(1) if item else "")]
    ascii_options = [True, False] if text.isascii() else [False]
    return [
        _Style(leader, trailer, newline, indent, (item_sep, key_sep), ensure_ascii)
        for ensure_ascii in ascii_options
        for item_sep in items
    ]


def _notebook_language(data: Mapping[str, Any]) -> str:
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        for section, key in (("language_info", "name"), ("kernelspec", "language")):
            value = metadata.get(section)
            if isinstance(value, dict) and isinstance(value.get(key), str):
                return str(value[key]).lower()
    return "python"


def read_notebook(path: Path) -> Notebook:
    """Read an `.ipynb` (nbformat 4) file: UTF-8 JSON, optionally with a BOM.

    Raises SourceError for undecodable bytes, invalid JSON (with the JSON error's line), a document
    that is not an object with a `cells` list (line of the document's start; nbformat 3 files are
    named as such), or a cell whose `source` is neither a string nor a list of strings.
    """
    path = Path(path)
    raw = _read_regular(path)[0]
    body = raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            path, decode_error_line(body, "utf-8", exc), f"not UTF-8: {exc.reason}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(path, exc.lineno, f"invalid notebook JSON: {exc.msg}") from None
    start_line = _json_line(text, len(text) - len(text.lstrip()))
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        if isinstance(data, dict) and "worksheets" in data:
            message = "nbformat 3 notebook (no 'cells'): convert it with `jupyter nbconvert --to notebook`"
        else:
            message = "not a notebook: no 'cells' list"
        raise SourceError(path, start_line, message)
    language = _notebook_language(data)
    cells: list[Cell] = []
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise SourceError(path, None, f"cell {index + 1} has no cell_type")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise SourceError(path, None, f"cell {index}: source is not text")
        kind = cell["cell_type"]
        cell_language = kind
        if kind == "code":
            cell_language = language
            metadata = cell.get("metadata")
            vscode = metadata.get("vscode") if isinstance(metadata, dict) else None
            if isinstance(vscode, dict) and isinstance(vscode.get("languageId"), str):
                cell_language = vscode["languageId"].lower()
        cells.append(Cell(index, kind, source, cell_language))
    return Notebook(path, raw, data, cells)


# --------------------------------------------------------------------------------------------------
# IPython syntax
# --------------------------------------------------------------------------------------------------

#: Cell magics whose body is ordinary Python run in the kernel: the codemod may rewrite it.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture"})
_MAGIC_ASSIGN = re.compile(r"[^\W\d]\w*(?:\.\w+)*(?:\s*,\s*[^\W\d]\w*(?:\.\w+)*)*\s*=\s*[!%]")
_LINES = re.compile(r"(\r\n|\r|\n)")


def _first_line(source: str) -> str | None:
    for line in _LINES.split(source)[::2]:
        if line.strip():
            return line.lstrip()
    return None


def is_python_cell(source: str) -> bool:
    """False when the cell starts with a cell magic whose body is not Python (`%%bash`, ...).

    As in IPython, leading blank lines and indentation before the `%%` are ignored. `%%time`,
    `%%timeit` and `%%capture` run Python, so their cells are Python.
    """
    first = _first_line(source)
    if first is None or not first.startswith("%%"):
        return True
    name = re.match(r"%%(\S*)", first)
    return name is not None and name.group(1) in PYTHON_CELL_MAGICS


@dataclass(frozen=True)
class _ScanState:
    depth: int = 0
    quote: str | None = None
    continued: bool = False

    @property
    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued


def _scan(line: str, state: _ScanState) -> tuple[_ScanState, int | None]:
    """Follow brackets, strings and backslash continuations over one line of Python.

    Returns the state after the line and where a comment starts (None if none). Good enough to
    tell whether the next line starts a statement, which is all magic detection needs.
    """
    depth, quote = state.depth, state.quote
    comment: int | None = None
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            i += 1
            continue
        if ch == "#":
            comment = i
            break
        if ch in "\"'":
            quote = ch * 3 if line.startswith(ch * 3, i) else ch
            i += len(quote)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        i += 1
    ends_with_backslash = comment is None and line.endswith("\\")
    if quote is not None and len(quote) == 1 and not ends_with_backslash:
        quote = None  # an unterminated one-line string: a syntax error, not our business
    return _ScanState(depth, quote, quote is None and ends_with_backslash), comment


def _is_magic(line: str) -> bool:
    """A line (at a statement start) IPython rewrites: escapes, `obj?`, `x = !cmd`."""
    stripped = line.lstrip()
    if not stripped:
        return False
    if stripped[0] in "%!?/,;" or _MAGIC_ASSIGN.match(stripped):
        return True
    state, comment = _scan(stripped, _ScanState())
    code = stripped[:comment].rstrip() if comment is not None else stripped.rstrip()
    return state.quote is None and code.endswith("?")


def _placeholder_prefix(source: str) -> str:
    prefix, n = "__aml2mlflow_magic_", 0
    while prefix in source:
        n += 1
        prefix = f"__aml2mlflow_magic{n}_"
    return prefix


def _identity(text: str) -> str:
    return text


def mask_magics(source: str) -> tuple[str, Callable[[str], str]]:
    """Replace IPython-only lines with Python placeholders; return the text and a restorer.

    Masked: line and cell magics (`%matplotlib inline`, a first-line `%%time`), shell escapes
    (`!pip install x`), help (`?obj`, `obj?`, `obj??`), assignments from them (`files = !ls`) and the
    backslash-continued lines of any of these, when they start a statement (a `%` continuing an
    expression inside brackets, or inside a string, is Python and left alone). Each masked line
    becomes `<indent>__aml2mlflow_magic_<n>__`: a bare name, so it is valid even as the only
    statement of a block; the line count and every other character are unchanged, so positions stay
    valid. The prefix is altered if the source already contains it.

    The restorer puts the original lines back in a transformed text. A placeholder whose
    indentation changed (the code around it was re-indented) gets the new indentation; otherwise
    the line is restored exactly. It raises ValueError if a placeholder was lost or duplicated,
    rather than silently dropping a `!pip install`.

    A cell that is not Python (`is_python_cell` is False) is returned unchanged with an identity
    restorer: the codemod must skip it.
    """
    if not is_python_cell(source):
        return source, _identity
    prefix = _placeholder_prefix(source)
    parts = _LINES.split(source)
    saved: list[tuple[str, str]] = []  # (original line, indentation of its placeholder)
    state = _ScanState()
    in_magic = False
    anchor = ""
    for i in range(0, len(parts), 2):
        line = parts[i]
        if in_magic or (state.at_statement_start and _is_magic(line)):
            if not in_magic:
                anchor = line[: len(line) - len(line.lstrip())]
            parts[i] = f"{anchor}{prefix}{len(saved)}__"
            saved.append((line, anchor))
            in_magic = line.endswith("\\")
        else:
            state = _scan(line, state)[0]
    if not saved:
        return source, _identity
    masked = "".join(parts)
    placeholder = re.compile(rf"(?<![^\r\n])([ \t]*){re.escape(prefix)}(\d+)__[ \t]*(?=[\r\n]|\Z)")

    def restore(text: str) -> str:
        found: list[int] = []

        def put_back(match: re.Match[str]) -> str:
            indent, number = match.group(1), int(match.group(2))
            if number >= len(saved):
                raise ValueError(f"unknown magic placeholder {match.group(0).strip()!r}")
            found.append(number)
            original, original_indent = saved[number]
            if indent == original_indent or not original.startswith(original_indent):
                return original
            return indent + original[len(original_indent) :]

        result = placeholder.sub(put_back, text)
        if sorted(found) != list(range(len(saved))):
            lost = [saved[n][0].strip() for n in range(len(saved)) if found.count(n) != 1]
            raise ValueError(f"IPython lines lost or duplicated by the rewrite: {lost}")
        return result

    return masked, restore


# --------------------------------------------------------------------------------------------------
# a notebook's Python cells as one module
# --------------------------------------------------------------------------------------------------

_CELL_MAGIC_LINE = re.compile(
    r"(?:[^\S\r\n]*(?:\r\n|\r|\n))*[^\S\r\n]*%%(\S*)[^\r\n]*(?:\r\n|\r|\n)?"
)


def split_cell_magic(source: str) -> tuple[str, str]:
    """Split a cell into its leading Python cell magic lines (`%%time`, `%%capture out`, with any
    blank lines before them) and the rest.

    IPython requires the cell magic on the cell's first line, so the codemod must see only the
    rest: it would insert `import mlflow` above the magic. ("", source) when there is none.
    """
    end = 0
    while (found := _CELL_MAGIC_LINE.match(source, end)) and found.group(1) in PYTHON_CELL_MAGICS:
        end = found.end()
    return source[:end], source[end:]


@dataclass(frozen=True)
class PythonCell:
    """A Python code cell as the codemod sees it: `code` is the cell without its leading cell
    magic (`head`), with IPython lines masked (`restore` puts them back)."""

    index: int  # 0-based position in the notebook
    source: str
    head: str
    code: str
    restore: Callable[[str], str]

    @property
    def offset(self) -> int:
        """Lines of `head`: a line of `code` is this many lines further down in the cell."""
        return _count_newlines(self.head)

    def new_source(self, code: str) -> str:
        """The cell's source for a rewritten `code`: magics restored, the cell magic first.

        Raises ValueError when a masked IPython line was lost or duplicated by the rewrite.
        """
        return self.head + self.restore(code)

    def has_code(self) -> bool:
        """False for a cell of only blank lines, comments and IPython lines: nothing to rewrite."""
        prefix = _placeholder_prefix(self.source[len(self.head) :])  # as `mask_magics` chose it
        placeholder = re.compile(rf"[ \t]*{re.escape(prefix)}\d+__")
        for line in _LINES.split(self.code)[::2]:
            text = line.strip()
            if text and not text.startswith("#") and not placeholder.fullmatch(line):
                return True
        return False


def python_cells(notebook: Notebook) -> list[PythonCell]:
    """The notebook's Python code cells (`Cell.is_python`), in order."""
    out: list[PythonCell] = []
    for cell in notebook.cells:
        if not cell.is_python:
            continue
        head, body = split_cell_magic(cell.source)
        if not is_python_cell(body):  # `%%time` over a `%%bash` cell
            continue
        code, restore = mask_magics(body)
        out.append(PythonCell(cell.index, cell.source, head, code, restore))
    return out


@dataclass(frozen=True)
class CellModule:
    """Consecutive Python cells joined into one module for the codemod, and back.

    A notebook runs its cells in one namespace: a run created in one cell is logged to in the
    next, so the codemod must see them together. Cells are joined with a marker statement
    (`__aml2mlflow_cell_<n>__`, a bare name no rewrite touches, so statements the codemod inserts
    stay on the right side of it) on its own line between them. `split` cuts the rewritten module
    back into cells; `locate` maps a module line to its cell and line in that cell.
    """

    cells: tuple[PythonCell, ...]
    text: str
    prefix: str
    starts: tuple[int, ...]  # the module line where each cell's code starts

    @classmethod
    def join(cls, cells: Sequence[PythonCell]) -> CellModule:
        """The module of `cells` (at least one), in order."""
        if not cells:
            raise ValueError("no cells to join")
        everything = "".join(c.code for c in cells)
        prefix, n = "__aml2mlflow_cell_", 0
        while prefix in everything:
            n += 1
            prefix = f"__aml2mlflow_cell{n}_"
        breaks = (_LINES.search(c.code) for c in cells)
        newline = next((found.group() for found in breaks if found), "\n")  # the cells' own
        parts = [cells[0].code]
        starts = [1]
        for number, cell in enumerate(cells[1:], 1):
            parts += [newline, f"{prefix}{number}__", newline, cell.code]
            starts.append(starts[-1] + _count_newlines(cells[number - 1].code) + 2)
        return cls(tuple(cells), "".join(parts), prefix, tuple(starts))

    def locate(self, line: int) -> tuple[PythonCell, int]:
        """The cell holding module line `line` (1-based) and the line's number in that cell."""
        position = max(0, bisect.bisect_right(self.starts, line) - 1)
        cell = self.cells[position]
        return cell, line - self.starts[position] + 1 + cell.offset

    def module_line(self, index: int, line: int) -> int | None:
        """The module line of line `line` of the notebook's cell `index` (0-based); None when the
        cell is not in this module or the line is its cell magic."""
        for cell, start in zip(self.cells, self.starts):
            if cell.index == index:
                return start + line - 1 - cell.offset if line > cell.offset else None
        return None

    def split(self, text: str) -> list[str]:
        """The code of each cell in a rewrite of `text`.

        Raises ValueError when the markers are not all there, once each, in order and on lines
        of their own: the rewrite cannot be cut back into the same cells.
        """
        if len(self.cells) == 1:
            return [text]
        pieces = _LINES.split(text)
        lines, breaks = pieces[::2], [*pieces[1::2], ""]
        expected = [f"{self.prefix}{n}__" for n in range(1, len(self.cells))]
        wanted = set(expected)
        at = [i for i, line in enumerate(lines) if line in wanted]
        if [lines[i] for i in at] != expected or text.count(self.prefix) != len(expected):
            raise ValueError("the rewrite moved, lost or duplicated a boundary between cells")
        out: list[str] = []
        bounds = [-1, *at, len(lines)]
        for n in range(len(self.cells)):
            low, high = bounds[n] + 1, bounds[n + 1]
            code = "".join(lines[i] + breaks[i] for i in range(low, high))
            if n < len(self.cells) - 1 and high > low:  # the line break put before the marker
                code = code[: len(code) - len(breaks[high - 1])]
            out.append(code)
        return out


def _compiles(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings about the user's code are not ours
            compile(text, "<notebook>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def cell_modules(notebook: Notebook, join: bool = True) -> list[CellModule]:
    """The modules the codemod sees in a notebook: its Python cells joined into one (`join`).

    Cells of only comments and IPython lines are left out (a `!pip install` first cell must not
    get `import mlflow`). One module per cell when `join` is False, or when the joined cells do
    not compile: IPython runs them one by one (`from __future__` in a later cell, top-level
    `await`), or one has a syntax error (the caller names it).
    """
    cells = [cell for cell in python_cells(notebook) if cell.has_code()]
    if join and len(cells) > 1:
        module = CellModule.join(cells)
        # each cell must compile too: a string left open in one cell and closed in the next
        # is two syntax errors, not one module
        if _compiles(module.text) and all(_compiles(cell.code) for cell in cells):
            return [module]
    return [CellModule.join([cell]) for cell in cells]
