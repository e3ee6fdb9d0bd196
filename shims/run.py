"""`Run`, `Experiment` and `Workspace` with the call shapes of azureml-core 1.61, logging to MLflow.

Every logging member accepts the parameter names, positions and defaults of the real SDK, in both its
online (`Run`) and offline (`_OfflineRun`) shapes (`tag(key=...)` and `tag(name=...)`,
`upload_files(names=...)` and `upload_files(name=...)`). The calls the real SDK rejected are rejected
with the same exception names and messages, except where it failed through its own bugs: an empty
`log_list`/`log_table` (stored as nothing, reported) and numpy integers in lists, rows and table
columns (stored as numbers). See the catalogue (`migrate/catalogue.py`) for what every call becomes
and what it loses.

No value makes a logging call fail where the SDK accepted it: NaN and infinities are metric values,
ints beyond a double become the nearest float (beyond a float's range, exact text), arrays and other
objects their repr() (a placeholder when repr() itself fails), over-long tag values are cut to
MLflow's limit; each case is recorded in the run's conversion report. Artifact names are made safe
paths inside the run's artifacts (`shims.names.artifact_path`): a name that would climb out of
them, is empty or is longer than Azure allowed raises `UserErrorException` naming it.

Metric values are queued (see `shims.writer`) so the training loop pays microseconds per call;
`flush()`, `complete()` and process exit block until everything is stored.
"""

from __future__ import annotations

import builtins
import io
import json
import mimetypes
import numbers
import os
import posixpath
import re
import shutil
import sys
import threading
import time
import types
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any

from shims.conversions import ARTIFACT as CONVERSIONS_ARTIFACT
from shims.errors import (
    AzureMLException,
    SerializationError,
    ServiceOnlyError,
    UserErrorException,
)
from shims.names import artifact_path, mlflow_name, safe_path, shown
from shims.session import Session, session

_SUPPORTED = "[[<class 'float'>, <class 'str'>, <class 'bool'>, <class 'NoneType'>, <class 'int'>]]"
_LIST_ERROR = "run.log does not support list type. Use run.log_list instead"
_STATUS_TO_AZURE = {
    "RUNNING": "Running",
    "SCHEDULED": "Queued",
    "FINISHED": "Completed",
    "FAILED": "Failed",
    "KILLED": "Canceled",
}
_HIDDEN_TAG_PREFIXES = ("mlflow.", "aml2mlflow.")
_MISSING: Any = object()
_EXACT_INT = 9007199254740992.0  # 2**53: every int up to it is exact as a double
_INT64 = (-(2**63), 2**63)  # MLflow's steps; table cells also read back as uint64
_MAX_TAG = 8000  # MLflow's tag value limit (characters)
_MAX_PARAM = 6000  # MLflow's param value limit (characters)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def as_number(value: Any) -> float | None:
    """The float MLflow should store for `value`, or None when it is not a number.

    bool and numpy bool become 1.0/0.0 (the caller records that), numpy scalars and 0-d arrays
    become floats, ints too large for a float are not numbers.
    """
    t = type(value)
    if t is float or t is int:
        try:
            return float(value)
        except OverflowError:
            return None
    if t is bool:
        return 1.0 if value else 0.0
    try:  # whatever a user-defined number raises, it is not a number
        if isinstance(value, numbers.Real):  # Fraction, Decimal-free reals, numpy floats/ints
            return float(value)
        if getattr(value, "ndim", None) == 0 and getattr(value, "dtype", None) is not None:
            kind = getattr(value.dtype, "kind", "")
            if kind and kind in "biuf":
                return float(value.item())
    except Exception:
        return None
    return None


def _plain(value: Any) -> Any:
    """numpy scalars as the Python numbers they hold (for JSON); anything else unchanged."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    return value


def _attr(value: Any, name: str) -> Any:
    """getattr(value, name, None) that survives objects whose attribute lookup raises."""
    try:
        return getattr(value, name, None)
    except Exception:
        return None


def _is_bool(value: Any) -> bool:
    """bool, numpy's bool scalar (named `bool` in numpy 2, `bool_` before) and 0-d bool arrays."""
    return type(value) is bool or _attr(_attr(value, "dtype"), "kind") == "b"


def _is_array(value: Any) -> bool:
    """A numpy array (not a numpy scalar): it has a shape and `tolist`, and is not a number."""
    return (
        _attr(value, "shape") is not None
        and callable(_attr(value, "tolist"))
        and (type(value).__name__ == "ndarray")
    )


def _int_text(value: int) -> str:
    """An int as text: exact, or in scientific notation beyond Python's int-to-text digit limit."""
    try:
        return str(int(value))
    except ValueError:
        from decimal import Context

        return format(Context(prec=17).create_decimal(int(value)), ".16e")


def _unrepresentable(value: Any, how: str, exc: BaseException) -> str:
    try:
        why = str(exc)[:200]
    except Exception:
        why = ""
    return f"<{type(value).__qualname__} object: {how}() raised {type(exc).__name__}" + (
        f": {why}>" if why else ">"
    )


def _text(value: Any) -> str:
    """How a non-numeric value is shown: strings as they are, anything else as Azure did (repr).

    Never raises: an object whose repr() raises is shown as `<Type object: repr() raised ...>`, an int
    beyond Python's digit limit in scientific notation.
    """
    if isinstance(value, str):
        return value
    try:
        return repr(value)
    except Exception as exc:
        if isinstance(value, int):
            return _int_text(value)
        return _unrepresentable(value, "repr", exc)


def _str(value: Any) -> str:
    """str(value) for tags and properties, as Azure did; never raises (see `_text`)."""
    if type(value) is str:
        return value
    try:
        return str(value)
    except Exception as exc:
        if isinstance(value, int):
            return _int_text(value)
        return _unrepresentable(value, "str", exc)


