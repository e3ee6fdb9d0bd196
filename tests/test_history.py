"""`history` and `compare` on runs created for real, in a local store and through a server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from migrate.cli import main


def make_runs(uri: str, tmp_path: Path) -> tuple[str, str]:
    """Two finished runs in experiment "hist": different histories, params, tags and files."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("hist")
    exp_id = exp.experiment_id if exp else client.create_experiment("hist")
    ids = []
    for i, losses in enumerate(([0.9, 0.5, 0.25], [0.8, 0.4])):
        run = client.create_run(exp_id, run_name=f"r{i}", tags={"team": f"t{i}"})
        rid = run.info.run_id
        for step, value in enumerate(losses):
            client.log_metric(rid, "loss", value, step=step)
        client.log_param(rid, "alpha", str(0.1 * (i + 1)))
        if i == 0:
            client.log_metric(rid, "only_a", 1.0)
            (tmp_path / "model.txt").write_text("weights")
            client.log_artifact(rid, str(tmp_path / "model.txt"), "outputs")
        client.set_terminated(rid)
        ids.append(rid)
    return ids[0], ids[1]


def cli(uri: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--tracking-uri", uri])
    return result.exit_code, result.output


def test_list_newest_first_in_three_formats(store: str, tmp_path: Path) -> None:
    a, b = make_runs(store, tmp_path)
    code, out = cli(store, "history", "list", "--experiment", "hist", "-o", "json")
    assert code == 0, out
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == [b, a]
    assert rows[1]["loss"] == 0.25 and rows[1]["only_a"] == 1.0 and rows[0]["status"] == "FINISHED"
    code, out = cli(store, "history", "list", "--experiment", "hist", "-o", "csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [r["run_id"] for r in parsed] == [b, a] and parsed[1]["loss"] == "0.25"
    code, out = cli(store, "history", "list", "--experiment", "hist")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["run_id", "name", "experiment"]
    assert cli(store, "history", "list", "--experiment", "nope")[0] == 1


def test_info_last_and_download(store: str, tmp_path: Path) -> None:
    a, b = make_runs(store, tmp_path)
    code, out = cli(store, "history", "info", "-r", a)
    info = json.loads(out)
    assert info["runId"] == a and info["status"] == "FINISHED" and info["experiment"] == "hist"
    assert info["metrics"] == {"loss": 0.25, "only_a": 1.0}
    assert info["params"] == {"alpha": "0.1"} and info["tags"] == {"team": "t0"}
    assert info["artifacts"] == ["outputs/model.txt"] and info["duration_s"] >= 0
    assert json.loads(cli(store, "history", "last")[1])["runId"] == b
    code, out = cli(store, "history", "download", "-r", a, "-d", str(tmp_path / "dl"))
    assert code == 0 and (tmp_path / "dl" / "outputs" / "model.txt").read_text() == "weights"
    assert cli(store, "history", "info", "-r", "0" * 32)[0] == 1


def test_compare_side_by_side_and_plot(store: str, tmp_path: Path) -> None:
    a, b = make_runs(store, tmp_path)
    code, out = cli(store, "compare", a, b, "--json")
    data = json.loads(out)
    assert data["metrics"]["loss"] == [[0.25, 3], [0.4, 2]]
    assert data["metrics"]["only_a"] == [[1.0, 1], None]
    assert data["params"]["alpha"] == ["0.1", "0.2"]
    assert data["artifacts"] == {"outputs/model.txt": [True, False]}
    png = tmp_path / "h.png"
    code, out = cli(store, "compare", a, b, "--plot", str(png))
    assert code == 0 and "loss" in out and "0.25 (3 pts)" in out
    assert png.read_bytes().startswith(b"\x89PNG")
    assert cli(store, "compare", a)[0] == 2
    assert json.loads(cli(store, "history", "compare", a, b, "--json")[1]) == data


@pytest.mark.server
def test_history_through_a_server(mlflow_server: str, tmp_path: Path) -> None:
    a, b = make_runs(mlflow_server, tmp_path)
    info = json.loads(cli(mlflow_server, "history", "info", "-r", a)[1])
    assert info["metrics"]["loss"] == 0.25 and info["artifacts"] == ["outputs/model.txt"]
    data = json.loads(cli(mlflow_server, "compare", a, b, "--json")[1])
    assert data["metrics"]["loss"] == [[0.25, 3], [0.4, 2]]


def test_promote_registers_an_mlflow_model_and_explains_otherwise(
    store: str, tmp_path: Path
) -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    a, _ = make_runs(store, tmp_path)
    code, out = cli(
        store, "history", "promote", "-r", a, "--artifact-prefix", "outputs", "-n", "ridge"
    )
    assert code == 1 and "no MLmodel file under 'outputs'" in out and "model.txt" in out
    with mlflow.start_run(experiment_id=MlflowClient(store).get_run(a).info.experiment_id) as run:
        mlflow.sklearn.log_model(
            LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), artifact_path="model"
        )
    promote = ("history", "promote", "-r", run.info.run_id, "--artifact-prefix", "model")
    code, out = cli(store, *promote, "-n", "ridge")
    assert code == 0, out
    assert "registered ridge version 1" in out
    (version,) = MlflowClient(store).search_model_versions("name='ridge'")
    assert version.run_id == run.info.run_id
    code, out = cli(store, *promote, "-n", "ridge")
    assert "version 2" in out
