"""`aml2mlflow verify`: prove that a rewritten script logs what the legacy script logged.

    verify_script(script, args) -> Verdict      run both forms, compare their runs

The legacy script runs unchanged under the shim (`python -m shims script args`) and its rewrite
(`migrate.api.rewrite_source`) runs with plain `python`, each in its own temporary copy of the
script's folder (the user's files are never modified; `outputs/`, `mlruns/`, `mlflow.db`, `.git`,
virtualenvs and caches are not copied, nor what this user may not read: a `copy` note names it),
against the same tracking store (a temporary sqlite store unless `tracking_uri` is given), in the
experiments `verify-legacy` and `verify-rewritten`. The rewrite runs with `azureml` and `shims`
made unimportable, so it proves it needs neither (unless sites the codemod leaves to a person keep a
legacy import: then the rewrite runs under the shim too, which answers for those sites only, and a
note says so). Both processes run at the same time; each tags its runs `aml2mlflow.verify=<token>`
through MLflow's `MLFLOW_RUN_CONTEXT` (which the shim honours too), so the runs are found in
whatever experiment the script chose and are never confused with other runs of a shared store.

Then the two top-level runs, and their nested runs matched by run name, are compared:

- metrics: every key with its full history, values in order, floats with `rtol`/`atol` (NaN equals
  NaN). Native MLflow code that logs a series without `step` stores every value at step 0 ordered
  by time, while the shim numbers the steps 0..n-1: such a series compares by order and value, and
  the step numbering is a note (catalogue rule `run-log`) unless `strict_steps`. Values the rewrite
  stored in the same millisecond at the same step cannot be ordered, so they compare as a set.
- params; tags, except MLflow's `mlflow.*` system tags and the shim's `aml2mlflow.*` bookkeeping;
- the artifact tree with sha256 content hashes, except the shim's `aml2mlflow/conversions.json` and
  the `exclude` globs (fnmatch on the artifact path, e.g. `*.png` for renderings that legitimately
  differ). Two `.json` artifacts whose bytes differ but which parse to the same data, numbers
  within `rtol`/`atol`, are equal (a note says so): the shim and `mlflow.log_dict` format JSON
  differently, and `mlflow.log_table` writes floats with 10 decimals (pandas' `double_precision`),
  so a table of tiny values can differ beyond a tight `rtol` (a real loss, reported as such).
- the run status and the exit code of the two processes.

Known differences. What the shim records beyond the native rewrite is catalogued (see
`migrate/catalogue.py`); it is reported as a note naming the catalogue rule, never as a difference.
`KNOWN_DIFFERENCES` is the table that decides it; each row maps a pattern of something only the
legacy run has to the catalogue rule that explains it:

    kind      legacy-only pattern           condition                               rule
    metric    <table>/<column>              legacy has tables/<table>.json          run-log-row / run-log-table
    artifact  metrics_text/<name>.jsonl     -                                       run-log-text
    artifact  <name>.png                    <name>.json has the schema_type of a    run-log-confusion-matrix, ...
                                            JSON metric kind                        (one per kind)
    artifact  outputs/...                   -                                       outputs-folder

One more known difference is decided in `verify_script` itself, since it is about the run rather
than one key: the status FAILED (shim) vs FINISHED (rewrite) when both processes exited with the
same non-zero code is a note for `run-get-context` (MLflow ends a run left open at exit as
FINISHED; see tests/test_rewrite_runs.py). Anything else that differs is a `Difference`; an
artifact missing on one side whose content is found under another name on the other side says
"renamed?".

Nondeterminism is the user's own: a script that uses unseeded randomness logs different numbers on
every run, legacy or not. Seed it (`random.seed`, `np.random.seed`, `random_state=`), or widen
`rtol`/`atol`, or exclude artifacts that embed times or random bytes with a glob.

A script that cannot be run (the rewrite does not parse, a process times out, or a process ends
without making a run) gives a verdict with `error` set and the process's stderr tail.

A directory (`aml2mlflow verify DIR`) is verified script by script: `legacy_scripts` walks it as
`rewrite` does (`migrate.sources.discover`) and keeps the scripts whose rewrite finds something (a
folder it cannot list comes back as an error of its own, never as a script); `read_config` reads
DIR's `aml2mlflow-verify.toml` or `.yaml`/`.yml` (one schema, `ScriptConfig` per script path: args,
skip and per-script comparison options).
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import hashlib
import importlib.util
import json
import logging
import math
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

LEGACY_EXPERIMENT = "verify-legacy"
REWRITTEN_EXPERIMENT = "verify-rewritten"
HIDDEN_TAGS = ("mlflow.", "aml2mlflow.")
IGNORED_ARTIFACTS = ("aml2mlflow/conversions.json",)
NOT_COPIED = (
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "mlruns",
    "mlflow.db",
    "outputs",
    ".aml2mlflow-spool",
)
BLOCKED = ("azureml", "shims")
JSON_KINDS = {
    "confusion_matrix": "run-log-confusion-matrix",
    "accuracy_table": "run-log-accuracy-table",
    "predictions": "run-log-predictions",
    "residuals": "run-log-residuals",
}
TAIL = 3000
# Every run a verified process starts carries this tag (through MLflow's MLFLOW_RUN_CONTEXT, which
# both MLflow and the shim resolve), so the runs are found wherever the script put them (a script
# may choose its own experiment) and told apart from any other run in a shared store.
TOKEN_TAG = "aml2mlflow.verify"


@dataclass
class Difference:
    """One thing that differs (or, in `Verdict.notes`, differs only in a known, explained way)."""

    kind: str  # run, exit, status, metric, param, tag, artifact, rewrite, copy
    key: str  # the metric/param/tag key or artifact path; nested runs as "<run name>: key"
    legacy: str
    rewritten: str
    note: str
    rule: str = ""  # the catalogue rule that explains a note


@dataclass
class Verdict:
    """The outcome of one verification."""

    script: str
    args: list[str]
    differences: list[Difference] = field(default_factory=list)
    notes: list[Difference] = field(default_factory=list)
    error: str = ""  # set when a script could not be run: nothing was compared
    stderr_tail: str = ""  # the stderr tail of the process that could not run (or of both)
    legacy_run: str = ""
    rewritten_run: str = ""
    legacy_exit: int | None = None
    rewritten_exit: int | None = None

    @property
    def equivalent(self) -> bool:
        return not self.error and not self.differences

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["equivalent"] = self.equivalent
        return data


# ---------------------------------------------------------------------------------------------
# The known differences between the shim and the native rewrite


@dataclass
class Side:
    """What one run recorded, as compared."""

    run: Any
    metrics: dict[str, list[Any]]
    params: dict[str, str]
    tags: dict[str, str]
    files: dict[str, Path]  # artifact path -> local copy


@dataclass(frozen=True)
class Known:
    """A row of the known-differences table: `explains(key, legacy)` gives the rule or None."""

    kind: str
    pattern: str
    condition: str
    explains: Callable[[str, Side], str | None]


def _table_metric(key: str, legacy: Side) -> str | None:
    table, sep, _ = key.rpartition("/")
    if not sep or f"tables/{table}.json" not in legacy.files:
        return None
    rules = _conversion_rules(legacy, table)
    found = [r for r in ("run-log-row", "run-log-table") if r in rules]
    return " / ".join(found) or "run-log-row / run-log-table"


def _text_metric(key: str, legacy: Side) -> str | None:
    if not (key.startswith("metrics_text/") and key.endswith(".jsonl")):
        return None
    name = key[len("metrics_text/") : -len(".jsonl")]
    return (
        "run-log-list-text"
        if "run-log-list-text" in _conversion_rules(legacy, name)
        else "run-log-text"
    )


def _rendering(key: str, legacy: Side) -> str | None:
    if not key.endswith(".png"):
        return None
    source = legacy.files.get(key[: -len(".png")] + ".json")
    if source is None:
        return None
    try:
        kind = json.loads(source.read_text(encoding="utf-8")).get("schema_type")
    except (ValueError, AttributeError, OSError):
        return None
    return JSON_KINDS.get(kind) if isinstance(kind, str) else None


def _outputs(key: str, legacy: Side) -> str | None:
    return "outputs-folder" if key.startswith("outputs/") else None


KNOWN_DIFFERENCES: tuple[Known, ...] = (
    Known("metric", "<table>/<column>", "legacy has tables/<table>.json", _table_metric),
    Known("artifact", "metrics_text/<name>.jsonl", "", _text_metric),
    Known("artifact", "<name>.png", "<name>.json holds a JSON metric kind", _rendering),
    Known("artifact", "outputs/...", "", _outputs),
)


def _known(kind: str, key: str, legacy: Side) -> str | None:
    for row in KNOWN_DIFFERENCES:
        if row.kind == kind:
            rule = row.explains(key, legacy)
            if rule:
                return rule
    return None


def _conversion_rules(legacy: Side, name: str) -> set[str]:
    """The rules the shim's conversion report records for `name` (empty if there is none)."""
    path = legacy.files.get(IGNORED_ARTIFACTS[0])
    if path is None:
        return set()
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return set()
    if isinstance(items, dict):
        items = items.get("conversions", [])
    return {str(i.get("rule")) for i in items if isinstance(i, dict) and i.get("name") == name}


