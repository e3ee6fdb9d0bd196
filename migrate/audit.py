"""The library behind `aml2mlflow audit`: every legacy site in a tree, what it becomes, what is lost.

    audit_paths(roots) -> AuditReport          files, folders and notebooks, in parallel

A team lead wants to know, before anyone touches a repository, how much SDK v1 logging there is, how
much converts without a person and what changes meaning; a CI gate wants the same list to keep new
legacy calls out. Both need findings that agree with what `aml2mlflow rewrite` would really do, so
the audit does not detect anything on its own where the codemod already decides. Findings come from
two places, told apart by `origin`:

- `"rewrite"`: exactly the findings of the codemod, obtained by running it without writing
  (`migrate.api.process(source, mode="scan")`) on the same discovery, reading and notebook handling.
  Their `replacement` is the code `rewrite` writes for that site ("" when it leaves the site alone).
- `"audit"`: what silently changes meaning in a migration although `rewrite` writes nothing for it:
  files written under `./outputs` (Azure ML uploaded them, MLflow will not), `allow_offline=` and
  offline-run checks, control-side code driving a submitted run, names MLflow rejects (metric names it
  renames, tag and param keys it refuses, HyperDrive `primary_metric_name` values that must follow the
  renamed metric), cloud-service APIs, and run-like parameters the codemod cannot trace. Their
  `replacement` is always "": a person acts on them. They come from one pass of Python's `ast`
  over the module (`_Checks`; a notebook's cells joined as `rewrite` joins them), which takes every
  answer about legacy objects from the codemod's findings for the same source: a call is legacy
  exactly when `rewrite` reported it.

Files that cannot be read, decoded or parsed, and files over a size limit (the codemod's cost grows
with a file's size; a generated 5 MB module would stall the scan), are reported as errors with the
parser's line and message, and the scan goes on. Nothing is ever written and mlflow is never imported.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from migrate import __version__
from migrate.cache import AuditCache
from migrate.catalogue import ENTRIES, FIDELITIES, Fidelity, entry
from migrate.findings import Finding
from migrate.sources import (
    DEFAULT_MAX_BYTES,
    CellModule,
    SourceError,
    SourceFile,
    cell_modules,
    discover,
    might_contain_legacy,
    read_notebook,
    read_source,
    size_text,
)
from shims.names import is_valid, mlflow_name

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FAIL_ON",
    "SCHEMA_VERSION",
    "TOOL_NAME",
    "AuditError",
    "AuditFinding",
    "AuditReport",
    "Counts",
    "FailOn",
    "FileAudit",
    "Summary",
    "audit_file",
    "audit_paths",
    "audit_source",
    "comments",
    "ignores",
]

#: Version of the JSON report's schema (`fixtures/audit/audit.schema.json`): the minor number grows
#: when fields are added, the major number when a field changes or goes.
SCHEMA_VERSION = "1.1"
TOOL_NAME = "aml2mlflow"


FailOn = Literal["never", "manual", "lossy", "any"]
FAIL_ON: tuple[FailOn, ...] = ("never", "manual", "lossy", "any")
Origin = Literal["rewrite", "audit"]


# --------------------------------------------------------------------------------------------------
# the report's data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFinding:
    """One site: where (relative to its root), the legacy API, and what `rewrite` makes of it.

    `cell` is the 1-based notebook cell (None for a Python file); `line` and `column` are 1-based and
    count within the cell for a notebook. `reason` is the catalogue row's reason plus what is
    particular to this site. `replacement` is the code `rewrite` writes there ("" when it writes
    nothing: the site is left for a person).
    """

    root: str
    path: str
    cell: int | None
    line: int
    column: int
    api: str
    excerpt: str
    fidelity: Fidelity
    rule: str
    reason: str
    replacement: str
    origin: Origin

    @property
    def where(self) -> str:
        """`path[cell N]:line:column`, as shown in the text report."""
        cell = f"[cell {self.cell}]" if self.cell is not None else ""
        return f"{self.path}{cell}:{self.line}:{self.column}"

    def as_dict(self) -> dict[str, Any]:
        """The finding as the JSON report writes it."""
        return asdict(self)


@dataclass(frozen=True)
class AuditError:
    """A file that could not be audited: where the problem is (line None if unknown) and why."""

    root: str
    path: str
    cell: int | None
    line: int | None
    message: str

    rule = "unparseable"

    def as_dict(self) -> dict[str, Any]:
        """The error as the JSON report writes it."""
        return asdict(self)


@dataclass
class FileAudit:
    """What the audit found in one file: its findings in source order, and errors if any."""

    root: str
    path: str
    kind: Literal["python", "notebook"]
    findings: list[AuditFinding] = field(default_factory=list)
    errors: list[AuditError] = field(default_factory=list)
    #: Findings left out because their line says `# aml2mlflow: ignore` (see `_suppress`).
    suppressed: int = 0


@dataclass
class Counts:
    """Findings per fidelity."""

    exact: int = 0
    lossy: int = 0
    manual: int = 0

    @property
    def total(self) -> int:
        return self.exact + self.lossy + self.manual

    def add(self, fidelity: Fidelity) -> None:
        setattr(self, fidelity, getattr(self, fidelity) + 1)

    def as_dict(self) -> dict[str, int]:
        return {
            "exact": self.exact,
            "lossy": self.lossy,
            "manual": self.manual,
            "total": self.total,
        }


@dataclass
class Summary:
    """The figures a team lead reads first, for the whole scan or one root.

    `by_api` is ordered by number of findings (most first, then by name); `convertible_share` is the
    share of findings `rewrite` converts without a person (exact and lossy ones), 1.0 when there are
    no findings at all.
    """

    files_scanned: int = 0
    files_with_findings: int = 0
    files_with_errors: int = 0
    findings: Counts = field(default_factory=Counts)
    by_api: dict[str, Counts] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    suppressed: int = 0

    @property
    def convertible(self) -> int:
        return self.findings.exact + self.findings.lossy

    @property
    def convertible_share(self) -> float:
        total = self.findings.total
        return 1.0 if total == 0 else self.convertible / total

    @classmethod
    def of(cls, files: Iterable[FileAudit]) -> Summary:
        """Count `files` (each file once, whatever its number of findings)."""
        out = cls()
        by_api: dict[str, Counts] = {}
        by_rule: dict[str, int] = {}
        for f in files:
            out.files_scanned += 1
            out.files_with_findings += bool(f.findings)
            out.files_with_errors += bool(f.errors)
            out.errors += len(f.errors)
            out.suppressed += f.suppressed
            for finding in f.findings:
                out.findings.add(finding.fidelity)
                by_api.setdefault(finding.api, Counts()).add(finding.fidelity)
                by_rule[finding.rule] = by_rule.get(finding.rule, 0) + 1
        out.by_api = dict(sorted(by_api.items(), key=lambda kv: (-kv[1].total, kv[0])))
        out.by_rule = dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])))
        return out

    def as_dict(self) -> dict[str, Any]:
        """The summary as the JSON report writes it."""
        return {
            "files_scanned": self.files_scanned,
            "files_with_findings": self.files_with_findings,
            "files_with_errors": self.files_with_errors,
            "findings": self.findings.as_dict(),
            "convertible": self.convertible,
            "convertible_share": round(self.convertible_share, 4),
            "errors": self.errors,
            "by_api": {api: c.as_dict() for api, c in self.by_api.items()},
            "by_rule": dict(self.by_rule),
            "suppressed": self.suppressed,
        }


@dataclass
class AuditReport:
    """Everything one audit found, in discovery order: what every format is rendered from."""

    roots: list[str]
    files: list[FileAudit] = field(default_factory=list)
    version: str = __version__

    @property
    def findings(self) -> list[AuditFinding]:
        return [f for file in self.files for f in file.findings]

    @property
    def errors(self) -> list[AuditError]:
        return [e for file in self.files for e in file.errors]

    def summary(self) -> Summary:
        return Summary.of(self.files)

    def per_root(self) -> list[tuple[str, Summary]]:
        """One summary per root, in the order the roots were given."""
        return [(root, Summary.of(f for f in self.files if f.root == root)) for root in self.roots]

    def fails(self, fail_on: FailOn) -> bool:
        """Whether a finding reaches the `--fail-on` threshold (`never` never does)."""
        levels: dict[FailOn, tuple[Fidelity, ...]] = {
            "never": (),
            "manual": ("manual",),
            "lossy": ("lossy", "manual"),
            "any": FIDELITIES,
        }
        wanted = levels[fail_on]
        return any(f.fidelity in wanted for f in self.findings)


# --------------------------------------------------------------------------------------------------
# auditing files
# --------------------------------------------------------------------------------------------------


def _parse_error(source: SourceFile, text: str) -> AuditError:
    """Split one of `process`'s error strings into path, cell, line and message.

    The codemod reports `<path>:<line>: <message>` (path as discovered, or the file's full path for
    reading errors), and `<path>: <rel>[cell N]:<line>: <message>` for a notebook cell.
    """
    root, rel = str(source.root), source.rel
    rest = text
    for prefix in sorted({str(source.path), rel}, key=len, reverse=True):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            break
    found = re.fullmatch(r"(?::(\d+))?: (.*)", rest, re.S)
    if found is None:
        return AuditError(root, rel, None, None, text)
    line = int(found.group(1)) if found.group(1) else None
    message = found.group(2)
    in_cell = re.fullmatch(re.escape(rel) + r"\[cell (\d+)\](?::(\d+))?: (.*)", message, re.S)
    if in_cell is not None:
        cell_line = int(in_cell.group(2)) if in_cell.group(2) else None
        return AuditError(root, rel, int(in_cell.group(1)), cell_line, in_cell.group(3))
    return AuditError(root, rel, None, line, message)


def _from_codemod(source: SourceFile, f: Finding) -> AuditFinding:
    cell = None
    in_cell = re.fullmatch(re.escape(source.rel) + r"\[cell (\d+)\]", f.path)
    if in_cell is not None:
        cell = int(in_cell.group(1))
    return AuditFinding(
        str(source.root),
        source.rel,
        cell,
        f.line,
        f.column,
        f.api,
        f.excerpt,
        f.fidelity,
        f.rule,
        f.reason,
        f.replacement,
        "rewrite",
    )


def _order(f: AuditFinding) -> tuple[int, int, int, bool]:
    return (f.cell or 0, f.line, f.column, f.origin == "audit")


def audit_file(source: SourceFile, max_bytes: int = DEFAULT_MAX_BYTES) -> FileAudit:
    """Audit one discovered file; never raises for a bad file (the result carries the error)."""
    out = FileAudit(str(source.root), source.rel, source.kind)
    try:  # a notebook's limit is on its code cells (outputs can be large): `process` checks it
        size = 0 if source.kind == "notebook" else source.path.stat().st_size
    except OSError as exc:
        error = SourceError(source.path, None, f"cannot read: {exc.strerror or exc}")
        out.errors.append(_parse_error(source, str(error)))
        return out
    if size > max_bytes:
        message = (
            f"{size_text(size)}, over the audit's limit of {size_text(max_bytes)}: not audited "
            "(raise --max-bytes to include it)"
        )
        out.errors.append(AuditError(out.root, out.path, None, None, message))
        return out
    text = None
    if source.kind == "python" and not source.error:
        try:
            text = read_source(source.path).text
        except SourceError:
            text = None  # (`process` reports it)
        if text is not None and not might_contain_legacy(text) and not _worth_checking(text):
            return out  # what both steps below would conclude, from one read and no libcst
    from migrate.api import process  # (libcst: not needed for a result the cache holds)

    try:
        outcome = process(source, mode="scan", max_bytes=max_bytes)
    except Exception as exc:  # a codemod bug on one file must not end the scan
        message = f"internal error in the codemod, please report it: {type(exc).__name__}: {exc}"
        out.errors.append(AuditError(out.root, out.path, None, None, message))
        return out
    if outcome.error:
        out.errors.append(_parse_error(source, outcome.error))
        return out
    out.findings = [_from_codemod(source, f) for f in outcome.findings]
    try:
        out.findings += _audit_only(source, out.findings, text)
        if out.findings:
            _suppress(out, _cell_sources(source, text))
    except (SourceError, SyntaxError, RecursionError, ValueError) as exc:
        # The codemod read and parsed this file a moment ago; Python's own parser may still refuse
        # what libcst accepts (newer syntax than this interpreter), or the file changed meanwhile.
        out.errors.append(AuditError(out.root, out.path, None, None, f"audit checks failed: {exc}"))
    out.findings.sort(key=_order)
    return out


# `# aml2mlflow: ignore` (every rule) or `# aml2mlflow: ignore[rule, ...]` in a comment on a
# finding's (first) line says a person has dealt with it, as ruff's noqa comments do: the finding
# is counted as suppressed and left out of the report and of `--fail-on`. Only a real comment
# counts (a string holding the words does not), and `ignore-x` or `ignored` is not the marker.
# `rewrite` does not read these comments.
_IGNORE = re.compile(r"#\s*aml2mlflow\s*:\s*ignore\s*(?:\[([^\]]*)\])?(?=\s|#|$)", re.I)


def ignores(comment: str, rule: str) -> bool:
    """Whether a comment (`# ...`, as tokenize gives it) silences `rule` on its line."""
    found = _IGNORE.search(comment)
    if found is None:
        return False
    if found.group(1) is None:
        return True
    return rule.lower() in {r.strip().lower() for r in found.group(1).split(",")}


def comments(code: str) -> dict[int, str]:
    """Each 1-based line's comment, for a module's (or cell's) source; {} when it does not
    tokenize (nothing is silenced then)."""
    out: dict[int, str] = {}
    try:  # (newline=None: lines end at \r\n, \r or \n, as everywhere else here)
        for token in tokenize.generate_tokens(io.StringIO(code, newline=None).readline):
            if token.type == tokenize.COMMENT:
                out[token.start[0]] = token.string
    except (tokenize.TokenError, SyntaxError):
        return {}
    return out


def _cell_sources(source: SourceFile, text: str | None) -> Callable[[int | None], str]:
    """The source of the file (cell None) or of one notebook cell (1-based), read when asked."""
    cells: list[str] = []

    def code(cell: int | None) -> str:
        if cell is None:
            return text if text is not None else read_source(source.path).text
        if not cells:
            cells.extend(c.source for c in read_notebook(source.path).cells)
        return cells[cell - 1] if 0 < cell <= len(cells) else ""

    return code


def _suppress(out: FileAudit, code: Callable[[int | None], str]) -> None:
    """Leave out the findings whose line has a comment `# aml2mlflow: ignore` for their rule."""
    parsed: dict[int | None, dict[int, str]] = {}
    kept: list[AuditFinding] = []
    for f in out.findings:
        if f.cell not in parsed:
            text = code(f.cell)
            parsed[f.cell] = comments(text) if "aml2mlflow" in text.lower() else {}
        if ignores(parsed[f.cell].get(f.line, ""), f.rule):
            out.suppressed += 1
        else:
            kept.append(f)
    out.findings = kept


def audit_source(code: str, path: str = "<string>", root: str = ".") -> list[AuditFinding]:
    """Audit one module's source text (tests, editors): the codemod's findings plus the audit's.

    Raises libcst's ParserSyntaxError when `code` does not parse, as `rewrite_source` does.
    """
    from migrate.api import rewrite_source

    source = SourceFile(Path(root) / path, Path(root), "python")
    out = FileAudit(str(source.root), source.rel, "python")
    out.findings = [_from_codemod(source, f) for f in rewrite_source(code, source.rel).findings]
    out.findings += _select(_check_code(code, None, out.findings), out.findings, source)
    _suppress(out, lambda cell: code)
    return sorted(out.findings, key=_order)


def _audit_only(
    source: SourceFile, codemod: list[AuditFinding], text: str | None = None
) -> list[AuditFinding]:
    from migrate.api import notebook_modules

    raw: list[_Raw] = []
    if source.kind == "notebook":
        notebook = read_notebook(source.path)
        modules = notebook_modules(notebook)
        if len(modules) > 1 and any(m in c.source for c in notebook.cells for m in _RUN_MAKERS):
            # A migrated notebook: its MLflow run is made in one cell and used in others.
            joined = cell_modules(notebook, join=True)
            modules = joined if len(joined) == 1 else modules
        for module in modules:
            raw += _check_cells(module, codemod)
    else:
        raw = _check_code(
            text if text is not None else read_source(source.path).text, None, codemod
        )
    return _select(raw, codemod, source)


def _check_cells(module: CellModule, codemod: list[AuditFinding]) -> list[_Raw]:
    """`_check_code` on the module `rewrite` makes of a notebook's cells, placed in the cells."""
    local: list[AuditFinding] = []
    for f in codemod:
        line = module.module_line(f.cell - 1, f.line) if f.cell is not None else None
        if line is not None:
            local.append(replace(f, cell=None, line=line))
    out: list[_Raw] = []
    for r in _check_code(module.text, None, local):
        cell, line = module.locate(r.line)
        unless = r.unless
        if unless is not None:
            unless = (module.locate(unless[0])[1], *unless[1:])
        out.append(replace(r, cell=cell.index + 1, line=line, unless=unless))
    return out


def _select(raw: list[_Raw], codemod: list[AuditFinding], source: SourceFile) -> list[AuditFinding]:
    """The audit's own findings, less those the codemod already reports at the same place."""
    taken = {(f.cell, f.line, f.column, f.rule) for f in codemod}
    out: list[AuditFinding] = []
    for r in raw:
        if (r.cell, r.line, r.column, r.rule) in taken:
            continue
        if r.unless is not None:
            line, column, rules = r.unless
            if any((r.cell, line, column, rule) in taken for rule in rules):
                continue
        taken.add((r.cell, r.line, r.column, r.rule))
        row = entry(r.rule)
        reason = f"{row.reason} {r.detail}".strip() if r.detail else row.reason
        out.append(
            AuditFinding(
                str(source.root),
                source.rel,
                r.cell,
                r.line,
                r.column,
                r.api,
                r.excerpt,
                row.fidelity,
                r.rule,
                reason,
                "",
                "audit",
            )
        )
    return out


def file_data(result: FileAudit) -> dict[str, Any]:
    """One file's audit as plain data, without its root (what the cache keeps)."""
    return {
        "path": result.path,
        "kind": result.kind,
        "findings": [{k: v for k, v in asdict(f).items() if k != "root"} for f in result.findings],
        "errors": [{k: v for k, v in asdict(e).items() if k != "root"} for e in result.errors],
        "suppressed": result.suppressed,
    }


def file_from_data(data: dict[str, Any], root: str) -> FileAudit:
    """`file_data`'s inverse, placed under `root`. Raises ValueError (or KeyError, TypeError) on
    data `file_data` did not make."""
    out = FileAudit(
        root,
        data["path"],
        data["kind"],
        [AuditFinding(root=root, **f) for f in data["findings"]],
        [AuditError(root=root, **e) for e in data["errors"]],
        data["suppressed"],
    )
    texts = [out.path, *(f.path for f in out.findings), *(e.path for e in out.errors)]
    texts += [v for f in out.findings for v in (f.api, f.excerpt, f.rule, f.reason, f.replacement)]
    numbers = [out.suppressed, *(n for f in out.findings for n in (f.line, f.column))]
    if (
        out.kind not in ("python", "notebook")
        or not all(isinstance(t, str) for t in texts)
        or not all(type(n) is int for n in numbers)
        or any(
            f.fidelity not in FIDELITIES or f.origin not in ("rewrite", "audit")
            for f in out.findings
        )
    ):
        raise ValueError("not an audit result")
    return out


def _audit_one(item: tuple[SourceFile, int]) -> FileAudit:
    return audit_file(*item)


def _compute(files: list[SourceFile], jobs: int | None, max_bytes: int) -> Iterator[FileAudit]:
    items = [(f, max_bytes) for f in files]
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(files) < 8:
        for item in items:
            yield _audit_one(item)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(_audit_one, items, chunksize=8)


def _audit_all(
    files: list[SourceFile], jobs: int | None, max_bytes: int, cache: AuditCache | None
) -> Iterator[FileAudit]:
    """Each file's audit in discovery order: from `cache` when it holds the file, else computed
    (the misses alone go to the worker processes) and kept in `cache` when it found something."""
    if cache is None:
        yield from _compute(files, jobs, max_bytes)
        return
    keys = [cache.key(f) for f in files]
    held: list[FileAudit | None] = []
    for source, key in zip(files, keys):
        data = None if key is None else cache.get(key)
        try:
            held.append(None if data is None else file_from_data(data, str(source.root)))
        except (KeyError, TypeError, ValueError):  # (not what `file_data` wrote: a miss)
            held.append(None)
    computed = _compute([f for f, h in zip(files, held) if h is None], jobs, max_bytes)
    for source, key, hit in zip(files, keys, held):
        if hit is not None:
            yield hit
            continue
        result = next(computed)
        worth = result.findings or result.errors or result.suppressed
        # (kept only if the file still has the bytes of its key: it may change during the scan)
        if key is not None and worth and cache.key(source) == key:
            cache.put(key, file_data(result))
        yield result


def audit_paths(
    roots: Sequence[str | Path] | str | Path,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    jobs: int | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[int, int], None] | None = None,
    cache: Path | str | None = None,
) -> AuditReport:
    """Audit every Python file and notebook under `roots` (discovered as `rewrite` discovers them).

    `jobs` worker processes (default: all cores; 1 = in this process). `progress(done, total)` is
    called after each file. Files are reported in discovery order. `cache` is the folder of a
    result cache (`migrate.cache`: the CLI passes one unless `--no-cache`); None audits every file
    afresh. Raises SourceError when a root does not exist; every other problem is an error in the
    report.
    """
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    files = list(discover(roots, include, exclude))
    # Each root once, as a path (`./src/` is `src`): a file belongs to the first root that finds it.
    report = AuditReport(list(dict.fromkeys(str(Path(r)) for r in roots)))
    store = None if cache is None else AuditCache(cache, max_bytes)
    for done, result in enumerate(_audit_all(files, jobs, max_bytes, store), 1):
        report.files.append(result)
        if progress is not None:
            progress(done, len(files))
    if store is not None:
        store.save()
    return report


