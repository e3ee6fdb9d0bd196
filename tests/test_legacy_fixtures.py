"""The legacy scripts in fixtures/ run unchanged under `python -m shims`, and what they logged is
read back from real MLflow stores, value by value.

Expected values are recomputed here with the same scikit-learn code the scripts run (same seeds,
same data), so a metric that is reordered, dropped, duplicated or converted shows up as a diff.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from mlflow.entities import Run as MlflowRun
from mlflow.tracking import MlflowClient

from migrate.catalogue import entry
from tests.conftest import FIXTURES, run_shim

LEGACY = FIXTURES / "legacy"
DEMO = FIXTURES / "demo"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CONVERSION_FIELDS = {"rule", "api", "fidelity", "name", "detail", "reason"}
REL = 1e-12  # recomputed floats: equal up to the last bits


# -- reading MLflow back ----------------------------------------------------------------------------
def only_run(client: MlflowClient, experiment: str) -> MlflowRun:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) pairs in logging order (steps are unique per key here)."""
    points = client.get_metric_history(run_id, key)
    return [(m.step, m.value) for m in sorted(points, key=lambda m: (m.step, m.timestamp))]


def values(client: MlflowClient, run_id: str, key: str) -> list[float]:
    got = history(client, run_id, key)
    assert [s for s, _ in got] == list(range(len(got))), f"{key}: steps {got}"
    return [v for _, v in got]


def artifact_paths(client: MlflowClient, run_id: str) -> set[str]:
    found: set[str] = set()
    stack: list[str | None] = [None]
    while stack:
        for f in client.list_artifacts(run_id, stack.pop()):
            if f.is_dir:
                stack.append(f.path)
            else:
                found.add(f.path)
    return found


def read_artifact(client: MlflowClient, run_id: str, path: str, tmp: Path) -> bytes:
    dest = tmp / "downloads" / uuid.uuid4().hex
    dest.mkdir(parents=True)
    return Path(client.download_artifacts(run_id, path, str(dest))).read_bytes()


def read_json(client: MlflowClient, run_id: str, path: str, tmp: Path) -> Any:
    return json.loads(read_artifact(client, run_id, path, tmp))


def read_jsonl(client: MlflowClient, run_id: str, path: str, tmp: Path) -> list[Any]:
    text = read_artifact(client, run_id, path, tmp).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_png(client: MlflowClient, run_id: str, path: str, tmp: Path) -> None:
    data = read_artifact(client, run_id, path, tmp)
    assert data.startswith(PNG_MAGIC), path
    assert len(data) > 1000, path


def user_tags(run: MlflowRun) -> dict[str, str]:
    return {k: v for k, v in run.data.tags.items() if not k.startswith(("mlflow.", "aml2mlflow."))}


