"""`aml2mlflow audit`: the click layer over `migrate.audit` and `migrate.report`.

Kept in its own module so that the audit can grow without touching the other commands; `migrate.cli`
registers it. Importing this module imports only click: libcst, the codemod and (for `--format html`)
matplotlib are imported when the command runs, and mlflow never is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from migrate.cli_options import max_bytes_option, tree_options

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

FORMATS = ("text", "markdown", "json", "sarif", "html")
FAIL_ON = ("never", "manual", "lossy", "any")
EXIT_FAIL_ON, EXIT_USAGE, EXIT_ERRORS = 1, 2, 3
#: Below this many files the scan is quick: no progress bar.
PROGRESS_FROM = 50


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: grouped by file, for a terminal; markdown: for a pull request or an issue; json: "
    "a stable schema (schema_version); sarif: SARIF 2.1.0 for GitHub code scanning; html: one "
    "self-contained page with a chart and a sortable, filterable table.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default="never",
    show_default=True,
    help="Exit 1 when a finding is at least this serious: manual (a person must act), lossy "
    "(lossy or manual), any (any legacy call at all: a migrated repository stays migrated).",
)
@tree_options
@max_bytes_option("auditing")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep results of unchanged files here (default: $AML2MLFLOW_CACHE_DIR, else the user's "
    "cache folder, e.g. ~/.cache/aml2mlflow).",
)
@click.option("--no-cache", is_flag=True, help="Audit every file afresh; read and write no cache.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no closing note on stderr.")
def audit(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    fail_on: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    jobs: int | None,
    max_bytes: int | None,
    cache_dir: Path | None,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Report every SDK v1 and Workbench call site in PATHS, what `rewrite` makes of it, and what
    would be lost. Never modifies a file.

    PATHS are files, folders (walked respecting .gitignore) and notebooks, several at once. Each
    finding names the legacy API, its fidelity (exact: nothing lost; lossy: converted, something
    changes; manual: a person must decide), why, the code `rewrite` writes for it and the catalogue
    rule. Beyond the call sites it flags files written under ./outputs, offline-run checks,
    control-side code (Experiment.submit and the run it returns), names MLflow rejects, HyperDrive
    primary metrics that will be renamed, run-like names it cannot trace, and files it cannot parse.

    Results of files audited before are taken from a cache outside the tree (see --cache-dir),
    keyed by each file's content and by this tool's own code: a hit is exactly what a fresh audit
    of the file gives.

    \b
    Exit codes:
      0  report written (and nothing reached --fail-on)
      1  a finding reached --fail-on
      2  usage error, or the report could not be written
      3  --fail-on is not `never` and some file could not be audited
    """
    from migrate.audit import DEFAULT_MAX_BYTES, FailOn, audit_paths
    from migrate.cache import default_dir
    from migrate.report import Format, render

    if output is not None and not output.absolute().parent.is_dir():  # (before a long scan)
        message = f"cannot write {output}: folder {output.absolute().parent} does not exist"
        raise click.BadParameter(message, param_hint="'-o' / '--output'")
    progress = _Progress(enabled=not quiet and sys.stderr.isatty())
    try:
        report = audit_paths(
            list(paths),
            include,
            exclude,
            jobs,
            max_bytes=max_bytes or DEFAULT_MAX_BYTES,
            progress=progress,
            cache=None if no_cache else cache_dir or default_dir(),
        )
    finally:
        progress.close()
    to_terminal = output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    color = fmt == "text" and to_terminal
    text = render(report, cast(Format, fmt), color=color)
    if output is not None:
        # surrogateescape: a file name that is not UTF-8 is written as its own bytes, as a
        # terminal shows it, instead of failing the whole report
        try:
            output.write_text(text, encoding="utf-8", errors="surrogateescape", newline="")
        except OSError as exc:
            click.echo(f"Error: cannot write the report to {output}: {exc.strerror}", err=True)
            sys.exit(EXIT_USAGE)
        if not quiet:
            s = report.summary()
            click.echo(
                f"{output}: {s.findings.total} finding(s) in {s.files_with_findings} of "
                f"{s.files_scanned} file(s); {s.files_with_errors} could not be audited",
                err=True,
            )
    else:
        click.echo(text, nl=False, color=color)
    if report.fails(cast(FailOn, fail_on)):
        sys.exit(EXIT_FAIL_ON)
    if fail_on != "never" and report.errors:
        sys.exit(EXIT_ERRORS)


class _Progress:
    """A progress bar on stderr, opened on the first file of a long scan (none for a short one)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: ProgressBar[int] | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < PROGRESS_FROM:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="auditing", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