# --------------------------------------------------------------------------------------------------
# the audit's own checks
# --------------------------------------------------------------------------------------------------
#
# They read the module with Python's `ast` (a fraction of the cost of a libcst parse) and take every
# answer about legacy objects from the codemod's findings for the same source: a call is a legacy
# call exactly when `rewrite` reported one at its position for its method. So the audit never
# disagrees with `rewrite` about what is legacy, and needs no resolver of its own.


@dataclass(frozen=True)
class _Raw:
    """An audit-only finding before it is placed in a file."""

    cell: int | None
    line: int
    column: int
    api: str
    excerpt: str
    rule: str
    detail: str
    # Dropped when the codemod reports one of these rules at (line, column): e.g. a renamed metric
    # the codemod already calls `metric-name`, an offline check it already reports.
    unless: tuple[int, int, frozenset[str]] | None = None


_OFFLINE_RULES = frozenset({"run-get-context-offline", "offline-run-check"})
_KEY_RULES = frozenset({"metric-name", "invalid-key"})
_SUBMITS = frozenset({"experiment-submit", "run-submit-child"})
# Where Azure ML picked files up after the job.
_OUTPUTS = re.compile(r"(?:\./)*outputs(?:/.*)?", re.S)
# Calls that write the file named by one of their arguments (or, for the `_RECEIVER` ones, by the
# object they are called on: Path("outputs/x").write_text(...)).
_WRITERS = frozenset(
    {
        "to_csv", "to_json", "to_parquet", "to_pickle", "to_excel", "to_feather", "to_hdf",
        "to_html", "to_latex", "to_markdown", "to_xml", "to_stata", "to_netcdf", "to_file",
        "savefig", "save", "savez", "savez_compressed", "savetxt", "save_model", "save_weights",
        "save_pretrained", "dump", "imwrite", "imsave", "write_image", "write_html",
        "export_graphviz", "write_text", "write_bytes", "copy", "copy2", "copyfile", "copytree",
        "move",
    }
)  # fmt: skip
_RECEIVER = frozenset({"write_text", "write_bytes"})
_DESTINATION_SECOND = frozenset({"copy", "copy2", "copyfile", "copytree", "move"})
_PATH_CALLS = frozenset(
    {"Path", "PurePath", "PosixPath", "WindowsPath", "str", "fspath", "abspath", "normpath"}
)
# Calls that give an MLflow run (an object with none of the legacy Run's methods), and the
# classes of MLflow runs (a parameter annotated with one is bound to `A()`: see `_Bindings`).
_MLFLOW_RUNS = frozenset(
    f"{module}.{name}"
    for module in ("mlflow", "mlflow.tracking.fluent")
    for name in (
        "start_run",
        "active_run",
        "last_active_run",
        "get_run",
        "get_parent_run",
        "ActiveRun",
    )
) | {"mlflow.entities.Run"}
_MLFLOW_CLIENTS = frozenset(
    {"mlflow.MlflowClient", "mlflow.tracking.MlflowClient", "mlflow.client.MlflowClient"}
)
_RUNISH = re.compile(r"(?:\w+_)?run(?:_\w+)?", re.I)
# What makes an MLflow run (see `mlflow_run`); "get_run" also covers MlflowClient's.
_RUN_MAKERS = ("start_run", "active_run", "get_run", "get_parent_run", "ActiveRun", "create_run")
_CHEAP = ("azureml", "outputs", "OfflineRun", "primary_metric_name", *_RUN_MAKERS)
#: Methods of the legacy Run, from the catalogue (the single list of legacy APIs).
RUN_METHODS = frozenset(
    e.api.removeprefix("Run.") for e in ENTRIES if re.fullmatch(r"Run\.[a-z_]+", e.api)
)
# A bare run-like name calling a legacy Run method: the only reason to parse a file without markers.
_RUNISH_CALL = re.compile(
    r"(?<![\w.])(?:\w+_)?run(?:_\w+)?\s*\.\s*(?:"
    + "|".join(sorted(RUN_METHODS, key=len, reverse=True))
    + r")\s*\(",
    re.I,
)
_LINES = re.compile(r"\r\n|\r|\n")