def conversions(client: MlflowClient, run_id: str, tmp: Path) -> dict[tuple[str, str], dict]:
    """The run's conversion report, checked against the catalogue, keyed by (rule, name)."""
    report = read_json(client, run_id, "aml2mlflow/conversions.json", tmp)
    assert isinstance(report, list)
    out = {}
    for item in report:
        assert set(item) >= CONVERSION_FIELDS, item
        row = entry(item["rule"])
        assert (item["api"], item["fidelity"], item["reason"]) == (
            row.api,
            row.fidelity,
            row.reason,
        )
        key = (item["rule"], item["name"])
        assert key not in out, f"{key} reported twice"
        out[key] = item
    return out


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    """Exit 0 and a silent stderr: AML2MLFLOW_QUIET=1 leaves only problems to report."""
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def run_script(
    script: Path, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return run_shim(script, *args, cwd=tmp_path, env=env)


# -- the computations the scripts make --------------------------------------------------------------
def ridge_expected() -> dict[str, Any]:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    alphas = [float(a) for a in np.arange(0.0, 1.0, 0.2)]
    models = [Ridge(alpha=a).fit(X_train, y_train) for a in alphas]
    mses = [float(mean_squared_error(m.predict(X_test), y_test)) for m in models]
    best = int(np.argmin(mses))
    return {"alphas": alphas, "mses": mses, "best_alpha": alphas[best], "best": models[best]}


def check_diabetes_ridge(client: MlflowClient, run: MlflowRun, tmp: Path) -> None:
    exp = ridge_expected()
    rid = run.info.run_id
    assert run.info.status == "FINISHED"
    assert values(client, rid, "alpha") == exp["alphas"]
    assert values(client, rid, "mse") == pytest.approx(exp["mses"], rel=REL)
    assert values(client, rid, "alphas") == exp["alphas"]
    assert values(client, rid, "mses") == pytest.approx(exp["mses"], rel=REL)
    assert values(client, rid, "best_alpha") == [exp["best_alpha"]]
    assert set(run.data.metrics) == {"alpha", "mse", "alphas", "mses", "best_alpha"}
    assert run.data.params == {}
    assert user_tags(run) == {}

    model_name = f"ridge_{exp['best_alpha']:.2f}.pkl"
    assert artifact_paths(client, rid) == {
        "residuals.png",
        f"outputs/{model_name}",
        "outputs/alphas.txt",
        "aml2mlflow/conversions.json",
    }
    assert_png(client, rid, "residuals.png", tmp)
    model = joblib.load(io.BytesIO(read_artifact(client, rid, f"outputs/{model_name}", tmp)))
    np.testing.assert_allclose(model.coef_, exp["best"].coef_, rtol=REL)
    alphas_txt = read_artifact(client, rid, "outputs/alphas.txt", tmp).decode()
    assert alphas_txt == "".join(f"{a:.2f},{m:.6f}\n" for a, m in zip(exp["alphas"], exp["mses"]))
    report = conversions(client, rid, tmp)
    assert set(report) == {("outputs-folder", "outputs")}
    assert report["outputs-folder", "outputs"]["detail"] == "1 file(s) uploaded at run end"


# -- the scripts ------------------------------------------------------------------------------------
def test_diabetes_ridge(store: str, tmp_path: Path) -> None:
    result = run_script(LEGACY / "diabetes_ridge.py", tmp_path)
    assert_clean(result)
    exp = ridge_expected()
    assert result.stdout.splitlines() == [
        f"alpha is {a:.2f}, and mse is {m:0.2f}" for a, m in zip(exp["alphas"], exp["mses"])
    ]
    assert not list(tmp_path.glob("ridge_*.pkl"))  # the script removed its local copy
    client = MlflowClient(store)
    check_diabetes_ridge(client, only_run(client, "diabetes_ridge"), tmp_path)


@pytest.mark.server
def test_diabetes_ridge_against_server(store: str, tmp_path: Path, mlflow_server: str) -> None:
    name = f"diabetes_ridge-{uuid.uuid4().hex[:8]}"
    result = run_script(
        LEGACY / "diabetes_ridge.py",
        tmp_path,
        MLFLOW_TRACKING_URI=mlflow_server,
        MLFLOW_EXPERIMENT_NAME=name,
    )
    assert_clean(result)
    assert not list(tmp_path.glob("mlruns*"))  # nothing went to a local store
    client = MlflowClient(mlflow_server)
    check_diabetes_ridge(client, only_run(client, name), tmp_path)


def iris_expected() -> dict[str, Any]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split

    iris = load_iris()
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.3, random_state=42, stratify=iris.target
    )
    labels = [str(n) for n in iris.target_names]
    clf = LogisticRegression(C=0.5, max_iter=200).fit(X_train, y_train)

    def cm(y_true: Any, y_hat: Any) -> dict[str, Any]:
        matrix = confusion_matrix(y_true, y_hat, labels=[0, 1, 2])
        return {
            "schema_type": "confusion_matrix",
            "schema_version": "1.0.0",
            "data": {"class_labels": labels, "matrix": matrix.tolist()},
        }

    def counts(truth: Any, scores: Any, threshold: float) -> list[int]:
        pred = scores >= threshold
        return [
            int(np.sum(pred & truth)),
            int(np.sum(pred & ~truth)),
            int(np.sum(~pred & ~truth)),
            int(np.sum(~pred & truth)),
        ]

    proba = clf.predict_proba(X_test)
    prob_thresholds = [round(float(t), 2) for t in np.linspace(0.0, 1.0, 11)]
    pct_thresholds = [0, 25, 50, 75, 100]
    prob_tables, pct_tables = [], []
    for k in range(3):
        truth, scores = y_test == k, proba[:, k]
        prob_tables.append([counts(truth, scores, t) for t in prob_thresholds])
        cuts = np.percentile(scores, [100 - p for p in pct_thresholds])
        pct_tables.append([counts(truth, scores, c) for c in cuts])
    return {
        "accuracy": float(np.mean(clf.predict(X_test) == y_test)),
        "cm_test": cm(y_test, clf.predict(X_test)),
        "cm_train": cm(y_train, clf.predict(X_train)),
        "accuracy_table": {
            "schema_type": "accuracy_table",
            "schema_version": "1.0.1",
            "data": {
                "class_labels": labels,
                "probability_tables": prob_tables,
                "percentile_tables": pct_tables,
                "probability_thresholds": prob_thresholds,
                "percentile_thresholds": pct_thresholds,
            },
        },
        "n_test": len(y_test),
    }


