"""The `aml2mlflow` command: a thin click layer over the library (`migrate`, `shims`).

Static commands (`catalogue`, `--help`, `--version`) never import mlflow; `run` and `replay` do, on
first use, inside the shim.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from migrate import __version__
from migrate.cli_options import max_bytes_option, tree_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aml2mlflow")
def main() -> None:
    """Move Azure ML SDK v1 and Workbench logging code onto MLflow.

    \b
    Exit codes: 0 success; 1 the script or replay failed (for `run`: the script's own exit code);
    2 usage error.
    """


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--force", is_flag=True, help="Shadow a real installed azureml-core too.")
@click.argument("script")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(force: bool, script: str, args: tuple[str, ...]) -> None:
    """Run a legacy SCRIPT unchanged, logging to MLflow.

    Same as `python -m shims SCRIPT ARGS...`: argv, __main__, exit code and traceback are as with
    plain python. MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME are honoured (defaults: MLflow's
    local store in the current folder, an experiment named after the script). Use `-m MODULE` to
    run a module.
    """
    from shims.__main__ import run as run_script

    argv = (["--force"] if force else []) + [script, *args]
    sys.exit(run_script(argv))


EXIT_CHANGES, EXIT_FAILED = 1, 3


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--diff", "mode", flag_value="diff", help="Print a unified diff; write nothing.")
@click.option(
    "--check", "mode", flag_value="check", help="Write nothing; exit 1 when something would change."
)
@click.option(
    "--target",
    type=click.Choice(["mlflow", "shim"]),
    default="mlflow",
    show_default=True,
    help="mlflow: native MLflow code. shim: only swap the legacy imports for `shims`.",
)
@tree_options
@max_bytes_option("rewriting")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the exit code.")
def rewrite(
    paths: tuple[Path, ...],
    mode: str | None,
    target: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    jobs: int | None,
    max_bytes: int | None,
    quiet: bool,
) -> None:
    """Rewrite SDK v1 and Workbench logging in PATHS (files, folders, notebooks) to MLflow.

    Folders are walked respecting .gitignore. By default files are rewritten in place (atomically,
    keeping encoding, BOM, line endings and file mode); a file that cannot be parsed is reported
    and left untouched.

    \b
    Exit codes:
      0  nothing to do, or every file rewritten
      1  --check: some file would change
      2  usage error
      3  some file could not be processed (the others were)
    """
    from migrate.api import Mode, rewrite_paths
    from migrate.sources import DEFAULT_MAX_BYTES

    run_mode: Mode = "diff" if mode == "diff" else "check" if mode == "check" else "write"
    outcomes = rewrite_paths(
        list(paths),
        run_mode,
        "shim" if target == "shim" else "mlflow",
        include,
        exclude,
        jobs,
        max_bytes or DEFAULT_MAX_BYTES,
    )
    files = changed = rewritten = manual = 0
    errors: list[str] = []
    show = not quiet and sys.stderr.isatty()
    with click.progressbar(outcomes, label="rewriting", file=sys.stderr, hidden=not show) as bar:
        for outcome in bar:
            files += 1
            if outcome.error:
                errors.append(outcome.error)
                continue
            changed += outcome.changed
            rewritten += outcome.rewritten
            manual += outcome.manual
            if run_mode == "diff" and outcome.diff:
                click.echo(outcome.diff, nl=False)
            elif run_mode == "check" and outcome.changed and not quiet:
                click.echo(f"would rewrite {outcome.path}", err=True)
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if not quiet and run_mode == "check":
        # --check stops at the first site that proves a file would change (see migrate.quick),
        # so it has no per-site counts: --diff and `aml2mlflow audit` have them.
        click.echo(
            f"{files} file(s) scanned, {changed} would be rewritten; "
            f"{len(errors)} file(s) skipped with errors",
            err=True,
        )
    elif not quiet:
        verb = "rewritten" if run_mode == "write" else "would be rewritten"
        click.echo(
            f"{files} file(s) scanned, {changed} {verb}; {rewritten} call site(s) converted, "
            f"{manual} left for review; {len(errors)} file(s) skipped with errors",
            err=True,
        )
    if errors:
        sys.exit(EXIT_FAILED)
    if run_mode == "check" and changed:
        sys.exit(EXIT_CHANGES)


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--tracking-uri", default=None, help="Send to this store instead of the original.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the store.")
def replay(folder: Path, tracking_uri: str | None, timeout: float) -> None:
    """Deliver the records a run spooled to FOLDER when its tracking server was unreachable."""
    from shims.replay import ReplayError
    from shims.replay import replay as do_replay

    try:
        n = do_replay(folder, tracking_uri, timeout)
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"delivered {n} record(s) from {folder}")


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
)
def catalogue(fmt: str) -> None:
    """Print the mapping of every legacy API to MLflow, with fidelity and reason."""
    from migrate.catalogue import ENTRIES, markdown_table

    if fmt == "json":
        click.echo(json.dumps([asdict(e) for e in ENTRIES], indent=1))
    else:
        click.echo(markdown_table(), nl=False)


# The larger commands live in their own modules; registered here, before use.
from migrate.cli_audit import audit  # noqa: E402
from migrate.cli_history import compare, history  # noqa: E402
from migrate.cli_verify import verify  # noqa: E402

main.add_command(audit)
main.add_command(history)
main.add_command(compare)
history.add_command(compare)  # also `aml2mlflow history compare`, as the Workbench CLI had it
main.add_command(verify)

if __name__ == "__main__":
    main()