def _worth_checking(code: str) -> bool:
    """Cheap prefilter: only a file with one of these can hold an audit-only finding."""
    return any(m in code for m in _CHEAP) or _RUNISH_CALL.search(code) is not None


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _cwd(node: ast.expr) -> bool:
    """Whether `node` is the working folder: `os.getcwd()`, `Path.cwd()`, `"."`, `os.curdir`."""
    if isinstance(node, ast.Call) and not node.args:
        return _callee(node.func) in ("getcwd", "cwd")
    return _literal(node) == "." or (isinstance(node, ast.Attribute) and node.attr == "curdir")


def _parameters(a: ast.arguments) -> list[ast.arg]:
    """Every parameter a function or lambda binds, `*args` and `**kwargs` included."""
    return [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _arg(call: ast.Call, position: int | None, *keywords: str) -> tuple[ast.AST, ast.expr] | None:
    """The argument bound to a parameter, by keyword or position, as (node to show, value)."""
    for kw in call.keywords:
        if kw.arg is not None and kw.arg in keywords:
            return kw, kw.value
    if position is None:
        return None
    if any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
        return None
    if position < len(call.args):
        return call.args[position], call.args[position]
    return None


Scope = ast.FunctionDef | ast.AsyncFunctionDef | None


class _Bindings(ast.NodeVisitor):
    """Every value assigned to a plain name, per function (None = the module; `global` names
    count at the module), every value assigned to `self.<attribute>` anywhere, and each
    function's unannotated parameters. A binding that is not a plain assignment is recorded as
    None; a parameter annotated `A` as a call `A()` (an instance of A)."""

    def __init__(self) -> None:
        self.scopes: dict[Scope, dict[str, list[ast.expr | None]]] = {None: {}}
        self.params: dict[Scope, set[str]] = {None: set()}
        self.attributes: dict[str, list[ast.expr | None]] = {}
        self.globals: dict[Scope, set[str]] = {}
        self.stack: list[Scope] = [None]

    def bind(self, target: ast.expr, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            scope = self.stack[-1]
            if target.id in self.globals.get(scope, ()):
                scope = None
            self.scopes[scope].setdefault(target.id, []).append(value)
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
        ):
            self.attributes.setdefault(target.attr, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.bind(element, None)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, None)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scopes[self.stack[-1]].setdefault(node.name, []).append(None)
        self.stack.append(node)
        scope = self.scopes.setdefault(node, {})
        every = _parameters(node.args)
        for param in every:
            typed = param.annotation
            value = None if typed is None else ast.Call(func=typed, args=[], keywords=[])
            scope.setdefault(param.arg, []).append(value)
        self.params[node] = {p.arg for p in every if p.annotation is None}
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Global(self, node: ast.Global) -> None:
        self.globals.setdefault(self.stack[-1], set()).update(node.names)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.bind(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.bind(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.bind(node.target, None)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.bind(node.target, node.value)
        self.generic_visit(node)

    def _loop(self, node: ast.For | ast.AsyncFor | ast.comprehension) -> None:
        self.bind(node.target, None)
        self.generic_visit(node)

    visit_For = visit_AsyncFor = visit_comprehension = _loop

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            # `with mlflow.start_run() as run:` binds the run itself (its __enter__ returns it);
            # other managers bind what their __enter__ returns: unknown.
            value = node.context_expr
            started = isinstance(value, ast.Call) and _callee(value.func) == "start_run"
            self.bind(node.optional_vars, value if started else None)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name is not None:
            self.scopes[self.stack[-1]].setdefault(node.name, []).append(None)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.scopes[self.stack[-1]].setdefault(
                alias.asname or alias.name.split(".")[0], []
            ).append(None)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.scopes[self.stack[-1]].setdefault(alias.asname or alias.name, []).append(None)


Sites = dict[tuple[int, int], list[tuple[str, str, str]]]


@dataclass(frozen=True)
class _Hit:
    node: ast.AST
    api: str
    rule: str
    detail: str = ""
    unless: tuple[ast.AST, frozenset[str]] | None = None


class _Checks(ast.NodeVisitor):
    """Collect the audit-only sites of one module (see the module docstring for the list).

    `sites` maps (line, column) to the (method, rule, reason) of the codemod's findings there.
    """

    def __init__(self, code: str, tree: ast.Module, sites: Sites) -> None:
        self.code = code
        self.lines = _LINES.split(code)
        self.sites = sites
        bindings = _Bindings()
        bindings.visit(tree)
        self.bindings = bindings.scopes
        self.params = bindings.params
        self.attributes = bindings.attributes
        self.lambdas: list[set[str]] = []  # the parameters of the lambdas around this node
        self.on_runs: set[int] = set()  # attributes reported with their call
        self.imports = self._imports(tree)
        self.uses_legacy = any(q.split(".")[0] == "azureml" for q in self.imports.values())
        self.stack: list[Scope] = [None]
        self.hits: list[_Hit] = []
        self.outputs: list[_Hit] = []
        self.outputs_logged = False

    @staticmethod
    def _imports(tree: ast.Module) -> dict[str, str]:
        """Local name -> qualified name, for every import anywhere in the module."""
        out: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        out[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        out[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        return out

    # -- positions and results --------------------------------------------------------------------
    def position(self, node: ast.AST) -> tuple[int, int]:
        """1-based line and column in characters (ast counts columns in UTF-8 bytes)."""
        line, offset = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        text = self.lines[line - 1] if line - 1 < len(self.lines) else ""
        prefix = text.encode("utf-8", "surrogatepass")[:offset]
        return line, len(prefix.decode("utf-8", "replace")) + 1

    def excerpt(self, node: ast.AST) -> str:
        segment = ast.get_source_segment(self.code, node) or ""
        lines = segment.strip().splitlines()
        return lines[0].rstrip(",").rstrip()[:120] if lines else ""

    def result(self) -> list[_Hit]:
        """The hits; writes under ./outputs only if the module does not upload the folder itself."""
        return self.hits + ([] if self.outputs_logged else self.outputs)

    def hit(
        self,
        node: ast.AST,
        api: str,
        rule: str,
        detail: str = "",
        unless: tuple[ast.AST, frozenset[str]] | None = None,
    ) -> None:
        self.hits.append(_Hit(node, api, rule, detail, unless))

    def site(self, call: ast.Call) -> list[str]:
        """The rules the codemod reported for this very call (same place, same method)."""
        method = _callee(call.func)
        return [rule for m, rule, _ in self.sites.get(self.position(call), []) if m == method]

    def said(self, call: ast.Call, text: str) -> bool:
        """Whether a reason the codemod gave for this call already says `text`."""
        method = _callee(call.func)
        found = self.sites.get(self.position(call), [])
        return any(text in reason for m, _, reason in found if m == method)

    # -- scopes ---------------------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def values(self, name: str) -> list[ast.expr | None]:
        """What `name` is bound to in the innermost scope that binds it (Python's lookup)."""
        for scope in [*reversed(self.stack[1:]), None]:
            found = self.bindings.get(scope, {}).get(name)
            if found:
                return found
        return []

    # -- ./outputs --------------------------------------------------------------------------------
    def outputs_path(self, node: ast.expr | None, depth: int = 0) -> str | None:
        """The literal under ./outputs that `node` evaluates to a path in, or None."""
        if node is None or depth > 8:
            return None
        text = _literal(node)
        if text is not None:
            return text if _OUTPUTS.fullmatch(text.replace("\\", "/")) else None
        if isinstance(node, ast.JoinedStr):
            head = _literal(node.values[0]) if node.values else None
            if head is not None and re.match(r"(?:\./)*outputs/", head.replace("\\", "/")):
                return head
            return None
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div) and _cwd(node.left):  # Path.cwd() / "outputs"
                return self.outputs_path(node.right, depth + 1)
            left = self.outputs_path(node.left, depth + 1)
            if left is None:
                return None
            if isinstance(node.op, ast.Div):
                return left
            if isinstance(node.op, ast.Add) and "/" in left.replace("\\", "/"):
                return left
            return None
        if isinstance(node, ast.Call) and node.args:
            name = _callee(node.func)
            if name == "join" or name in _PATH_CALLS:
                parts = list(node.args)
                while len(parts) > 1 and _cwd(parts[0]):  # join(os.getcwd(), "outputs", ...)
                    parts.pop(0)
                return self.outputs_path(parts[0], depth + 1)
            return None
        if isinstance(node, ast.Name):
            paths = [self.outputs_path(v, depth + 1) for v in self.values(node.id)]
            if paths and all(p is not None for p in paths):
                return paths[0]
        return None

    def check_outputs(self, node: ast.Call, name: str) -> None:
        func = node.func
        if name == "log_artifacts":
            first = _arg(node, 0, "local_dir")
            if first is not None and self.outputs_path(first[1]) is not None:
                self.outputs_logged = True
            return
        candidates: list[ast.expr] = []
        if name == "open":
            if isinstance(func, ast.Attribute) and self.outputs_path(func.value) is not None:
                path: ast.expr | None = func.value
                mode = _arg(node, 0, "mode")
            else:
                found = _arg(node, 0, "file", "filename")
                path = found[1] if found is not None else None
                mode = _arg(node, 1, "mode")
            text = _literal(mode[1]) if mode is not None else None
            if path is not None and text is not None and set(text) & set("wax+"):
                candidates = [path]
        elif name in _RECEIVER and isinstance(func, ast.Attribute):
            candidates = [func.value]
        elif name in _DESTINATION_SECOND:
            dst = _arg(node, 1, "dst")
            candidates = [dst[1]] if dst is not None else []
        elif name in _WRITERS:
            candidates = [a for a in node.args if not isinstance(a, ast.Starred)]
            candidates += [kw.value for kw in node.keywords if kw.arg is not None]
        for expr in candidates:
            found_path = self.outputs_path(expr)
            if found_path is not None:
                shown = self.excerpt(expr)
                shown = shown if 0 < len(shown) <= 80 else repr(found_path)
                detail = f"{name}() writes to {shown}."
                self.outputs.append(_Hit(node, "./outputs", "outputs-write", detail))
                return

    # -- offline runs ---------------------------------------------------------------------------
    @staticmethod
    def offline_reference(node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id == "_OfflineRun"
        if isinstance(node, ast.Attribute):
            return node.attr == "_OfflineRun"
        if isinstance(node, ast.Tuple):
            return any(_Checks.offline_reference(e) for e in node.elts)
        return False

    def offline(self, node: ast.AST, detail: str = "") -> None:
        """An offline-run check, unless the codemod reports it at the same place already."""
        self.hit(node, "_OfflineRun", "offline-run-check", detail, unless=(node, _OFFLINE_RULES))

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        if any("OfflineRun" in (_literal(o) or "") for o in operands):
            self.offline(node, "MLflow run ids never contain 'OfflineRun'.")
        elif any(self.offline_reference(o) for o in operands):
            self.offline(node)
        self.generic_visit(node)

    # -- calls ----------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        name = _callee(node.func)
        if name is not None:
            self.check_outputs(node, name)
        if name == "startswith" and any("OfflineRun" in (_literal(a) or "") for a in node.args):
            self.offline(node, "MLflow run ids never contain 'OfflineRun'.")
        if name == "isinstance" and len(node.args) == 2 and self.offline_reference(node.args[1]):
            self.offline(node)
        metric = _arg(node, None, "primary_metric_name")
        text = _literal(metric[1]) if metric is not None else None
        if metric is not None and text is not None and mlflow_name(text) != text:
            detail = f"'{text}' will be logged as '{mlflow_name(text)}'."
            self.hit(metric[0], name or "HyperDriveConfig", "hyperdrive-primary-metric", detail)
        rules = self.site(node)
        if rules:
            self.legacy_call(node, rules)
        else:
            self.other_call(node)
        self.generic_visit(node)

    def legacy_call(self, node: ast.Call, rules: list[str]) -> None:
        """A call `rewrite` reported: allow_offline=, and names MLflow rejects."""
        method = _callee(node.func)
        if method == "get_context" and "run-get-context" in rules:
            offline = _arg(node, 0, "allow_offline")
            if offline is not None:
                detail = ""
                if isinstance(offline[1], ast.Constant) and offline[1].value is False:
                    detail = "allow_offline=False no longer fails outside a submitted run."
                unless = (node, frozenset({"run-get-context-offline"}))
                self.hit(offline[0], "Run.get_context", "run-get-context-offline", detail, unless)
        elif method in ("log", "log_list"):
            name = _arg(node, 0, "name")
            text = _literal(name[1]) if name is not None else None
            renamed = mlflow_name(text) if text is not None else None
            if (
                name is not None
                and renamed not in (None, text)
                and not self.said(node, f"'{renamed}'")
            ):
                owner = "Workbench" if "workbench-log" in rules else "Run"
                detail = f"'{text}' is stored as '{mlflow_name(text)}'."
                unless = (node, frozenset({"metric-name"}))
                self.hit(name[1], f"{owner}.{method}", "metric-name", detail, unless)
        elif method == "tag":
            key = _arg(node, 0, "key", "name")
            self.key(node, key[1] if key is not None else None, "Run.tag")
        elif method in ("set_tags", "add_properties"):
            mapping = _arg(node, 0, "tags", "properties")
            if mapping is not None and isinstance(mapping[1], ast.Dict):
                for key_node in mapping[1].keys:
                    self.key(node, key_node, f"Run.{method}")

    def key(self, call: ast.Call, node: ast.expr | None, api: str) -> None:
        """A tag or param key MLflow refuses, unless the codemod renames or reports it."""
        text = _literal(node)
        if node is not None and text is not None and not is_valid(text):
            detail = f"'{text}' is rejected; the shim stores it as '{mlflow_name(text)}'."
            self.hit(node, api, "invalid-key", detail, unless=(call, _KEY_RULES))

    def submitted(self, node: ast.expr, depth: int = 0) -> bool:
        """Whether `node` is a run handed back by `Experiment.submit` (a cloud job, not this run)."""
        if depth > 8:
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get_best_run_by_primary_metric":
                return self.submitted(node.func.value, depth + 1)
            return bool(_SUBMITS & set(self.site(node)))
        if isinstance(node, ast.Name):
            values = self.values(node.id)
            return bool(values) and all(
                v is not None and self.submitted(v, depth + 1) for v in values
            )
        return False

    def other_call(self, node: ast.Call) -> None:
        """A call `rewrite` did not report: cloud-only APIs, submitted runs, untraceable runs."""
        func = node.func
        qualified = self.qualified(func)
        if qualified is not None and qualified.split(".")[0] == "azureml":
            if self.position(node) in self.sites:
                return  # the codemod reported it (Workspace.from_config() is its "Workspace")
            parts = qualified.split(".")
            first = next((i for i, p in enumerate(parts) if p[:1].isupper()), len(parts) - 1)
            self.hit(node, ".".join(parts[first:]), "service-only")
            return
        if not isinstance(func, ast.Attribute):
            return
        method = func.attr
        if self.submitted(func.value):
            rule = {
                "wait_for_completion": "run-wait-for-completion",
                "get_metrics": "run-get-metrics-remote",
            }.get(method, "submitted-run")
            detail = "The run was returned by Experiment.submit: it is a cloud job, not this script's run."
            self.hit(node, f"Run.{method}", rule, detail if rule != "submitted-run" else "")
        elif method in RUN_METHODS and not method.startswith("_"):
            made = self.mlflow_run(func.value)
            if made is not None:
                self.on_run(node, method, func.value, made)
                self.on_runs.add(id(func))
            else:
                self.untraced(node, func, method)

    def on_run(self, node: ast.AST, member: str, run: ast.expr, made: str) -> None:
        detail = f"'{self.excerpt(run)}' is {made}."
        self.hit(node, f"Run.{member}", "mlflow-run-legacy-call", detail)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        """`run.parent`, `run.id`: a member of the legacy Run read on an MLflow run."""
        member = node.attr
        if (
            id(node) not in self.on_runs
            and member in RUN_METHODS
            and not member.startswith("_")
            and self.position(node) not in self.sites
        ):
            made = self.mlflow_run(node.value)
            if made is not None:
                self.on_run(node, member, node.value, made)
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.lambdas.append({p.arg for p in _parameters(node.args)})
        self.generic_visit(node)
        self.lambdas.pop()

    def mlflow_run(self, node: ast.expr, depth: int = 0) -> str | None:
        """What makes `node` an MLflow run (`mlflow.start_run()`), or None when it is not one."""
        if depth > 8:
            return None
        if isinstance(node, ast.Call):
            func = node.func
            qualified = self.qualified(func)
            if qualified in _MLFLOW_RUNS:
                return f"{qualified}()"
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("get_run", "create_run")
                and self.client(func.value, depth + 1)
            ):
                return f"MlflowClient.{func.attr}()"
            return None
        if isinstance(node, ast.BoolOp):
            made = [self.mlflow_run(v, depth + 1) for v in node.values]
            return " or ".join(m for m in made if m) if all(made) else None
        if isinstance(node, ast.IfExp):
            both = [self.mlflow_run(node.body, depth + 1), self.mlflow_run(node.orelse, depth + 1)]
            return f"{both[0]} or {both[1]}" if all(both) else None
        values: list[ast.expr | None] = []
        if isinstance(node, ast.Name):
            if any(node.id in names for names in self.lambdas):
                return None  # (a lambda's parameter)
            values = self.values(node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            # (a name assigned to it belongs to another method's scope: not followed)
            values = [
                None if isinstance(v, ast.Name) else v for v in self.attributes.get(node.attr, [])
            ]
        # (`run = None` first, a run later: the call is made on the run)
        runs = [v for v in values if not (isinstance(v, ast.Constant) and v.value is None)]
        made = [self.mlflow_run(v, depth + 1) if v is not None else None for v in runs]
        return made[0] if made and all(made) else None

    def client(self, node: ast.expr, depth: int) -> bool:
        """Whether `node` is an `MlflowClient()`."""
        if depth > 8:
            return False
        if isinstance(node, ast.Call):
            return self.qualified(node.func) in _MLFLOW_CLIENTS
        if isinstance(node, ast.Name) and not any(node.id in n for n in self.lambdas):
            values = self.values(node.id)
            return bool(values) and all(v is not None and self.client(v, depth + 1) for v in values)
        return False

    def qualified(self, node: ast.expr) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head not in self.imports or any(
            head in self.bindings.get(s, {}) for s in self.stack[1:]
        ):
            return None  # not imported, or shadowed by a local name
        base = self.imports[head]
        return f"{base}.{rest}" if rest else base

    def _parameter(self, name: str) -> bool:
        """Whether `name` here is an unannotated parameter of this function or of one around it
        (a closure such as a callback made inside `make_callback(run)`)."""
        for scope in reversed(self.stack):
            if name in self.params.get(scope, set()):
                return True
            if name in self.bindings.get(scope, {}):
                return False  # bound otherwise nearer
        return False

    def untraced(self, node: ast.Call, func: ast.Attribute, method: str) -> None:
        """A run-like name calling a legacy Run method that the codemod could not trace."""
        receiver = func.value
        if isinstance(receiver, ast.Name):
            name = receiver.id
            if not _RUNISH.fullmatch(name) or not self._parameter(name):
                return
            detail = (
                f"'{name}' is a parameter the tool cannot follow: annotate it `{name}: Run` "
                "(from azureml.core import Run) so that `rewrite` converts this call."
            )
        elif (
            isinstance(receiver, ast.Attribute)
            and isinstance(receiver.value, ast.Name)
            and receiver.value.id == "self"
            and self.uses_legacy
            and _RUNISH.fullmatch(receiver.attr)
        ):
            detail = f"self.{receiver.attr} is not assigned one provable run in this class."
        else:
            return
        if method == "log":
            keywords = {kw.arg for kw in node.keywords}
            has_name = bool(node.args) or "name" in keywords
            has_value = len(node.args) >= 2 or "value" in keywords
            first = node.args[0] if node.args else None
            if not has_name or not has_value or isinstance(first, (ast.Dict, ast.DictComp)):
                return  # wandb's run.log({...}) and the like
        self.hit(node, f"?.{method}", "unresolved-receiver", detail)


def _sites(codemod: Iterable[AuditFinding], cell: int | None) -> Sites:
    """(line, column) -> (method, rule, reason) of the codemod's findings in one module or cell."""
    out: Sites = {}
    for f in codemod:
        if f.cell == cell:
            method = f.api.rsplit(".", 1)[-1]
            out.setdefault((f.line, f.column), []).append((method, f.rule, f.reason))
    return out


def _check_code(code: str, cell: int | None, codemod: Iterable[AuditFinding] = ()) -> list[_Raw]:
    """The audit-only findings of one module's (or notebook's joined cells') source.

    `codemod` holds `rewrite`'s findings for it: they say which calls are legacy. Raises SyntaxError
    when the code does not parse (the codemod reports such a file before this runs).
    """
    if not _worth_checking(code):
        return []
    tree = compile(code, "<audit>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert isinstance(tree, ast.Module)
    checks = _Checks(code, tree, _sites(codemod, cell))
    checks.visit(tree)
    out: list[_Raw] = []
    for h in checks.result():
        line, column = checks.position(h.node)
        unless = None
        if h.unless is not None:
            unless = (*checks.position(h.unless[0]), h.unless[1])
        out.append(
            _Raw(cell, line, column, h.api, checks.excerpt(h.node), h.rule, h.detail, unless)
        )
    return out