# ---------------------------------------------------------------------------------------------
# Running the two forms


def _repo_root() -> str:
    spec = importlib.util.find_spec("shims")
    if spec is None or spec.origin is None:
        raise RuntimeError("the shim (package `shims`) is not importable")
    return str(Path(spec.origin).resolve().parent.parent)


def _copy_folder(src: Path, dest: Path) -> list[tuple[str, str]]:
    """Copy the script's folder; what could not be copied (a file or folder this user may not
    read) is left out, and returned as (path relative to `src`, why)."""
    try:
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    except shutil.Error as exc:
        failed = {Path(str(source)): str(why) for source, _, why in exc.args[0]}
        return sorted((p.relative_to(src).as_posix(), why) for p, why in failed.items())
    return []


def _blocker(folder: Path) -> Path:
    for name in BLOCKED:
        package = folder / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            f"raise ImportError('{name} must not be imported by a rewritten script "
            "(aml2mlflow verify runs the rewrite on plain MLflow)')\n"
        )
    return folder


def _env(
    tracking_uri: str, experiment: str, pythonpath: list[str], spool: Path, token: str
) -> dict[str, str]:
    drop = (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_EXPERIMENT_ID",
        "MLFLOW_RUN_ID",
    )
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AML2MLFLOW_")}
    old = env.get("PYTHONPATH")
    env.update(
        MLFLOW_TRACKING_URI=tracking_uri,
        MLFLOW_EXPERIMENT_NAME=experiment,
        PYTHONPATH=os.pathsep.join([*pythonpath, *([old] if old else [])]),
        AML2MLFLOW_QUIET="1",
        AML2MLFLOW_SPOOL_DIR=str(spool),
    )
    try:
        context = json.loads(env.get("MLFLOW_RUN_CONTEXT") or "{}")
    except ValueError:
        context = {}
    env["MLFLOW_RUN_CONTEXT"] = json.dumps({**context, TOKEN_TAG: token})
    return env