def _storable(text: str) -> str:
    """`text` as the store can save it: lone surrogates (undecodable bytes) become U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _text_detail(value: Any, text: str) -> str:
    """What the conversion report says about a value stored as text."""
    detail = f"{type(value).__name__} value"
    if isinstance(value, int) and not isinstance(value, bool):
        if text.lstrip("-").isdigit():
            return f"{detail} too large for a float, kept exactly as text"
        return (
            f"{detail} too large for a float and beyond Python's int-to-text digit limit, kept as"
            " text in scientific notation (17 significant digits)"
        )
    if text.startswith(f"<{type(value).__qualname__} object: ") and " raised " in text:
        return f"{detail}: {text[1:-1]}, stored as {text!r}"
    if value is not None and text == "":
        return f"{detail} with an empty repr(), stored as ''"
    return detail


def _cell(value: Any) -> tuple[Any, str]:
    """A table cell as JSON that `mlflow.load_table` reads, and what changed ("" when nothing)."""
    t = type(value)
    if value is None or t is str or t is bool or t is float:
        return value, ""
    if t is int:
        if _INT64[0] <= value < 2**64:
            return value, ""
        number = as_number(value)
        if number is not None:
            return number, "int beyond 64 bits stored as the nearest float"
        return _int_text(value), "int too large for a float stored as text"
    if isinstance(value, str):
        return str.__str__(value), ""
    plain = value
    if _attr(value, "ndim") == 0 and callable(_attr(value, "item")):
        try:
            plain = value.item()  # numpy scalars and 0-d arrays
        except Exception:
            plain = value
    if plain is not value and type(plain) in (bool, int, float, str):
        return _cell(plain)
    number = as_number(value)
    if number is not None:
        return number, f"{type(value).__name__} value stored as a float"
    return _text(value), f"{type(value).__name__} value stored as text"


def _is_listlike(value: Any) -> bool:
    return isinstance(value, (list, range, types.GeneratorType))


def artifact_name(name: Any, what: str = "name") -> str:
    """A legacy artifact name as a safe, run-relative posix path (see `shims.names.artifact_path`)."""
    return artifact_path(_name_text(name), what)[0]


def _name_text(name: Any) -> str:
    """A legacy name (usually a str; Azure accepted anything and used str()) as text."""
    return name if isinstance(name, str) else _str(name)


def _file_target(prefix: str, rel: str) -> str:
    """The artifact path of a file found on disk at `rel` (os separators) under an uploaded folder:
    its real names are kept (a `\\` in one is a character, not a folder), made storable."""
    parts = [part.replace("\\", "_") for part in rel.split(os.sep)]
    return safe_path("/".join([prefix, *parts]) if prefix else "/".join(parts))


def _plain_tag_value(value: Any) -> bool:
    """Whether str(value) is all there is to a tag value (no report entry needed)."""
    t = type(value)
    if value is None or t is str or t is bool:
        return True
    if t is int:
        return bool(_INT64[0] <= value < _INT64[1])
    if t is float:
        return bool(value - value == 0.0)
    return False


def _reject_pathlib(value: Any) -> None:
    if isinstance(value, PurePath):
        raise UserErrorException(
            f"UnsupportedType: type {type(value)} is invalid, supported input types: file path or "
            "file"
        )


def _read_stream(stream: Any) -> bytes:
    data = stream.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _image_ext(data: bytes) -> str:
    for magic, ext in (
        (b"\x89PNG", ".png"),
        (b"\xff\xd8", ".jpg"),
        (b"GIF8", ".gif"),
        (b"BM", ".bmp"),
        (b"<svg", ".svg"),
        (b"%PDF", ".pdf"),
    ):
        if data.startswith(magic):
            return ext
    return ".png"


class _Table:
    """Rows of one legacy table metric, kept so the artifact can be rewritten whole."""

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def add(self, row: Mapping[str, Any]) -> int:
        """Append a row of cells already made JSON-safe (`_cell`); return its index."""
        for col in row:
            if col not in self.columns:
                self.columns.append(col)
        self.rows.append(dict(row))
        return len(self.rows) - 1

    def as_split_json(self) -> str:
        """The `orient="split"` JSON that `mlflow.log_table` writes and `mlflow.load_table` reads.

        NaN and infinities are written as `NaN`/`Infinity`, which `mlflow.load_table` (pandas) reads.
        """
        data = [[_plain(row.get(c)) for c in self.columns] for row in self.rows]
        return json.dumps({"columns": self.columns, "data": data}, default=_text)


class Run:
    """An Azure ML SDK v1 run, recording into one MLflow run.

    Obtain one the legacy ways: `Run.get_context()`, `Experiment(ws, name).start_logging()`,
    `run.child_run()`, or `Run(experiment, run_id)` to attach to an existing MLflow run.
    """

    _context_lock = threading.Lock()

    def __init__(self, experiment: Any, run_id: str, outputs: Any = None, **kwargs: Any) -> None:
        s = session()
        info = s.client.get_run(run_id).info
        self._setup(s, info, experiment, owned=False)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def _create(
        cls,
        experiment: Experiment | None,
        name: str | None = None,
        parent: Run | None = None,
        tags: Mapping[str, str] | None = None,
        outputs: str | None = "outputs",
    ) -> Run:
        from mlflow.tracking.context.registry import resolve_tags

        s = session()
        exp = experiment if experiment is not None else Experiment._default()
        all_tags = resolve_tags(dict(tags or {}))
        all_tags["aml2mlflow.shim"] = "1"
        if parent is not None:
            all_tags["mlflow.parentRunId"] = parent.id
        mlrun = s.client.create_run(exp._mlflow_id(), run_name=name, tags=all_tags)
        run = cls.__new__(cls)
        run._setup(s, mlrun.info, exp, owned=True, parent=parent, outputs=outputs)
        return run

    def _setup(
        self,
        s: Session,
        info: Any,
        experiment: Any,
        owned: bool,
        parent: Run | None = None,
        outputs: str | None = None,
        fluent: bool = False,
    ) -> None:
        self._s = s
        self._w = s.writer
        self._run_id: str = info.run_id
        self._exp = experiment if isinstance(experiment, Experiment) else None
        self._exp_id: str = info.experiment_id
        self._owned = owned  # started by the shim: ended by it at exit if still open
        self._fluent = fluent  # MLflow's active run: the user's own start_run ends it
        self._ended = False
        self._parent_obj = parent
        self._outputs = os.path.abspath(outputs) if outputs else None
        self._lock = threading.RLock()  # re-entrant: a SIGTERM handler may end the run mid-call
        self._steps: dict[str, int] = {}
        self._keys: dict[Any, str] = {}
        self._originals: dict[str, str] = {}
        self._tables: dict[str, _Table] = {}
        self._table_metrics: set[str] = set()
        self._texts: dict[str, list[dict[str, Any]]] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._props: dict[str, str] = {}
        self._side: dict[tuple[str, str], str] = {}
        self._claimed: dict[str, str] = {}  # artifact path -> where it is stored (see _claim)
        self._stored_files: set[str] = set()
        self._stored_folders: set[str] = set()
        self._recorder = s.register(self) if owned else s.recorder(self._run_id)

    @classmethod
    def get_context(
        cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any
    ) -> Run:
        """The script's run: MLflow's active run if there is one, else one run per process.

        Azure ML returned an offline run outside a job; here the run always records, in
        MLFLOW_EXPERIMENT_NAME (default: the script's name).
        """
        s = session()
        with cls._context_lock:
            if s.context is not None:  # one per process, as inside an Azure ML job
                return s.context
            import mlflow

            active = mlflow.active_run()
            if active is not None:
                run = cls.__new__(cls)
                run._setup(s, active.info, None, owned=False, fluent=True)
            else:
                run = cls._create(None)
            s.context = run
            return run

    @classmethod
    def get_submitted_run(cls, **kwargs: Any) -> Run:
        """The script's run, as `get_context()` (the SDK's deprecated name for it)."""
        return cls.get_context()

    @staticmethod
    def get(workspace: Any, run_id: str) -> Run:
        """Attach to an existing MLflow run by id."""
        return Run(None, run_id)

    @staticmethod
    def list(
        experiment: Experiment,
        type: Any = None,
        tags: Any = None,
        properties: Any = None,
        status: Any = None,
        include_children: bool = False,
        _rehydrate_runs: bool = True,
    ) -> Iterator[Run]:
        """Yield the experiment's runs, newest first (top-level only unless include_children)."""
        s = session()
        for mlrun in s.client.search_runs([experiment._mlflow_id()], order_by=["start_time DESC"]):
            if not include_children and "mlflow.parentRunId" in mlrun.data.tags:
                continue
            run = Run.__new__(Run)
            run._setup(s, mlrun.info, experiment, owned=False)
            yield run

    # -- identity -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The MLflow run id."""
        return self._run_id

    @property
    def name(self) -> str:
        return str(self._s.client.get_run(self._run_id).info.run_name or self._run_id)

    @property
    def display_name(self) -> str:
        return self.name

    @display_name.setter
    def display_name(self, value: str) -> None:
        self.flush()
        self._s.client.update_run(self._run_id, name=str(value))

    @property
    def description(self) -> str | None:
        tag = self._s.client.get_run(self._run_id).data.tags.get("mlflow.note.content")
        return None if tag is None else str(tag)

    @description.setter
    def description(self, value: str) -> None:
        self._put_tag("mlflow.note.content", "" if value is None else _str(value))

    @property
    def experiment(self) -> Experiment:
        if self._exp is None:
            exp = self._s.client.get_experiment(self._exp_id)
            self._exp = Experiment(None, exp.name, _id=exp.experiment_id)
        return self._exp

    @property
    def parent(self) -> Run | None:
        """The parent run, or None for a top-level run."""
        if self._parent_obj is not None:
            return self._parent_obj
        pid = self._s.client.get_run(self._run_id).data.tags.get("mlflow.parentRunId")
        if not pid:
            return None
        self._parent_obj = Run(None, pid)
        return self._parent_obj

    @property
    def type(self) -> str:
        return "azureml.scriptrun"

    @property
    def number(self) -> int | None:
        return None

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def properties(self) -> dict[str, str]:
        return self.get_properties()

    @property
    def tags(self) -> dict[str, str]:
        return self.get_tags()

    def __repr__(self) -> str:
        return f"Run(id={self._run_id!r}, experiment_id={self._exp_id!r})"

    # -- names and records ----------------------------------------------------------------------
    def _key(self, name: Any) -> str:
        """The MLflow key for a legacy name; renames are recorded once and kept as a tag."""
        key = self._keys.get(name) if isinstance(name, (str, int)) else None
        if key is not None:
            return key
        text = _name_text(name)
        key = mlflow_name(text)
        if key != text:
            self._recorder.note("metric-name", text, f"stored as {key!r}")
            self._originals[key] = text
            tag = f"aml2mlflow.name.{key}"
            if len(tag) <= 250:
                self._put_tag(tag, text)
        if isinstance(name, (str, int)):
            self._keys[name] = key
        return key

    def _put_tag(self, key: str, value: str) -> int:
        return self._w.put(("t", self._run_id, key, _storable(value[:_MAX_TAG])))

    def _note_first(self, rule: str, name: str, detail: str, lossy: bool = False) -> None:
        """Record (rule, name); `detail` only on its first occurrence (for details that vary)."""
        seen = (rule, name) in self._recorder.items
        self._recorder.note(rule, name, "" if seen else detail, lossy)

    def _note_number(self, rule: str, key: str, value: Any, number: float) -> None:
        """Record what storing `value` (not a float) as the metric value `number` changed."""
        if _is_bool(value):
            self._recorder.note("run-log-bool", key)
            return
        if _is_array(value):
            self._recorder.note(rule, key, "numpy 0-d array stored as the number it holds")
        integer = isinstance(value, int) or _attr(_attr(value, "dtype"), "kind") in ("i", "u")
        if integer and (number > _EXACT_INT or number < -_EXACT_INT):
            try:
                exact = int(value.item() if _is_array(value) else value)
            except Exception:
                return
            if exact == number or float(exact) != number:
                return
            self._note_first(
                rule,
                key,
                f"int beyond 2**53 stored as the nearest float: {_int_text(exact)} as {number!r}",
                lossy=True,
            )

    def _note_special(self, key: str, number: float) -> None:
        """Record a NaN or infinite metric value (`number - number != 0.0`)."""
        if number == number:
            self._recorder.note("run-log-infinite", key)
        else:
            self._recorder.note("run-log", key, "NaN stored as a NaN metric value")

    def _next_step(self, key: str, step: Any) -> int:
        if step is None:
            s = self._steps.get(key, 0)
        else:
            try:
                s = int(step)
            except (TypeError, ValueError, OverflowError) as exc:
                raise SerializationError(
                    f"Unable to serialize value: {step!r} as type: 'long'., "
                    f"{type(exc).__name__}: {exc}",
                    exc,
                ) from None
            if not _INT64[0] <= s < _INT64[1]:
                counter = self._steps.get(key, 0)
                self._note_first(
                    "run-log",
                    key,
                    f"step {_int_text(s)} is outside MLflow's 64-bit steps: stored at step "
                    f"{counter}, the next of the name's own count",
                    lossy=True,
                )
                s = counter
        self._steps[key] = max(s + 1, self._steps.get(key, 0))
        return s

    def _side_path(self, kind: str, key: str) -> str:
        """Where the growing side file of a table or text metric is stored (fixed per key)."""
        path = self._side.get((kind, key))
        if path is None:
            plain = f"tables/{key}.json" if kind == "table" else f"metrics_text/{key}.jsonl"
            path = self._side[(kind, key)] = safe_path(plain)
        return path

    def _text_entries(self, key: str, rule: str) -> builtins.list[dict[str, Any]]:
        """The text values of `key`; the first call says where they are kept if not at the
        usual `metrics_text/<key>.jsonl` (a key too long for a file name)."""
        entries = self._texts.get(key)
        if entries is None:
            entries = self._texts[key] = []
            path = self._side_path("text", key)
            if path != f"metrics_text/{key}.jsonl":
                self._recorder.note(rule, key, f"values kept in {path!r}")
        return entries

    def _log_text(self, key: str, value: Any, step: int, ts: int) -> int:
        text = _text(value)
        detail = _text_detail(value, text)
        if len(text) > _MAX_TAG:
            path = self._side_path("text", key)
            detail += f"; tag cut to {_MAX_TAG} characters, the whole value is in {path!r}"
        self._recorder.note("run-log-text", key, detail)
        self._text_entries(key, "run-log-text").append(
            {"step": step, "timestamp": ts, "value": None if value is None else text}
        )
        self._dirty.add(("text", key))
        return self._put_tag(key, text)

    # -- metrics --------------------------------------------------------------------------------
    def log(self, name: Any, value: Any, description: str = "", step: Any = None) -> None:
        """Log a value under `name`: numbers as metric points (step 0, 1, 2... per name)."""
        self._log(name, value, step)

    def _log(self, name: Any, value: Any, step: Any = None) -> int:
        t = type(value)
        if t is float or t is int:
            try:
                number: float | None = float(value)
            except OverflowError:
                number = None
        else:
            if _is_listlike(value):
                raise UserErrorException(_LIST_ERROR)
            number = as_number(value)
        key = self._keys.get(name) if type(name) is str else None
        if key is None:
            key = self._key(name)
        with self._lock:
            s = self._next_step(key, step)
            ts = _now_ms()
            if number is not None:
                if t is int:
                    if number > _EXACT_INT or number < -_EXACT_INT:
                        self._note_number("run-log", key, value, number)
                elif t is not float:
                    self._note_number("run-log", key, value, number)
                if number - number != 0.0:  # NaN or +-inf
                    self._note_special(key, number)
                return self._w.put(("m", self._run_id, key, number, ts, s))
            return self._log_text(key, value, s, ts)

    def log_list(self, name: Any, value: Iterable[Any], description: str = "") -> None:
        """Log every item as one point of the metric `name`, steps continuing from earlier calls."""
        self._log_list(name, value)

    def _log_list(self, name: Any, value: Iterable[Any], strict: bool = True) -> int:
        """`strict`: reject nested items as Azure ML did; else (the Workbench logger) keep them
        as text."""
        items = list(value)  # TypeError for non-iterables, as in Azure ML
        for item in items:
            if isinstance(item, (list, tuple, dict, set)) or _attr(item, "ndim"):
                if not strict:
                    continue
                # Azure ML names the container's type here, whatever the item was.
                raise AzureMLException(
                    f"Value of type {type(items)} is not supported, supported types include "
                    f"{_SUPPORTED}"
                )
        key = self._key(name)
        if not items:
            self._recorder.note("run-log-list", key, "empty list: nothing stored")
            return self._put_tag(mlflow_name("aml2mlflow.empty_list." + key), "")
        records = []
        with self._lock:
            base = self._steps.get(key, 0)
            self._steps[key] = base + len(items)
            ts = _now_ms()
            texts: list[str] = []
            for i, item in enumerate(items):
                number = as_number(item)
                if number is None:
                    text = _text(item)
                    texts.append(_text_detail(item, text))
                    self._text_entries(key, "run-log-list-text").append(
                        {"step": base + i, "timestamp": ts, "value": None if item is None else text}
                    )
                    continue
                t = type(item)
                if t is int:
                    if number > _EXACT_INT or number < -_EXACT_INT:
                        self._note_number("run-log", key, item, number)
                elif t is not float:
                    self._note_number("run-log", key, item, number)
                if number - number != 0.0:
                    self._note_special(key, number)
                records.append(("m", self._run_id, key, number, ts, base + i))
            if texts:
                self._dirty.add(("text", key))
                for detail in dict.fromkeys(texts):
                    self._recorder.note("run-log-list-text", key, detail)
            if not records:
                return self._put_tag(key, _text(items[-1]))
            return self._w.put_many(records)

    # -- tables ---------------------------------------------------------------------------------
    def _append_rows(self, name: Any, rows: builtins.list[dict[str, Any]], rule: str) -> None:
        text = _name_text(name)
        table_key = mlflow_name(text)
        details: dict[str, None] = {}
        records = []
        with self._lock:
            table = self._tables.get(table_key)
            if table is None:
                table = self._tables[table_key] = _Table()
            path = self._side_path("table", table_key)
            if path != f"tables/{text}.json":
                details[f"stored as {path!r}"] = None
            ts = _now_ms()
            for row in rows:
                cells = {}
                for col, val in row.items():
                    cell, change = _cell(val)
                    cells[col] = cell
                    if change:
                        details[f"column {col!r}: {change}"] = None
                    number = as_number(val)
                    if number is None:
                        continue
                    key = self._key(f"{text}/{col}")
                    self._table_metrics.add(key)
                    if number - number != 0.0:
                        what = "NaN" if number != number else "infinity"
                        details[f"column {col!r}: {what} stored as {what} in the table"] = None
                        self._note_special(key, number)
                    records.append(("m", self._run_id, key, number, ts, len(table.rows)))
                table.add(cells)
            self._dirty.add(("table", table_key))
        self._recorder.note(rule, text, "; ".join(details))
        if records:
            self._w.put_many(records)

    def log_row(self, name: Any, description: Any = None, **kwargs: Any) -> None:
        """Append one row to the table `name` (columns from the keyword arguments)."""
        for col, val in kwargs.items():
            if isinstance(val, list):
                raise AzureMLException(
                    f"Rows cannot contain list values, column {col} contains a list."
                )
            if isinstance(val, (dict, tuple, set)):
                raise AzureMLException(
                    f"Value of type {type(val)} is not supported, supported types include "
                    f"{_SUPPORTED}"
                )
        self._append_rows(name, [kwargs], "run-log-row")

    def log_table(self, name: Any, value: Mapping[str, Any], description: str = "") -> None:
        """Append the rows of a dict of columns (lists of equal length, or scalars)."""
        columns: dict[str, list[Any]] = {}
        for col in value.keys():  # noqa: SIM118 (a list must raise AttributeError, as in Azure ML)
            cells = value[col]
            if _attr(cells, "ndim") and callable(_attr(cells, "tolist")):
                cells = cells.tolist()
            cells = list(cells) if isinstance(cells, (list, tuple)) else [cells]
            for cell in cells:
                if isinstance(cell, (list, tuple, dict, set)):
                    raise AzureMLException(
                        f"Value of type {type(cell)} is not supported, supported types include "
                        f"{_SUPPORTED}"
                    )
            columns[_name_text(col)] = cells
        if not columns:
            self._recorder.note("run-log-table", _name_text(name), "empty table: nothing stored")
            return
        first, *others = columns
        for col in others:
            if len(columns[col]) != len(columns[first]):
                raise AzureMLException(
                    f"Columns must have the same length, column {first} had length "
                    f"{len(columns[first])}, however, column {col} had length "
                    f"{len(columns[col])}."
                )
        rows = [{c: columns[c][i] for c in columns} for i in range(len(columns[first]))]
        self._append_rows(name, rows, "run-log-table")

    # -- JSON metric kinds ----------------------------------------------------------------------
    def _log_json(self, kind: str, rule: str, name: Any, value: Any) -> None:
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except ValueError:
                raise UserErrorException("Invalid JSON provided") from None
        text = json.dumps(value, indent=2)  # TypeError for sets, arrays... as in Azure ML
        base = artifact_name(name)
        json_path, renamed = self._target(name, ".json")
        png_path, renamed_png = self._target(name, ".png")
        self._stage_and_put(json_path, data=text.encode("utf-8"), rule=rule)
        from shims.render import render

        png, not_rendered = render(kind, posixpath.basename(base), value)
        if png is not None:
            self._stage_and_put(png_path, data=png, rule=rule)
        details = [d for d in (renamed, renamed_png if png is not None else "", not_rendered) if d]
        self._recorder.note(rule, _name_text(name), "; ".join(details))

    def log_confusion_matrix(self, name: Any, value: Any, description: str = "") -> None:
        """Store the confusion matrix as `<name>.json` and draw it as `<name>.png`."""
        self._log_json("confusion_matrix", "run-log-confusion-matrix", name, value)

    def log_accuracy_table(self, name: Any, value: Any, description: str = "") -> None:
        """Store the accuracy table as `<name>.json` and draw its curves as `<name>.png`."""
        self._log_json("accuracy_table", "run-log-accuracy-table", name, value)

    def log_predictions(self, name: Any, value: Any, description: str = "") -> None:
        """Store the predictions as `<name>.json` and draw them as `<name>.png`."""
        self._log_json("predictions", "run-log-predictions", name, value)

    def log_residuals(self, name: Any, value: Any, description: str = "") -> None:
        """Store the residuals as `<name>.json` and draw the histogram as `<name>.png`."""
        self._log_json("residuals", "run-log-residuals", name, value)

    # -- images and files -----------------------------------------------------------------------
    def _target(self, name: Any, suffix: str = "", what: str = "name") -> tuple[str, str]:
        """The artifact path of a legacy name plus the `suffix` the API adds (raises
        `UserErrorException` for a name that would leave the run's artifacts), and the report
        detail when it is not simply the legacy name plus `suffix` ("" when it is)."""
        text = _name_text(name)
        path, why = artifact_path(text, what, suffix)
        if path == text + suffix:
            return path, ""
        return path, f"stored as {path!r}" + (f" ({', '.join(why)})" if why else "")

    def _artifact(self, name: Any, rule: str, suffix: str = "", what: str = "name") -> str:
        """`_target`, with a changed name recorded under `rule`."""
        path, detail = self._target(name, suffix, what)
        if detail:
            self._recorder.note(rule, _name_text(name), detail, lossy=True)
        return path

    def _stage_and_put(
        self,
        name: str,
        src: str | os.PathLike[str] | None = None,
        data: bytes | None = None,
        rule: str = "run-upload-file",
    ) -> int:
        """Copy the file now and queue its upload as the artifact `name` (made storable, and
        moved aside, reported under `rule`, if it clashes with a file or folder of this run)."""
        directory, base = posixpath.split(self._claim(safe_path(name), rule))
        staged = self._w.stage_file(src, data, base)
        return self._w.put(("a", self._run_id, staged, directory))

    def _claim(self, path: str, rule: str) -> str:
        """`path`, or the path beside it when this run already stored a file where `path` needs a
        folder or a folder where it needs a file (`_` appended, and again while that name is taken
        by a file or folder of this run). Azure's blob names allowed both `a` and `a/b`; a file
        system does not, and MLflow would refuse the upload for good."""
        with self._lock:
            known = self._claimed.get(path)
            if known is not None:
                return known
            parts = path.split("/")
            for i in range(1, len(parts)):
                while "/".join(parts[:i]) in self._stored_files:
                    parts[i - 1] += "_"
            # (renaming the last part leaves the folders above it, checked just now, unchanged)
            while "/".join(parts) in self._stored_folders or "/".join(parts) in self._stored_files:
                parts[-1] += "_"
            final = "/".join(parts)
            self._claimed[path] = final
            self._stored_files.add(final)
            parts = final.split("/")
            self._stored_folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if final != path:
            self._recorder.note(
                rule,
                path,
                f"stored as {final!r}: a file and a folder of this run cannot share a name",
                lossy=True,
            )
        return final

    def log_image(
        self, name: Any, path: Any = None, plot: Any = None, description: str = ""
    ) -> None:
        """Store an image file (`path=`) or a figure (`plot=`, e.g. `plt` or a Figure)."""
        if path is not None and plot is not None:
            raise AzureMLException(
                "Invalid parameters, path and plot were both provided, only one at a time is "
                "supported"
            )
        if path is None and plot is None:
            raise AzureMLException("Invalid parameters, one of path and plot is required as input")
        base = artifact_name(name)
        if plot is not None:
            if not callable(getattr(plot, "savefig", None)):
                raise AzureMLException(
                    "Argument [plot] is of invalid type. Expected type: [matplotlib.pyplot]"
                )
            buf = io.BytesIO()
            plot.savefig(buf, format="png")
            target = self._artifact(name, "run-log-image-plot", ".png")
            self._stage_and_put(target, data=buf.getvalue(), rule="run-log-image-plot")
            return
        _reject_pathlib(path)
        if isinstance(path, str):
            if not os.path.exists(path):
                raise FileNotFoundError(2, "No such file or directory", path)
            kind = mimetypes.guess_type(path)[0] or ""
            if not kind.startswith("image/"):
                raise AzureMLException(f"Argument [{path}] is malformed.")
            ext = os.path.splitext(path)[1]
            suffix = "" if base.lower().endswith(ext.lower()) else ext
            target = self._artifact(name, "run-log-image-path", suffix)
            self._stage_and_put(target, src=path, rule="run-log-image-path")
            return
        data = _read_stream(path)
        ext = _image_ext(data)
        suffix = "" if base.lower().endswith(ext) else ext
        target = self._artifact(name, "run-log-image-path", suffix)
        self._stage_and_put(target, data=data, rule="run-log-image-path")

    def upload_file(self, name: Any, path_or_stream: Any, datastore_name: Any = None) -> None:
        """Store a file (a path or a readable stream) as the artifact `name`, folders included."""
        _reject_pathlib(path_or_stream)
        target = self._artifact(name, "run-upload-file")
        self._upload(target, path_or_stream, datastore_name, "run-upload-file")

    def _upload(self, target: str, path_or_stream: Any, datastore_name: Any, rule: str) -> None:
        if datastore_name is not None:
            self._recorder.note("run-upload-datastore", target, f"datastore {datastore_name!r}")
        if isinstance(path_or_stream, str):
            self._stage_and_put(target, src=path_or_stream, rule=rule)
        else:
            self._stage_and_put(target, data=_read_stream(path_or_stream), rule=rule)

    def upload_files(
        self,
        names: Any = _MISSING,
        paths: Any = _MISSING,
        return_artifacts: bool = False,
        timeout_seconds: Any = None,
        datastore_name: Any = None,
        *,
        name: Any = _MISSING,
    ) -> None:
        """Store each file in `paths` as the artifact at the same position in `names`."""
        if names is _MISSING:
            names = name
        if names is _MISSING or paths is _MISSING:
            raise TypeError("upload_files() needs names and paths")
        names, paths = list(names), list(paths)
        if len(names) != len(paths):
            raise TypeError(
                "names and paths must be lists of equal lengths. Names was of length "
                f"{len(names)} and paths of length {len(paths)}."
            )
        checked = [self._target(n) for n in names]  # nothing is stored if one name is bad
        for p in paths:
            _reject_pathlib(p)
            if not os.path.isfile(p):
                raise FileNotFoundError(2, "No such file or directory", p)
        for n, (target, detail), p in zip(names, checked, paths):
            if detail:
                self._recorder.note("run-upload-files", _name_text(n), detail, lossy=True)
            self._upload(target, p, datastore_name, "run-upload-files")

    def upload_folder(self, name: Any, path: Any, datastore_name: Any = None) -> None:
        """Store every file under the folder `path` as `<name>/<relative path>`."""
        _reject_pathlib(path)
        if not os.path.isdir(path):
            raise UserErrorException(
                f"Cannot upload path: {path} since it is not a valid directory."
            )
        prefix = self._artifact(name, "run-upload-folder")
        if str(path).endswith(("/", os.sep)):
            self._recorder.note(
                "run-upload-folder",
                prefix,
                "path ends with '/': files stored under name/ (Azure ML glued the names)",
            )
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                full = os.path.join(root, f)
                rel = os.path.relpath(full, path)
                target = _file_target(prefix, rel)
                if target != f"{prefix}/{rel}":
                    self._recorder.note(
                        "run-upload-folder", f"{prefix}/{rel}", f"stored as {target!r}", lossy=True
                    )
                self._upload(target, full, datastore_name, "run-upload-folder")

    # -- tags and properties --------------------------------------------------------------------
    def tag(self, key: Any = _MISSING, value: Any = None, *, name: Any = _MISSING) -> None:
        """Set a tag; a key-only tag is stored with an empty value."""
        if key is _MISSING:
            key = name
        if key is _MISSING:
            raise TypeError("tag() missing 1 required positional argument: 'key'")
        k = self._key(key)
        if value is None:
            self._recorder.note("run-tag-key-only", k)
        self._tag(k, value, "run-tag")

    def _tag(self, key: str, value: Any, rule: str) -> None:
        """Store `value` as the tag `key` as Azure did (its str(); None as ''), reporting what a
        string cannot carry or MLflow cannot store."""
        text = "" if value is None else _str(value)
        if not _plain_tag_value(value):
            self._note_first(rule, key, f"{type(value).__name__} value stored as the text "
                             f"{shown(text, 80)}")  # fmt: skip
        if len(text) > _MAX_TAG:
            self._recorder.note(
                rule, key, f"value of {len(text)} characters cut to {_MAX_TAG}, MLflow's limit",
                lossy=True,
            )  # fmt: skip
        if _storable(text) is not text:
            self._recorder.note(
                rule, key, "undecodable characters (lone surrogates) stored as U+FFFD", lossy=True
            )
        self._put_tag(key, text)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags; None values become empty strings."""
        for k, v in tags.items():  # AttributeError for a str or a list, as in Azure ML
            self._tag(self._key(k), v, "run-set-tags")

    def remove_tags(self, tags: Any) -> None:
        """Delete the named tags (a list of keys, or one key)."""
        keys = [tags] if isinstance(tags, str) else list(tags)
        for k in keys:
            self._w.put(("d", self._run_id, self._key(k)))

    def get_tags(self) -> dict[str, str]:
        """The run's tags, without MLflow's and the shim's own bookkeeping tags."""
        self.flush()
        tags = self._s.client.get_run(self._run_id).data.tags
        return {
            self._originals.get(k, k): v
            for k, v in tags.items()
            if not k.startswith(_HIDDEN_TAG_PREFIXES)
        }

    def add_properties(self, properties: Mapping[str, Any] | None) -> None:
        """Add write-once properties (MLflow params); changing one raises, as in Azure ML."""
        if not properties:
            return
        records = []
        with self._lock:
            for k, v in properties.items():
                key, text = self._key(k), _str(v)
                if len(text) > _MAX_PARAM:
                    self._recorder.note(
                        "run-add-properties", key,
                        f"value of {len(text)} characters cut to {_MAX_PARAM}, MLflow's limit",
                        lossy=True,
                    )  # fmt: skip
                    text = text[:_MAX_PARAM]
                text = _storable(text)
                old = self._props.get(key)
                if old is not None and old != text:
                    raise UserErrorException(
                        f"Property {k!r} is already set to {old!r}; properties are write-once."
                    )
                if old is None:
                    self._props[key] = text
                    records.append(("p", self._run_id, key, text))
        if records:
            self._w.put_many(records)

    def get_properties(self) -> dict[str, str]:
        """The run's properties (MLflow params)."""
        self.flush()
        params = self._s.client.get_run(self._run_id).data.params
        return {self._originals.get(k, k): v for k, v in params.items()}

    # -- reading back ---------------------------------------------------------------------------
    def get_metrics(
        self,
        name: Any = None,
        recursive: bool = False,
        run_type: Any = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """{name: value, or [values] when logged more than once}; tables as {column: [values]}."""
        self.flush()
        if recursive:
            out: dict[str, Any] = {self._run_id: self._metrics(name)}
            for child in self.get_children(recursive=True):
                out[child.id] = child._metrics(name)
            return out
        return self._metrics(name)

    def _metrics(self, name: Any) -> dict[str, Any]:
        client = self._s.client
        data = client.get_run(self._run_id).data
        out: dict[str, Any] = {}
        for key in data.metrics:
            if key in self._table_metrics:
                continue
            history = sorted(
                client.get_metric_history(self._run_id, key), key=lambda m: (m.step, m.timestamp)
            )
            values = [m.value for m in history]
            out[self._originals.get(key, key)] = values[0] if len(values) == 1 else values
        for key, entries in self._texts.items():
            values = [e["value"] for e in entries]
            original = self._originals.get(key, key)
            if original in out:
                continue
            out[original] = values[0] if len(values) == 1 else values
        for key, table in self._tables.items():
            out[self._originals.get(key, key)] = {
                c: [row.get(c) for row in table.rows] for c in table.columns
            }
        if name is not None:
            return {name: out[name]} if name in out else {}
        return out

    def get_file_names(self) -> builtins.list[str]:
        """Every artifact path of the run."""
        self.flush()
        client = self._s.client
        names: list[str] = []
        stack: list[str | None] = [None]
        while stack:
            for f in client.list_artifacts(self._run_id, stack.pop()):
                if f.is_dir:
                    stack.append(f.path)
                else:
                    names.append(f.path)
        return sorted(names)

    def download_file(
        self, name: str, output_file_path: Any = None, _validate_checksum: bool = False
    ) -> None:
        """Download the artifact `name` to `output_file_path` (default: its base name in cwd)."""
        import tempfile

        self.flush()
        stored = artifact_name(name)  # where a legacy name was stored (see upload_file)
        stored = self._claimed.get(stored, stored)
        dest = Path(output_file_path) if output_file_path else Path(posixpath.basename(stored))
        if dest.is_dir():
            dest = dest / posixpath.basename(stored)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            got = self._s.client.download_artifacts(self._run_id, stored, tmp)
            shutil.copyfile(got, dest)

    def download_files(
        self,
        prefix: Any = None,
        output_directory: Any = None,
        output_paths: Any = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: Any = None,
    ) -> None:
        """Download every artifact under `prefix` into `output_directory` (default: cwd)."""
        names = [n for n in self.get_file_names() if not prefix or n.startswith(prefix)]
        base = Path(output_directory or ".")
        for i, n in enumerate(names):
            if output_paths is not None:
                dest = Path(output_paths[i])
            else:
                rel = n if append_prefix or not prefix else n[len(prefix) :].lstrip("/")
                dest = base / rel
            self.download_file(n, dest)

    def get_status(self) -> str:
        """Azure's name for the run's MLflow status (Running, Completed, Failed, Canceled)."""
        status = self._s.client.get_run(self._run_id).info.status
        return _STATUS_TO_AZURE.get(status, str(status).capitalize())

    def get_details(self) -> dict[str, Any]:
        """runId, status, start and end times, properties and tags."""
        self.flush()
        mlrun = self._s.client.get_run(self._run_id)
        info = mlrun.info

        def iso(ms: int | None) -> str | None:
            if not ms:
                return None
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + (
                f".{ms % 1000:03d}Z"
            )

        return {
            "runId": info.run_id,
            "experimentId": info.experiment_id,
            "status": _STATUS_TO_AZURE.get(info.status, info.status),
            "startTimeUtc": iso(info.start_time),
            "endTimeUtc": iso(info.end_time),
            "properties": dict(mlrun.data.params),
            "tags": {
                k: v for k, v in mlrun.data.tags.items() if not k.startswith(_HIDDEN_TAG_PREFIXES)
            },
        }

    def get_portal_url(self) -> str:
        """The MLflow UI address of this run when tracking to a server, else the tracking URI."""
        uri = self._s.tracking_uri
        if uri.startswith(("http://", "https://")):
            return f"{uri.rstrip('/')}/#/experiments/{self._exp_id}/runs/{self._run_id}"
        return uri

    # -- children -------------------------------------------------------------------------------
    def child_run(self, name: Any = None, run_id: Any = None, outputs: Any = None) -> Run:
        """Start a nested run; complete it (or leave its `with` block) to end it."""
        tags = {"aml2mlflow.v1_run_id": str(run_id)} if run_id else None
        return Run._create(
            self.experiment, name=name or run_id, parent=self, tags=tags, outputs=outputs
        )

    def create_children(
        self, count: Any = None, tag_key: Any = None, tag_values: Any = None
    ) -> builtins.list[Run]:
        """Create `count` nested runs, or one per value in `tag_values` tagged `tag_key`."""
        if count is None and (tag_key is None or tag_values is None):
            if tag_key is not None:
                raise UserErrorException("tag_values must not be null when tag_key is set")
            raise UserErrorException("Either count or tag_key and tag_values must be set")
        if count is not None and tag_key is not None and tag_values is not None:
            raise UserErrorException("count can not be set when tag_key and tag_values are set")
        if count is not None:
            if count > 100:
                raise UserErrorException("create_children can not create more than 100 runs")
            return [self.child_run() for _ in range(count)]
        children = []
        for value in tag_values:
            child = self.child_run()
            child.tag(tag_key, value)
            children.append(child)
        return children

    def get_children(
        self,
        recursive: bool = False,
        tags: Any = None,
        properties: Any = None,
        type: Any = None,
        status: Any = None,
        _rehydrate_runs: bool = True,
    ) -> Iterator[Run]:
        """Yield the nested runs (and theirs, when recursive)."""
        client = self._s.client
        found = client.search_runs(
            [self._exp_id], filter_string=f"tags.mlflow.parentRunId = '{self._run_id}'"
        )
        for mlrun in found:
            child = Run.__new__(Run)
            child._setup(self._s, mlrun.info, self._exp, owned=False, parent=self)
            yield child
            if recursive:
                yield from child.get_children(recursive=True)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """MLflow runs are RUNNING from creation: nothing to do."""

    def flush(self, timeout_seconds: float = 300) -> None:
        """Block until everything logged so far is stored (tables and text artifacts included)."""
        self._write_side_files()
        self._w.wait(timeout=timeout_seconds)

    def complete(self, _set_status: bool = True) -> None:
        """Upload ./outputs, store everything pending and end the run FINISHED."""
        self._finish("FINISHED", None)

    def fail(
        self, error_details: Any = None, error_code: Any = None, _set_status: bool = True
    ) -> None:
        """End the run FAILED, keeping the error details as tags."""
        if error_details is not None and not isinstance(error_details, (str, BaseException)):
            raise TypeError("error_details must be instance of string or BaseException.")
        if error_code is not None:
            self._put_tag("aml2mlflow.error_code", str(error_code))
        self._finish("FAILED", error_details)

    def cancel(self) -> None:
        """End the run KILLED (Azure's Canceled)."""
        self._finish("KILLED", None)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exit_type: Any, value: Any, traceback: Any) -> None:
        if value is not None:
            self.fail(value if isinstance(value, BaseException) else None)
        else:
            self.complete()

    def _finish(self, status: str, error: Any, wait: bool = True) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        if error is not None:
            text = (
                f"{type(error).__name__}: {_str(error)}"
                if isinstance(error, BaseException)
                else _str(error)
            )
            self._put_tag("aml2mlflow.error", text)
        if self._owned:
            self._upload_outputs()
        self._write_side_files()
        if not self._fluent:
            self._w.put(("e", self._run_id, status, _now_ms()))
        if self._owned:
            self._s.forget(self)
        if wait:
            self._w.wait(timeout=300)

    def _upload_outputs(self) -> None:
        folder = self._outputs
        if not folder or not os.path.isdir(folder) or self._parent_obj is not None:
            return
        count = 0
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for f in sorted(files):
                full = os.path.join(root, f)
                rel = os.path.relpath(full, os.path.dirname(folder))
                target = _file_target("", rel)
                if target != rel.replace(os.sep, "/"):
                    self._recorder.note(
                        "outputs-folder", rel.replace(os.sep, "/"), f"stored as {target!r}"
                    )
                try:
                    self._stage_and_put(target, src=full, rule="outputs-folder")
                    count += 1
                except OSError as exc:
                    print(f"aml2mlflow: could not upload {full}: {exc}", file=sys.stderr)
        if count:
            self._recorder.note("outputs-folder", "outputs", f"{count} file(s) uploaded at run end")

    def _write_side_files(self) -> None:
        """Rewrite the artifacts that accumulate (tables, text metrics, conversion report)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            snapshots = []
            for kind, key in sorted(dirty):
                if kind == "table":
                    body = self._tables[key].as_split_json()
                else:
                    lines = [json.dumps(e, default=_text) for e in self._texts[key]]
                    body = "\n".join(lines) + "\n"
                snapshots.append((self._side_path(kind, key), body))
            table_list = sorted(self._side_path("table", k) for k in self._tables)
        for (kind, _), (path, body) in zip(sorted(dirty), snapshots):
            rule = "run-log-table" if kind == "table" else "run-log-text"
            self._stage_and_put(path, data=body.encode("utf-8"), rule=rule)
        if any(kind == "table" for kind, _ in dirty):
            logged = [{"path": self._claimed.get(p, p), "type": "table"} for p in table_list]
            self._put_tag("mlflow.loggedArtifacts", json.dumps(logged))
        if self._recorder.dirty:
            self._recorder.dirty = False
            body = json.dumps(self._recorder.as_list(), indent=1)
            self._stage_and_put(CONVERSIONS_ARTIFACT, data=body.encode("utf-8"))

    # -- service-only members -------------------------------------------------------------------
    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
    ) -> None:
        raise ServiceOnlyError("Run.wait_for_completion", _instead("run-wait-for-completion"))

    def submit_child(self, config: Any, tags: Any = None, **kwargs: Any) -> None:
        raise ServiceOnlyError("Run.submit_child", _instead("run-submit-child"))

    def register_model(
        self,
        model_name: Any,
        model_path: Any = None,
        tags: Any = None,
        properties: Any = None,
        model_framework: Any = None,
        model_framework_version: Any = None,
        description: Any = None,
        datasets: Any = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
        **kwargs: Any,
    ) -> None:
        raise ServiceOnlyError("Run.register_model", _instead("run-register-model"))

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        raise ServiceOnlyAttributeError(f"Run.{attr}", _instead("service-only"))


class ServiceOnlyAttributeError(ServiceOnlyError, AttributeError):
    """A service-only member was looked up; also an AttributeError so `hasattr` stays False."""


def _instead(rule_id: str) -> str:
    from migrate.catalogue import entry

    return entry(rule_id).reason


class _OfflineRun:
    """Never instantiated: `isinstance(run, _OfflineRun)` is always False, as the run records."""


class Experiment:
    """An MLflow experiment under the legacy name; `start_logging()` starts a run in it."""

    def __init__(
        self,
        workspace: Any,
        name: str,
        _skip_name_validation: bool = False,
        _id: Any = None,
        _archived_time: Any = None,
        _create_in_cloud: bool = True,
        _experiment_dto: Any = None,
        **kwargs: Any,
    ) -> None:
        self.workspace = workspace
        self.name = name
        self._id: str | None = str(_id) if _id is not None else None

    @classmethod
    def _default(cls) -> Experiment:
        exp_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
        if exp_id:
            return cls(None, "", _id=exp_id)
        return cls(None, default_experiment_name())

    @property
    def id(self) -> str:
        return self._mlflow_id()

    def _mlflow_id(self) -> str:
        if self._id is None:
            client = session().client
            exp = client.get_experiment_by_name(self.name)
            if exp is None:
                try:
                    self._id = str(client.create_experiment(self.name))
                except Exception:  # created meanwhile by another process
                    exp = client.get_experiment_by_name(self.name)
                    if exp is None:
                        raise
                    self._id = str(exp.experiment_id)
            else:
                if exp.lifecycle_stage == "deleted":
                    client.restore_experiment(exp.experiment_id)
                self._id = str(exp.experiment_id)
        return self._id

    def start_logging(self, *args: Any, **kwargs: Any) -> Run:
        """Start an interactive run in this experiment (name/display_name, outputs accepted)."""
        name = kwargs.get("display_name") or kwargs.get("name")
        outputs = kwargs.get("outputs", "outputs")
        return Run._create(self, name=name, outputs=outputs)

    def submit(self, config: Any, tags: Any = None, **kwargs: Any) -> None:
        raise ServiceOnlyError("Experiment.submit", _instead("experiment-submit"))

    def get_runs(
        self,
        type: Any = None,
        tags: Any = None,
        properties: Any = None,
        include_children: bool = False,
    ) -> Iterator[Run]:
        return Run.list(self, include_children=include_children)

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


def default_experiment_name() -> str:
    """MLFLOW_EXPERIMENT_NAME, else the running script's name, else "Default"."""
    env = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if env:
        return env
    main = sys.argv[0] if sys.argv else ""
    stem = Path(main).stem if main and main not in ("-c", "-m") else ""
    if not stem or stem in ("ipykernel_launcher", "__main__", "pytest"):
        return "Default"
    return stem


