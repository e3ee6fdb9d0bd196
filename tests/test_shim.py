"""The shim in-process against a real local MLflow store: values, steps, names, artifacts, runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from shims import ServiceOnlyError, UserErrorException, session
from shims.run import Experiment, Run, Workspace
from shims.workbench import get_azureml_logger

ROOT = Path(__file__).resolve().parent.parent


def history(run: Run, key: str) -> list[tuple[int, float]]:
    run.flush()
    points = MlflowClient().get_metric_history(run.id, key)
    return [(m.step, m.value) for m in sorted(points, key=lambda m: (m.step, m.timestamp))]


def artifact_text(run: Run, path: str) -> str:
    run.flush()
    local = MlflowClient().download_artifacts(run.id, path, str(Path.cwd() / "dl"))
    return Path(local).read_text(encoding="utf-8")


def conversions(run: Run) -> list[dict[str, Any]]:
    run.flush()
    return list(json.loads(artifact_text(run, "aml2mlflow/conversions.json")))


def test_import_shims_does_not_import_mlflow() -> None:
    code = "import sys, shims; print('mlflow' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["False", "False"]


def test_log_loop_keeps_order_with_per_name_steps(shim: str) -> None:
    run = Run.get_context()
    values = [0.9, 0.5, 0.5, 0.7, 0.1]  # repeated values must survive (distinct steps)
    for v in values:
        run.log("mse", v)
        run.log("other", v * 2)
    assert history(run, "mse") == list(enumerate(values))
    assert history(run, "other") == [(i, v * 2) for i, v in enumerate(values)]


def test_get_submitted_run_is_the_context_run(shim: str) -> None:
    run = Run.get_submitted_run()
    assert run is Run.get_context()
    run.log("m", 1.0)
    assert history(run, "m") == [(0, 1.0)]


def test_explicit_step_wins_and_counter_continues(shim: str) -> None:
    run = Run.get_context()
    run.log("acc", 0.1)
    run.log("acc", 0.2, step=10)
    run.log("acc", 0.3)
    run.log(name="acc", value=0.4, description="dropped by Azure too", step=3)
    assert history(run, "acc") == [(0, 0.1), (3, 0.4), (10, 0.2), (11, 0.3)]


def test_value_kinds(shim: str) -> None:
    np = pytest.importorskip("numpy")
    run = Run.get_context()
    run.log("flag", True)
    run.log("f32", np.float32(0.25))
    run.log("i64", np.int64(7))
    run.log("big", 2**100)
    run.log("status", "converged")
    run.log("nothing", None)
    run.log("tuple", (1, 2))
    assert history(run, "flag") == [(0, 1.0)]
    assert history(run, "f32") == [(0, 0.25)]
    assert history(run, "i64") == [(0, 7.0)]
    assert history(run, "big") == [(0, float(2**100))]
    tags = MlflowClient().get_run(run.id).data.tags
    assert tags["status"] == "converged" and tags["nothing"] == "None"
    assert tags["tuple"] == "(1, 2)"
    lines = artifact_text(run, "metrics_text/status.jsonl").splitlines()
    assert [json.loads(x)["value"] for x in lines] == ["converged"]
    assert json.loads(artifact_text(run, "metrics_text/nothing.jsonl"))["value"] is None
    rules = {(c["rule"], c["name"]) for c in conversions(run)}
    assert {
        ("run-log-bool", "flag"),
        ("run-log-text", "status"),
        ("run-log-text", "nothing"),
    } <= rules


@pytest.mark.parametrize("bad", [[1, 2], range(3), (x for x in [1])])
def test_log_rejects_lists_like_azure(shim: str, bad: object) -> None:
    run = Run.get_context()
    with pytest.raises(UserErrorException, match=r"Use run\.log_list instead"):
        run.log("m", bad)


def test_rejected_names_are_mapped_and_originals_kept(shim: str) -> None:
    run = Run.get_context()
    run.log("Accuracy (%)", 93.5)
    run.log("prec@1", 0.5)
    run.log("f1,macro", 0.25)
    run.log("", 1.0)
    run.log("/lead", 2.0)
    data = MlflowClient().get_run(run.id).data
    run.flush()
    data = MlflowClient().get_run(run.id).data
    assert data.metrics == {
        "Accuracy pct": 93.5,
        "prec_at_1": 0.5,
        "f1_macro": 0.25,
        "unnamed": 1.0,
        "lead": 2.0,
    }
    assert data.tags["aml2mlflow.name.Accuracy pct"] == "Accuracy (%)"
    assert data.tags["aml2mlflow.name.prec_at_1"] == "prec@1"
    got = {c["name"]: c["detail"] for c in conversions(run) if c["rule"] == "metric-name"}
    assert got["Accuracy (%)"] == "stored as 'Accuracy pct'"
    # Reading back through the legacy API gives the legacy names.
    assert run.get_metrics()["Accuracy (%)"] == 93.5


def test_log_list_is_one_history_with_steps_and_appends(shim: str) -> None:
    run = Run.get_context()
    run.log_list("l", [3, 1, 3])
    run.log_list("l", (5,))
    run.log_list("s", "ab")  # a str iterates characters, as in Azure ML
    assert history(run, "l") == [(0, 3.0), (1, 1.0), (2, 3.0), (3, 5.0)]
    lines = [json.loads(x) for x in artifact_text(run, "metrics_text/s.jsonl").splitlines()]
    assert [(x["step"], x["value"]) for x in lines] == [(0, "a"), (1, "b")]


def test_log_list_beyond_one_request(shim: str) -> None:
    run = Run.get_context()
    values = [float(i % 7) for i in range(2500)]  # > MLflow's 1000 metrics per request
    run.log_list("big", values)
    assert history(run, "big") == list(enumerate(values))


def test_rows_and_tables(shim: str) -> None:
    run = Run.get_context()
    run.log_row("epochs", epoch=1, loss=0.5, note="warm")
    run.log_row("epochs", epoch=2, loss=0.25, note="cool")
    run.log_table("epochs", {"epoch": [3], "loss": [0.125], "note": ["cold"]})
    table = json.loads(artifact_text(run, "tables/epochs.json"))
    assert table == {
        "columns": ["epoch", "loss", "note"],
        "data": [[1, 0.5, "warm"], [2, 0.25, "cool"], [3, 0.125, "cold"]],
    }
    assert history(run, "epochs/loss") == [(0, 0.5), (1, 0.25), (2, 0.125)]
    tags = MlflowClient().get_run(run.id).data.tags
    assert json.loads(tags["mlflow.loggedArtifacts"]) == [
        {"path": "tables/epochs.json", "type": "table"}
    ]
    assert run.get_metrics("epochs") == {
        "epochs": {"epoch": [1, 2, 3], "loss": [0.5, 0.25, 0.125], "note": ["warm", "cool", "cold"]}
    }


def test_table_mismatch_is_rejected_like_azure(shim: str) -> None:
    from shims.errors import AzureMLException

    run = Run.get_context()
    with pytest.raises(AzureMLException, match="column x had length 2, however, column y"):
        run.log_table("t", {"x": [1, 2], "y": [1]})


def test_json_metric_string_is_parsed_not_double_encoded(shim: str) -> None:
    run = Run.get_context()
    cm = {
        "schema_type": "confusion_matrix",
        "schema_version": "1.0.0",
        "data": {"class_labels": ["a", "b"], "matrix": [[3, 0], [1, 2]]},
    }
    run.log_confusion_matrix("cm", json.dumps(cm))
    run.log_residuals("free", {"foo": 1})
    assert json.loads(artifact_text(run, "cm.json")) == cm
    names = run.get_file_names()
    assert "cm.png" in names and "free.json" in names and "free.png" not in names
    png = Path(MlflowClient().download_artifacts(run.id, "cm.png", str(Path.cwd() / "dl")))
    assert png.read_bytes().startswith(b"\x89PNG")
    detail = {c["name"]: c["detail"] for c in conversions(run)}
    assert detail["free"].startswith("not rendered")
    with pytest.raises(UserErrorException, match="Invalid JSON provided"):
        run.log_predictions("p", "{not json")


def test_files_keep_v1_names(shim: str, tmp_path: Path) -> None:
    run = Run.get_context()
    src = tmp_path / "data.txt"
    src.write_text("v1")
    run.upload_file("outputs/deep/data.txt", str(src))
    src.write_text("changed after the call")  # the upload is what existed at call time
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "x.txt").write_text("x")
    (folder / "sub" / "y.txt").write_text("y")
    run.upload_folder("important_files", str(folder) + "/")
    assert artifact_text(run, "outputs/deep/data.txt") == "v1"
    assert {"important_files/x.txt", "important_files/sub/y.txt"} <= set(run.get_file_names())
    with pytest.raises(UserErrorException, match="UnsupportedType"):
        run.upload_file("p.txt", src)  # a pathlib.Path, rejected as Azure ML did
    with pytest.raises(UserErrorException, match="outside"):
        run.upload_file("../../escape.txt", str(src))


def test_image_from_path_and_plot(shim: str, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shims.errors import AzureMLException

    run = Run.get_context()
    plt.figure()
    plt.plot([1, 2, 3])
    run.log_image("curve", plot=plt)
    png = tmp_path / "pic.png"
    plt.savefig(png)
    run.log_image("pic", path=str(png))
    plt.close("all")
    assert {"curve.png", "pic.png"} <= set(run.get_file_names())
    with pytest.raises(AzureMLException, match="both provided"):
        run.log_image("x", path=str(png), plot=plt)


def test_tags_properties_and_reading_back(shim: str) -> None:
    run = Run.get_context()
    run.tag("DeploymentCandidate")
    run.tag("k", 5)
    run.tag(name="offline", value="shape")  # the offline run's parameter name
    run.set_tags({"a": 1, "b": None})
    run.remove_tags(["a"])
    run.add_properties({"p": 1, "q": 2.5})
    run.add_properties({"p": 1})  # same value again is fine
    with pytest.raises(UserErrorException, match="write-once"):
        run.add_properties({"p": 2})
    assert run.get_tags() == {"DeploymentCandidate": "", "k": "5", "offline": "shape", "b": ""}
    assert run.get_properties() == {"p": "1", "q": "2.5"}


def test_context_is_one_run_per_process_and_ends_on_close(shim: str) -> None:
    run = Run.get_context()
    assert Run.get_context() is run
    run.log("m", 1)
    session.current().close()  # what exit does
    info = MlflowClient().get_run(run.id).info
    assert info.status == "FINISHED"
    assert MlflowClient().get_experiment(info.experiment_id).name == "Default"


def test_experiment_start_logging_with_block_and_children(shim: str) -> None:
    ws = Workspace.from_config()
    assert ws.get_mlflow_tracking_uri() == shim
    exp = Experiment(workspace=ws, name="notebook-exp")
    with exp.start_logging() as run:
        run.log("parent_metric", 1)
        with run.child_run("fold-1") as child:
            child.log("fold_metric", 0.5)
            assert child.parent is run
        kids = run.create_children(tag_key="fold", tag_values=["a", "b"])
        for kid in kids:
            kid.complete()
    client = MlflowClient()
    assert client.get_run(run.id).info.status == "FINISHED"
    info = client.get_run(child.id)
    assert info.info.status == "FINISHED" and info.info.run_name == "fold-1"
    assert info.data.tags["mlflow.parentRunId"] == run.id
    assert sorted(c.id for c in run.get_children()) == sorted([child.id, *(k.id for k in kids)])
    assert client.get_experiment_by_name("notebook-exp") is not None


def test_with_block_fails_run_on_exception(shim: str) -> None:
    run = Experiment(None, "e").start_logging()
    with pytest.raises(ValueError), run:
        raise ValueError("boom")
    got = MlflowClient().get_run(run.id)
    assert got.info.status == "FAILED"
    assert got.data.tags["aml2mlflow.error"] == "ValueError: boom"


def test_service_only_calls_say_what_to_do(shim: str) -> None:
    exp = Experiment(None, "e")
    with pytest.raises(ServiceOnlyError, match="aml2mlflow run"):
        exp.submit(object())
    ws = Workspace.get("w")
    with pytest.raises(ServiceOnlyError, match="no MLflow equivalent"):
        ws.get_default_datastore()
    assert not hasattr(ws, "compute_targets")  # still an AttributeError for hasattr


def test_outputs_folder_uploaded_at_end(shim: str) -> None:
    run = Run.get_context()
    Path("outputs/nested").mkdir(parents=True)
    Path("outputs/model.pkl").write_bytes(b"\x00model")
    Path("outputs/nested/n.txt").write_text("n")
    run.complete()
    names = set(run.get_file_names())
    assert {"outputs/model.pkl", "outputs/nested/n.txt"} <= names


def test_workbench_logger_wait_and_upload(shim: str) -> None:
    logger = get_azureml_logger()
    pending = logger.log("Accuracy", 0.75)
    assert pending.wait(timeout=60) is True
    run = Run.get_context()
    # wait() returned: the value is stored, no flush needed.
    assert [m.value for m in MlflowClient().get_metric_history(run.id, "Accuracy")] == [0.75]
    logger.log("curve", [0.1, 0.2]).wait()
    assert logger.upload("notes/a.txt", "hello").wait(timeout=60)
    assert history(run, "curve") == [(0, 0.1), (1, 0.2)]
    assert artifact_text(run, "notes/a.txt") == "hello"


def test_threads_keep_per_key_order(shim: str) -> None:
    run = Run.get_context()

    def work(k: int) -> None:
        for i in range(500):
            run.log(f"t{k}", float(i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        assert history(run, f"t{k}") == [(i, float(i)) for i in range(500)]


def test_rejected_value_is_reported_not_fatal(shim: str, capfd: pytest.CaptureFixture[str]) -> None:
    run = Run.get_context()
    run.add_properties({"p": "1"})
    run.flush()
    # A second handle on the same run cannot know "p" is set: MLflow refuses the change. The
    # batch it shared with a good metric is split, the metric lands, the refusal is reported.
    other = Run(None, run.id)
    other.add_properties({"p": "2"})
    other.log("ok", 1.0)
    other.flush()
    data = MlflowClient().get_run(run.id).data
    assert data.metrics == {"ok": 1.0} and data.params == {"p": "1"}
    assert "MLflow rejected param 'p'" in capfd.readouterr().err
    rejected = [c for c in conversions(run) if c["rule"] == "run-add-properties"]
    assert rejected and rejected[0]["detail"].startswith("rejected by MLflow")


def test_experiment_name_env_and_script_default(store: str, tmp_path: Path) -> None:
    script = tmp_path / "my_training.py"
    script.write_text("from azureml.core import Run\nRun.get_context().log('m', 1)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "shims", str(script)], check=True, env=env, cwd=tmp_path)
    env["MLFLOW_EXPERIMENT_NAME"] = "from-env"
    subprocess.run([sys.executable, "-m", "shims", str(script)], check=True, env=env, cwd=tmp_path)
    client = MlflowClient()
    for name in ("my_training", "from-env"):
        exp = client.get_experiment_by_name(name)
        assert exp is not None, name
        (found,) = client.search_runs([exp.experiment_id])
        assert found.data.metrics == {"m": 1.0}
        assert found.info.status == "FINISHED"


@pytest.fixture
def served(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The in-process shim logging to the session's real `mlflow server`."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("AML2MLFLOW_QUIET", "1")
    monkeypatch.chdir(tmp_path)
    session.reset()
    yield mlflow_server
    session.reset()


@pytest.mark.server
def test_through_a_real_server(served: str, tmp_path: Path) -> None:
    run = Experiment(Workspace.from_config(), "served").start_logging()
    for i in range(1500):  # more than one request's worth
        run.log("loss", 1.0 / (i + 1))
    run.log("Accuracy (%)", 99.0)
    run.log_row("tbl", a=1, b="x")
    (tmp_path / "f.txt").write_text("artifact through the server")
    run.upload_file("dir/f.txt", str(tmp_path / "f.txt"))
    run.complete()
    client = MlflowClient(served)
    history = client.get_metric_history(run.id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(i, 1.0 / (i + 1)) for i in range(1500)]
    assert client.get_run(run.id).data.metrics["Accuracy pct"] == 99.0
    assert client.get_run(run.id).info.status == "FINISHED"
    assert artifact_text(run, "dir/f.txt") == "artifact through the server"
    assert run.get_portal_url().startswith(served)
    assert json.loads(artifact_text(run, "tables/tbl.json"))["data"] == [[1, "x"]]


def test_download_file_and_files(shim: str, tmp_path: Path) -> None:
    run = Run.get_context()
    for name, body in {"a/x.txt": "x", "a/b/y.txt": "y", "z.txt": "z"}.items():
        src = tmp_path / "src.txt"
        src.write_text(body)
        run.upload_file(name, str(src))
    run.download_file("a/b/y.txt", str(tmp_path / "got" / "y-copy.txt"))
    assert (tmp_path / "got" / "y-copy.txt").read_text() == "y"
    run.download_files(prefix="a", output_directory=str(tmp_path / "all"))
    assert (tmp_path / "all/a/x.txt").read_text() == "x"
    assert (tmp_path / "all/a/b/y.txt").read_text() == "y"
    assert not (tmp_path / "all/z.txt").exists()
    run.download_files(prefix="a/", output_directory=str(tmp_path / "flat"), append_prefix=False)
    assert (tmp_path / "flat/b/y.txt").read_text() == "y"


def test_fail_and_cancel_statuses(shim: str) -> None:
    exp = Experiment(None, "statuses")
    failed, cancelled = exp.start_logging(), exp.start_logging()
    failed.fail(error_details="data missing", error_code="E42")
    cancelled.cancel()
    with pytest.raises(TypeError, match="error_details must be instance"):
        exp.start_logging().fail(error_details=42)
    client = MlflowClient()
    got = client.get_run(failed.id)
    assert got.info.status == "FAILED"
    assert got.data.tags["aml2mlflow.error"] == "data missing"
    assert got.data.tags["aml2mlflow.error_code"] == "E42"
    assert client.get_run(cancelled.id).info.status == "KILLED"
    assert failed.get_status() == "Failed" and cancelled.get_status() == "Canceled"
    details = failed.get_details()
    assert details["runId"] == failed.id and details["status"] == "Failed"
    assert details["endTimeUtc"].endswith("Z")


def test_conversion_summary_on_stderr_unless_quiet(store: str, tmp_path: Path) -> None:
    script = tmp_path / "lossy.py"
    script.write_text(
        "from azureml.core import Run\nrun = Run.get_context()\n"
        "run.log('prec@1', 0.5)\nrun.log('done', True)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("AML2MLFLOW_QUIET", None)
    loud = subprocess.run(
        [sys.executable, "-m", "shims", str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "2 lossy conversion(s)" in loud.stderr
    assert "Run.log 'prec@1': metric-name (stored as 'prec_at_1')" in loud.stderr
    env["AML2MLFLOW_QUIET"] = "1"
    quiet = subprocess.run(
        [sys.executable, "-m", "shims", str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "aml2mlflow" not in quiet.stderr


def test_infinity_is_clamped_by_mlflow_and_reported(shim: str) -> None:
    run = Run.get_context()
    run.log("inf", float("inf"))
    run.log("nan", float("nan"))
    assert history(run, "inf") == [(0, sys.float_info.max)]
    (nan,) = history(run, "nan")
    assert nan[1] != nan[1]
    rules = {(c["rule"], c["name"]) for c in conversions(run)}
    assert ("run-log-infinite", "inf") in rules and ("run-log-infinite", "nan") not in rules


def test_context_run_is_kept_after_complete(shim: str) -> None:
    run = Run.get_context()
    run.complete()
    again = Run.get_context()  # a helper asking for the run after the script completed it
    assert again is run
    again.log("late", 1.0)
    again.flush()
    assert MlflowClient().get_run(run.id).data.metrics == {"late": 1.0}


def test_active_mlflow_run_is_used_and_left_to_its_owner(shim: str) -> None:
    import mlflow

    with mlflow.start_run() as active:
        run = Run.get_context()
        assert run.id == active.info.run_id
        run.log("m", 2.0)
        run.complete()  # legacy code completes; the user's `with` block ends the run
        assert MlflowClient().get_run(active.info.run_id).info.status == "RUNNING"
    assert MlflowClient().get_run(active.info.run_id).info.status == "FINISHED"
    assert MlflowClient().get_run(active.info.run_id).data.metrics == {"m": 2.0}


def test_attached_run_by_id_can_be_completed(shim: str) -> None:
    from mlflow.tracking import MlflowClient as Client

    created = Client().create_run(Experiment(None, "attach")._mlflow_id())
    run = Run(None, created.info.run_id)
    run.log("x", 1.0)
    run.complete()
    assert Client().get_run(run.id).info.status == "FINISHED"
