"""Conformance of the shim with the real azureml-core 1.61 `Run`, from two recorded reference files.

- `azureml_run_signatures.json`: `inspect.signature` of the real `Run`, `_OfflineRun` and
  `Experiment` members. Every legacy parameter must exist in the shim at the same position, with the
  same default.
- `azureml_call_outcomes.json`: 169 calls run against the real `Run` with only the network replaced:
  whether each raised (which exception, which message) and what it sent to the service. Every case
  is replayed against an in-process shim `Run`: a raise must be the same exception with the same
  message, and what Azure ML stored must be found in MLflow, read back with a real `MlflowClient`.

A case added to the reference file fails `test_every_recorded_call_is_mapped` until it is mapped
here; a case where the shim is wrong is a strict xfail in SHIM_XFAIL, with the reason.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import shutil
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from shims.names import mlflow_name
from shims.run import Experiment, Run

REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
OUTCOMES: list[dict[str, Any]] = json.loads(
    (REFERENCE / "azureml_call_outcomes.json").read_text(encoding="utf-8")
)["cases"]
SIGNATURES: dict[str, Any] = json.loads(
    (REFERENCE / "azureml_run_signatures.json").read_text(encoding="utf-8")
)
SENT: dict[str, list[dict[str, Any]]] = {c["call"]: c.get("sent", []) for c in OUTCOMES}

Record = dict[str, Any]
P = inspect.Parameter


# ================================================================================================
# A. Signatures
# ================================================================================================

SIGNATURE_MEMBERS = (
    "log", "log_list", "log_row", "log_table", "log_image", "log_accuracy_table",
    "log_confusion_matrix", "log_predictions", "log_residuals", "upload_file", "upload_files",
    "upload_folder", "tag", "set_tags", "remove_tags", "add_properties", "get_properties",
    "get_tags", "get_metrics", "get_file_names", "download_file", "download_files", "complete",
    "fail", "cancel", "start", "child_run", "create_children", "get_children", "get_status",
    "get_details", "flush", "wait_for_completion", "register_model", "get_context", "get", "list",
)  # fmt: skip
SIGNATURE_CASES = [
    (cls, member)
    for cls in ("Run", "_OfflineRun")
    for member in SIGNATURE_MEMBERS
    if f"{cls}.{member}" in SIGNATURES  # _OfflineRun lacks most reading members
] + [("Experiment", m) for m in ("start_logging", "submit", "__init__")]

# The online and offline shapes name the same positional parameter differently (tag: key vs name;
# upload_files: names vs name). The shim keeps the ONLINE name positionally and accepts the OFFLINE
# name as keyword-only: {(class, member): {offline name: online name at that position}}.
OFFLINE_RENAMED: dict[tuple[str, str], dict[str, str]] = {
    ("_OfflineRun", "tag"): {"name": "key"},
    ("_OfflineRun", "upload_files"): {"name": "names"},
}
# ...which is why these legacy-REQUIRED parameters carry a sentinel default in the shim (either
# spelling may be used, so neither can be required; `paths` follows `names`, so it needs one too).
SENTINEL_DEFAULTS = {("tag", "key"), ("upload_files", "names"), ("upload_files", "paths")}
# _OfflineRun's four JSON kinds default `description` to None where Run's default it to ''; one
# signature cannot have both and the shim keeps Run's (the description is dropped either way,
# catalogue rule run-log-description). {(class, member, parameter): repr of the shim's default}.
OFFLINE_DEFAULT_DIVERGENCES = {
    ("_OfflineRun", m, "description"): "''"
    for m in ("log_accuracy_table", "log_confusion_matrix", "log_predictions", "log_residuals")
}
# Members whose signature the SHIM gets wrong: each is one strict xfail with its reason.
SIGNATURE_XFAIL: dict[tuple[str, str], str] = {}


def _shim_member(cls: str, member: str) -> Any:
    return getattr(Experiment if cls == "Experiment" else Run, member)


def _is_sentinel(value: Any) -> bool:
    return type(value) is object


@pytest.mark.parametrize(
    ("cls", "member"),
    [
        pytest.param(
            cls, member, id=f"{cls}.{member}",
            marks=[pytest.mark.xfail(strict=True, reason=SIGNATURE_XFAIL[(cls, member)])]
            if (cls, member) in SIGNATURE_XFAIL else [],
        )
        for cls, member in SIGNATURE_CASES
    ],
)  # fmt: skip
def test_signature_matches_legacy(cls: str, member: str) -> None:
    legacy = SIGNATURES[f"{cls}.{member}"]["parameters"]
    params = list(inspect.signature(_shim_member(cls, member)).parameters.values())
    positional = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    by_name = {p.name: p for p in params}
    kinds = {p.kind for p in params}
    renamed = OFFLINE_RENAMED.get((cls, member), {})
    where = f"{cls}.{member}"

    i = 0
    for lp in legacy:
        name, kind = lp["name"], lp["kind"]
        if kind == "VAR_POSITIONAL":
            assert P.VAR_POSITIONAL in kinds, f"{where}: legacy accepts *{name}, the shim does not"
            continue
        if kind == "VAR_KEYWORD":
            assert P.VAR_KEYWORD in kinds, f"{where}: legacy accepts **{name}, the shim does not"
            continue
        assert kind == "POSITIONAL_OR_KEYWORD", f"{where}: unexpected legacy kind {kind}"
        shim_name = renamed.get(name, name)
        assert i < len(positional), f"{where}: legacy parameter {name!r} (position {i}) missing"
        p = positional[i]
        assert p.name == shim_name, f"{where}: position {i} is {p.name!r}, legacy {name!r}"
        if name in renamed:
            # The offline spelling: keyword-only, sharing the positional parameter's sentinel.
            kw = by_name.get(name)
            assert kw is not None and kw.kind is P.KEYWORD_ONLY, f"{where}: {name}= not accepted"
            assert _is_sentinel(kw.default) and kw.default is p.default, where
        elif lp["required"]:
            if (member, name) in SENTINEL_DEFAULTS:
                assert _is_sentinel(p.default), f"{where}: {name} should default to the sentinel"
            else:
                assert p.default is P.empty, f"{where}: {name} is required in the legacy SDK"
        else:
            want = OFFLINE_DEFAULT_DIVERGENCES.get((cls, member, name), lp["default"])
            assert repr(p.default) == want, f"{where}: {name} defaults to {p.default!r}"
        i += 1

    # What the shim adds beyond the legacy shape must not break a legacy call.
    for p in positional[i:] + [p for p in params if p.kind is P.KEYWORD_ONLY]:
        assert p.default is not P.empty, f"{where}: extra parameter {p.name!r} is required"


# ================================================================================================
# Shared fixtures and readers
# ================================================================================================


def _png_1x1() -> bytes:
    """A valid 1x1 RGBA PNG of 70 bytes, the size of the image the reference cases uploaded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\xff"))
        + chunk(b"IEND", b"")
    )