def _tagged_runs(client: Any, token: str) -> list[Any]:
    """The runs of every experiment tagged with `token`, oldest first."""
    ids: list[str] = []
    page_token = None
    while True:
        page = client.search_experiments(max_results=1000, page_token=page_token)
        ids += [e.experiment_id for e in page]
        page_token = page.token
        if not page_token:
            break
    runs: list[Any] = []
    for start in range(0, len(ids), 100):  # search_runs takes a bounded list of experiments
        runs += client.search_runs(
            ids[start : start + 100],
            filter_string=f"tags.`{TOKEN_TAG}` = '{token}'",
            order_by=["attributes.start_time ASC"],
        )
    return sorted(runs, key=lambda r: r.info.start_time or 0)


def _children(client: Any, parent: Any) -> list[Any]:
    """The nested runs of `parent` (any run naming it as parent, tagged or not)."""
    return list(
        client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
        )
    )


def _is_generated_name(name: str) -> bool:
    """Whether `name` is one MLflow makes up for a run started without one
    (`mlflow.utils.name_utils._generate_random_name`): "<predicate>-<noun>-<0..1000>" from its own
    word lists ("bold-fox-123"), so that a user's name like "cv-fold-1" is not taken for one."""
    return _generated_name().fullmatch(name) is not None


@functools.cache
def _generated_name() -> re.Pattern[str]:
    from mlflow.utils.name_utils import _GENERATOR_NOUNS, _GENERATOR_PREDICATES

    def words(names: list[str]) -> str:
        return "|".join(sorted({re.escape(n.lower()) for n in names}))

    predicate, noun = words(_GENERATOR_PREDICATES), words(_GENERATOR_NOUNS)
    return re.compile(rf"(?:{predicate})-(?:{noun})-(?:0|[1-9][0-9]{{0,2}}|1000)")


def _start_order(run: Any) -> tuple[int, float, str]:
    """Runs in the order they were started: by start time (milliseconds), then, for runs started in
    the same millisecond, by end time (a script's nested runs run one after the other; one still
    running comes last), and only then by run id (random)."""
    return (run.info.start_time or 0, run.info.end_time or math.inf, run.info.run_id)


def _pair_children(
    old: list[Any], new: list[Any], diffs: list[Difference], notes: list[Difference]
) -> list[tuple[str, Any, Any]]:
    """Nested runs paired for comparison: by run name, runs of one name in start order.

    Runs whose names have no counterpart are then paired in start order when both sides have as
    many: a note when both names are ones MLflow made up for an unnamed run (at random, so they
    differ on each side), else a difference. Otherwise each is missing on one side.
    """

    def by_name(runs: list[Any]) -> dict[str, list[Any]]:
        groups: dict[str, list[Any]] = {}
        for r in sorted(runs, key=_start_order):
            groups.setdefault(str(r.info.run_name), []).append(r)
        return groups

    olds, news = by_name(old), by_name(new)
    pairs: list[tuple[str, Any, Any]] = []
    left_old: list[Any] = []
    left_new: list[Any] = []
    for name in sorted(set(olds) | set(news)):
        a, b = olds.get(name, []), news.get(name, [])
        for k, (x, y) in enumerate(zip(a, b)):
            label = name if max(len(a), len(b)) == 1 else f"{name}[{k}]"
            pairs.append((f"{label}: ", x, y))
        left_old += a[len(b) :]
        left_new += b[len(a) :]
    left_old.sort(key=_start_order)
    left_new.sort(key=_start_order)
    if left_old and len(left_old) == len(left_new):
        for x, y in zip(left_old, left_new):
            was, now = str(x.info.run_name), str(y.info.run_name)
            label = f"{was}~{now}"
            pairs.append((f"{label}: ", x, y))
            if _is_generated_name(was) and _is_generated_name(now):
                notes.append(
                    Difference("run", label, was, now, "unnamed nested runs, paired in start order")
                )
            else:
                diffs.append(Difference("run", label, was, now, "the nested run's name differs"))
        return pairs
    for x in left_old:
        diffs.append(
            Difference(
                "run", str(x.info.run_name), "nested run", "-", "missing from the rewritten run"
            )
        )
    for y in left_new:
        diffs.append(
            Difference("run", str(y.info.run_name), "-", "nested run", "not in the legacy run")
        )
    return pairs


