"""The library behind `aml2mlflow rewrite` (and, later, `audit`): pure functions, no click.

    rewrite_source(code) -> Result                      one module's source, in memory
    rewrite_paths(roots, mode="write") -> iterator      files, folders and notebooks, in parallel

A file is read faithfully (encoding, BOM, newlines, mode kept), rewritten, checked to parse, and
written atomically, or left byte-for-byte untouched with an error naming the file and line. Workers
stream files one at a time, so memory stays flat however large the tree.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import libcst as cst

from migrate import quick
from migrate.codemod import Result, RewriteError, Target, rewrite_module
from migrate.findings import Finding
from migrate.sources import (
    DEFAULT_MAX_BYTES,
    CellModule,
    Notebook,
    PythonCell,
    SourceError,
    SourceFile,
    cell_modules,
    check_nesting,
    discover,
    encode,
    mask_magics,
    might_contain_legacy,
    read_notebook,
    read_source,
    size_text,
    write_atomic,
)

# "scan" is "check" with every finding collected (what the audit needs): it never takes the
# `migrate.quick` shortcut, which answers "would it change?" without listing sites, and it lists
# the findings of a file the write would refuse for a form feed libcst drops.
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


def _syntax_error(path: str, exc: Exception, code: str | None = None) -> str:
    """`path:line: cannot parse: message` for a parser's exception (no line when none is known).

    Given the `code`, Python's own parser is asked too: its message, the clearer one ("Missing
    parentheses in call to 'print'..." for Python 2), comes first with libcst's in brackets. The
    line is the one libcst's message names ("error at L:C") when the source has it (`raw_line` is
    one too far when the parser stopped at a line's end), else Python's, else `raw_line`.
    """
    if isinstance(exc, cst.ParserSyntaxError):
        line, message = exc.raw_line, exc.message
        if code is None:
            return f"{path}:{line}: cannot parse: {message}"
        python = _python_syntax_error(code)
        lines = re.split(r"\r\n|\r|\n", code)
        count = len(lines) - (lines[-1] == "")
        named = re.search(r"error at (\d+):\d+", message)
        if named is not None and 1 <= int(named.group(1)) <= count:
            line = int(named.group(1))
        elif python is not None and python.lineno:
            line = python.lineno
        if python is not None and python.msg:
            where = "" if python.lineno in (None, line) else f" (line {python.lineno})"
            message = f"{python.msg}{where} [libcst: {message}]"
        return f"{path}:{line}: cannot parse: {message}"
    if isinstance(exc, SyntaxError):
        where = f":{exc.lineno}" if exc.lineno else ""
        return f"{path}{where}: cannot parse: {exc.msg}"
    return f"{path}: {exc}"


def _diff(rel: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
        )
    )


def process(
    source: SourceFile,
    mode: Mode = "write",
    target: Target = "mlflow",
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> FileOutcome:
    """Rewrite one discovered file; never raises for a bad file (the outcome carries the error).

    A Python file over `max_bytes` (None: no limit) that may hold legacy calls is reported and
    left untouched; a notebook's limit applies to its code cells together.
    """
    out = FileOutcome(source.rel, str(source.root))
    if source.error:  # a directory discovery could not look inside
        out.error = f"{source.rel}: {source.error}"
        return out
    try:
        if source.kind == "notebook":
            _process_notebook(source, mode, target, out, max_bytes)
        else:
            _process_python(source, mode, target, out, max_bytes)
    except SourceError as exc:
        out.error, out.changed, out.diff = str(exc), False, ""
    except (cst.ParserSyntaxError, SyntaxError) as exc:
        out.error, out.changed, out.diff = _syntax_error(source.rel, exc), False, ""
    except RecursionError as exc:
        message = f"{source.rel}: too deeply nested to rewrite ({exc}); left untouched"
        out.error, out.changed, out.diff = message, False, ""
    except (RewriteError, OSError) as exc:
        text = str(exc)  # a RewriteError names the file already
        message = text if text.startswith(f"{source.rel}:") else f"{source.rel}: {text}"
        out.error, out.changed, out.diff = message, False, ""
    except Exception as exc:  # a codemod bug on one file must not end the run; nothing was written
        message = f"{source.rel}: internal error, please report it: {type(exc).__name__}: {exc}"
        out.error, out.changed, out.diff = message, False, ""
    return out


def _too_big(rel: str, size: int, max_bytes: int | None, what: str = "") -> None:
    if max_bytes is not None and size > max_bytes:
        message = (
            f"{what}{size_text(size)}, over the limit of {size_text(max_bytes)}: skipped "
            "(raise --max-bytes to include it)"
        )
        raise SourceError(rel, None, message)


def _process_python(
    source: SourceFile, mode: Mode, target: Target, out: FileOutcome, max_bytes: int | None
) -> None:
    text = read_source(source.path)
    if mode == "check" and target == "mlflow":
        known = quick.verdict(text.text)
        if known is not None:  # answered from an `ast` parse: no findings to count
            out.changed = known
            return
    if might_contain_legacy(text.text):  # the limit is for what libcst would have to parse
        _too_big(source.rel, len(text.text.encode("utf-8", "surrogatepass")), max_bytes)
    try:
        result = rewrite_module(text.text, source.rel, target)
    except cst.ParserSyntaxError as exc:
        out.error = _syntax_error(source.rel, exc, text.text)
        return
    out.findings = result.findings
    out.changed = result.changed
    if not result.changed:
        return
    if mode != "scan" and result.code.count("\f") < text.text.count("\f"):
        # libcst drops a form feed that starts a module-level statement's line ("\fdef f():").
        lost = re.search(r"^\f+[^\s#]", text.text, re.M)
        line = len(re.findall(r"\r\n|\r|\n", text.text[: lost.start()])) + 1 if lost else None
        message = "the rewrite would drop a form feed (a libcst limitation); left untouched"
        raise SourceError(source.rel, line, message)
    if mode == "diff":
        out.diff = _diff(source.rel, text.text, result.code)
    elif mode == "write":
        write_atomic(source.path, encode(text, result.code))


def notebook_modules(notebook: Notebook) -> list[CellModule]:
    """The modules `rewrite` and `audit` see in a notebook: its Python cells joined into one when
    it may hold legacy calls (a run made in one cell is logged to in others), else one per cell."""
    join = any(might_contain_legacy(cell.source) for cell in notebook.code_cells)
    return cell_modules(notebook, join)


def _process_notebook(
    source: SourceFile, mode: Mode, target: Target, out: FileOutcome, max_bytes: int | None
) -> None:
    notebook = read_notebook(source.path)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    if not any(might_contain_legacy(c) for c in code):
        return  # nothing the codemod could rewrite
    size = sum(len(c.encode("utf-8", "surrogatepass")) for c in code)
    _too_big(source.rel, size, max_bytes, "code cells of ")
    modules = notebook_modules(notebook)
    if len(modules) > 1:  # the cells do not compile together: a syntax error is the notebook's
        for module in modules:
            message = _cell_syntax_error(source.rel, module.cells[0])
            if message is not None:
                raise SourceError(source.path, None, message)
        # else they run only one by one (a later `from __future__`, top-level `await`)
        first = modules[0].cells[0]
        out.findings.append(
            Finding(
                path=f"{source.rel}[cell {first.index + 1}]",
                line=1,
                column=1,
                api="notebook",
                fidelity="manual",
                rule="notebook-cells-apart",
                replacement="",
            )
        )
    out.findings.extend(_written_scripts(source, notebook))
    changed: dict[int, str] = {}
    for module in modules:
        findings, sources = _rewrite_cells(source, module, mode, target)
        out.findings.extend(findings)
        changed.update(sources)
    if not changed:
        return
    out.changed = True
    new = notebook.render(changed)
    if mode == "diff":
        old = notebook.raw.decode("utf-8")
        out.diff = _diff(source.rel, old, new.decode("utf-8"))
    elif mode == "write":
        write_atomic(source.path, new)


_WRITEFILE = re.compile(r"\s*%%writefile\b[^\r\n]*")


def _written_scripts(source: SourceFile, notebook: Notebook) -> list[Finding]:
    """A finding for each `%%writefile` cell whose script may use SDK v1: it is not kernel code,
    so the notebook's rewrite leaves it as it is."""
    out = []
    for cell in notebook.code_cells:
        head = _WRITEFILE.match(cell.source)
        if head is None or not might_contain_legacy(cell.source[head.end() :]):
            continue
        line = cell.source[: head.end()].count("\n") + 1  # (blank lines may come first)
        out.append(
            Finding(
                path=f"{source.rel}[cell {cell.index + 1}]",
                line=max(line, 1),
                column=1,
                api="notebook",
                fidelity="manual",
                rule="notebook-writefile",
                replacement="",
                detail=f"The cell runs `{head.group().strip()}`.",
                excerpt=head.group().strip()[:120],
            )
        )
    return out


