"""The catalogue: one row per legacy logging API, the single source of truth for the whole toolkit.

The runtime shim quotes a row's reason when it records a lossy conversion, the codemod and the audit
build their findings from rows, and the README's mapping table is rendered from them (a test fails when
the README drifts). Adding support for an API starts here.

This module imports nothing heavy: `import shims` and the static CLI commands load it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Fidelity = Literal["exact", "lossy", "manual"]
FIDELITIES: tuple[Fidelity, ...] = ("exact", "lossy", "manual")


@dataclass(frozen=True)
class Entry:
    """One legacy API (or one distinct way of calling it) and what it becomes on MLflow.

    Attributes:
        id: stable rule id, quoted by findings and the shim's conversion report.
        api: the legacy API as users write it (`Run.log`, `Workbench.log`, ...).
        when: the case this row covers when an API converts differently by argument ("" = always).
        target: the MLflow code it becomes.
        fidelity: `exact` (nothing lost), `lossy` (converted, something changes) or `manual`
            (no faithful MLflow form: a person must decide).
        reason: one sentence a user understands: what changes, or what to do instead.
        group: the README section this row is listed under.
        shim: the shim member that implements it (`Run.log`), or "" when the shim has none.
    """

    id: str
    api: str
    when: str
    target: str
    fidelity: Fidelity
    reason: str
    group: str
    shim: str = ""


GROUPS = (
    "metrics",
    "images",
    "tables",
    "files",
    "tags and properties",
    "lifecycle",
    "reading back",
    "context",
    "workbench",
    "implicit",
)

_E = Entry
ENTRIES: tuple[Entry, ...] = (
    # --- metrics -------------------------------------------------------------------------------
    _E(
        "run-log",
        "Run.log",
        "number (int, float, numpy scalar)",
        "mlflow.log_metric(name, value, step=n)",
        "exact",
        "Each call is a new point of the metric's history; the shim numbers steps 0, 1, 2, ... per "
        "name so a loop keeps its order (an explicit step= wins); numpy integers, which Azure ML "
        "stored as text, are stored as numbers.",
        "metrics",
        "Run.log",
    ),
    _E(
        "run-log-bool",
        "Run.log",
        "bool",
        "mlflow.log_metric(name, 1.0 or 0.0)",
        "lossy",
        "MLflow metrics are numbers, so True/False are stored as 1/0.",
        "metrics",
        "Run.log",
    ),
    _E(
        "run-log-infinite",
        "Run.log",
        "inf or -inf",
        "mlflow.log_metric(name, +-1.797e308)",
        "lossy",
        "MLflow's SQL stores save infinity as the largest float (NaN is kept as NaN).",
        "metrics",
        "Run.log",
    ),
    _E(
        "run-log-text",
        "Run.log",
        "str, None or another non-number",
        "mlflow.set_tag(name, text) + artifact metrics_text/<name>.jsonl",
        "lossy",
        "MLflow metrics are numbers only: the latest value becomes a tag (the shim also keeps "
        "every value, in order, in a text artifact; rewritten code keeps only the tag).",
        "metrics",
        "Run.log",
    ),
    _E(
        "run-log-description",
        "Run.log",
        "description=",
        "dropped",
        "exact",
        "Azure ML accepted a description but never stored it; nothing is lost.",
        "metrics",
        "Run.log",
    ),
    _E(
        "run-log-list",
        "Run.log_list",
        "",
        "MlflowClient.log_batch(run_id, metrics=[Metric(name, v, ts, step=i)...])",
        "exact",
        "The list becomes one metric history with steps 0..n-1, sent in batches within MLflow's "
        "request limits; a call in a loop or a function, under a computed name, or under a "
        "name other calls also log to, continues the steps of the calls before it (the rewrite "
        "reads the metric's history length first).",
        "metrics",
        "Run.log_list",
    ),
    _E(
        "run-log-list-unknown",
        "Run.log_list",
        "rewrite: items whose type the source does not show",
        "MlflowClient.log_batch(run_id, metrics=[Metric(name, float(v), ts, step=i)...])",
        "lossy",
        "The items are logged as numbers: an item that is text or None (which Azure ML stored) "
        "raises in MLflow; if the list can hold such items, log it with mlflow.log_dict instead.",
        "metrics",
    ),
    _E(
        "run-log-list-text",
        "Run.log_list",
        "non-numeric items",
        "artifact metrics_text/<name>.jsonl",
        "lossy",
        "Strings and None in a list cannot be metric values; they are kept in a text artifact in "
        "order.",
        "metrics",
        "Run.log_list",
    ),
    _E(
        "metric-name",
        "Run.log",
        "a name MLflow rejects",
        "a valid name derived deterministically (e.g. 'Accuracy (%)' -> 'Accuracy pct')",
        "lossy",
        "MLflow rejects names with ( ) % # , + = [ ] @ ' and similar; the metric is stored under a "
        "valid name (the shim also keeps the original in the run's tags; rewritten code does "
        "not).",
        "metrics",
        "Run.log",
    ),
    # --- tables --------------------------------------------------------------------------------
    _E(
        "run-log-row",
        "Run.log_row",
        "",
        "table artifact tables/<name>.json (mlflow.log_table format) + metric <name>/<column>",
        "lossy",
        "MLflow has no table metric: rows go to a table artifact that grows across calls, and numeric "
        "columns also become metric histories (step = row number).",
        "tables",
        "Run.log_row",
    ),
    _E(
        "run-log-table",
        "Run.log_table",
        "",
        "table artifact tables/<name>.json (mlflow.log_table format) + metric <name>/<column>",
        "lossy",
        "MLflow has no table metric: the columns go to a table artifact, and numeric columns also "
        "become metric histories (step = row number).",
        "tables",
        "Run.log_table",
    ),
    _E(
        "run-log-confusion-matrix",
        "Run.log_confusion_matrix",
        "",
        "mlflow.log_dict(value, '<name>.json') + rendered figure <name>.png",
        "lossy",
        "MLflow has no confusion-matrix chart: the JSON is kept as an artifact and the picture "
        "Azure drew is rendered to a PNG beside it.",
        "tables",
        "Run.log_confusion_matrix",
    ),
    _E(
        "run-log-accuracy-table",
        "Run.log_accuracy_table",
        "",
        "mlflow.log_dict(value, '<name>.json') + rendered figure <name>.png",
        "lossy",
        "MLflow has no accuracy-table chart: the JSON is kept as an artifact and the ROC and "
        "precision-recall curves are rendered to a PNG beside it.",
        "tables",
        "Run.log_accuracy_table",
    ),
    _E(
        "run-log-predictions",
        "Run.log_predictions",
        "",
        "mlflow.log_dict(value, '<name>.json') + rendered figure <name>.png",
        "lossy",
        "MLflow has no predictions chart: the JSON is kept as an artifact and the predicted-vs-true "
        "chart is rendered to a PNG beside it.",
        "tables",
        "Run.log_predictions",
    ),
    _E(
        "run-log-residuals",
        "Run.log_residuals",
        "",
        "mlflow.log_dict(value, '<name>.json') + rendered figure <name>.png",
        "lossy",
        "MLflow has no residuals chart: the JSON is kept as an artifact and the histogram is "
        "rendered to a PNG beside it.",
        "tables",
        "Run.log_residuals",
    ),
    # --- images --------------------------------------------------------------------------------
    _E(
        "run-log-image-path",
        "Run.log_image",
        "path=",
        "mlflow.log_artifact(path)",
        "exact",
        "The image file is stored as an artifact (the shim names it after the v1 name; the "
        "rewrite keeps the file's own name and reports artifact-file-name when they differ).",
        "images",
        "Run.log_image",
    ),
    _E(
        "run-log-image-plot",
        "Run.log_image",
        "plot=",
        "mlflow.log_figure(figure, '<name>.png')",
        "exact",
        "The figure (pyplot's current figure when plt is passed) is saved as <name>.png.",
        "images",
        "Run.log_image",
    ),
    # --- files ---------------------------------------------------------------------------------
    _E(
        "run-upload-file",
        "Run.upload_file",
        "",
        "mlflow.log_artifact(path, artifact_path=dirname(name)) stored at exactly <name>",
        "exact",
        "The artifact keeps its v1 name, folders included.",
        "files",
        "Run.upload_file",
    ),
    _E(
        "run-upload-files",
        "Run.upload_files",
        "",
        "mlflow.log_artifact(...) per file, each at its v1 name",
        "exact",
        "Each file keeps its v1 name; return_artifacts and timeout_seconds have no MLflow "
        "equivalent and are ignored.",
        "files",
        "Run.upload_files",
    ),
    _E(
        "run-upload-folder",
        "Run.upload_folder",
        "",
        "mlflow.log_artifacts(path, artifact_path=name)",
        "lossy",
        "Files are stored under <name>/; Azure ML glued names without '/' when path ended in '/', "
        "a quirk that is not copied.",
        "files",
        "Run.upload_folder",
    ),
    _E(
        "run-upload-datastore",
        "Run.upload_file",
        "datastore_name=",
        "the run's artifact store",
        "lossy",
        "MLflow has one artifact store per run: datastore_name is ignored.",
        "files",
        "Run.upload_file",
    ),
    _E(
        "artifact-file-name",
        "Run.upload_file",
        "rewrite: the v1 name is not <folder>/<the file's own name>, or is computed at run time",
        "mlflow.log_artifact(path, artifact_path=<folder of the v1 name>)",
        "lossy",
        "MLflow stores a file under its own name: the artifact lands in the v1 name's folder but "
        "keeps the file's name; rename the file before logging it if readers expect the v1 name.",
        "files",
    ),
    # --- tags and properties -------------------------------------------------------------------
    _E(
        "run-tag",
        "Run.tag",
        "",
        "mlflow.set_tag(key, str(value))",
        "exact",
        "Tag values are stored as strings, as Azure ML did.",
        "tags and properties",
        "Run.tag",
    ),
    _E(
        "run-tag-maybe-none",
        "Run.tag",
        "rewrite: a value that may be None at run time (a call's result, an item), also in "
        "set_tags",
        "mlflow.set_tag(key, value)",
        "lossy",
        "MLflow stores a None value as the text 'None' where Azure ML stored an empty tag, and "
        "the source does not show whether this value can be None: if it can, write "
        '`"" if value is None else value` (`os.environ.get(key)` gets the default "").',
        "tags and properties",
    ),
    _E(
        "run-tag-key-only",
        "Run.tag",
        "no value",
        "mlflow.set_tag(key, '')",
        "lossy",
        "MLflow tags always have a value: a key-only tag is stored with an empty string.",
        "tags and properties",
        "Run.tag",
    ),
    _E(
        "run-set-tags",
        "Run.set_tags",
        "",
        "mlflow.set_tags(tags)",
        "exact",
        "Each key becomes a tag with a string value (None becomes '').",
        "tags and properties",
        "Run.set_tags",
    ),
    _E(
        "run-remove-tags",
        "Run.remove_tags",
        "",
        "mlflow.delete_tag(key) per key",
        "exact",
        "Each named tag is deleted.",
        "tags and properties",
        "Run.remove_tags",
    ),
    _E(
        "run-get-tags",
        "Run.get_tags",
        "",
        "MlflowClient.get_run(run_id).data.tags",
        "exact",
        "Returns the run's tags without MLflow's own mlflow.* system tags.",
        "tags and properties",
        "Run.get_tags",
    ),
    _E(
        "run-add-properties",
        "Run.add_properties",
        "",
        "mlflow.log_params(properties)",
        "exact",
        "Properties and params are both write-once strings.",
        "tags and properties",
        "Run.add_properties",
    ),
    _E(
        "run-get-properties",
        "Run.get_properties",
        "",
        "MlflowClient.get_run(run_id).data.params",
        "exact",
        "Returns the run's params.",
        "tags and properties",
        "Run.get_properties",
    ),
    _E(
        "run-description",
        "Run.description",
        "",
        "tag mlflow.note.content",
        "exact",
        "The description is MLflow's run note.",
        "tags and properties",
        "Run.description",
    ),
    _E(
        "run-display-name",
        "Run.display_name",
        "",
        "the MLflow run name",
        "exact",
        "The display name is the MLflow run name.",
        "tags and properties",
        "Run.display_name",
    ),
    # --- lifecycle -----------------------------------------------------------------------------
    _E(
        "run-complete",
        "Run.complete",
        "",
        "mlflow.end_run('FINISHED')",
        "exact",
        "The run ends as FINISHED. Like Azure ML, the shim first uploads ./outputs; rewritten "
        "code does not (the audit flags files written there).",
        "lifecycle",
        "Run.complete",
    ),
    _E(
        "run-fail",
        "Run.fail",
        "",
        "mlflow.end_run('FAILED') + tag aml2mlflow.error",
        "exact",
        "The error details are kept as a tag.",
        "lifecycle",
        "Run.fail",
    ),
    _E(
        "run-cancel",
        "Run.cancel",
        "",
        "mlflow.end_run('KILLED')",
        "exact",
        "Azure's Canceled is MLflow's KILLED.",
        "lifecycle",
        "Run.cancel",
    ),
    _E(
        "run-start",
        "Run.start",
        "",
        "nothing (MLflow runs start RUNNING)",
        "exact",
        "MLflow runs are RUNNING from creation.",
        "lifecycle",
        "Run.start",
    ),
    _E(
        "run-flush",
        "Run.flush",
        "",
        "wait until every queued record is stored",
        "exact",
        "Blocks until everything logged so far is persisted, as in Azure ML.",
        "lifecycle",
        "Run.flush",
    ),
    _E(
        "run-child-run",
        "Run.child_run",
        "",
        "mlflow.start_run(run_name=name, nested=True)",
        "exact",
        "A nested run with mlflow.parentRunId set; completing it ends it.",
        "lifecycle",
        "Run.child_run",
    ),
    _E(
        "run-context-manager",
        "Run.__enter__",
        "with run:",
        "with mlflow.start_run():",
        "exact",
        "Leaving the block completes the run, or fails it on an exception.",
        "lifecycle",
        "Run.__enter__",
    ),
    _E(
        "run-create-children",
        "Run.create_children",
        "",
        "MlflowClient.create_run per child",
        "exact",
        "Creates nested runs, tagged with tag_key/tag_values when given.",
        "lifecycle",
        "Run.create_children",
    ),
    _E(
        "run-wait-for-completion",
        "Run.wait_for_completion",
        "",
        "none",
        "manual",
        "Waiting on a submitted cloud job has no MLflow equivalent: run the script directly or use "
        "your scheduler's wait.",
        "lifecycle",
        "Run.wait_for_completion",
    ),
    _E(
        "run-submit-child",
        "Run.submit_child",
        "",
        "none",
        "manual",
        "Submitting a cloud job has no MLflow equivalent: launch the child script with your "
        "scheduler and log it as a nested run.",
        "lifecycle",
        "Run.submit_child",
    ),
    _E(
        "run-register-model",
        "Run.register_model",
        "",
        "mlflow.register_model('runs:/<run_id>/<path>', name)",
        "manual",
        "MLflow registers MLflow-format models only: save the model with mlflow.<flavor>.log_model "
        "first, then register it.",
        "lifecycle",
        "Run.register_model",
    ),
    # --- reading back --------------------------------------------------------------------------
    _E(
        "run-get-metrics",
        "Run.get_metrics",
        "",
        "MlflowClient.get_metric_history per key",
        "exact",
        "Returns {name: value or [values]} under the original v1 names; tables as "
        "{column: [values]}.",
        "reading back",
        "Run.get_metrics",
    ),
    _E(
        "run-get-file-names",
        "Run.get_file_names",
        "",
        "MlflowClient.list_artifacts (recursive)",
        "exact",
        "Lists every artifact path of the run.",
        "reading back",
        "Run.get_file_names",
    ),
    _E(
        "run-download-file",
        "Run.download_file",
        "",
        "mlflow.artifacts.download_artifacts",
        "exact",
        "Downloads one artifact to output_file_path.",
        "reading back",
        "Run.download_file",
    ),
    _E(
        "run-download-files",
        "Run.download_files",
        "",
        "mlflow.artifacts.download_artifacts",
        "exact",
        "Downloads every artifact under prefix.",
        "reading back",
        "Run.download_files",
    ),
    _E(
        "run-get-status",
        "Run.get_status",
        "",
        "MlflowClient.get_run(run_id).info.status",
        "lossy",
        "MLflow's statuses are RUNNING, FINISHED, FAILED, KILLED and SCHEDULED; they are "
        "returned as Azure's Running, Completed, Failed, Canceled and Queued.",
        "reading back",
        "Run.get_status",
    ),
    _E(
        "run-get-details",
        "Run.get_details",
        "",
        "MlflowClient.get_run(run_id).info",
        "lossy",
        "Returns runId, status, startTimeUtc, endTimeUtc, properties and tags; Azure-only fields "
        "(target, runDefinition, logFiles) do not exist.",
        "reading back",
        "Run.get_details",
    ),
    _E(
        "run-get-children",
        "Run.get_children",
        "",
        "MlflowClient.search_runs(parentRunId filter)",
        "exact",
        "Yields the nested runs.",
        "reading back",
        "Run.get_children",
    ),
    _E(
        "run-parent",
        "Run.parent",
        "",
        "tag mlflow.parentRunId",
        "exact",
        "The parent run, or None for a top-level run.",
        "reading back",
        "Run.parent",
    ),
    _E(
        "run-id",
        "Run.id",
        "",
        "run.info.run_id",
        "exact",
        "The MLflow run id (a hex string; Azure's ids looked different).",
        "reading back",
        "Run.id",
    ),
    _E(
        "run-get",
        "Run.get",
        "",
        "MlflowClient.get_run(run_id)",
        "exact",
        "Attaches to an existing MLflow run by id.",
        "reading back",
        "Run.get",
    ),
    _E(
        "run-list",
        "Run.list",
        "",
        "MlflowClient.search_runs(experiment_ids)",
        "exact",
        "Yields the experiment's runs, newest first.",
        "reading back",
        "Run.list",
    ),
    _E(
        "run-get-metrics-remote",
        "Run.get_metrics",
        "of a submitted (control-side) run",
        "MlflowClient.get_metric_history",
        "manual",
        "Reading another job's metrics from a control script depends on the job's MLflow run id: "
        "look it up with mlflow.search_runs.",
        "reading back",
        "",
    ),
    # --- context -------------------------------------------------------------------------------
    _E(
        "run-get-context",
        "Run.get_context",
        "",
        "mlflow.start_run() (or the active run)",
        "exact",
        "The script's run: MLflow's active run, or a new one in MLFLOW_EXPERIMENT_NAME (default: "
        "the script's name).",
        "context",
        "Run.get_context",
    ),
    _E(
        "run-get-context-mixed",
        "Run.get_context",
        "rewrite: the file also starts MLflow runs or sets the experiment or tracking URI itself",
        "mlflow.active_run() or mlflow.start_run()",
        "lossy",
        "In an Azure ML job both were the job's run; now the run starts here, so a later "
        "mlflow.start_run() raises 'Run ... is already active' and a later set_experiment() or "
        "set_tracking_uri() no longer applies to it: remove one of the two starts, and set the "
        "experiment and tracking URI first.",
        "context",
    ),
    _E(
        "run-get-context-offline",
        "Run.get_context",
        "allow_offline= / offline checks",
        "mlflow.start_run()",
        "lossy",
        "There is no offline run on MLflow: the run always records, and checks such as "
        "run.id.startswith('OfflineRun') are now always false.",
        "context",
        "Run.get_context",
    ),
    _E(
        "run-constructor",
        "Run",
        "Run(experiment, run_id)",
        "MlflowClient.get_run(run_id)",
        "exact",
        "Attaches to an existing MLflow run by id.",
        "context",
        "Run.__init__",
    ),
    _E(
        "experiment-start-logging",
        "Experiment.start_logging",
        "",
        "mlflow.set_experiment(name); mlflow.start_run()",
        "exact",
        "The experiment is set and a run started; completing it (or leaving its with block) ends "
        "it.",
        "context",
        "Experiment.start_logging",
    ),
    _E(
        "experiment-submit",
        "Experiment.submit",
        "",
        "none",
        "manual",
        "Submitting a cloud job has no MLflow equivalent: run the script with "
        "`aml2mlflow run script.py` (or plain python) on the target machine.",
        "context",
        "Experiment.submit",
    ),
    _E(
        "workspace",
        "Workspace",
        "from_config() / Workspace(...) / get()",
        "the MLflow tracking URI",
        "lossy",
        "A workspace becomes the MLflow tracking target (MLFLOW_TRACKING_URI); compute, datastore "
        "and environment APIs do not exist.",
        "context",
        "Workspace.from_config",
    ),
    _E(
        "service-only",
        "ScriptRunConfig, ComputeTarget, Datastore, ...",
        "",
        "none",
        "manual",
        "Other azureml APIs (cloud services, SDK helpers and exceptions) have no MLflow "
        "equivalent: replace them (run scripts directly, read data from local or mounted paths) "
        "or keep azureml installed for them.",
        "context",
        "",
    ),
    # --- codemod-only findings ---------------------------------------------------------------
    _E(
        "run-log-unknown",
        "Run.log",
        "a value whose type the source does not show",
        "mlflow.log_metric(name, value)",
        "lossy",
        "The value is logged as a metric; if it can be a string or None at run time, use "
        "mlflow.set_tag for it instead.",
        "metrics",
        "Run.log",
    ),
    _E(
        "run-annotation",
        "Run",
        "rewrite: a type annotation",
        "mlflow.ActiveRun",
        "exact",
        "After the rewrite a run is the mlflow.ActiveRun that mlflow.start_run returns, so "
        "annotations name that class.",
        "context",
    ),
    _E(
        "experiment-kept",
        "Experiment",
        "rewrite: code with no MLflow form also uses the experiment (submit, get_runs, "
        "Run(experiment, run_id), ...)",
        "left as it is; start_logging() -> mlflow.start_run(experiment_id="
        "mlflow.set_experiment(exp.name).experiment_id)",
        "manual",
        "The experiment stays an SDK v1 object for the code that needs it, and the runs it starts "
        "log to the MLflow experiment of the same name: rewrite that code (use mlflow."
        "search_runs for get_runs) to drop azureml.",
        "context",
    ),
    _E(
        "run-passed",
        "Run",
        "rewrite: the run (or the Workbench logger) is passed to other code",
        "left as it is",
        "manual",
        "After the rewrite it is an mlflow.ActiveRun: code that receives it and calls Azure ML "
        "methods on it (log, tag, ...) breaks; rewrite that code to log with mlflow, or annotate "
        "its parameter `run: Run` in this file so the tool follows it.",
        "context",
    ),
    _E(
        "notebook-cells-apart",
        "Jupyter notebook",
        "rewrite: the code cells do not compile as one module (a `from __future__` import in a "
        "later cell, top-level `await`)",
        "each cell rewritten on its own",
        "manual",
        "A run made in one cell and used in another is not followed, so calls in other cells may "
        "be left on an mlflow.ActiveRun: check the notebook by hand, or move the `from __future__` "
        "import to the first cell and rewrite again.",
        "context",
    ),
    _E(
        "notebook-writefile",
        "Jupyter notebook",
        "a `%%writefile script.py` cell whose script uses SDK v1",
        "left as it is",
        "manual",
        "The cell's body is a script the notebook writes to a file, not code the kernel runs: the "
        "tool does not rewrite it inside the notebook. Run `aml2mlflow rewrite` on the file the "
        "cell writes (or on a copy of the cell's body) and put the result back in the cell.",
        "context",
    ),
    _E(
        "run-attached",
        "Run(experiment, run_id) / Run.get / Run.parent",
        "rewrite: calls on a run that is not the script's own",
        "left as it is",
        "manual",
        "That run is not MLflow's active run, so MLflow's fluent calls would log to the wrong "
        "run: use mlflow.MlflowClient() with its run id (client.log_metric(run_id, ...)), or "
        "mlflow.start_run(run_id=...) to resume it.",
        "context",
    ),
    _E(
        "run-list-kept",
        "Run.list",
        "rewrite: the call is left as it is",
        "left as it is",
        "manual",
        "MLflow has no Run.list and the rewrite leaves the call: read the runs with "
        "mlflow.search_runs(experiment_names=[...]) (a DataFrame) or "
        "MlflowClient().search_runs(experiment_ids) (Run objects), newest first as Run.list gave "
        "them.",
        "reading back",
    ),
    _E(
        "run-fail-value",
        "Run.fail",
        "rewrite: its result is used (not a statement of its own)",
        "mlflow.end_run(status='FAILED')",
        "lossy",
        "The error details cannot be set as a tag first inside an expression, so they are "
        "dropped: set the tag aml2mlflow.error in a statement of its own if you need them.",
        "lifecycle",
    ),
    _E(
        "run-not-active",
        "Run.<method>",
        "rewrite: a child run is MLflow's active run at that point",
        "left as it is",
        "manual",
        "MLflow's fluent calls log to the active run, which here is a child run: move the call "
        "out of the child's block, or use mlflow.MlflowClient() with this run's id.",
        "context",
    ),
    _E(
        "run-ended",
        "Run.<method>",
        "rewrite: the run was completed earlier in the same block, or in the body of a loop "
        "around the call",
        "left as it is",
        "manual",
        "After mlflow.end_run() a fluent call starts a new run, while Azure ML still logged to the "
        "completed one: move the call before complete(), or log with mlflow.MlflowClient() and "
        "the run's id (run.info.run_id).",
        "context",
    ),
    _E(
        "run-member",
        "Run.<member>",
        "rewrite: a member with no MLflow form (experiment, name, number, properties, tags, "
        "status, get_portal_url, get_secret, input_datasets, ...), or a method used as a value",
        "left as it is",
        "manual",
        "After the rewrite the run is an mlflow.ActiveRun, which has no such member and would "
        "raise AttributeError: read the value from MLflow instead (run.info, "
        "mlflow.get_experiment(run.info.experiment_id), mlflow.get_run(run.info.run_id).data), "
        "or pass a function that calls MLflow where the bound method was passed.",
        "context",
    ),
    _E(
        "unresolved-receiver",
        "<object>.<legacy method>",
        "the object is not provably an SDK v1 run (or a legacy object is kept in a name the tool "
        "cannot follow)",
        "left as it is",
        "manual",
        "The tool cannot follow this legacy object (or the run this call is made on) everywhere "
        "it is used, so it is left as it is: check it and rewrite it by hand, or give the object "
        "a name of its own that the tool can follow.",
        "context",
    ),
    _E(
        "unsupported-call",
        "a legacy call",
        "* or ** arguments, or arguments the SDK did not accept",
        "left as it is",
        "manual",
        "The arguments cannot be matched to the legacy signature before running: rewrite the "
        "call by hand following the mapping of its API.",
        "context",
    ),
    _E(
        "shim-import",
        "from azureml.core import ...",
        "rewrite --target shim",
        "from shims import ...",
        "exact",
        "The legacy import is swapped for the shim's, which has the same names and call shapes.",
        "context",
    ),
    # --- workbench -----------------------------------------------------------------------------
    _E(
        "workbench-get-logger",
        "get_azureml_logger",
        "",
        "mlflow.start_run() (or the active run)",
        "exact",
        "The Workbench logger writes to the script's MLflow run.",
        "workbench",
        "get_azureml_logger",
    ),
    _E(
        "workbench-log",
        "Workbench.log",
        "",
        "mlflow.log_metric(name, value, step=n)",
        "exact",
        "As Run.log (a list as Run.log_list); asynchronous with order kept, as the original was.",
        "workbench",
        "WorkbenchLogger.log",
    ),
    _E(
        "workbench-upload",
        "Workbench.upload",
        "",
        "mlflow.log_text(content, path)",
        "exact",
        "The content is stored as an artifact at path.",
        "workbench",
        "WorkbenchLogger.upload",
    ),
    _E(
        "workbench-wait",
        "Workbench.wait",
        "",
        "wait until the record is stored",
        "exact",
        "Blocks until that value is persisted.",
        "workbench",
        "Pending.wait",
    ),
    # --- implicit ------------------------------------------------------------------------------
    _E(
        "outputs-folder",
        "./outputs",
        "files written there",
        "mlflow.log_artifacts('outputs', 'outputs') when the run ends",
        "lossy",
        "Azure ML uploaded ./outputs after the job; the shim uploads it when the run ends, but "
        "native MLflow code must log it explicitly.",
        "implicit",
        "Run.complete",
    ),
    _E(
        "async-queue",
        "metric upload",
        "",
        "background batches via MlflowClient.log_batch",
        "exact",
        "Azure ML sent metrics from a background thread; so does the shim, flushing at "
        "exit, on exceptions and on SIGTERM, spooling to a file what cannot be delivered.",
        "implicit",
        "",
    ),
    # --- audit-only findings: what `aml2mlflow audit` flags beyond the rewritten call sites ----
    _E(
        "outputs-write",
        "./outputs",
        "a file written there (open(..., 'w'), to_csv, savefig, joblib.dump, ...)",
        "mlflow.log_artifact(path) or mlflow.log_artifacts('outputs', 'outputs')",
        "manual",
        "Azure ML uploaded everything left in ./outputs when the job ended; MLflow does not and the "
        "rewrite adds no upload: use mlflow.log_artifacts('outputs', 'outputs') before the run "
        "ends, or mlflow.log_artifact for this file.",
        "implicit",
    ),
    _E(
        "offline-run-check",
        "_OfflineRun / run.id.startswith('OfflineRun')",
        "code that tests for an offline run",
        "none (there is no offline run on MLflow)",
        "manual",
        "There is no offline run on MLflow, so this test is now always false and its offline branch "
        "never runs: remove the check, or use a flag of your own (an environment variable) to "
        "tell local runs apart.",
        "context",
    ),
    _E(
        "submitted-run",
        "Run.<method>",
        "the run returned by Experiment.submit (control-side code)",
        "none",
        "manual",
        "This code drives a cloud job from outside it, and after the migration there is no job to "
        "drive: run the training script directly and read its results with mlflow.search_runs or "
        "MlflowClient.",
        "context",
    ),
    _E(
        "hyperdrive-primary-metric",
        "HyperDriveConfig",
        "primary_metric_name= names a metric MLflow renames",
        "the metric's MLflow name",
        "manual",
        "HyperDrive chose runs by this metric, and the training script will log it under its MLflow "
        "name: use the new name wherever runs are compared (your tuner's objective, "
        "mlflow.search_runs order_by).",
        "metrics",
    ),
    _E(
        "invalid-key",
        "Run.tag, Run.set_tags, Run.add_properties",
        "a key MLflow rejects",
        "none (mlflow.set_tag / mlflow.log_params raise)",
        "manual",
        "MLflow rejects tag and param keys with ( ) % # , + = [ ] @ ' and similar, and the "
        "rewritten call would raise: rewrite the key, for example to the name the shim would use.",
        "tags and properties",
    ),
    _E(
        "mlflow-run-legacy-call",
        "Run.<method> on an MLflow run",
        "the object is an MLflow run by now (mlflow.start_run(), mlflow.active_run(), ...)",
        "the method's MLflow form (its own row above)",
        "manual",
        "An MLflow run has none of the SDK v1 Run's methods and attributes, so this raises "
        "AttributeError: it is a use `rewrite` left for a person, or one written after the "
        "migration. Write its MLflow form (the row for this member says which).",
        "context",
    ),
    _E(
        "unparseable",
        "a source file",
        "it cannot be decoded or parsed, or is too large to audit",
        "left as it is",
        "manual",
        "The file could not be read as Python 3 source (syntax error, undecodable bytes, or over the "
        "audit's size limit), so nothing in it was checked: fix or convert it and check it again.",
        "context",
    ),
)

BY_ID: dict[str, Entry] = {e.id: e for e in ENTRIES}


def entry(rule_id: str) -> Entry:
    """Return the row with this id (KeyError names the unknown id)."""
    return BY_ID[rule_id]


def markdown_table() -> str:
    """Render the README's mapping table: one section per group, one line per row."""
    out: list[str] = []
    for group in GROUPS:
        rows = [e for e in ENTRIES if e.group == group]
        if not rows:
            continue
        out.append(f"#### {group.capitalize()}\n")
        out.append("| rule | legacy | when | MLflow | fidelity | why |")
        out.append("|---|---|---|---|---|---|")
        for e in rows:
            cells = [f"`{e.id}`", f"`{e.api}`", e.when or "", f"`{e.target}`", e.fidelity, e.reason]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


START = "<!-- catalogue:start (generated by `python3 dev.py readme`; do not edit) -->"
END = "<!-- catalogue:end -->"


def splice_readme(text: str) -> str:
    """Return README text with the block between the catalogue markers replaced by the table."""
    head, sep, rest = text.partition(START)
    if not sep or END not in rest:
        raise ValueError("README.md has no catalogue markers")
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{markdown_table()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrate.catalogue")
    parser.add_argument("--update-readme", type=Path, metavar="README")
    ns = parser.parse_args(argv)
    if ns.update_readme:
        path: Path = ns.update_readme
        path.write_text(splice_readme(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