class Workspace:
    """A stand-in for an Azure ML workspace: the MLflow tracking target.

    `Workspace.from_config()`, `Workspace(...)` and `Workspace.get(...)` all work, so notebooks that
    start with them run; compute, datastore and environment members raise `ServiceOnlyError`.
    """

    def __init__(
        self,
        subscription_id: Any = None,
        resource_group: Any = None,
        workspace_name: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.name = str(workspace_name or kwargs.get("name") or "mlflow")
        self.location = "local"

    @classmethod
    def from_config(
        cls, path: Any = None, auth: Any = None, _logger: Any = None, _file_name: Any = None
    ) -> Workspace:
        """Read the workspace name from config.json when present (for display only)."""
        conf: dict[str, Any] = {}
        candidates = [Path(path)] if path else []
        here = Path.cwd()
        for folder in [here, *here.parents]:
            candidates += [folder / ".azureml" / "config.json", folder / "config.json"]
        for c in candidates:
            file = c / "config.json" if c.is_dir() else c
            if file.is_file():
                try:
                    conf = json.loads(file.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    conf = {}
                break
        return cls(
            conf.get("subscription_id"), conf.get("resource_group"), conf.get("workspace_name")
        )

    @staticmethod
    def get(
        name: Any,
        auth: Any = None,
        subscription_id: Any = None,
        resource_group: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Workspace:
        return Workspace(subscription_id, resource_group, name)

    def get_mlflow_tracking_uri(self, *args: Any, **kwargs: Any) -> str:
        """The MLflow tracking URI this process logs to."""
        import mlflow

        return str(mlflow.get_tracking_uri())

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        raise ServiceOnlyAttributeError(f"Workspace.{attr}", _instead("service-only"))

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r})"