def _rewrite_cells(
    source: SourceFile, module: CellModule, mode: Mode, target: Target
) -> tuple[list[Finding], dict[int, str]]:
    """Rewrite one module of a notebook's cells: its findings (placed in their cells) and the new
    source of each changed cell. Raises SourceError naming the cell when it cannot be done."""
    if len(module.cells) > 1:
        result = _rewrite_joined(source, module, mode, target)
    else:
        cell = module.cells[0]
        where = f"{source.rel}[cell {cell.index + 1}]"
        try:
            result = rewrite_module(module.text, where, target)
        except (cst.ParserSyntaxError, SyntaxError) as exc:
            message = _cell_syntax_error(source.rel, cell, exc)
            raise SourceError(source.path, None, message or _syntax_error(where, exc)) from None
        except RewriteError as exc:  # too deeply nested: the message names the cell
            raise SourceError(source.path, None, _cell_rewrite_error(where, exc, cell)) from None
        except RecursionError as exc:
            raise RecursionError(f"{exc}, in cell {cell.index + 1}") from None
    findings = []
    for f in result.findings:
        cell, line = module.locate(f.line)
        findings.append(replace(f, path=f"{source.rel}[cell {cell.index + 1}]", line=line))
    if not result.changed:
        return findings, {}
    try:
        codes = module.split(result.code)
    except ValueError as exc:
        raise SourceError(source.path, None, f"{source.rel}: {exc}; left untouched") from None
    sources: dict[int, str] = {}
    for cell, new in zip(module.cells, codes):
        if new == cell.code:
            continue
        where = f"{source.rel}[cell {cell.index + 1}]"
        if mode != "scan" and new.count("\f") < cell.code.count("\f"):
            message = f"{where}: the rewrite would drop a form feed (a libcst limitation)"
            raise SourceError(source.path, None, message + "; left untouched")
        try:
            sources[cell.index] = cell.new_source(new)
        except ValueError as exc:  # an IPython line lost or duplicated
            raise SourceError(source.path, None, f"{where}: {exc}; left untouched") from None
    return findings, sources