def test_iris_classifier(store: str, tmp_path: Path) -> None:
    result = run_script(LEGACY / "iris_classifier.py", tmp_path)
    assert_clean(result)
    exp = iris_expected()
    assert result.stdout == "accuracy: {:.4f}\n".format(exp["accuracy"])
    client = MlflowClient(store)
    run = only_run(client, "iris_classifier")
    rid = run.info.run_id
    assert run.info.status == "FINISHED"
    assert values(client, rid, "accuracy") == pytest.approx([exp["accuracy"]], rel=REL)
    assert set(run.data.metrics) == {"accuracy"}
    assert run.data.params == {"C": "0.5", "max_iter": "200"}
    assert user_tags(run) == {
        "model": "LogisticRegression",
        "dataset": "iris",
        "framework": "scikit-learn",
    }
    assert artifact_paths(client, rid) == {
        "confusion_matrix.json",
        "confusion_matrix.png",
        "confusion_matrix_train.json",
        "confusion_matrix_train.png",
        "accuracy_table.json",
        "accuracy_table.png",
        "coefficients.png",
        "aml2mlflow/conversions.json",
    }
    # the JSON string and the dict are both stored as the object, not as a JSON-encoded string
    assert read_json(client, rid, "confusion_matrix.json", tmp_path) == exp["cm_test"]
    assert read_json(client, rid, "confusion_matrix_train.json", tmp_path) == exp["cm_train"]
    table = read_json(client, rid, "accuracy_table.json", tmp_path)
    assert table == exp["accuracy_table"]
    for per_class in table["data"]["probability_tables"] + table["data"]["percentile_tables"]:
        assert all(sum(cell) == exp["n_test"] for cell in per_class)
    for png in ("confusion_matrix", "confusion_matrix_train", "accuracy_table", "coefficients"):
        assert_png(client, rid, f"{png}.png", tmp_path)
    report = conversions(client, rid, tmp_path)
    assert set(report) == {
        ("run-log-confusion-matrix", "confusion_matrix"),
        ("run-log-confusion-matrix", "confusion_matrix_train"),
        ("run-log-accuracy-table", "accuracy_table"),
    }
    assert all(item["detail"] == "" for item in report.values())  # all three were rendered


def regression_expected() -> dict[str, Any]:
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error, mean_squared_error
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=1)
    model = GradientBoostingRegressor(
        n_estimators=50, max_depth=2, learning_rate=0.1, random_state=0
    ).fit(X_train, y_train)
    rows = []
    stages = zip(model.staged_predict(X_train), model.staged_predict(X_test))
    for epoch, (train_pred, test_pred) in enumerate(stages):
        if (epoch + 1) % 10 == 0:
            rows.append(
                [
                    epoch + 1,
                    float(np.sqrt(mean_squared_error(y_train, train_pred))),
                    float(np.sqrt(mean_squared_error(y_test, test_pred))),
                ]
            )
    y_pred = model.predict(X_test)
    rmse = float(np.sqrt(mean_squared_error(y_test, y_pred)))
    mae = float(mean_absolute_error(y_test, y_pred))
    counts, edges = np.histogram(y_test - y_pred, bins=8)
    bin_edges = np.linspace(y_test.min(), y_test.max(), 6)
    which = np.clip(np.digitize(y_test, bin_edges[1:-1]), 0, 4)
    groups = [y_pred[which == b] for b in range(5)]
    return {
        "rows": rows,
        "rmse": rmse,
        "mae": mae,
        "residuals": {
            "schema_type": "residuals",
            "schema_version": "1.0.0",
            "data": {"bin_edges": edges.tolist(), "bin_counts": counts.tolist()},
        },
        "predictions": {
            "schema_type": "predictions",
            "schema_version": "1.0.0",
            "data": {
                "bin_averages": [float(g.mean()) if g.size else 0.0 for g in groups],
                "bin_errors": [float(g.std()) if g.size else 0.0 for g in groups],
                "bin_counts": [int(g.size) for g in groups],
                "bin_edges": bin_edges.tolist(),
            },
        },
    }


