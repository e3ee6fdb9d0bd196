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


if __name__ == "__main__":
    main()
