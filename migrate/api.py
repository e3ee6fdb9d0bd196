"""The library behind `aml2mlflow rewrite` (and, later, `audit`): pure functions, no click.

    rewrite_source(code) -> Result                      one module's source, in memory
    rewrite_paths(roots, mode="write") -> iterator      files, folders and notebooks, in parallel

A file is read faithfully (encoding, BOM, newlines, mode kept), rewritten, checked to parse, and
written atomically, or left byte-for-byte untouched with an error naming the file and line. Workers
stream files one at a time, so memory stays flat however large the tree.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import libcst as cst

from migrate import quick
from migrate.codemod import Result, RewriteError, Target, rewrite_module
from migrate.findings import Finding
from migrate.sources import (
    SourceError,
    SourceFile,
    discover,
    encode,
    is_python_cell,
    mask_magics,
    read_notebook,
    read_source,
    write_atomic,
)

# "scan" is "check" with every finding collected (what the audit needs): it never takes the
# `migrate.quick` shortcut, which answers "would it change?" without listing sites.
Mode = Literal["write", "check", "diff", "scan"]


def rewrite_source(code: str, path: str = "<string>", target: Target = "mlflow") -> Result:
    """Rewrite one module's source text; raises libcst's ParserSyntaxError if it does not parse."""
    return rewrite_module(code, path, target)


@dataclass
class FileOutcome:
    """What happened to one file."""

    path: str  # as given by discovery (root-relative, posix)
    root: str
    changed: bool = False
    findings: list[Finding] = field(default_factory=list)
    diff: str = ""
    error: str = ""  # "path:line: message" when the file could not be processed

    @property
    def rewritten(self) -> int:
        return sum(1 for f in self.findings if f.rewritten)

    @property
    def manual(self) -> int:
        return sum(1 for f in self.findings if not f.rewritten)


def _syntax_error(path: str, exc: Exception) -> str:
    if isinstance(exc, cst.ParserSyntaxError):
        return f"{path}:{exc.raw_line}: cannot parse: {exc.message}"
    if isinstance(exc, SyntaxError):
        return f"{path}:{exc.lineno}: cannot parse: {exc.msg}"
    return f"{path}: {exc}"


def _diff(rel: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
        )
    )


def process(source: SourceFile, mode: Mode = "write", target: Target = "mlflow") -> FileOutcome:
    """Rewrite one discovered file; never raises for a bad file (the outcome carries the error)."""
    out = FileOutcome(source.rel, str(source.root))
    try:
        if source.kind == "notebook":
            _process_notebook(source, mode, target, out)
        else:
            _process_python(source, mode, target, out)
    except SourceError as exc:
        out.error, out.changed, out.diff = str(exc), False, ""
    except (cst.ParserSyntaxError, SyntaxError) as exc:
        out.error, out.changed, out.diff = _syntax_error(source.rel, exc), False, ""
    except (RewriteError, RecursionError, OSError) as exc:
        out.error, out.changed, out.diff = f"{source.rel}: {exc}", False, ""
    return out


def _process_python(source: SourceFile, mode: Mode, target: Target, out: FileOutcome) -> None:
    text = read_source(source.path)
    if mode == "check" and target == "mlflow":
        known = quick.verdict(text.text)
        if known is not None:  # answered from an `ast` parse: no findings to count
            out.changed = known
            return
    result = rewrite_module(text.text, source.rel, target)
    out.findings = result.findings
    out.changed = result.changed
    if not result.changed:
        return
    if mode == "diff":
        out.diff = _diff(source.rel, text.text, result.code)
    elif mode == "write":
        write_atomic(source.path, encode(text, result.code))


def _process_notebook(source: SourceFile, mode: Mode, target: Target, out: FileOutcome) -> None:
    notebook = read_notebook(source.path)
    changed: dict[int, str] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not is_python_cell(cell.source):
            continue
        masked, restore = mask_magics(cell.source)
        where = f"{source.rel}[cell {index + 1}]"
        try:
            result = rewrite_module(masked, where, target)
        except (cst.ParserSyntaxError, SyntaxError) as exc:
            raise SourceError(source.path, None, _syntax_error(where, exc)) from None
        out.findings.extend(result.findings)
        if result.changed:
            changed[index] = restore(result.code)
    if not changed:
        return
    out.changed = True
    new = notebook.render(changed)
    if mode == "diff":
        old = source.path.read_bytes().decode("utf-8")
        out.diff = _diff(source.rel, old, new.decode("utf-8"))
    elif mode == "write":
        write_atomic(source.path, new)


def _work(item: tuple[SourceFile, Mode, Target]) -> FileOutcome:
    return process(*item)


def rewrite_paths(
    roots: Sequence[str | Path],
    mode: Mode = "write",
    target: Target = "mlflow",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    jobs: int | None = None,
) -> Iterator[FileOutcome]:
    """Rewrite every Python file and notebook under `roots`, yielding one outcome per file.

    `jobs` worker processes (default: all cores; 1 = in this process). Outcomes come in discovery
    order. In "check" and "diff" modes nothing is written.
    """
    files = list(discover(roots, include, exclude))
    jobs = jobs or os.cpu_count() or 1
    items = [(f, mode, target) for f in files]
    if jobs == 1 or len(files) < 8:
        for item in items:
            yield _work(item)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(_work, items, chunksize=16)
