"""Run history over any MLflow tracking store: what former Workbench users had as `az ml history`.

    list_runs(experiment) -> rows         newest first, one column per logged metric
    run_info(run_id) -> dict              status, times, duration, metrics, params, tags, artifacts
    compare(run_ids) -> Comparison        metrics (last value, history length), params, tags, files
    plot_histories(run_ids, path)         every shared metric's history, one axes per metric
    promote(run_id, prefix, name)         register the run's outputs as a named model version

Pure functions over `MlflowClient` (imported when first called, never at import time), so the CLI's
static commands stay fast.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HIDDEN_TAGS = ("mlflow.", "aml2mlflow.")


def _client(tracking_uri: str | None) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _experiment_ids(client: Any, experiment: str | None) -> list[str]:
    if experiment is None:
        return [e.experiment_id for e in client.search_experiments()]
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise LookupError(f"no experiment named {experiment!r}")
    return [found.experiment_id]


def list_runs(
    experiment: str | None = None, limit: int = 50, tracking_uri: str | None = None
) -> list[dict[str, Any]]:
    """Runs as rows, newest first: id, name, experiment, status, start, duration, then metrics."""
    client = _client(tracking_uri)
    names = {e.experiment_id: e.name for e in client.search_experiments()}
    runs = client.search_runs(
        _experiment_ids(client, experiment),
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    rows = []
    for run in runs:
        info = run.info
        row: dict[str, Any] = {
            "run_id": info.run_id,
            "name": info.run_name,
            "experiment": names.get(info.experiment_id, info.experiment_id),
            "status": info.status,
            "start": _iso(info.start_time),
            "duration_s": round((info.end_time - info.start_time) / 1000, 3)
            if info.end_time and info.start_time
            else None,
        }
        row.update(dict(sorted(run.data.metrics.items())))
        rows.append(row)
    return rows


def _artifacts(client: Any, run_id: str) -> list[str]:
    out: list[str] = []
    stack: list[str | None] = [None]
    while stack:
        for f in client.list_artifacts(run_id, stack.pop()):
            (stack.append(f.path) if f.is_dir else out.append(f.path))
    return sorted(out)


def run_info(run_id: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """One run as JSON-ready data, shaped like the Workbench CLI's `az ml history info`."""
    client = _client(tracking_uri)
    run = client.get_run(run_id)
    info = run.info
    return {
        "runId": info.run_id,
        "name": info.run_name,
        "experiment": client.get_experiment(info.experiment_id).name,
        "status": info.status,
        "startTimeUtc": _iso(info.start_time),
        "endTimeUtc": _iso(info.end_time),
        "duration_s": round((info.end_time - info.start_time) / 1000, 3)
        if info.end_time and info.start_time
        else None,
        "metrics": dict(sorted(run.data.metrics.items())),
        "params": dict(sorted(run.data.params.items())),
        "tags": {k: v for k, v in sorted(run.data.tags.items()) if not k.startswith(HIDDEN_TAGS)},
        "artifacts": _artifacts(client, run_id),
    }


def last_run(experiment: str | None = None, tracking_uri: str | None = None) -> dict[str, Any]:
    """The newest run's info."""
    rows = list_runs(experiment, limit=1, tracking_uri=tracking_uri)
    if not rows:
        raise LookupError("no runs" + (f" in experiment {experiment!r}" if experiment else ""))
    return run_info(rows[0]["run_id"], tracking_uri)


def download(
    run_id: str, dest: str | Path, artifact: str | None = None, tracking_uri: str | None = None
) -> Path:
    """Download one artifact (or all of them) of a run into `dest`; return the local path."""
    client = _client(tracking_uri)
    Path(dest).mkdir(parents=True, exist_ok=True)
    return Path(client.download_artifacts(run_id, artifact or "", str(dest)))