PNG = _png_1x1()
CM = {
    "schema_type": "confusion_matrix",
    "schema_version": "1.0.0",
    "data": {"class_labels": ["0", "1"], "matrix": [[3, 0], [1, 2]]},
}


@dataclass
class Ctx:
    run: Run
    tmp: Path

    def p(self, name: str) -> str:
        return str(self.tmp / name)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite store with its schema created once (that takes ~1.5 s; a copy ~5 ms)."""
    path = tmp_path_factory.mktemp("conformance-db") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def ctx(
    shim: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template_db: Path
) -> Iterator[Ctx]:
    """The shim's context run in the test's own store, and the files the reference cases used."""
    assert shim == f"sqlite:///{tmp_path / 'mlflow.db'}"
    shutil.copyfile(template_db, tmp_path / "mlflow.db")
    # A new experiment: its artifacts go under this test's folder (the template's experiment 0
    # would point at the template's).
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "conformance")
    (tmp_path / "img.png").write_bytes(PNG)
    (tmp_path / "notimage.txt").write_text("not an image\n")
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    (tmp_path / "folder" / "x.txt").write_text("x content\n")
    (tmp_path / "folder" / "sub" / "y.txt").write_text("y content\n")
    yield Ctx(Run.get_context(), tmp_path)


class Stored:
    """What MLflow holds for one run, read back through a real MlflowClient."""

    def __init__(self, run_id: str, tmp: Path) -> None:
        self.client = MlflowClient()
        self.run_id = run_id
        self.tmp = tmp
        mlrun = self.client.get_run(run_id)
        self.status: str = mlrun.info.status
        self.tags: dict[str, str] = dict(mlrun.data.tags)
        self.params: dict[str, str] = dict(mlrun.data.params)
        self.metrics: dict[str, float] = dict(mlrun.data.metrics)
        self._files: set[str] | None = None

    def files(self) -> set[str]:
        if self._files is None:
            found: set[str] = set()
            stack: list[str | None] = [None]
            while stack:
                for f in self.client.list_artifacts(self.run_id, stack.pop()):
                    if f.is_dir:
                        stack.append(f.path)
                    else:
                        found.add(f.path)
            self._files = found
        return self._files

    def read(self, path: str) -> bytes:
        assert path in self.files(), f"artifact {path!r} not stored; have {sorted(self.files())}"
        dest = tempfile.mkdtemp(dir=self.tmp, prefix="dl-")
        return Path(self.client.download_artifacts(self.run_id, path, dest)).read_bytes()

    def history(self, key: str) -> list[tuple[int, float]]:
        points = self.client.get_metric_history(self.run_id, key)
        return [(m.step, m.value) for m in sorted(points, key=lambda m: (m.step, m.timestamp))]

    def jsonl(self, key: str) -> list[dict[str, Any]]:
        text = self.read(f"metrics_text/{key}.jsonl").decode("utf-8")
        return [json.loads(line) for line in text.splitlines() if line]

    def conversions(self) -> list[dict[str, Any]]:
        return list(json.loads(self.read("aml2mlflow/conversions.json")))


# ================================================================================================
# B. The 169 recorded calls, each mapped to an invocation of the shim
# ================================================================================================

Call = Callable[[Ctx], object]

# Module-level so that its repr names a lambda, as recorded ("<function <lambda> at 0x...>").
_GENERATOR_FUNCTION = lambda: (yield)  # noqa: E731


class _SavesPng:
    """Anything with savefig() was accepted as plot=; this one writes the reference PNG."""

    def savefig(self, fname: Any, **kwargs: Any) -> None:
        if hasattr(fname, "write"):
            fname.write(PNG)
        else:
            Path(fname).write_bytes(PNG)


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([1, 2, 3])
    return fig


def _log_image_pyplot(c: Ctx) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.figure()
    plt.plot([1, 2, 3])
    try:
        c.run.log_image("img", plot=plt)
    finally:
        plt.close("all")


def _log_image_stream(c: Ctx) -> None:
    with open(c.p("img.png"), "rb") as f:
        c.run.log_image("img", path=f)


def _remove_tags(tags: Any) -> Call:
    def call(c: Ctx) -> None:
        c.run.set_tags({"a": "1", "b": "2"})
        c.run.remove_tags(tags)

    return call


def _download_file(c: Ctx) -> None:
    c.run.upload_file("n.txt", c.p("a.txt"))
    c.run.download_file("n.txt", c.p("dl/n.txt"))


def _download_files(c: Ctx) -> None:
    c.run.upload_file("d/n.txt", c.p("a.txt"))
    c.run.download_files(prefix="d", output_directory=c.p("dl"))


def _json_kind_calls(method: str) -> dict[str, Call]:
    """The nine cases recorded identically for each of the four JSON metric kinds."""

    def m(c: Ctx) -> Any:
        return getattr(c.run, method)

    return {
        f"{method}(dict valid)": lambda c: m(c)("cm", CM),
        f"{method}(json str)": lambda c: m(c)("cm", json.dumps(CM)),
        f"{method}(invalid json str)": lambda c: m(c)("cm", "{not json"),
        f"{method}(arbitrary dict, no schema)": lambda c: m(c)("cm", {"foo": 1}),
        f"{method}(list)": lambda c: m(c)("cm", [1, 2]),
        f"{method}(int)": lambda c: m(c)("cm", 5),
        f"{method}(non-JSON-serialisable)": lambda c: m(c)("cm", {1, 2}),
        f"{method}(np.array inside)": lambda c: m(c)("cm", {"matrix": np.array([[3, 0], [1, 2]])}),
        f"{method}(name with slash)": lambda c: m(c)("sub/dir/cm", CM),
    }


CALLS: dict[str, Call] = {
    # --- log --------------------------------------------------------------------------------
    "log(int)": lambda c: c.run.log("m", 1),
    "log(float)": lambda c: c.run.log("m", 0.5),
    "log(bool True)": lambda c: c.run.log("m", True),
    "log(str)": lambda c: c.run.log("m", "hello"),
    "log(None)": lambda c: c.run.log("m", None),
    "log(nan)": lambda c: c.run.log("m", float("nan")),
    "log(inf)": lambda c: c.run.log("m", float("inf")),
    "log(big int 2**100)": lambda c: c.run.log("m", 2**100),
    "log(list)": lambda c: c.run.log("m", [1, 2]),
    "log(tuple)": lambda c: c.run.log("m", (1, 2)),
    "log(range)": lambda c: c.run.log("m", range(3)),
    "log(generator)": lambda c: c.run.log("m", (i for i in range(3))),
    "log(dict)": lambda c: c.run.log("m", {"a": 1}),
    "log(set)": lambda c: c.run.log("m", {1}),
    "log(Decimal)": lambda c: c.run.log("m", Decimal("1.5")),
    "log(datetime)": lambda c: c.run.log("m", datetime(2020, 1, 2, 3, 4, 5)),
    "log(bytes)": lambda c: c.run.log("m", b"ab"),
    "log(complex)": lambda c: c.run.log("m", 1 + 2j),
    "log(np.float64)": lambda c: c.run.log("m", np.float64(0.25)),
    "log(np.float32)": lambda c: c.run.log("m", np.float32(0.25)),
    "log(np.int64)": lambda c: c.run.log("m", np.int64(7)),
    "log(np.int32)": lambda c: c.run.log("m", np.int32(7)),
    "log(np.bool_)": lambda c: c.run.log("m", np.bool_(True)),
    "log(np.str_)": lambda c: c.run.log("m", np.str_("s")),
    "log(np.ndarray 1-d)": lambda c: c.run.log("m", np.array([1, 2])),
    "log(np.ndarray 0-d)": lambda c: c.run.log("m", np.array(3.0)),
    "log(np.uint64)": lambda c: c.run.log("m", np.uint64(9)),
    "log(np.float16)": lambda c: c.run.log("m", np.float16(0.5)),
    "log(step=3)": lambda c: c.run.log("m", 0.1, step=3),
    "log(step='a')": lambda c: c.run.log("m", 0.1, step="a"),
    "log(description=...)": lambda c: c.run.log("m", 0.1, description="the description"),
    "log(name=123)": lambda c: c.run.log(123, 0.1),
    "log(name='', value)": lambda c: c.run.log("", 0.1),
    "log(generator function)": lambda c: c.run.log("m", _GENERATOR_FUNCTION),
    "log(generatorfunction object)": lambda c: c.run.log("m", _GENERATOR_FUNCTION()),
    # --- log_list ---------------------------------------------------------------------------
    "log_list(ints)": lambda c: c.run.log_list("l", [1, 2, 3]),
    "log_list(mixed int/float)": lambda c: c.run.log_list("l", [1, 2.5]),
    "log_list(strings)": lambda c: c.run.log_list("l", ["a", "b"]),
    "log_list(mixed str/num)": lambda c: c.run.log_list("l", ["a", 1]),
    "log_list(bools)": lambda c: c.run.log_list("l", [True, False]),
    "log_list(with None)": lambda c: c.run.log_list("l", [1, None]),
    "log_list(empty)": lambda c: c.run.log_list("l", []),
    "log_list(tuple)": lambda c: c.run.log_list("l", (1, 2)),
    "log_list(range)": lambda c: c.run.log_list("l", range(3)),
    "log_list(generator)": lambda c: c.run.log_list("l", (i for i in range(3))),
    "log_list(nested list)": lambda c: c.run.log_list("l", [[1, 2]]),
    "log_list(dicts)": lambda c: c.run.log_list("l", [{"a": 1}]),
    "log_list(str (not list))": lambda c: c.run.log_list("l", "abc"),
    "log_list(scalar int (not iterable))": lambda c: c.run.log_list("l", 5),
    "log_list(dict (iterates keys))": lambda c: c.run.log_list("l", {"k1": 1, "k2": 2}),
    "log_list(big int in list)": lambda c: c.run.log_list("l", [2**100]),
    "log_list(np.array float)": lambda c: c.run.log_list("l", np.array([0.1, 0.2])),
    "log_list(np.array int64)": lambda c: c.run.log_list("l", np.array([1, 2], dtype=np.int64)),
    "log_list(list of np.float64)": lambda c: c.run.log_list("l", [np.float64(1.0)]),
    "log_list(list of np.int64)": lambda c: c.run.log_list("l", [np.int64(1), np.int64(2)]),
    # --- log_row ----------------------------------------------------------------------------
    "log_row(scalars)": lambda c: c.run.log_row("r", x=1, y=0.4, s="a"),
    "log_row(description kw)": lambda c: c.run.log_row("r", description="d", x=1),
    "log_row(no columns)": lambda c: c.run.log_row("r"),
    "log_row(list value)": lambda c: c.run.log_row("r", x=[1, 2]),
    "log_row(dict value)": lambda c: c.run.log_row("r", x={"a": 1}),
    "log_row(None value)": lambda c: c.run.log_row("r", x=None),
    "log_row(column named name?)": lambda c: c.run.log_row("r", value=1),
    "log_row(np.int64)": lambda c: c.run.log_row("r", x=np.int64(3)),
    # --- log_table --------------------------------------------------------------------------
    "log_table(equal cols)": (
        lambda c: c.run.log_table("t", {"x": [1, 2, 3], "y": [0.6, 0.7, 0.89]})
    ),
    "log_table(scalar cols)": lambda c: c.run.log_table("t", {"x": 1, "y": 2}),
    "log_table(mixed scalar+list len1)": lambda c: c.run.log_table("t", {"x": 1, "y": [2]}),
    "log_table(mismatched lengths)": lambda c: c.run.log_table("t", {"x": [1, 2], "y": [1]}),
    "log_table(empty dict)": lambda c: c.run.log_table("t", {}),
    "log_table(list not dict)": lambda c: c.run.log_table("t", [1, 2]),
    "log_table(str cols)": lambda c: c.run.log_table("t", {"name": ["a", "b"], "v": [1, 2]}),
    "log_table(tuple col)": lambda c: c.run.log_table("t", {"x": (1, 2)}),
    "log_table(nested list)": lambda c: c.run.log_table("t", {"x": [[1, 2]]}),
    "log_table(np.array col)": lambda c: c.run.log_table("t", {"x": np.array([1, 2])}),
    # --- the four JSON kinds (same nine cases each) ----------------------------------------
    **_json_kind_calls("log_confusion_matrix"),
    **_json_kind_calls("log_accuracy_table"),
    **_json_kind_calls("log_residuals"),
    **_json_kind_calls("log_predictions"),
    # --- log_image --------------------------------------------------------------------------
    "log_image(path=png)": lambda c: c.run.log_image("img", path=c.p("img.png")),
    "log_image(positional path)": lambda c: c.run.log_image("img", c.p("img.png")),
    "log_image(relative path)": lambda c: c.run.log_image("img", path="img.png"),
    "log_image(pathlib.Path)": lambda c: c.run.log_image("img", path=c.tmp / "img.png"),
    "log_image(open binary stream)": _log_image_stream,
    "log_image(BytesIO)": lambda c: c.run.log_image("img", path=io.BytesIO(PNG)),
    "log_image(non-image file)": lambda c: c.run.log_image("img", path=c.p("notimage.txt")),
    "log_image(missing file)": lambda c: c.run.log_image("img", path=c.p("nope.png")),
    "log_image(plot=obj with savefig)": lambda c: c.run.log_image("img", plot=_SavesPng()),
    "log_image(plot=obj without savefig)": lambda c: c.run.log_image("img", plot=object()),
    "log_image(both path and plot)": (
        lambda c: c.run.log_image("img", path=c.p("img.png"), plot=_SavesPng())
    ),
    "log_image(neither)": lambda c: c.run.log_image("img"),
    "log_image(description)": (
        lambda c: c.run.log_image("img", path=c.p("img.png"), description="a picture")
    ),
    "log_image(plot=matplotlib.pyplot module)": _log_image_pyplot,
    "log_image(plot=matplotlib Figure)": lambda c: c.run.log_image("img", plot=_figure()),
    "log_image(plot=Axes -> no savefig)": (
        lambda c: c.run.log_image("img", plot=_figure().axes[0])
    ),
    # --- upload_file(s) / upload_folder ----------------------------------------------------
    "upload_file(path str)": lambda c: c.run.upload_file("outputs/a.txt", c.p("a.txt")),
    "upload_file(kw names)": lambda c: c.run.upload_file(name="n.txt", path_or_stream=c.p("a.txt")),
    "upload_file(BytesIO)": lambda c: c.run.upload_file("s.bin", io.BytesIO(b"abc")),
    "upload_file(pathlib.Path)": lambda c: c.run.upload_file("p.txt", c.tmp / "a.txt"),
    "upload_file(missing)": lambda c: c.run.upload_file("m.txt", c.p("missing.txt")),
    "upload_file(datastore_name)": (
        lambda c: c.run.upload_file("d.txt", c.p("a.txt"), datastore_name="ds")
    ),
    "upload_files(ok)": (
        lambda c: c.run.upload_files(["a", "b"], [c.p("notimage.txt"), c.p("img.png")])
    ),
    "upload_files(len mismatch)": (
        lambda c: c.run.upload_files(["a"], [c.p("notimage.txt"), c.p("img.png")])
    ),
    "upload_files(return_artifacts, timeout)": (
        lambda c: c.run.upload_files(
            ["a"], [c.p("notimage.txt")], return_artifacts=True, timeout_seconds=5
        )
    ),
    "upload_folder(no trailing slash)": (
        lambda c: c.run.upload_folder("important_files", c.p("folder"))
    ),
    "upload_folder(trailing slash)": (
        lambda c: c.run.upload_folder("important_files", c.p("folder") + "/")
    ),
    "upload_folder(not a dir)": lambda c: c.run.upload_folder("f", c.p("notimage.txt")),
    # --- tags and properties ----------------------------------------------------------------
    "tag(key only)": lambda c: c.run.tag("DeploymentCandidate"),
    "tag(key, value)": lambda c: c.run.tag("k", "v"),
    "tag(key, int value)": lambda c: c.run.tag("k", 5),
    "set_tags(dict)": lambda c: c.run.set_tags({"a": 1, "b": "2", "c": None}),
    "set_tags(str)": lambda c: c.run.set_tags("a"),
    "set_tags(list)": lambda c: c.run.set_tags(["a"]),
    "remove_tags(list)": _remove_tags(["a", "b"]),
    "remove_tags(str)": _remove_tags("a"),
    "add_properties(dict)": lambda c: c.run.add_properties({"p": 1, "q": 2.5}),
    "add_properties(empty)": lambda c: c.run.add_properties({}),
    "add_properties(None)": lambda c: c.run.add_properties(None),
    # --- lifecycle (the context run is this test's own: ending it is harmless) -------------
    "complete()": lambda c: c.run.complete(),
    "fail(str)": lambda c: c.run.fail(error_details="boom", error_code="E1"),
    "fail(exception)": lambda c: c.run.fail(ValueError("bad")),
    "fail(none)": lambda c: c.run.fail(),
    "fail(int)": lambda c: c.run.fail(5),
    "flush()": lambda c: c.run.flush(),
    "flush(timeout_seconds=5)": lambda c: c.run.flush(timeout_seconds=5),
    "start()": lambda c: c.run.start(),
    "create_children()": lambda c: c.run.create_children(),
    "create_children(count=101)": lambda c: c.run.create_children(count=101),
    "create_children(tag_key only)": lambda c: c.run.create_children(tag_key="k"),
    "create_children(count and tags)": (
        lambda c: c.run.create_children(count=2, tag_key="k", tag_values=["a", "b"])
    ),
    # --- a run without an artifact container (Azure-internal; cannot occur on MLflow) ------
    "[no container] log_image": lambda c: c.run.log_image("img", path=c.p("img.png")),
    "[no container] upload_file": lambda c: c.run.upload_file("n.txt", c.p("a.txt")),
    "[no container] log_confusion_matrix": lambda c: c.run.log_confusion_matrix("cm", CM),
    "[no container] upload_files": (
        lambda c: c.run.upload_files(["a", "b"], [c.p("notimage.txt"), c.p("img.png")])
    ),
    "[no container] upload_folder": (
        lambda c: c.run.upload_folder("important_files", c.p("folder"))
    ),
    "[no container] download_file": _download_file,
    "[no container] download_files": _download_files,
    "[no container] log": lambda c: c.run.log("m", 1),
    "[no container] get_file_names": lambda c: c.run.get_file_names(),
}

_NO_CONTAINER = "a run without an artifact container is Azure-internal; MLflow runs always have one"

# Raised on Azure ML through the SDK's own faults, must succeed here: {label: reason}.
LENIENT: dict[str, str] = {
    "log_list(empty)": "SDK crashed (AttributeError on None); the shim stores nothing, records it",
    "log_table(empty dict)": "SDK crashed (AttributeError on None); the shim stores nothing, "
    "records it",
    "log_list(np.array int64)": "SDK rejected numpy ints it documents as numbers; stored as "
    "numbers",
    "log_list(list of np.int64)": "SDK rejected numpy ints it documents as numbers; stored as "
    "numbers",
    "log_row(np.int64)": "SDK rejected numpy ints it documents as numbers; stored as numbers",
    "log_table(np.array col)": "SDK rejected numpy ints it documents as numbers; stored as numbers",
    "log_table(tuple col)": "SDK took a tuple column for one cell and rejected it (naming 'list'); "
    "the shim reads it as a column, like np.array columns and log_list tuples",
    "[no container] log_image": _NO_CONTAINER,
    "[no container] upload_file": _NO_CONTAINER,
    "[no container] log_confusion_matrix": _NO_CONTAINER,
    "[no container] upload_files": _NO_CONTAINER,
    "[no container] upload_folder": _NO_CONTAINER,
    "[no container] download_file": _NO_CONTAINER,
    "[no container] download_files": _NO_CONTAINER,
}


def _list_metric(name: str, values: list[Any]) -> Record:
    return {"kind": "metric", "name": name, "ux_type": "azureml.v1.list",
            "rows": [{name: v} for v in values]}  # fmt: skip


def _table_metric(name: str, rows: list[dict[str, Any]]) -> Record:
    columns = {c: type(v).__name__ for row in rows for c, v in row.items()}
    return {"kind": "metric", "name": name, "columns": columns,
            "ux_type": "azureml.v1.table", "rows": rows}  # fmt: skip


# What each LENIENT case must leave in MLflow, in the reference file's `sent` format (plus two
# kinds of this module: "conversion", an entry of aml2mlflow/conversions.json, and "downloaded",
# a file the call wrote under the test's folder).
LENIENT_STORES: dict[str, list[Record]] = {
    "log_list(empty)": [{"kind": "conversion", "rule": "run-log-list", "name": "l",
                         "detail": "nothing stored"}],
    "log_table(empty dict)": [{"kind": "conversion", "rule": "run-log-table", "name": "t",
                               "detail": "nothing stored"}],
    "log_list(np.array int64)": [_list_metric("l", [1, 2])],
    "log_list(list of np.int64)": [_list_metric("l", [1, 2])],
    "log_row(np.int64)": [_table_metric("r", [{"x": 3}])],
    "log_table(np.array col)": [_table_metric("t", [{"x": 1}, {"x": 2}])],
    "log_table(tuple col)": [_table_metric("t", [{"x": 1}, {"x": 2}])],
    # the same calls as these recorded cases, so the same storage
    "[no container] log_image": SENT["log_image(path=png)"],
    "[no container] upload_file": SENT["upload_file(kw names)"],
    "[no container] log_confusion_matrix": SENT["log_confusion_matrix(dict valid)"],
    "[no container] upload_files": SENT["upload_files(ok)"],
    "[no container] upload_folder": SENT["upload_folder(no trailing slash)"],
    "[no container] download_file": [{"kind": "downloaded", "path": "dl/n.txt",
                                      "content": "hello"}],
    "[no container] download_files": [{"kind": "downloaded", "path": "dl/d/n.txt",
                                       "content": "hello"}],
}  # fmt: skip

# Succeeded on Azure ML, but the shim deliberately stores something else (each a catalogue rule):
# {label: (reason, what the shim stores instead, in the `sent` format)}.
STORES_INSTEAD: dict[str, tuple[str, list[Record]]] = {
    "log(np.int64)": (
        "numpy scalars are numbers (rule run-log); Azure sent the repr 'np.int64(7)' as a string",
        [{"kind": "metric", "name": "m", "ux_type": "azureml.v1.scalar", "rows": [{"m": 7}]}],
    ),
    "log(np.uint64)": (
        "numpy scalars are numbers (rule run-log); Azure sent the repr 'np.uint64(9)' as a string",
        [{"kind": "metric", "name": "m", "ux_type": "azureml.v1.scalar", "rows": [{"m": 9}]}],
    ),
    "log(np.ndarray 0-d)": (
        "a 0-d array is a numpy scalar (rule run-log); Azure sent the repr 'array(3.)'",
        [{"kind": "metric", "name": "m", "ux_type": "azureml.v1.scalar", "rows": [{"m": 3.0}]}],
    ),
    "upload_folder(trailing slash)": (
        "files go under name/ (rule run-upload-folder); Azure glued 'important_filesx.txt'",
        [
            {"kind": "upload_files", "payload": {
                "paths": ["<tmpdir>/folder/x.txt", "<tmpdir>/folder/sub/y.txt"],
                "names": ["important_files/x.txt", "important_files/sub/y.txt"]}},
            {"kind": "conversion", "rule": "run-upload-folder", "name": "important_files",
             "detail": "path ends with '/'"},
        ],
    ),
}  # fmt: skip

# Cases where the SHIM is wrong: each is one strict xfail, reported with its fix.
SHIM_XFAIL: dict[str, str] = {}

# Figures drawn by matplotlib differ in size across versions: only their PNG signature is compared.
RENDERED_BY_MATPLOTLIB = {
    "log_image(plot=matplotlib.pyplot module)",
    "log_image(plot=matplotlib Figure)",
}
JSON_KINDS = ("confusion_matrix", "accuracy_table", "predictions", "residuals")


def test_every_recorded_call_is_mapped() -> None:
    labels = [c["call"] for c in OUTCOMES]
    assert len(labels) == len(set(labels)), "duplicate labels in the reference file"
    assert sorted(set(labels) - set(CALLS)) == [], "recorded calls with no invocation"
    assert sorted(set(CALLS) - set(labels)) == [], "invocations of calls no longer recorded"
    outcome = {c["call"]: c["outcome"] for c in OUTCOMES}
    assert all(outcome[label] == "raised" for label in LENIENT), "LENIENT is for raised cases"
    assert set(LENIENT_STORES) == set(LENIENT)
    assert all(outcome[label] == "ok" for label in STORES_INSTEAD)
    assert set(SHIM_XFAIL) <= set(labels)


def _same_text(actual: str, expected: str) -> bool:
    """Equal, or for reprs with an object address the same up to the address."""
    if " at 0x" in expected:
        return actual.startswith(expected.split(" at 0x")[0] + " at 0x")
    return actual == expected


def _same_number(actual: float, expected: float) -> bool:
    if math.isnan(expected):
        return math.isnan(actual)
    if math.isinf(expected):
        # MLflow's SQL stores clamp +-inf to +-sys.float_info.max (not the shim's doing).
        return actual in (expected, math.copysign(sys.float_info.max, expected))
    return actual == expected


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bool included: stored as 1.0/0.0


def _check_name_kept(st: Stored, name: str, key: str) -> None:
    if key != name:  # a name MLflow rejects: stored under a valid key, the original kept
        assert st.tags.get(f"aml2mlflow.name.{key}") == name


def _check_scalar(st: Stored, name: str, value: Any, step: int | None) -> None:
    key = mlflow_name(name)
    _check_name_kept(st, name, key)
    if _is_number(value):
        history = st.history(key)
        assert len(history) == 1, history
        assert history[0][0] == (0 if step is None else step)
        assert _same_number(history[0][1], float(value)), (history, value)
        return
    # Not a number: the latest text is a tag, every value is in metrics_text/<key>.jsonl.
    assert key not in st.metrics
    assert _same_text(st.tags[key], "None" if value is None else value), st.tags.get(key)
    (entry,) = st.jsonl(key)
    assert entry["step"] == 0
    assert entry["value"] is None if value is None else _same_text(entry["value"], value)


def _check_list(st: Stored, name: str, rows: list[dict[str, Any]]) -> None:
    key = mlflow_name(name)
    values = [row[name] for row in rows]
    numbers = [(i, float(v)) for i, v in enumerate(values) if _is_number(v)]
    texts = [(i, v) for i, v in enumerate(values) if not _is_number(v)]
    assert st.history(key) == numbers
    if texts:
        assert [(e["step"], e["value"]) for e in st.jsonl(key)] == texts
    else:
        assert f"metrics_text/{key}.jsonl" not in st.files()


def _check_table(st: Stored, name: str, columns: dict[str, str], rows: list[Any]) -> None:
    key = mlflow_name(name)
    table = json.loads(st.read(f"tables/{key}.json"))
    assert table["columns"] == list(columns)
    assert [dict(zip(table["columns"], r)) for r in table["data"]] == rows
    for col in columns:
        points = [(i, float(row[col])) for i, row in enumerate(rows) if _is_number(row.get(col))]
        if points:
            assert st.history(mlflow_name(f"{name}/{col}")) == points


def _check_json_kind(st: Stored, kind: str, name: str, uploads: list[Record]) -> None:
    (payload,) = uploads
    head: str = payload["head"]
    assert payload["nbytes"] == len(head.encode()), "the recording holds only part of the value"
    value = json.loads(head)
    assert json.loads(st.read(f"{name}.json")) == value
    if isinstance(value, dict) and value.get("schema_type") == kind:
        assert st.read(f"{name}.png").startswith(b"\x89PNG")


def _check_image(st: Stored, label: str, name: str, uploads: list[Record]) -> None:
    (payload,) = uploads
    data = st.read(f"{name}.png")
    assert data.startswith(bytes.fromhex(payload["head"]))
    if label not in RENDERED_BY_MATPLOTLIB:
        assert len(data) == payload["nbytes"]


def _check_upload(st: Stored, payload: Record) -> None:
    data = st.read(payload["name"].replace("<tmpdir>/", ""))
    head: str = payload["head"]
    expected = bytes.fromhex(head) if payload["content_type"] else head.encode()
    assert len(data) == payload["nbytes"]
    assert data.startswith(expected)


def _check_event_error(st: Stored, payload: Record) -> None:
    assert st.status == "FAILED"
    error = st.tags.get("aml2mlflow.error")
    if "debug_type" in payload:  # an exception: Azure split its type and message
        assert error == f"{payload['debug_type']}: {payload['debug_message']}"
    elif "message" in payload:
        assert error == payload["message"]
    # "UserError" is the code Azure ML filled in itself; the shim keeps only a code given to fail().
    if payload.get("code") not in (None, "UserError"):
        assert st.tags.get("aml2mlflow.error_code") == payload["code"]


def _verify(c: Ctx, label: str, records: list[Record]) -> None:
    st = Stored(c.run.id, c.tmp)
    uploads = [r["payload"] for r in records if r["kind"] == "artifact_upload"]
    v2 = any(r["kind"] == "metric" and ".v2." in r["ux_type"] for r in records)
    for r in records:
        kind = r["kind"]
        if kind == "metric":
            ux = r["ux_type"].rsplit(".", 1)[1]
            if ux == "scalar":
                (row,) = r["rows"]
                _check_scalar(st, r["name"], row[r["name"]], row.get("step"))
            elif ux == "list":
                _check_list(st, r["name"], r["rows"])
            elif ux == "table":
                _check_table(st, r["name"], r["columns"], r["rows"])
            elif ux == "image":
                _check_image(st, label, r["name"], uploads)
            else:
                assert ux in JSON_KINDS, ux
                _check_json_kind(st, ux, r["name"], uploads)
        elif kind == "artifact_upload":
            if not v2:  # else it is the artifact of the image or JSON metric, checked there
                _check_upload(st, r["payload"])
        elif kind == "upload_files":
            payload = r["payload"]
            for name, path in zip(payload["names"], payload["paths"], strict=True):
                source = Path(path.replace("<tmpdir>", str(c.tmp)))
                assert st.read(name) == source.read_bytes()
        elif kind == "patch_run":
            for k, v in r["payload"].get("tags", {}).items():
                # A key-only tag (None) is stored with an empty value (rule run-tag-key-only).
                assert st.tags.get(mlflow_name(k)) == ("" if v is None else v), k
            for k, v in r["payload"].get("properties", {}).items():
                assert st.params.get(mlflow_name(k)) == v, k
        elif kind == "delete_run_tags":
            payload = r["payload"]
            for k in [payload] if isinstance(payload, str) else payload:
                assert mlflow_name(k) not in st.tags, k
        elif kind == "upload_tracked_files":  # the run ended
            failed = any(x["kind"] == "event_error" for x in records)
            assert st.status == ("FAILED" if failed else "FINISHED")
        elif kind == "event_error":
            _check_event_error(st, r["payload"])
        elif kind == "conversion":
            entries = st.conversions()
            found = [e for e in entries if (e["rule"], e["name"]) == (r["rule"], r["name"])]
            assert found and r["detail"] in found[0]["detail"], entries
        elif kind == "downloaded":
            assert (c.tmp / r["path"]).read_text() == r["content"]
        else:
            pytest.fail(f"{label}: no check for recorded kind {kind!r}")


def _case_param(case: dict[str, Any]) -> Any:
    label = case["call"]
    marks = []
    if label in SHIM_XFAIL:
        marks.append(pytest.mark.xfail(strict=True, reason=SHIM_XFAIL[label]))
    return pytest.param(case, id=label, marks=marks)


@pytest.mark.parametrize("case", [_case_param(c) for c in OUTCOMES])
def test_call_outcome(case: dict[str, Any], ctx: Ctx) -> None:
    label = case["call"]
    call = CALLS[label]
    if case["outcome"] == "raised" and label not in LENIENT:
        try:
            call(ctx)
        except Exception as exc:  # the class is compared by name below
            raised: Exception = exc
        else:
            pytest.fail(f"{label}: Azure ML raised {case['exception']}, the shim did not")
        assert type(raised).__name__ == case["exception"], f"{type(raised).__name__}: {raised}"
        expected = case["message"].replace("<tmpdir>", str(ctx.tmp))
        assert _same_text(str(raised), expected), f"{raised!s}\n!=\n{expected}"
        return
    call(ctx)
    ctx.run.flush()
    if label in LENIENT:
        records = LENIENT_STORES[label]
    elif label in STORES_INSTEAD:
        records = STORES_INSTEAD[label][1]
    else:
        records = case.get("sent", [])
    _verify(ctx, label, records)


# ================================================================================================
# A (continued). The offline keyword shapes are accepted and stored
# ================================================================================================


def test_offline_tag_shape_is_stored(ctx: Ctx) -> None:
    ctx.run.tag(name="k", value="v")  # _OfflineRun.tag(self, name, value=None)
    ctx.run.tag(name="key_only")
    ctx.run.flush()
    tags = Stored(ctx.run.id, ctx.tmp).tags
    assert tags["k"] == "v"
    assert tags["key_only"] == ""


def test_offline_upload_files_shape_is_stored(ctx: Ctx) -> None:
    # _OfflineRun.upload_files(self, name, paths, ...)
    ctx.run.upload_files(name=["off/a.txt", "off/b.png"], paths=[ctx.p("a.txt"), ctx.p("img.png")])
    ctx.run.flush()
    st = Stored(ctx.run.id, ctx.tmp)
    assert st.read("off/a.txt") == b"hello"
    assert st.read("off/b.png") == PNG