def _rewrite_joined(source: SourceFile, module: CellModule, mode: Mode, target: Target) -> Result:
    """`rewrite_module` on joined cells; when it fails, the cell at fault reports its own error."""
    try:
        return rewrite_module(module.text, source.rel, target)
    except (cst.ParserSyntaxError, SyntaxError, RewriteError, RecursionError) as exc:
        error = exc
    for cell in module.cells:  # raises the first cell's error, named as without joining
        _rewrite_cells(source, CellModule.join([cell]), mode, target)
    if isinstance(error, cst.ParserSyntaxError):
        cell, line = module.locate(error.raw_line)
        message = f"{source.rel}[cell {cell.index + 1}]:{line}: cannot parse: {error.message}"
    else:
        message = f"{source.rel}: the code cells could not be rewritten together: {error}"
    raise SourceError(source.path, None, message + "; left untouched")


def _python_syntax_error(code: str) -> SyntaxError | None:
    """Python's own parser's error for `code`, or None (also when it cannot tell)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings about the user's code are not ours
            ast.parse(code)
    except SyntaxError as error:
        return error
    except (RecursionError, MemoryError, ValueError):  # the codemod reports these itself
        return None
    return None


def _cell_syntax_error(rel: str, cell: PythonCell, exc: Exception | None = None) -> str | None:
    """`_syntax_error` for a cell, its line counted from the top of the cell (a cell magic
    included): for `exc` raised on the cell's code, or else None when the cell parses."""
    where = f"{rel}[cell {cell.index + 1}]"
    whole = mask_magics(cell.source)[0] if cell.offset else cell.code  # lines as in the cell
    python = _python_syntax_error(whole) if exc is None else None
    if exc is None and python is None:
        return None
    try:
        check_nesting(whole, where)  # libcst's parser must not see what nests too deeply
        cst.parse_module(whole)
    except SourceError as error:
        return str(error)
    except cst.ParserSyntaxError as error:
        return _syntax_error(where, error, whole)
    if exc is not None:
        return _syntax_error(where, exc, cell.code)
    return _syntax_error(where, python) if python is not None else None


def _cell_rewrite_error(where: str, exc: RewriteError, cell: PythonCell) -> str:
    """A RewriteError's message for a cell; a nesting error's line counts from the cell's top."""
    if cell.offset:
        try:
            check_nesting(mask_magics(cell.source)[0], where)
        except SourceError as named:
            return str(named)
    return str(exc)


def _work(item: tuple[SourceFile, Mode, Target, int | None]) -> FileOutcome:
    return process(*item)


def rewrite_paths(
    roots: Sequence[str | Path],
    mode: Mode = "write",
    target: Target = "mlflow",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Iterator[FileOutcome]:
    """Rewrite every Python file and notebook under `roots`, yielding one outcome per file.

    `jobs` worker processes (default: all cores; 1 = in this process). Outcomes come in discovery
    order. In "check" and "diff" modes nothing is written. Files over `max_bytes` that may hold
    legacy calls are reported, not rewritten (None: no limit).
    """
    files = list(discover(roots, include, exclude))
    jobs = jobs or os.cpu_count() or 1
    items = [(f, mode, target, max_bytes) for f in files]
    if jobs == 1 or len(files) < 8:
        for item in items:
            yield _work(item)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(_work, items, chunksize=16)