def _exception_line(stderr: str, folder: Path, run_id: str) -> str:
    """The last line of a Python traceback (`ValueError: bad value`), "" when there is none,
    with what differs between the two sides anyway (their copy's folder, their run id, other
    MLflow ids) written the same way."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines or lines[-1][:1].isspace():
        return ""
    line = lines[-1].strip()
    for path in {str(folder), str(folder.resolve())}:
        line = line.replace(path, "<copy>")
    return _MLFLOW_ID.sub("<id>", line.replace(run_id, "<run>"))


_MLFLOW_ID = re.compile(r"\b[0-9a-f]{32}\b")


def _tail(text: str) -> str:
    return text[-TAIL:]


# ---------------------------------------------------------------------------------------------
# Comparing


def _fmt(value: float, digits: int = 15) -> str:
    return f"{value:.{digits}g}"


def _fmt_list(values: Sequence[float], limit: int = 6) -> str:
    shown = ", ".join(_fmt(v, 6) for v in values[:limit])
    more = f", ... ({len(values)} values)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def _history(client: Any, run_id: str, key: str) -> list[Any]:
    points = list(client.get_metric_history(run_id, key))
    return sorted(points, key=lambda m: (m.step, m.timestamp))


def _compare_series(
    key: str,
    old: list[Any],
    new: list[Any],
    rtol: float,
    atol: float,
    strict_steps: bool,
    out: list[Difference],
    notes: list[Difference],
) -> None:
    old_values = [float(m.value) for m in old]
    new_values = [float(m.value) for m in new]
    old_steps = [int(m.step) for m in old]
    new_steps = [int(m.step) for m in new]
    if len(old) != len(new):
        out.append(
            Difference(
                "metric",
                key,
                _fmt_list(old_values),
                _fmt_list(new_values),
                f"{len(old)} value(s) vs {len(new)}",
            )
        )
        return
    # the shim's own numbering (0..n-1) against a rewrite that logged without step=; a legacy
    # series with explicit steps must keep them
    unstepped = len(new) > 1 and len(set(new_steps)) == 1 and old_steps == list(range(len(old)))

    if old_steps != new_steps and not unstepped:
        first = next(i for i, (a, b) in enumerate(zip(old_steps, new_steps)) if a != b)
        out.append(
            Difference(
                "metric",
                key,
                f"steps {old_steps[:8]}",
                f"steps {new_steps[:8]}",
                f"value {first + 1} of {len(old)} is at step {old_steps[first]} vs {new_steps[first]}",
            )
        )
        return
    if unstepped:
        # The rewrite stored every value at one step, ordered by time; within a millisecond the
        # order is unknown, so each same-timestamp group compares as a multiset with its slice.
        i = 0
        groups: list[list[float]] = []
        stamps: list[int] = []
        for m in sorted(new, key=lambda m: m.timestamp):
            if stamps and m.timestamp == stamps[-1]:
                groups[-1].append(float(m.value))
            else:
                groups.append([float(m.value)])
                stamps.append(m.timestamp)
        new_values = []
        for group in groups:
            expected = old_values[i : i + len(group)]
            if len(group) > 1:
                order = sorted(range(len(group)), key=lambda j: group[j])
                matched = sorted(range(len(expected)), key=lambda j: expected[j])
                arranged = [0.0] * len(group)
                for src, dst in zip(order, matched):
                    arranged[dst] = group[src]
                group = arranged
            new_values.extend(group)
            i += len(group)
    for n, (a, b) in enumerate(zip(old_values, new_values)):
        if not _close(a, b, rtol, atol):
            out.append(
                Difference(
                    "metric",
                    key,
                    _fmt(a),
                    _fmt(b),
                    f"value {n + 1} of {len(old)} (step {old_steps[n]}) differs"
                    + (
                        f"; history {_fmt_list(old_values)} vs {_fmt_list(new_values)}"
                        if len(old) > 1
                        else ""
                    ),
                )
            )
            return
    if unstepped:
        note = Difference(
            "metric",
            key,
            f"steps {old_steps[0]}..{old_steps[-1]}",
            f"all at step {new_steps[0]}",
            f"{len(old)} values equal in order; the shim numbers the steps, the rewrite logs "
            "without step=" + (" (--strict-steps)" if strict_steps else ""),
            "run-log",
        )
        (out if strict_steps else notes).append(note)


def _load_side(client: Any, uri: str, run: Any, dest: Path) -> Side:
    from mlflow.artifacts import download_artifacts

    run_id = run.info.run_id
    dest.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    if client.list_artifacts(run_id):
        root = Path(download_artifacts(run_id=run_id, dst_path=str(dest), tracking_uri=uri))
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path
    metrics = {k: _history(client, run_id, k) for k in sorted(run.data.metrics)}
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith(HIDDEN_TAGS)}
    return Side(run, metrics, dict(run.data.params), tags, files)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _compare_runs(
    prefix: str,
    old: Side,
    new: Side,
    rtol: float,
    atol: float,
    strict_steps: bool,
    exclude: Sequence[str],
    out: list[Difference],
    notes: list[Difference],
) -> None:
    def key_of(key: str) -> str:
        return f"{prefix}{key}"

    for key in sorted(set(old.metrics) | set(new.metrics)):
        if key not in new.metrics:
            rule = _known("metric", key, old)
            last = _fmt_list([float(m.value) for m in old.metrics[key]])
            if rule:
                notes.append(
                    Difference("metric", key_of(key), last, "-", "logged by the shim only", rule)
                )
            else:
                out.append(
                    Difference("metric", key_of(key), last, "-", "missing from the rewritten run")
                )
        elif key not in old.metrics:
            values = _fmt_list([float(m.value) for m in new.metrics[key]])
            out.append(Difference("metric", key_of(key), "-", values, "not in the legacy run"))
        else:
            _compare_series(
                key_of(key),
                old.metrics[key],
                new.metrics[key],
                rtol,
                atol,
                strict_steps,
                out,
                notes,
            )
    for kind, mine, theirs in (("param", old.params, new.params), ("tag", old.tags, new.tags)):
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                what = (
                    "missing from the rewritten run"
                    if key not in theirs
                    else "not in the legacy run"
                    if key not in mine
                    else "values differ"
                )
                out.append(
                    Difference(kind, key_of(key), mine.get(key, "-"), theirs.get(key, "-"), what)
                )

    excluded: list[str] = []

    def keep(path: str) -> bool:
        if path in IGNORED_ARTIFACTS:
            return False
        if any(fnmatch.fnmatch(path, g) or fnmatch.fnmatch(Path(path).name, g) for g in exclude):
            excluded.append(path)
            return False
        return True

    old_files = {p: f for p, f in old.files.items() if keep(p)}
    new_files = {p: f for p, f in new.files.items() if keep(p)}
    old_only = {_sha(f): p for p, f in old_files.items() if p not in new_files}
    new_only = {_sha(f): p for p, f in new_files.items() if p not in old_files}
    for path in sorted(set(old_files) | set(new_files)):
        if path not in new_files:
            rule = _known("artifact", path, old)
            sha = _sha(old_files[path])[:12]
            if rule:
                notes.append(
                    Difference("artifact", key_of(path), sha, "-", "stored by the shim only", rule)
                )
            else:
                full = _sha(old_files[path])
                hint = f" (same content as {new_only[full]}: renamed?)" if full in new_only else ""
                out.append(
                    Difference(
                        "artifact", key_of(path), sha, "-", "missing from the rewritten run" + hint
                    )
                )
        elif path not in old_files:
            full = _sha(new_files[path])
            hint = f" (same content as {old_only[full]}: renamed?)" if full in old_only else ""
            out.append(
                Difference("artifact", key_of(path), "-", full[:12], "not in the legacy run" + hint)
            )
        else:
            a, b = _sha(old_files[path]), _sha(new_files[path])
            if a == b:
                continue
            if path.endswith(".json") and _same_json(old_files[path], new_files[path], rtol, atol):
                notes.append(
                    Difference(
                        "artifact",
                        key_of(path),
                        a[:12],
                        b[:12],
                        "same JSON data (numbers within rtol/atol), formatted differently",
                    )
                )
            else:
                out.append(
                    Difference("artifact", key_of(path), a[:12], b[:12], "content differs (sha256)")
                )
    if excluded:
        names = sorted(set(excluded))
        notes.append(
            Difference(
                "artifact",
                key_of(", ".join(names[:5]) + (f" (+{len(names) - 5})" if len(names) > 5 else "")),
                "",
                "",
                f"excluded by {', '.join(exclude)}",
            )
        )


def _json_close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """Equal JSON data, numbers (not bools) within rtol/atol."""
    number = (int, float)
    if (
        isinstance(a, number)
        and isinstance(b, number)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return _close(float(a), float(b), rtol, atol)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_close(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_close(x, y, rtol, atol) for x, y in zip(a, b))
    return bool(type(a) is type(b) and a == b)


def _same_json(a: Path, b: Path, rtol: float, atol: float) -> bool:
    try:
        return _json_close(json.loads(a.read_bytes()), json.loads(b.read_bytes()), rtol, atol)
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# The entry point


def _still_legacy(code: str) -> list[str]:
    """The azureml modules a rewritten module still imports (sorted), from Python's own parser."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n == "azureml" or n.startswith("azureml.")}
    return sorted(found)