def test_regression_metrics(store: str, tmp_path: Path) -> None:
    result = run_script(LEGACY / "regression_metrics.py", tmp_path)
    assert_clean(result)
    exp = regression_expected()
    client = MlflowClient(store)
    run = only_run(client, "regression_metrics")
    rid = run.info.run_id
    assert run.info.status == "FINISHED"
    rows = exp["rows"]
    # log_row: one metric history per numeric column, step = row number
    assert values(client, rid, "training/epoch") == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert values(client, rid, "training/train_rmse") == pytest.approx(
        [r[1] for r in rows], rel=REL
    )
    assert values(client, rid, "training/test_rmse") == pytest.approx([r[2] for r in rows], rel=REL)
    # log_table: the string column is not a metric, the numeric one is
    assert values(client, rid, "summary/value") == pytest.approx([exp["rmse"], exp["mae"]], rel=REL)
    assert set(run.data.metrics) == {
        "training/epoch",
        "training/train_rmse",
        "training/test_rmse",
        "summary/value",
    }
    assert artifact_paths(client, rid) == {
        "tables/training.json",
        "tables/summary.json",
        "residuals.json",
        "residuals.png",
        "predictions.json",
        "predictions.png",
        "aml2mlflow/conversions.json",
    }
    training = read_json(client, rid, "tables/training.json", tmp_path)
    assert training["columns"] == ["epoch", "train_rmse", "test_rmse"]
    assert [r[0] for r in training["data"]] == [10, 20, 30, 40, 50]
    for got, want in zip(training["data"], rows):
        assert got == pytest.approx(want, rel=REL)
    summary = read_json(client, rid, "tables/summary.json", tmp_path)
    assert summary["columns"] == ["metric", "value"]
    assert [r[0] for r in summary["data"]] == ["rmse", "mae"]
    assert [r[1] for r in summary["data"]] == pytest.approx([exp["rmse"], exp["mae"]], rel=REL)
    logged = json.loads(run.data.tags["mlflow.loggedArtifacts"])
    assert sorted(a["path"] for a in logged) == ["tables/summary.json", "tables/training.json"]

    residuals = read_json(client, rid, "residuals.json", tmp_path)
    assert residuals["schema_type"] == "residuals"
    assert residuals["data"]["bin_counts"] == exp["residuals"]["data"]["bin_counts"]
    assert residuals["data"]["bin_edges"] == pytest.approx(
        exp["residuals"]["data"]["bin_edges"], rel=REL
    )
    predictions = read_json(client, rid, "predictions.json", tmp_path)
    assert set(predictions) == {"schema_type", "schema_version", "data"}
    assert predictions["schema_type"] == "predictions"
    for field in ("bin_averages", "bin_errors", "bin_counts", "bin_edges"):
        assert predictions["data"][field] == pytest.approx(
            exp["predictions"]["data"][field], rel=REL
        ), field
    assert sum(predictions["data"]["bin_counts"]) == 111  # every test sample is in a bin
    assert_png(client, rid, "residuals.png", tmp_path)
    assert_png(client, rid, "predictions.png", tmp_path)

    report = conversions(client, rid, tmp_path)
    assert set(report) == {
        ("run-log-row", "training"),
        ("run-log-table", "summary"),
        ("run-log-residuals", "residuals"),
        ("run-log-predictions", "predictions"),
    }
    assert report["run-log-row", "training"]["count"] == 5
    assert report["run-log-residuals", "residuals"]["detail"] == ""
    assert report["run-log-predictions", "predictions"]["detail"] == ""