@dataclass
class Comparison:
    """Side by side: for each key, one value per run (None where a run lacks it)."""

    run_ids: list[str]
    metrics: dict[str, list[tuple[float, int] | None]] = field(default_factory=dict)
    params: dict[str, list[str | None]] = field(default_factory=dict)
    tags: dict[str, list[str | None]] = field(default_factory=dict)
    artifacts: dict[str, list[bool]] = field(default_factory=dict)

    def rows(self) -> list[list[str]]:
        """A table: section, key, then one cell per run."""
        out: list[list[str]] = []
        for key, cells in self.metrics.items():
            out.append(["metric", key, *(f"{c[0]:g} ({c[1]} pts)" if c else "-" for c in cells)])
        for key, values in self.params.items():
            out.append(["param", key, *(v if v is not None else "-" for v in values)])
        for key, values in self.tags.items():
            out.append(["tag", key, *(v if v is not None else "-" for v in values)])
        for key, has in self.artifacts.items():
            out.append(["artifact", key, *("yes" if h else "-" for h in has)])
        return out


def compare(run_ids: Sequence[str], tracking_uri: str | None = None) -> Comparison:
    """Metrics (last value and history length), params, tags and artifacts of several runs."""
    client = _client(tracking_uri)
    runs = [client.get_run(r) for r in run_ids]
    out = Comparison(list(run_ids))
    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    for key in metric_keys:
        cells: list[tuple[float, int] | None] = []
        for r in runs:
            if key not in r.data.metrics:
                cells.append(None)
                continue
            history = client.get_metric_history(r.info.run_id, key)
            last = max(history, key=lambda m: (m.step, m.timestamp))
            cells.append((last.value, len(history)))
        out.metrics[key] = cells
    for key in sorted({k for r in runs for k in r.data.params}):
        out.params[key] = [r.data.params.get(key) for r in runs]
    tag_keys = {k for r in runs for k in r.data.tags if not k.startswith(HIDDEN_TAGS)}
    for key in sorted(tag_keys):
        out.tags[key] = [r.data.tags.get(key) for r in runs]
    files = [set(_artifacts(client, r)) for r in run_ids]
    for key in sorted(set().union(*files)):
        out.artifacts[key] = [key in f for f in files]
    return out


def plot_histories(
    run_ids: Sequence[str], path: str | Path, tracking_uri: str | None = None
) -> list[str]:
    """Draw every metric's history of the runs on shared axes (one per metric) into a PNG.

    Returns the metric keys drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    client = _client(tracking_uri)
    runs = [client.get_run(r) for r in run_ids]
    keys = sorted({k for r in runs for k in r.data.metrics})
    fig = Figure(figsize=(6, max(2.5, 2.5 * len(keys))), dpi=100)
    FigureCanvasAgg(fig)
    for i, key in enumerate(keys, 1):
        ax = fig.add_subplot(max(len(keys), 1), 1, i)
        for run in runs:
            if key not in run.data.metrics:
                continue
            history = sorted(
                client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp)
            )
            ax.plot(
                [m.step for m in history],
                [m.value for m in history],
                marker=".",
                label=run.info.run_name or run.info.run_id[:8],
            )
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(str(path), format="png")
    return keys


class NotAModel(Exception):
    """The artifacts under a prefix do not form an MLflow model (no MLmodel file)."""


def promote(run_id: str, prefix: str, name: str, tracking_uri: str | None = None) -> str:
    """Register the run's artifacts under `prefix` as a new version of model `name`.

    The Workbench's `az ml history promote` turned run outputs into a named asset; MLflow's model
    registry holds MLflow-format models only, so the prefix must contain an `MLmodel` file (what
    `mlflow.<flavor>.log_model` writes). Returns the new version number.
    """
    client = _client(tracking_uri)
    prefix = prefix.strip("/")
    names = {f.path.rsplit("/", 1)[-1] for f in client.list_artifacts(run_id, prefix or None)}
    if "MLmodel" not in names:
        found = ", ".join(sorted(names)) or "nothing"
        raise NotAModel(
            f"run {run_id} has no MLmodel file under '{prefix or '.'}' (found: {found}): "
            "MLflow registers MLflow-format models only; save the model with "
            "mlflow.<flavor>.log_model(..., artifact_path=...) and promote that path"
        )
    if not _registered(client, name):
        client.create_registered_model(name)
    source = client.get_run(run_id).info.artifact_uri.rstrip("/") + (f"/{prefix}" if prefix else "")
    created = client.create_model_version(name, source, run_id=run_id)
    return str(created.version)


def _registered(client: Any, name: str) -> bool:
    try:
        client.get_registered_model(name)
    except Exception:  # RESOURCE_DOES_NOT_EXIST
        return False
    return True
