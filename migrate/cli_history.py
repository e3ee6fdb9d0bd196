"""`aml2mlflow history ...` and `aml2mlflow compare`: read runs back from any MLflow store."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import click

uri_option = click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    default=None,
    help="The MLflow store (default: MLFLOW_TRACKING_URI, else MLflow's local store).",
)


def _table(rows: list[list[str]], header: list[str]) -> str:
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from None


@click.group()
def history() -> None:
    """Runs of an MLflow store, as the Workbench CLI's `az ml history` showed them."""


@history.command("list")
@click.option("--experiment", default=None, help="Only this experiment (by name).")
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option("--limit", default=50, show_default=True, help="At most this many runs.")
@uri_option
def list_command(experiment: str | None, fmt: str, limit: int, tracking_uri: str | None) -> None:
    """Runs as rows (newest first), logged metrics as columns."""
    from migrate.history import list_runs

    try:
        rows = list_runs(experiment, limit, tracking_uri)
    except LookupError as exc:
        _fail(exc)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        cells = [
            [
                ""
                if r.get(c) is None
                else f"{r[c]:g}"
                if isinstance(r.get(c), float)
                else str(r[c])
                for c in columns
            ]
            for r in rows
        ]
        click.echo(_table(cells, columns) if rows else "no runs")


@history.command()
@click.option("-r", "--run", "run_id", required=True, help="The run id.")
@uri_option
def info(run_id: str, tracking_uri: str | None) -> None:
    """One run as JSON: status, times, duration, metrics, params, tags, artifacts."""
    from migrate.history import run_info

    try:
        click.echo(json.dumps(run_info(run_id, tracking_uri), indent=1))
    except Exception as exc:  # MlflowException for an unknown run id
        _fail(exc)


@history.command()
@click.option("--experiment", default=None, help="Only this experiment (by name).")
@uri_option
def last(experiment: str | None, tracking_uri: str | None) -> None:
    """The newest run, as `info` shows it."""
    from migrate.history import last_run

    try:
        click.echo(json.dumps(last_run(experiment, tracking_uri), indent=1))
    except LookupError as exc:
        _fail(exc)


@history.command()
@click.option("-r", "--run", "run_id", required=True, help="The run id.")
@click.option("--artifact", default=None, help="One artifact path (default: all).")
@click.option(
    "-d",
    "--dest",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to put the files.",
)
@uri_option
def download(run_id: str, artifact: str | None, dest: Path, tracking_uri: str | None) -> None:
    """Download a run's artifacts."""
    from migrate.history import download as do_download

    try:
        click.echo(str(do_download(run_id, dest, artifact, tracking_uri)))
    except Exception as exc:  # MlflowException: unknown run or artifact
        _fail(exc)


@history.command()
@click.option("-r", "--run", "run_id", required=True, help="The run id.")
@click.option(
    "--artifact-prefix",
    "prefix",
    required=True,
    help="The artifact folder holding the model (with its MLmodel file).",
)
@click.option("-n", "--name", required=True, help="The registered model's name.")
@uri_option
def promote(run_id: str, prefix: str, name: str, tracking_uri: str | None) -> None:
    """Register a run's outputs as a new version of a named model (MLflow's model registry)."""
    from migrate.history import NotAModel
    from migrate.history import promote as do_promote

    try:
        version = do_promote(run_id, prefix, name, tracking_uri)
    except NotAModel as exc:
        _fail(exc)
    click.echo(f"registered {name} version {version} from run {run_id}:{prefix}")


@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw the metric histories of the runs into this PNG.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@uri_option
def compare(
    runs: tuple[str, ...], plot: Path | None, as_json: bool, tracking_uri: str | None
) -> None:
    """Compare RUNS (two or three run ids) side by side: metrics, params, tags, artifacts."""
    from migrate.history import compare as do_compare
    from migrate.history import plot_histories

    if not 2 <= len(runs) <= 3:
        raise click.UsageError("compare takes two or three run ids")
    try:
        result = do_compare(runs, tracking_uri)
    except Exception as exc:  # MlflowException for an unknown run id
        _fail(exc)
    if as_json:
        data: dict[str, Any] = {
            "runs": result.run_ids,
            "metrics": result.metrics,
            "params": result.params,
            "tags": result.tags,
            "artifacts": result.artifacts,
        }
        click.echo(json.dumps(data, indent=1))
    else:
        click.echo(_table(result.rows(), ["", "key", *(r[:8] for r in runs)]))
    if plot is not None:
        keys = plot_histories(runs, plot, tracking_uri)
        click.echo(f"plotted {len(keys)} metric(s) to {plot}", err=True)
    sys.stdout.flush()