def test_workbench_logger(store: str, tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    result = run_script(LEGACY / "workbench_logger.py", tmp_path, "0.05")
    assert_clean(result)
    iris = load_iris()
    X = np.c_[iris.data, np.random.RandomState(0).randn(150, 40)]
    X_train, X_test, y_train, y_test = train_test_split(
        X, iris.target, test_size=0.35, random_state=0
    )
    clf = LogisticRegression(C=1 / 0.05, max_iter=500).fit(X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    first = clf.predict_proba(X_test[:1])[0].tolist()
    assert "Regularization rate is 0.05\n" in result.stdout  # argv reached the script
    assert f"Accuracy is {accuracy}\n" in result.stdout

    client = MlflowClient(store)
    run = only_run(client, "workbench_logger")
    rid = run.info.run_id
    assert run.info.status == "FINISHED"  # the script never ends its run: exit does
    assert values(client, rid, "Regularization Rate") == [0.05]
    assert values(client, rid, "Accuracy") == pytest.approx([accuracy], rel=REL)
    assert values(client, rid, "First sample probabilities") == pytest.approx(first, rel=1e-9)
    assert set(run.data.metrics) == {
        "Regularization Rate",
        "Accuracy",
        "First sample probabilities",
    }
    assert user_tags(run) == {}
    assert artifact_paths(client, rid) == {
        "outputs/model.pkl",
        "outputs/notes.txt",
        "aml2mlflow/conversions.json",
    }
    assert read_artifact(client, rid, "outputs/notes.txt", tmp_path) == b"text"
    model = pickle.loads(read_artifact(client, rid, "outputs/model.pkl", tmp_path))
    assert model.get_params()["C"] == 20.0
    np.testing.assert_allclose(model.coef_, clf.coef_, rtol=1e-9)
    report = conversions(client, rid, tmp_path)
    assert set(report) == {("outputs-folder", "outputs")}
    assert report["outputs-folder", "outputs"]["detail"] == "1 file(s) uploaded at run end"


def test_child_runs(store: str, tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    config = {"subscription_id": "0000", "resource_group": "rg", "workspace_name": "legacy-ws"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = run_script(LEGACY / "child_runs.py", tmp_path)
    assert_clean(result)
    X, y = load_breast_cancer(return_X_y=True)
    cv = {
        d: cross_val_score(DecisionTreeClassifier(max_depth=d, random_state=0), X, y, cv=3)
        for d in (2, 4)
    }
    best = max(cv, key=lambda d: cv[d].mean())
    assert result.stdout == f"best depth: {best}\n"

    client = MlflowClient(store)
    assert client.get_experiment_by_name("child_runs") is None  # Experiment(name='exp') wins
    exp = client.get_experiment_by_name("exp")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 3
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.info.run_name: r for r in runs if r is not parent}
    assert set(children) == {"depth_2", "depth_4"}
    pid = parent.info.run_id
    for depth in (2, 4):
        child = children[f"depth_{depth}"]
        cid = child.info.run_id
        assert child.data.tags["mlflow.parentRunId"] == pid
        assert child.info.status == "FINISHED"
        assert values(client, cid, "fold_accuracy") == pytest.approx(cv[depth].tolist(), rel=REL)
        assert values(client, cid, "mean_accuracy") == pytest.approx([cv[depth].mean()], rel=REL)
        assert set(child.data.metrics) == {"fold_accuracy", "mean_accuracy"}
        assert artifact_paths(client, cid) == set()
    assert user_tags(children["depth_2"]) == {}
    assert user_tags(children["depth_4"]) == {"max_depth": "4"}

    assert parent.info.status == "FINISHED"
    assert values(client, pid, "best_depth") == [float(best)]
    assert values(client, pid, "best_accuracy") == pytest.approx([cv[best].mean()], rel=REL)
    assert set(parent.data.metrics) == {"best_depth", "best_accuracy"}
    # a string metric: the latest value as a tag, every value in a text artifact
    assert user_tags(parent) == {"workspace": "legacy-ws"}
    assert artifact_paths(client, pid) == {
        "metrics_text/workspace.jsonl",
        "aml2mlflow/conversions.json",
    }
    texts = read_jsonl(client, pid, "metrics_text/workspace.jsonl", tmp_path)
    assert [(t["step"], t["value"]) for t in texts] == [(0, "legacy-ws")]
    report = conversions(client, pid, tmp_path)
    assert set(report) == {("run-log-text", "workspace")}
    assert report["run-log-text", "workspace"]["detail"] == "str value"


def odd_expected() -> list[float]:
    return np.random.RandomState(7).uniform(0.6, 0.9, size=3).tolist()


def test_odd_names_and_strings(store: str, tmp_path: Path) -> None:
    result = run_script(
        LEGACY / "odd_names_and_strings.py", tmp_path, MLFLOW_EXPERIMENT_NAME="legacy-odd"
    )
    assert_clean(result)
    top1 = odd_expected()
    client = MlflowClient(store)
    assert client.get_experiment_by_name("odd_names_and_strings") is None
    run = only_run(client, "legacy-odd")
    rid = run.info.run_id
    assert run.info.status == "FINISHED"
    # renamed metrics keep every value and step; the original name is a tag
    assert values(client, rid, "Accuracy pct") == pytest.approx([100 * a for a in top1], rel=REL)
    assert values(client, rid, "prec_at_1") == top1
    assert values(client, rid, "f1_macro") == [0.75]
    # an explicit step= wins over the per-name counter
    assert history(client, rid, "loss") == [
        (0, pytest.approx(1.0 - top1[0], rel=REL)),
        (10, pytest.approx(1.0 - top1[1], rel=REL)),
        (20, pytest.approx(1.0 - top1[2], rel=REL)),
    ]
    assert values(client, rid, "converged") == [1.0]
    assert values(client, rid, "early_stopped") == [0.0]
    assert values(client, rid, "n_samples") == [1437.0]
    assert values(client, rid, "n_classes") == [10.0]
    assert set(run.data.metrics) == {
        "Accuracy pct",
        "prec_at_1",
        "f1_macro",
        "loss",
        "converged",
        "early_stopped",
        "n_samples",
        "n_classes",
    }
    tags = run.data.tags
    assert tags["aml2mlflow.name.Accuracy pct"] == "Accuracy (%)"
    assert tags["aml2mlflow.name.prec_at_1"] == "prec@1"
    assert tags["aml2mlflow.name.f1_macro"] == "f1,macro"
    assert user_tags(run) == {"status": "converged", "notes": "None"}
    assert artifact_paths(client, rid) == {
        "metrics_text/status.jsonl",
        "metrics_text/notes.jsonl",
        "aml2mlflow/conversions.json",
    }
    status = read_jsonl(client, rid, "metrics_text/status.jsonl", tmp_path)
    assert [(s["step"], s["value"]) for s in status] == [(0, "running"), (1, "converged")]
    notes = read_jsonl(client, rid, "metrics_text/notes.jsonl", tmp_path)
    assert [(s["step"], s["value"]) for s in notes] == [(0, None)]

    report = conversions(client, rid, tmp_path)
    expected = {
        ("metric-name", "Accuracy (%)"): "stored as 'Accuracy pct'",
        ("metric-name", "prec@1"): "stored as 'prec_at_1'",
        ("metric-name", "f1,macro"): "stored as 'f1_macro'",
        ("run-log-text", "status"): "str value",
        ("run-log-text", "notes"): "NoneType value",
        ("run-log-bool", "converged"): "",
        ("run-log-bool", "early_stopped"): "",
    }
    assert {k: report[k]["detail"] for k in report} == expected
    assert report["run-log-text", "status"]["count"] == 2


def test_numpy_bool_is_reported(shim: str, tmp_path: Path) -> None:
    """odd_names_and_strings.py's `run.log("early_stopped", np.bool_(False))`, in process."""
    from shims.run import Run

    run = Run.get_context()
    run.log("converged", True)
    run.log("early_stopped", np.bool_(False))
    run.flush()
    client = MlflowClient(shim)
    assert values(client, run.id, "early_stopped") == [0.0]
    report = conversions(client, run.id, tmp_path)
    assert ("run-log-bool", "converged") in report
    assert ("run-log-bool", "early_stopped") in report


def plain_python(script: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python script.py` with a do-nothing azureml stub: what the user saw before migrating."""
    stub = tmp_path / "stub"
    (stub / "azureml" / "core").mkdir(parents=True)
    (stub / "azureml" / "__init__.py").write_text("")
    (stub / "azureml" / "core" / "__init__.py").write_text("")
    (stub / "azureml" / "core" / "run.py").write_text(
        "class Run:\n"
        "    @classmethod\n"
        "    def get_context(cls):\n"
        "        return cls()\n"
        "    def log(self, name, value, description=''):\n"
        "        pass\n"
        "    def complete(self):\n"
        "        pass\n"
    )
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(stub)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_fails(store: str, tmp_path: Path) -> None:
    script = LEGACY / "fails.py"
    result = run_script(script, tmp_path)
    assert result.returncode == 1
    assert result.stdout == "epoch 0 loss 0.9\nepoch 1 loss 0.5\nepoch 2 loss 0.25\n"
    err = result.stderr
    assert err.startswith("Traceback (most recent call last):\n"), err
    assert f'  File "{script}", line 15, in <module>\n    check(loss)\n' in err
    assert f'  File "{script}", line 10, in check\n' in err
    assert err.rstrip("\n").splitlines()[-1] == "ValueError: loss diverged to nan"
    # exactly what plain python prints: same stdout, exit code and traceback (no runner frames)
    plain = plain_python(script, tmp_path)
    assert (plain.returncode, plain.stdout, plain.stderr) == (1, result.stdout, err)

    client = MlflowClient(store)
    run = only_run(client, "fails")
    rid = run.info.run_id
    assert run.info.status == "FAILED"
    assert run.info.end_time is not None
    assert values(client, rid, "loss") == [0.9, 0.5, 0.25]
    assert set(run.data.metrics) == {"loss"}
    assert run.data.tags["aml2mlflow.error"] == "ValueError: loss diverged to nan"
    assert artifact_paths(client, rid) == set()


# -- the demo project -------------------------------------------------------------------------------
def test_demo_train(store: str, tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split

    assert (DEMO / "README.md").read_text().count("python -m shims train.py") == 1
    # (how long it takes is not asserted here: speed lives in bench/, and this machine is shared)
    result = run_script(DEMO / "train.py", tmp_path, "--alphas", "0.01,0.1,1.0")
    assert_clean(result)

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    alphas = [0.01, 0.1, 1.0]
    preds = [Ridge(alpha=a).fit(X_train, y_train).predict(X_test) for a in alphas]
    rmse = [float(np.sqrt(mean_squared_error(y_test, p))) for p in preds]
    r2 = [float(r2_score(y_test, p)) for p in preds]
    best = int(np.argmin(rmse))
    assert len(result.stdout.splitlines()) == 3

    client = MlflowClient(store)
    run = only_run(client, "train")
    rid = run.info.run_id
    assert run.info.status == "FINISHED"
    assert values(client, rid, "alpha") == alphas
    assert values(client, rid, "rmse") == pytest.approx(rmse, rel=REL)
    assert values(client, rid, "best_rmse") == pytest.approx([rmse[best]], rel=REL)
    assert values(client, rid, "alpha_search/alpha") == alphas
    assert values(client, rid, "alpha_search/rmse") == pytest.approx(rmse, rel=REL)
    assert values(client, rid, "alpha_search/r2") == pytest.approx(r2, rel=REL)
    assert run.data.params == {"test_size": "0.2"}
    assert user_tags(run) == {"model": "Ridge", "dataset": "diabetes", "team": "forecasting"}
    assert artifact_paths(client, rid) == {
        "residuals_plot.png",
        "residuals.json",
        "residuals.png",
        "tables/alpha_search.json",
        "model/model.pkl",
        "outputs/model.pkl",
        "outputs/metrics.json",
        "aml2mlflow/conversions.json",
    }
    table = read_json(client, rid, "tables/alpha_search.json", tmp_path)
    assert table["columns"] == ["alpha", "rmse", "r2"]
    assert [row[0] for row in table["data"]] == alphas
    assert [row[1] for row in table["data"]] == pytest.approx(rmse, rel=REL)
    assert [row[2] for row in table["data"]] == pytest.approx(r2, rel=REL)
    residuals = read_json(client, rid, "residuals.json", tmp_path)
    assert residuals["schema_type"] == "residuals"
    assert sum(residuals["data"]["bin_counts"]) == len(y_test)
    assert_png(client, rid, "residuals_plot.png", tmp_path)
    assert_png(client, rid, "residuals.png", tmp_path)
    assert read_json(client, rid, "outputs/metrics.json", tmp_path) == {
        "alpha": alphas[best],
        "rmse": pytest.approx(rmse[best], rel=REL),
    }
    uploaded = read_artifact(client, rid, "model/model.pkl", tmp_path)
    assert uploaded == read_artifact(client, rid, "outputs/model.pkl", tmp_path)
    assert pickle.loads(uploaded).alpha == alphas[best]
    report = conversions(client, rid, tmp_path)
    assert set(report) == {
        ("run-log-row", "alpha_search"),
        ("run-log-residuals", "residuals"),
        ("outputs-folder", "outputs"),
    }
    assert report["outputs-folder", "outputs"]["detail"] == "2 file(s) uploaded at run end"