def verify_script(
    script: str | Path,
    args: Sequence[str] = (),
    tracking_uri: str | None = None,
    rtol: float = 1e-9,
    atol: float = 0.0,
    strict_steps: bool = False,
    exclude: Sequence[str] = (),
    timeout: float = 600,
    rewritten_source: str | None = None,
) -> Verdict:
    """Run `script` under the shim and rewritten on plain MLflow; compare what the two logged.

    `rewritten_source` replaces the codemod's output (a test hook: it lets a test inject a
    deliberately wrong rewrite).
    """
    import libcst as cst

    from migrate.api import rewrite_source
    from migrate.codemod import RewriteError

    script = Path(script).resolve()
    verdict = Verdict(str(script), list(args))
    try:
        source = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        verdict.error = f"{script.name}: cannot be read: {exc}"
        return verdict
    try:
        result = rewrite_source(source, script.name)
    except (cst.ParserSyntaxError, RewriteError, SyntaxError) as exc:
        verdict.error = f"{script.name}: the rewrite failed: {exc}"
        return verdict
    for f in result.findings:
        if f.fidelity == "manual":
            verdict.notes.append(
                Difference(
                    "rewrite",
                    f"line {f.line}",
                    f.api,
                    "left as it is",
                    "manual: " + f.reason,
                    f.rule,
                )
            )
    code = result.code if rewritten_source is None else rewritten_source
    if rewritten_source is not None:
        verdict.notes.append(
            Difference("rewrite", script.name, "", "", "the rewrite was given, not made")
        )
    elif not result.changed:
        verdict.notes.append(
            Difference("rewrite", script.name, "", "", "the rewrite changes nothing")
        )

    with tempfile.TemporaryDirectory(prefix="aml2mlflow-verify-") as tmp_name:
        tmp = Path(tmp_name)
        legacy_dir, rewritten_dir = tmp / "legacy", tmp / "rewritten"
        for rel, why in _copy_folder(script.parent, legacy_dir):  # (both copies miss the same)
            verdict.notes.append(
                Difference("copy", rel, "", "", f"left out of both runs' folders: {why}")
            )
        _copy_folder(script.parent, rewritten_dir)
        (rewritten_dir / script.name).write_text(code, encoding="utf-8")
        blocked = _blocker(tmp / "blocked")
        uri = tracking_uri or f"sqlite:///{tmp / 'mlflow.db'}"

        from mlflow.tracking import MlflowClient

        db_log = logging.getLogger("mlflow.store.db.utils")
        level = db_log.level
        db_log.setLevel(logging.WARNING)  # "Creating initial MLflow database tables..."
        try:
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
        finally:
            db_log.setLevel(level)
        for name in (LEGACY_EXPERIMENT, REWRITTEN_EXPERIMENT):
            if client.get_experiment_by_name(name) is None:
                location = None if tracking_uri else str(tmp / "artifacts" / name)
                client.create_experiment(name, artifact_location=location)
        token = uuid.uuid4().hex

        legacy_cmd = [sys.executable, "-m", "shims", script.name, *args]
        rewritten_cmd = [sys.executable, script.name, *args]
        rewritten_path = [str(blocked)]
        left = _still_legacy(code)
        if left:
            # Manual sites keep legacy imports: the rewrite cannot run without the SDK. Run it
            # with the shim answering for exactly those (every other line is already native
            # MLflow), so what the codemod converted is still proven, and say so.
            rewritten_cmd = [sys.executable, "-m", "shims", script.name, *args]
            rewritten_path = [_repo_root()]
            verdict.notes.append(
                Difference(
                    "rewrite",
                    script.name,
                    "",
                    "",
                    f"still imports {', '.join(left)} (manual sites): it ran with the shim "
                    "answering for those; finish them by hand to run on plain MLflow",
                )
            )
        procs = [
            subprocess.Popen(
                cmd,
                cwd=cwd,
                env=_env(uri, exp, path, tmp / f"spool-{exp}", f"{token}-{exp}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for cmd, cwd, exp, path in (
                (legacy_cmd, legacy_dir, LEGACY_EXPERIMENT, [_repo_root()]),
                (rewritten_cmd, rewritten_dir, REWRITTEN_EXPERIMENT, rewritten_path),
            )
        ]
        outcomes: list[tuple[int | None, str]] = []
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                _, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
                outcomes.append((proc.returncode, err))
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                outcomes.append((None, err + f"\n(killed after {timeout:g} s)"))
        (verdict.legacy_exit, legacy_err), (verdict.rewritten_exit, rewritten_err) = outcomes

        sides: list[tuple[Any, list[Any]]] = []
        for label, exp, (code_, err) in (
            ("legacy (under the shim)", LEGACY_EXPERIMENT, outcomes[0]),
            ("rewritten (plain MLflow)", REWRITTEN_EXPERIMENT, outcomes[1]),
        ):
            runs = _tagged_runs(client, f"{token}-{exp}")
            top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
            if code_ is None or not top:
                why = "timed out" if code_ is None else f"exited with {code_} without making a run"
                verdict.error = f"the {label} script {why}"
                verdict.stderr_tail = _tail(err)
                return verdict
            if len(top) > 1:
                verdict.notes.append(
                    Difference(
                        "run", label, "", "", f"{len(top)} top-level runs: the first is compared"
                    )
                )
            default = client.get_experiment_by_name(exp)
            if default is None or top[0].info.experiment_id != default.experiment_id:
                where = client.get_experiment(top[0].info.experiment_id).name
                verdict.notes.append(
                    Difference("run", label, "", "", f"the script chose its experiment: {where!r}")
                )
            sides.append((top[0], _children(client, top[0])))

        (old_top, old_children), (new_top, new_children) = sides
        verdict.legacy_run, verdict.rewritten_run = old_top.info.run_id, new_top.info.run_id
        diffs, notes = verdict.differences, verdict.notes
        if verdict.legacy_exit != verdict.rewritten_exit:
            diffs.append(
                Difference(
                    "exit",
                    "exit code",
                    str(verdict.legacy_exit),
                    str(verdict.rewritten_exit),
                    "the processes ended differently",
                )
            )
            verdict.stderr_tail = _tail(
                f"--- legacy stderr\n{_tail(legacy_err)}\n--- rewritten stderr\n{_tail(rewritten_err)}"
            )
        elif verdict.legacy_exit:
            old_error = _exception_line(legacy_err, legacy_dir, old_top.info.run_id)
            new_error = _exception_line(rewritten_err, rewritten_dir, new_top.info.run_id)
            if old_error == new_error:
                notes.append(
                    Difference(
                        "exit",
                        "exit code",
                        str(verdict.legacy_exit),
                        str(verdict.rewritten_exit),
                        f"both failed alike: {old_error}" if old_error else "both failed alike",
                    )
                )
            else:
                diffs.append(
                    Difference(
                        "exit", "error", old_error, new_error, "the processes failed differently"
                    )
                )
                verdict.stderr_tail = _tail(
                    f"--- legacy stderr\n{_tail(legacy_err)}\n"
                    f"--- rewritten stderr\n{_tail(rewritten_err)}"
                )

        pairs = [("", old_top, new_top), *_pair_children(old_children, new_children, diffs, notes)]
        for n, (prefix, old_run, new_run) in enumerate(pairs):
            status = (old_run.info.status, new_run.info.status)
            if status[0] != status[1]:
                explained = (
                    status == ("FAILED", "FINISHED")
                    and verdict.legacy_exit == verdict.rewritten_exit
                )
                item = Difference(
                    "status",
                    f"{prefix}status",
                    status[0],
                    status[1],
                    "MLflow ends a run left open at exit as FINISHED; the shim marks it FAILED"
                    if explained
                    else "the runs ended differently",
                    "run-get-context" if explained else "",
                )
                (notes if explained else diffs).append(item)
            old_side = _load_side(client, uri, old_run, tmp / "download" / str(n) / "legacy")
            new_side = _load_side(client, uri, new_run, tmp / "download" / str(n) / "rewritten")
            _compare_runs(
                prefix, old_side, new_side, rtol, atol, strict_steps, exclude, diffs, notes
            )
    return verdict


# ---------------------------------------------------------------------------------------------
# Directories: which scripts, and their configuration

CONFIG_NAMES = ("aml2mlflow-verify.toml", "aml2mlflow-verify.yaml", "aml2mlflow-verify.yml")
SCRIPT_KEYS = ("args", "skip", "rtol", "atol", "exclude", "strict_steps", "timeout")
# YAML 1.2's float syntax; PyYAML follows YAML 1.1, where `1e-6` (no dot) is a string
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

KeyPath = tuple[str | int, ...]


class ConfigError(Exception):
    """A directory's configuration file is unreadable or invalid (the message names the file,
    the key and, when known, the line)."""


@dataclass(frozen=True)
class ScriptConfig:
    """One script's entry in the configuration; None (or empty) keeps the command line's option.

    `exclude` globs are added to the command line's; the other options replace it for this script.
    """

    args: tuple[str, ...] = ()
    skip: str | None = None  # the reason the script is not run
    rtol: float | None = None
    atol: float | None = None
    exclude: tuple[str, ...] = ()
    strict_steps: bool | None = None
    timeout: float | None = None


def config_file(folder: Path) -> Path | None:
    """FOLDER's configuration file, or None; two of them are an error."""
    found = [folder / name for name in CONFIG_NAMES if (folder / name).is_file()]
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        raise ConfigError(f"{folder}: two configuration files, {names}: keep one")
    return found[0] if found else None


def read_config(folder: Path) -> tuple[Path | None, dict[str, ScriptConfig]]:
    """FOLDER's configuration file and its entries by script path (posix, relative to FOLDER).

    Both formats have one schema: a mapping `scripts` from script paths to tables of `SCRIPT_KEYS`.
    Raises ConfigError for a syntax error, an unknown key, a wrong type or a script that does
    not exist.
    """
    path = config_file(folder)
    if path is None:
        return None, {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    lines: dict[KeyPath, int] = {}
    plain: dict[KeyPath, str] = {}
    if path.suffix == ".toml":
        data = _load_toml(path, text)
    else:
        data, lines, plain = _load_yaml(path, text)
    return path, _parse_config(path, folder, data, lines, plain)


def _load_toml(path: Path, text: str) -> Any:
    toml: Any = None
    for name in ("tomllib", "tomli"):  # tomllib from Python 3.11; tomli before
        try:
            toml = importlib.import_module(name)
            break
        except ImportError:
            continue
    if toml is None:
        raise ConfigError(f"{path}: reading it needs Python 3.11+ or the package tomli")
    try:
        return toml.loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError: "... (at line 3, column 8)"
        line = re.search(r"\(at line (\d+)", str(exc))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(f"{where}: invalid TOML: {exc}") from None


def _load_yaml(path: Path, text: str) -> tuple[Any, dict[KeyPath, int], dict[KeyPath, str]]:
    """The data, each key's and item's line, and each plain (unquoted) scalar's text."""
    try:
        yaml: Any = importlib.import_module("yaml")  # PyYAML, a dependency of mlflow
    except ImportError:
        raise ConfigError(f"{path}: reading YAML needs the package pyyaml") from None
    lines: dict[KeyPath, int] = {}
    plain: dict[KeyPath, str] = {}
    seen: set[int] = set()

    def walk(node: Any, key: KeyPath) -> None:
        if id(node) in seen:  # an alias: already walked (and maybe recursive)
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for k, v in node.value:
                name = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
                line = k.start_mark.line + 1
                if name in first:
                    where = _dotted((*key, name))
                    raise ConfigError(
                        f"{path}:{line}: {where}: duplicate key (first at line {first[name]})"
                    )
                child = (*key, name)
                first[name] = lines[child] = line
                walk(v, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*key, i)
                lines[child] = item.start_mark.line + 1
                walk(item, child)
        elif isinstance(node, yaml.ScalarNode) and node.style is None:
            plain[key] = str(node.value)

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines, plain
        walk(node, ())
        return loader.construct_document(node), lines, plain
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        why = ", ".join(str(m) for m in (exc.context, exc.problem) if m)
        raise ConfigError(f"{where}: invalid YAML: {why}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _dotted(key: KeyPath) -> str:
    """`scripts."jobs/train.py".args[1]`: a key path as TOML would write it."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out += f".{shown}" if out else shown
    return out


def _script_path(name: str) -> str | None:
    """NAME as a normalised posix path inside the folder, or None."""
    norm = posixpath.normpath(name) if name else ""
    if not name or posixpath.isabs(name) or Path(name).is_absolute():
        return None
    if norm in (".", "..") or norm.startswith("../"):
        return None
    return norm


def _parse_config(
    path: Path,
    folder: Path,
    data: Any,
    lines: dict[KeyPath, int],
    plain: dict[KeyPath, str],
) -> dict[str, ScriptConfig]:
    def fail(key: KeyPath, message: str) -> NoReturn:
        line = lines.get(key)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: {_dotted(key)}: {message}" if key else f"{where}: {message}")

    def number(value: Any, key: KeyPath, positive: bool = False) -> float:
        if isinstance(value, str) and key in plain and _YAML12_FLOAT.fullmatch(value):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(key, f"must be a number, not {_type_name(value)}")
        if math.isnan(value) or value < 0 or (positive and not 0 < value < math.inf):
            fail(key, f"must be {'a positive finite' if positive else 'a non-negative'} number")
        return float(value)

    def strings(value: Any, key: KeyPath, what: str, numbers: bool) -> tuple[str, ...]:
        if not isinstance(value, list):
            fail(key, f"must be a list of {what}, not {_type_name(value)}")
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            elif numbers and isinstance(item, (int, float)) and not isinstance(item, bool):
                out.append(plain.get((*key, i), str(item)))  # YAML: the number as written
            else:
                hint = " (quote it)" if item is None or isinstance(item, bool) else ""
                fail((*key, i), f"must be a string, not {_type_name(item)}{hint}")
        return tuple(out)

    if data is None:  # an empty YAML file
        return {}
    if not isinstance(data, dict):
        fail((), f"must be a mapping with the key scripts, not {_type_name(data)}")
    for top in data:
        if top != "scripts":
            fail((str(top),), "unknown key (the only top-level key is scripts)")
    scripts = data.get("scripts")
    if scripts is None:
        return {}
    if not isinstance(scripts, dict):
        fail(("scripts",), f"must map script paths to settings, not {_type_name(scripts)}")
    out: dict[str, ScriptConfig] = {}
    for name, table in scripts.items():
        key: KeyPath = ("scripts", str(name))
        rel = _script_path(name) if isinstance(name, str) else None
        if rel is None:
            fail(key, f"must be a script's path relative to {folder}, inside it")
        if rel in out:
            fail(key, f"names {rel}, which an earlier key names too")
        script = folder / rel
        if not script.is_file():
            fail(key, f"no such script in {folder}")
        if script.suffix != ".py":
            fail(key, "is not a Python script (.py)")
        if table is None:  # YAML `train.py:` with nothing under it
            table = {}
        if not isinstance(table, dict):
            fail(key, f"must be a table of settings ({', '.join(SCRIPT_KEYS)})")
        for option in table:
            if option not in SCRIPT_KEYS:
                fail((*key, str(option)), f"unknown key (known: {', '.join(SCRIPT_KEYS)})")
        skip = table.get("skip")
        if (skip is not None and not isinstance(skip, (bool, str))) or (
            isinstance(skip, str) and not skip.strip()
        ):
            fail((*key, "skip"), "must be the reason, a non-empty string (or true/false)")
        strict = table.get("strict_steps")
        if strict is not None and not isinstance(strict, bool):
            fail((*key, "strict_steps"), f"must be true or false, not {_type_name(strict)}")
        given = {
            k: number(table[k], (*key, k), positive=k == "timeout")
            for k in ("rtol", "atol", "timeout")
            if k in table
        }
        out[rel] = ScriptConfig(
            args=strings(table.get("args", []), (*key, "args"), "strings", numbers=True),
            skip=("no reason given" if skip is True else skip or None),
            rtol=given.get("rtol"),
            atol=given.get("atol"),
            exclude=strings(table.get("exclude", []), (*key, "exclude"), "globs", numbers=False),
            strict_steps=strict,
            timeout=given.get("timeout"),
        )
    return out


def _type_name(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "a table", type(None): "null"})
    return names.get(type(value), type(value).__name__)


def legacy_scripts(folder: Path) -> tuple[list[str], list[str]]:
    """The Python scripts under FOLDER that use the legacy SDK (their rewrite finds something),
    as posix paths relative to it, in `migrate.sources.discover` order; and the folders that could
    not be looked into, each as an error message naming it (relative to FOLDER, or FOLDER itself).

    The folder is walked as `rewrite` walks it: `.gitignore` respected, virtualenvs, caches and
    build output skipped. Notebooks are not scripts: they are left out. A file that cannot be read
    or parsed is kept (its verification says why it cannot run); a folder that cannot be listed
    does not stop the walk. Raises SourceError only when FOLDER does not exist.
    """
    from migrate.api import rewrite_source
    from migrate.sources import discover, read_source

    found: list[str] = []
    errors: list[str] = []
    for source in discover([folder]):
        if source.error:  # a folder discovery could not list: not a script
            where = str(folder) if source.path == source.root else source.rel
            errors.append(f"{where}: {source.error}")
            continue
        if source.kind != "python":
            continue
        try:
            result = rewrite_source(read_source(source.path).text, source.rel)
        except Exception:  # unreadable or unparseable: verify reports it as not runnable
            found.append(source.rel)
            continue
        if result.findings:
            found.append(source.rel)
    return found, errors
