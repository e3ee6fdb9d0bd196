"""Hostile artifact names and bad values against a real local MLflow store (issue 6, the shim).

Artifact names: every legacy API that writes an artifact gets names that try to leave the run's
artifact folder (`../../x`, absolute paths, `a/../../b`, `..\\..\\x`), names that are empty or
resolve to nothing, and names the file system or MLflow cannot take (NUL and control characters,
`#`/`?`/`%xx` which MLflow cannot read back, over-long file names, the prefix MLflow reserves,
lone surrogates). Each is either stored at its normalised name, readable back through MLflow, with a
conversion-report entry saying so, or refused with `UserErrorException` naming it. The file system
is listed before and after: nothing appears outside the run's own artifact folder.

Bad values: NaN, infinities, ints beyond 64 bits and beyond a float, numpy 0-d/1-d/2-d arrays,
nested lists, objects whose repr() raises, is empty or is not a string, names of 1000 characters and
unicode names, through run.log, log_list, log_row, log_table, tag and the Workbench logger's log.
None of them raises except where the recorded azureml-core 1.61 raised for that input (nested
lists), what MLflow holds is asserted exactly, and the conversion report has an entry for each.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from shims import UserErrorException, session
from shims.errors import AzureMLException, SerializationError
from shims.run import Run
from shims.workbench import get_azureml_logger
from tests.conftest import run_shim

MAX_FLOAT = sys.float_info.max  # what MLflow's SQL stores keep for +inf
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


# ================================================================================================
# Helpers: reading the run back, listing the file system
# ================================================================================================


def client() -> MlflowClient:
    return MlflowClient()


def files_of(run: Run) -> set[str]:
    return set(run.get_file_names())


def read(run: Run, path: str) -> bytes:
    """An artifact's bytes, downloaded through MLflow (outside the test folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        return Path(client().download_artifacts(run.id, path, tmp)).read_bytes()


def report(run: Run) -> dict[tuple[str, str], dict[str, Any]]:
    run.flush()
    entries = json.loads(read(run, "aml2mlflow/conversions.json"))
    return {(e["rule"], e["name"]): e for e in entries}


def history(run: Run, key: str) -> list[tuple[int, float]]:
    run.flush()
    points = client().get_metric_history(run.id, key)
    return [(m.step, m.value) for m in sorted(points, key=lambda m: (m.step, m.timestamp))]


def jsonl(run: Run, path: str) -> list[tuple[int, Any]]:
    return [(e["step"], e["value"]) for e in map(json.loads, read(run, path).splitlines())]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def files_under(root: Path) -> set[Path]:
    """Every file under `root` (symlinks not followed)."""
    return {Path(d) / f for d, _, fs in os.walk(root) for f in fs}


def listing(root: Path) -> set[Path]:
    """Every file under `root`, and the entries beside `root` (where a name climbing out of the
    test folder would land)."""
    return files_under(root) | set(root.parent.iterdir())


def artifact_dir(run: Run) -> Path:
    uri = client().get_run(run.id).info.artifact_uri
    return Path(unquote(urlparse(uri).path) if uri.startswith("file:") else uri)


def assert_only_inside(run: Run, tmp_path: Path, before: set[Path]) -> None:
    """Every file that appeared under the test folder is in the run's artifact folder, and the
    shim's staging folder holds nothing once the run is flushed."""
    run.flush()
    inside = artifact_dir(run).resolve()
    assert tmp_path.resolve() in inside.parents
    new = listing(tmp_path) - before
    assert all(tmp_path in p.parents for p in new), "written beside the test folder"
    outside = {
        p for p in new if inside not in p.resolve().parents and not p.name.startswith("mlflow.db")
    }
    assert not outside, f"written outside the run's artifacts: {sorted(map(str, outside))}"
    staging = session.session().writer._staging
    assert not files_under(staging), "staged copies left behind"


# ================================================================================================
# A. Artifact names
# ================================================================================================


def cut(segment: str) -> str:
    """The documented shortening of a file name over 200 bytes of UTF-8: its extension kept, a
    dash and the first 8 hex digits of the SHA-1 of the whole name added."""
    digest = hashlib.sha1(segment.encode("utf-8")).hexdigest()[:8]
    stem, ext = segment.rsplit(".", 1)
    room = 200 - len(ext) - 1 - 9
    return stem.encode("utf-8")[:room].decode("utf-8", "ignore") + f"-{digest}.{ext}"


LONG = "n" * 300 + ".txt"
LONG_UNICODE = "é" * 150 + ".txt"
TOO_LONG = "d/" * 600 + "f"  # 1201 characters: beyond Azure's 1024 for a blob name

# Names stored under another name (or the same): legacy name -> where it is stored.
STORED = {
    "/etc/passwd": "etc/passwd",
    "a/../b.txt": "b.txt",
    "a/./b//c.txt": "a/b/c.txt",
    "C:\\Users\\me\\m.pkl": "Users/me/m.pkl",
    "a\x00b.txt": "a_b.txt",
    "a\nb\tc.txt": "a_b_c.txt",
    "report#1?.txt": "report_1_.txt",
    "a%2e%2e/b": "a_2e_2e/b",
    ".artifact.uploading.x": "_.artifact.uploading.x",
    "..a/x": "_..a/x",  # MLflow refuses folders whose path starts with ".."
    "...": "...",
    "x\udcff.txt": "x_.txt",
    LONG: cut(LONG),
    LONG_UNICODE: cut(LONG_UNICODE),
    "résumé/数据.txt": "résumé/数据.txt",
    "a</script>.txt": "a</script>.txt",  # a folder "a<" holding "script>.txt", as on Azure ML
    "plain/name.txt": "plain/name.txt",
}
# Names refused: legacy name -> what the UserErrorException says (after "The artifact name ").
REFUSED = {
    "../../x": "'../../x' points outside the run's artifacts ('..' above its folder): use a name "
    "relative to the run, such as 'x'.",
    "a/../../b": "'a/../../b' points outside the run's artifacts ('..' above its folder): use a "
    "name relative to the run, such as 'a/b'.",
    "..": "'..' points outside the run's artifacts ('..' above its folder).",
    "..\\..\\x": "'..\\\\..\\\\x' points outside the run's artifacts ('..' above its folder): use a "
    "name relative to the run, such as 'x'.",
    ".": "'.' names no file (it resolves to the run's artifact folder itself): give a file name "
    "such as 'outputs/model.pkl'.",
    "a/..": "'a/..' names no file (it resolves to the run's artifact folder itself): give a file "
    "name such as 'outputs/model.pkl'.",
    "": "'' is empty: give a file name relative to the run's artifacts, such as "
    "'outputs/model.pkl'.",
    "   ": "'   ' is empty: give a file name relative to the run's artifacts, such as "
    "'outputs/model.pkl'.",
    TOO_LONG: "'d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/'... (1201 characters) "
    "is 1201 characters long; artifact names are limited to 1024 characters (as they were on "
    "Azure ML).",
}


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Path]:
    """A source file with known content, made before the file-system listing is taken."""
    path = tmp_path / "source" / "data.txt"
    path.parent.mkdir()
    path.write_bytes(b"payload")
    yield path


def refused(call: Any, name: str, what: str = "name") -> None:
    with pytest.raises(UserErrorException) as err:
        call()
    assert str(err.value) == f"The artifact {what} {REFUSED[name]}"


def check_stored(
    run: Run, rule: str, suffix: str = "", content: bytes | None = b"payload", what: str = "name"
) -> None:
    """Every STORED name is at its normalised path with its content, a rename is reported."""
    got = report(run)
    names = files_of(run)
    for legacy, stored in STORED.items():
        path = stored + suffix
        assert path in names, (legacy, path)
        if content is not None:
            assert read(run, path) == content, legacy
        entry = got.get((rule, legacy))
        if stored == legacy:
            assert entry is None, entry
        else:
            assert entry is not None, (rule, legacy)
            assert entry["fidelity"] == "lossy"
            assert f"stored as {path!r}" in entry["detail"], entry


def test_upload_file_hostile_names(shim: str, tmp_path: Path, src: Path) -> None:
    run = Run.get_context()
    before = listing(tmp_path)
    for name in REFUSED:
        refused(lambda: run.upload_file(name, str(src)), name)  # noqa: B023
    for name in STORED:
        run.upload_file(name, str(src))
    assert_only_inside(run, tmp_path, before)
    check_stored(run, "run-upload-file")
    detail = report(run)["run-upload-file", "/etc/passwd"]["detail"]
    assert detail == "stored as 'etc/passwd' (leading '/' dropped)"
    assert (
        "'#', '?', '%xx') replaced by '_'" in report(run)["run-upload-file", "a\x00b.txt"]["detail"]
    )
    # A stream too, and reading a normalised name back by its legacy name.
    import io

    run.upload_file("/abs/stream.bin", io.BytesIO(b"streamed"))
    run.download_file("report#1?.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == b"payload"
    assert read(run, "abs/stream.bin") == b"streamed"


def test_upload_files_checks_every_name_before_storing_any(
    shim: str, tmp_path: Path, src: Path
) -> None:
    run = Run.get_context()
    before = listing(tmp_path)
    for name in REFUSED:
        refused(lambda: run.upload_files(["first-ok.txt", name], [str(src)] * 2), name)  # noqa: B023
    run.upload_files(list(STORED), [str(src)] * len(STORED))
    assert_only_inside(run, tmp_path, before)
    assert not any(n.startswith("first-ok") for n in files_of(run))  # the bad call stored nothing
    check_stored(run, "run-upload-files")


def test_upload_folder_hostile_names_and_hostile_files(shim: str, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "f.txt").write_bytes(b"payload")
    run = Run.get_context()
    before = listing(tmp_path)
    for name in REFUSED:
        refused(lambda: run.upload_folder(name, str(folder)), name)  # noqa: B023
    for name in STORED:
        run.upload_folder(name, str(folder))
    got = report(run)
    names = files_of(run)
    for legacy, stored in STORED.items():
        folder_name = "_..." if legacy == "..." else stored  # a folder may not start with ".."
        assert f"{folder_name}/f.txt" in names, legacy
        if legacy == "...":  # the name is kept, its files' paths are not
            entry = got["run-upload-folder", ".../f.txt"]
            assert entry["detail"] == "stored as '_.../f.txt'"
        elif folder_name != legacy:
            assert f"stored as {folder_name!r}" in got["run-upload-folder", legacy]["detail"]
    assert_only_inside(run, tmp_path, before)

    # Files whose own names are hostile: a backslash is a character of a file name here, never a
    # way out of the folder.
    evil = tmp_path / "evil"
    evil.mkdir()
    on_disk = {
        "..\\..\\escape.txt": "up/.._.._escape.txt",
        "a#b.txt": "up/a_b.txt",
        "m" * 250 + ".txt": "up/" + cut("m" * 250 + ".txt"),
        os.fsdecode(b"raw\xff.txt"): "up/raw_.txt",
    }
    for disk_name in on_disk:
        (evil / disk_name).write_bytes(b"evil")
    before = listing(tmp_path)
    run.upload_folder("up", str(evil))
    assert_only_inside(run, tmp_path, before)
    got = report(run)
    for disk_name, stored in on_disk.items():
        assert read(run, stored) == b"evil", disk_name
        entry = got["run-upload-folder", f"up/{disk_name}"]
        assert entry["detail"] == f"stored as {stored!r}"


def test_outputs_folder_files_with_hostile_names(shim: str, tmp_path: Path) -> None:
    """Files left in ./outputs are uploaded at the end under their own (made storable) names."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    on_disk = {"..\\..\\escape.txt": "outputs/.._.._escape.txt", "a#b?.txt": "outputs/a_b_.txt"}
    for disk_name in on_disk:
        (outputs / disk_name).write_bytes(b"out")
    run = Run.get_context()
    before = listing(tmp_path)
    run.complete()
    assert_only_inside(run, tmp_path, before)
    got = report(run)
    for disk_name, stored in on_disk.items():
        assert read(run, stored) == b"out"
        assert got["outputs-folder", f"outputs/{disk_name}"]["detail"] == f"stored as {stored!r}"
    assert got["outputs-folder", "outputs"]["detail"] == "2 file(s) uploaded at run end"


def test_one_name_as_file_and_folder_does_not_stall_the_run(
    shim: str, tmp_path: Path, src: Path
) -> None:
    """Azure's blobs allowed `model` and `model/w.bin` side by side; a file system does not, and
    MLflow refused the second upload for good (the writer then retried it until exit)."""
    run = Run.get_context()
    before = listing(tmp_path)
    run.upload_file("model", str(src))
    run.upload_file("model/w.bin", str(src))
    run.upload_file("ckpt/last.pt", str(src))
    run.upload_file("ckpt", str(src))
    run.flush(timeout_seconds=60)
    assert session.session().writer.pending == 0
    assert_only_inside(run, tmp_path, before)
    assert {"model", "model_/w.bin", "ckpt/last.pt", "ckpt_"} <= files_of(run)
    got = report(run)
    clash = "a file and a folder of this run cannot share a name"
    assert got["run-upload-file", "model/w.bin"]["detail"] == f"stored as 'model_/w.bin': {clash}"
    assert got["run-upload-file", "ckpt"]["detail"] == f"stored as 'ckpt_': {clash}"
    run.download_file("model/w.bin", str(tmp_path / "w.bin"))  # found by its legacy name
    assert (tmp_path / "w.bin").read_bytes() == b"payload"


def test_a_name_moved_aside_never_takes_another_artifacts_name(shim: str, tmp_path: Path) -> None:
    """A file moved aside from a folder's name (`a` -> `a_`) must not land on a file this run
    stored as `a_`: it goes on to `a__`. The same when a folder is moved aside (`x/y`)."""
    run = Run.get_context()
    (tmp_path / "source").mkdir()
    names = ("a/b", "a_", "a", "x", "x_", "x/y")
    for i, name in enumerate(names):
        (tmp_path / "source" / str(i)).write_text(f"content of {name}")
    before = listing(tmp_path)
    for i, name in enumerate(names):
        run.upload_file(name, str(tmp_path / "source" / str(i)))
    run.flush(timeout_seconds=60)
    assert_only_inside(run, tmp_path, before)
    stored = {"a/b": "a/b", "a_": "a_", "a": "a__", "x": "x", "x_": "x_", "x/y": "x__/y"}
    for name, path in stored.items():
        assert read(run, path) == f"content of {name}".encode(), name
    got = report(run)
    clash = "a file and a folder of this run cannot share a name"
    assert got["run-upload-file", "a"]["detail"] == f"stored as 'a__': {clash}"
    assert got["run-upload-file", "x/y"]["detail"] == f"stored as 'x__/y': {clash}"
    assert ("run-upload-file", "a_") not in got and ("run-upload-file", "x_") not in got
    run.download_file("a", str(tmp_path / "a.txt"))  # found by its legacy name
    assert (tmp_path / "a.txt").read_text() == "content of a"


class FakePlot:
    """Anything with savefig was accepted as plot= by Azure ML."""

    def savefig(self, buf: Any, format: str = "png") -> None:
        buf.write(PNG)


def test_log_image_hostile_names(shim: str, tmp_path: Path) -> None:
    image = tmp_path / "source" / "pic.png"
    image.parent.mkdir()
    image.write_bytes(PNG)
    run = Run.get_context()
    before = listing(tmp_path)
    for name in REFUSED:
        refused(lambda: run.log_image(name, plot=FakePlot()), name)  # noqa: B023
        refused(lambda: run.log_image(name, path=str(image)), name)  # noqa: B023
    for name in STORED:
        run.log_image(name, plot=FakePlot())
    assert_only_inside(run, tmp_path, before)
    # plot=: stored as <name>.png; the suffix can push a file name over the limit, which is cut.
    got = report(run)
    for legacy, stored in STORED.items():
        path = stored + ".png" if legacy not in (LONG, LONG_UNICODE) else cut(legacy + ".png")
        assert read(run, path) == PNG, legacy
        if path != legacy + ".png":
            assert f"stored as {path!r}" in got["run-log-image-plot", legacy]["detail"]
        else:
            assert ("run-log-image-plot", legacy) not in got
    # path= and a stream: the file's extension is added unless the name has it.
    import io

    before = listing(tmp_path)
    run.log_image("/abs/pic", path=str(image))
    run.log_image("C:\\shots\\b#1.png", io.BytesIO(PNG))
    assert_only_inside(run, tmp_path, before)
    assert read(run, "abs/pic.png") == PNG and read(run, "shots/b_1.png") == PNG
    got = report(run)
    assert got["run-log-image-path", "/abs/pic"]["detail"] == (
        "stored as 'abs/pic.png' (leading '/' dropped)"
    )
    assert got["run-log-image-path", "C:\\shots\\b#1.png"]["detail"].startswith(
        "stored as 'shots/b_1.png' ('\\' read as '/', drive letter dropped, characters MLflow"
    )


def test_json_metric_kinds_hostile_names(shim: str, tmp_path: Path) -> None:
    run = Run.get_context()
    before = listing(tmp_path)
    value = {"not": "a confusion matrix"}  # kept as JSON only: fast, and the name is the point
    for name in REFUSED:
        refused(lambda: run.log_confusion_matrix(name, value), name)  # noqa: B023
        refused(lambda: run.log_residuals(name, value), name)  # noqa: B023
    for name in STORED:
        run.log_confusion_matrix(name, value)
    assert_only_inside(run, tmp_path, before)
    got = report(run)
    for legacy, stored in STORED.items():
        path = stored + ".json" if legacy not in (LONG, LONG_UNICODE) else cut(legacy + ".json")
        assert json.loads(read(run, path)) == value, legacy
        detail = got["run-log-confusion-matrix", legacy]["detail"]
        assert "not rendered" in detail
        assert (f"stored as {path!r}" in detail) == (path != legacy + ".json"), detail


def test_workbench_upload_hostile_paths(shim: str, tmp_path: Path) -> None:
    logger = get_azureml_logger()
    run = logger.run
    before = listing(tmp_path)
    for name in REFUSED:
        refused(lambda: logger.upload(name, "payload"), name, what="path")  # noqa: B023
    for name in STORED:
        assert logger.upload(name, "payload").wait(timeout=60)
    assert logger.upload("obj.txt", {"k": 1}).wait(timeout=60)
    assert_only_inside(run, tmp_path, before)
    check_stored(run, "workbench-upload")
    assert read(run, "obj.txt") == b"{'k': 1}"
    assert report(run)["workbench-upload", "obj.txt"]["detail"] == "dict content stored as its repr"


def test_workbench_upload_clash_is_reported_under_its_own_rule(shim: str, tmp_path: Path) -> None:
    logger = get_azureml_logger()
    run = logger.run
    assert logger.upload("model", "the file").wait(timeout=60)
    assert logger.upload("model/w.bin", "inside the folder").wait(timeout=60)
    assert read(run, "model") == b"the file"
    assert read(run, "model_/w.bin") == b"inside the folder"
    got = report(run)
    assert got["workbench-upload", "model/w.bin"]["detail"] == (
        "stored as 'model_/w.bin': a file and a folder of this run cannot share a name"
    )
    assert got["workbench-upload", "model/w.bin"]["fidelity"] == "lossy"
    assert not [key for key in got if key[0] == "run-upload-file"]


def test_tables_and_text_metrics_with_hostile_names_stay_inside(shim: str, tmp_path: Path) -> None:
    """log_row/log_table/text metrics build artifact paths from metric names: never refused."""
    run = Run.get_context()
    before = listing(tmp_path)
    hostile = [
        *REFUSED,
        *("/etc/passwd", "a\x00b.txt", LONG_UNICODE, "a</script>.txt", "report#1?.txt"),
        *(".artifact.uploading.x", "x\udcff.txt", "résumé/数据.txt"),
    ]
    for i, name in enumerate(hostile):
        run.log_row(name, x=i)
        run.log_table(name, {"y": [i]})
        run.log(name, f"text {i}")
    assert_only_inside(run, tmp_path, before)
    root = artifact_dir(run)
    names = {
        p.relative_to(root).as_posix() for p in files_under(root)
    }  # (faster than MLflow's walk)
    assert all(
        n.startswith(("tables/", "metrics_text/", "aml2mlflow/conversions.json")) for n in names
    )
    got = report(run)
    for i, name in enumerate(hostile):
        detail = got["run-log-row", name]["detail"]
        path = detail.split("stored as ")[1].strip("'") if "stored as" in detail else None
        table = path or f"tables/{name}.json"
        assert table in names, (name, detail)
        body = json.loads((root / table).read_text(encoding="utf-8"))
        assert body["columns"] == ["x", "y"]
        # ("." and "" both become "unnamed": their rows share one table, in call order.)
        assert [i, None] in body["data"] and [None, i] in body["data"], (name, body)
    # The 1000-character and unicode-heavy cases cut their side files to the file-name limit.
    assert "tables/." not in str(names) and "metrics_text/." not in str(names)


# ================================================================================================
# B. Bad values
# ================================================================================================


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class EmptyRepr:
    def __repr__(self) -> str:
        return ""


class NonStrRepr:
    def __repr__(self) -> Any:
        return 5


BIG = 2**64 + 1  # beyond 64 bits and beyond a double's 53 bits of integer precision
HUGE = 10**400  # beyond a double
GIANT = 10**5000  # beyond Python's int-to-text digit limit too
BAD_REPR_TEXT = "<BadRepr object: repr() raised RuntimeError: no repr>"
NON_STR_TEXT = (
    "<NonStrRepr object: repr() raised TypeError: __repr__ returned non-string (type int)>"
)


def test_run_log_bad_values(shim: str) -> None:
    run = Run.get_context()
    run.log("nan", float("nan"))
    run.log("inf", float("inf"))
    run.log("ninf", float("-inf"))
    run.log("big", BIG)
    run.log("huge", HUGE)
    run.log("giant", GIANT)
    run.log("u64", np.uint64(2**64 - 1))
    run.log("arr0", np.array(2.5))
    run.log("arr1", np.array([1, 2]))
    run.log("badrepr", BadRepr())
    run.log("emptyrepr", EmptyRepr())
    run.log("nonstr", NonStrRepr())
    with pytest.raises(UserErrorException, match=r"Use run\.log_list instead"):
        run.log("nested", [[1, 2], [3]])  # the recorded SDK raised this for any list
    run.log("step", 1.0, step=2**70)
    with pytest.raises(SerializationError, match="as type: 'long'"):
        run.log("step", 1.0, step=float("inf"))

    assert same(history(run, "nan")[0][1], float("nan"))
    assert history(run, "inf") == [(0, MAX_FLOAT)]
    assert history(run, "ninf") == [(0, -MAX_FLOAT)]
    assert history(run, "big") == [(0, float(2**64))]
    assert history(run, "u64") == [(0, float(2**64))]
    assert history(run, "arr0") == [(0, 2.5)]
    assert history(run, "step") == [(0, 1.0)]
    tags = client().get_run(run.id).data.tags
    assert tags["huge"] == "1" + "0" * 400
    assert tags["giant"] == "1.0000000000000000e+5000"
    assert tags["arr1"] == "array([1, 2])"  # what Azure ML stored (a string metric)
    assert tags["badrepr"] == BAD_REPR_TEXT
    assert tags["emptyrepr"] == ""
    assert tags["nonstr"] == NON_STR_TEXT
    assert jsonl(run, "metrics_text/huge.jsonl") == [(0, "1" + "0" * 400)]
    assert jsonl(run, "metrics_text/badrepr.jsonl") == [(0, BAD_REPR_TEXT)]
    assert "nested" not in tags and "nested" not in client().get_run(run.id).data.metrics

    got = report(run)
    assert got["run-log", "nan"]["detail"] == "NaN stored as a NaN metric value"
    assert got["run-log-infinite", "inf"]["fidelity"] == "lossy"
    assert ("run-log-infinite", "ninf") in got
    big = got["run-log", "big"]
    assert big["fidelity"] == "lossy"
    assert big["detail"] == (
        "int beyond 2**53 stored as the nearest float: 18446744073709551617 as 1.8446744073709552e+19"
    )
    assert got["run-log", "u64"]["detail"].startswith(
        "int beyond 2**53 stored as the nearest float"
    )
    assert got["run-log", "arr0"]["detail"] == "numpy 0-d array stored as the number it holds"
    assert (
        got["run-log-text", "huge"]["detail"]
        == "int value too large for a float, kept exactly as text"
    )
    assert got["run-log-text", "giant"]["detail"] == (  # beyond Python's int-to-text limit
        "int value too large for a float and beyond Python's int-to-text digit limit, kept as"
        " text in scientific notation (17 significant digits)"
    )
    assert got["run-log-text", "arr1"]["detail"] == "ndarray value"
    assert got["run-log-text", "badrepr"]["detail"] == (
        f"BadRepr value: {BAD_REPR_TEXT[1:-1]}, stored as {BAD_REPR_TEXT!r}"
    )
    assert (
        got["run-log-text", "emptyrepr"]["detail"]
        == "EmptyRepr value with an empty repr(), stored as ''"
    )
    assert got["run-log-text", "nonstr"]["detail"].startswith("NonStrRepr value: NonStrRepr object")
    step = got["run-log", "step"]
    assert step["fidelity"] == "lossy"
    assert step["detail"] == (
        "step 1180591620717411303424 is outside MLflow's 64-bit steps: stored at step 0, the next "
        "of the name's own count"
    )


def test_log_list_bad_values(shim: str) -> None:
    run = Run.get_context()
    run.log_list("special", [float("nan"), float("inf"), float("-inf"), 1.0])
    run.log_list("ints", [BIG, HUGE, 3])
    run.log_list("array", np.array([1.5, float("nan")]))
    run.log_list("zero_d", [np.array(3.0)])
    run.log_list("objects", [BadRepr(), EmptyRepr(), None, "last"])
    for nested in ([[1, 2], [3]], np.array([[1.0, 2.0], [3.0, 4.0]])):
        # Azure ML raised this for lists in lists (recorded); a 2-d array is one.
        with pytest.raises(
            AzureMLException, match=r"Value of type <class 'list'> is not supported"
        ):
            run.log_list("nested", nested)

    special = history(run, "special")
    assert [s for s, _ in special] == [0, 1, 2, 3] and math.isnan(special[0][1])
    assert [v for _, v in special[1:]] == [MAX_FLOAT, -MAX_FLOAT, 1.0]
    assert history(run, "ints") == [(0, float(2**64)), (2, 3.0)]
    assert jsonl(run, "metrics_text/ints.jsonl") == [(1, "1" + "0" * 400)]
    array = history(run, "array")
    assert array[0] == (0, 1.5) and array[1][0] == 1 and math.isnan(array[1][1])
    assert history(run, "zero_d") == [(0, 3.0)]
    assert jsonl(run, "metrics_text/objects.jsonl") == [
        (0, BAD_REPR_TEXT),
        (1, ""),
        (2, None),
        (3, "last"),
    ]
    data = client().get_run(run.id).data
    assert data.tags["objects"] == "last" and "nested" not in data.metrics

    got = report(run)
    assert got["run-log", "special"]["detail"] == "NaN stored as a NaN metric value"
    assert ("run-log-infinite", "special") in got
    assert got["run-log", "ints"]["fidelity"] == "lossy"
    assert "int value too large for a float" in got["run-log-list-text", "ints"]["detail"]
    assert got["run-log", "zero_d"]["detail"] == "numpy 0-d array stored as the number it holds"
    assert got["run-log-list-text", "objects"]["detail"] == (
        f"BadRepr value: {BAD_REPR_TEXT[1:-1]}, stored as {BAD_REPR_TEXT!r}; "
        "EmptyRepr value with an empty repr(), stored as ''; NoneType value; str value"
    )


ROW = {
    "a": float("nan"),
    "b": float("inf"),
    "c": BIG,
    "d": HUGE,
    "e": np.array([1, 2]),
    "f": BadRepr(),
    "g": np.array(2.5),
    "h": EmptyRepr(),
    "i": 2**63 + 5,  # fits uint64: kept exact
}
ROW_CELLS = [
    math.nan,
    math.inf,
    float(2**64),
    "1" + "0" * 400,
    "array([1, 2])",
    BAD_REPR_TEXT,
    2.5,
    "",
    2**63 + 5,
]
ROW_DETAILS = [
    "column 'a': NaN stored as NaN in the table",
    "column 'b': infinity stored as infinity in the table",
    "column 'c': int beyond 64 bits stored as the nearest float",
    "column 'd': int too large for a float stored as text",
    "column 'e': ndarray value stored as text",
    "column 'f': BadRepr value stored as text",
    "column 'h': EmptyRepr value stored as text",
]


def check_table(run: Run, name: str, rule: str, rows: int) -> None:
    run.flush()
    body = json.loads(read(run, f"tables/{name}.json"))
    assert body["columns"] == list(ROW)
    assert len(body["data"]) == rows
    for row in body["data"]:
        assert all(same(a, b) if isinstance(b, float) else a == b for a, b in zip(row, ROW_CELLS))
    assert history(run, f"{name}/b") == [(i, MAX_FLOAT) for i in range(rows)]
    assert history(run, f"{name}/c") == [(i, float(2**64)) for i in range(rows)]
    assert history(run, f"{name}/g") == [(i, 2.5) for i in range(rows)]
    assert all(math.isnan(v) for _, v in history(run, f"{name}/a"))
    metrics = client().get_run(run.id).data.metrics
    assert not {f"{name}/{c}" for c in "defh"} & set(metrics)
    # MLflow's own reader takes the table (NaN and infinity included).
    frame = client().load_table(run._exp_id, f"tables/{name}.json", run_ids=[run.id])
    assert len(frame) == rows and math.isnan(frame["a"][0]) and frame["b"][0] == math.inf
    got = report(run)
    for detail in ROW_DETAILS:
        assert detail in got[rule, name]["detail"], got[rule, name]
    assert ("run-log-infinite", f"{name}/b") in got and ("run-log", f"{name}/a") in got


def test_log_row_bad_values(shim: str) -> None:
    run = Run.get_context()
    run.log_row("r", **ROW)
    run.log_row("r", **ROW)
    with pytest.raises(AzureMLException, match="Rows cannot contain list values, column x"):
        run.log_row("r", x=[[1, 2]])  # as recorded from azureml-core
    check_table(run, "r", "run-log-row", 2)
    assert report(run)["run-log-row", "r"]["count"] == 2


def test_log_table_bad_values(shim: str) -> None:
    run = Run.get_context()
    run.log_table("t", {k: [v] for k, v in ROW.items()})
    run.log_table("zero_d", {"x": np.array(5.0)})
    with pytest.raises(AzureMLException, match=r"Value of type <class 'list'> is not supported"):
        run.log_table("t", {"x": np.array([[1, 2], [3, 4]])})  # rows are lists, as recorded
    check_table(run, "t", "run-log-table", 1)
    assert json.loads(read(run, "tables/zero_d.json"))["data"] == [[5.0]]


def test_tag_bad_values(shim: str) -> None:
    run = Run.get_context()
    cases: dict[str, tuple[Any, str]] = {
        "t_nan": (float("nan"), "nan"),
        "t_inf": (float("inf"), "inf"),
        "t_big": (BIG, "18446744073709551617"),
        "t_giant": (GIANT, "1.0000000000000000e+5000"),
        "t_arr": (np.array([1, 2]), "[1 2]"),
        "t_nested": ([[1, 2], [3]], "[[1, 2], [3]]"),
        "t_bad": (BadRepr(), "<BadRepr object: str() raised RuntimeError: no repr>"),
        "t_empty": (EmptyRepr(), ""),
        "t_long": ("x" * 10_000, "x" * 8000),
        "t_surrogate": ("a\udcffb", "a\ufffdb"),
    }
    for key, (value, _) in cases.items():
        run.tag(key, value)
    run.set_tags({"s_nan": float("nan"), "s_bad": BadRepr()})
    run.flush()
    tags = client().get_run(run.id).data.tags
    for key, (_, stored) in cases.items():
        assert tags[key] == stored, key
    assert tags["s_nan"] == "nan" and tags["s_bad"].startswith("<BadRepr object: str() raised")
    got = report(run)
    for key in ("t_nan", "t_inf", "t_big", "t_giant", "t_arr", "t_nested", "t_bad", "t_empty"):
        assert got["run-tag", key]["detail"].startswith(
            f"{type(cases[key][0]).__name__} value stored as the text"
        )
    assert (
        got["run-tag", "t_long"]["detail"]
        == "value of 10000 characters cut to 8000, MLflow's limit"
    )
    assert got["run-tag", "t_long"]["fidelity"] == "lossy"
    assert got["run-tag", "t_surrogate"]["detail"] == (
        "undecodable characters (lone surrogates) stored as U+FFFD"
    )
    assert ("run-set-tags", "s_nan") in got and ("run-set-tags", "s_bad") in got


def test_workbench_log_bad_values(shim: str) -> None:
    logger = get_azureml_logger()
    run = logger.run
    values: dict[str, Any] = {
        "w_nan": float("nan"),
        "w_inf": float("inf"),
        "w_big": BIG,
        "w_huge": HUGE,
        "w_arr0": np.array(2.5),
        "w_arr1": np.array([1.0, 2.0]),
        "w_arr2": np.array([[1, 2], [3, 4]]),
        "w_nested": [[1, 2], [3]],
        "w_bad": BadRepr(),
        "w_empty": EmptyRepr(),
    }
    for name, value in values.items():
        assert logger.log(name, value).wait(timeout=60)  # none raises: no legacy outcome to keep
    assert math.isnan(history(run, "w_nan")[0][1])
    assert history(run, "w_inf") == [(0, MAX_FLOAT)]
    assert history(run, "w_big") == [(0, float(2**64))]
    assert history(run, "w_arr0") == [(0, 2.5)]
    assert history(run, "w_arr1") == [(0, 1.0), (1, 2.0)]  # a 1-d array is a list here
    tags = client().get_run(run.id).data.tags
    assert tags["w_huge"] == "1" + "0" * 400
    assert tags["w_arr2"] == "array([[1, 2],\n       [3, 4]])"
    assert tags["w_bad"] == BAD_REPR_TEXT and tags["w_empty"] == ""
    assert jsonl(run, "metrics_text/w_nested.jsonl") == [(0, "[1, 2]"), (1, "[3]")]
    got = report(run)
    assert ("run-log", "w_nan") in got and ("run-log-infinite", "w_inf") in got
    assert got["run-log", "w_big"]["fidelity"] == "lossy"
    assert ("run-log-text", "w_huge") in got and ("run-log-text", "w_bad") in got
    assert got["run-log", "w_arr0"]["detail"] == "numpy 0-d array stored as the number it holds"
    assert got["workbench-log", "w_arr1"]["detail"] == (
        "numpy array logged as a list (one point per value)"
    )
    assert got["run-log-list-text", "w_nested"]["detail"] == "list value"


def test_long_and_unicode_names(shim: str, tmp_path: Path) -> None:
    run = Run.get_context()
    before = listing(tmp_path)
    long_m, long_e, long_t = "m" * 1000, "é" * 300, "t" * 1000
    run.log(long_m, 1.0)
    run.log(long_e, "text value")  # a text metric: its side file's name is cut too
    run.log_list(long_m + "/l", [1.0, 2.0])
    run.log_row(long_t, x=1)
    run.tag("k" * 1000, "v")
    get_azureml_logger().log("w" * 1000, 3.0).wait(timeout=60)
    for name in ("précision", "准确率/top-1", "loss 🔥", ".", "Ünïcödé ß"):
        run.log(name, 0.5)
    assert_only_inside(run, tmp_path, before)

    def mapped(name: str) -> str:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
        return name[:241] + "-" + digest

    data = client().get_run(run.id).data
    assert data.metrics[mapped(long_m)] == 1.0
    assert data.metrics[mapped("w" * 1000)] == 3.0
    assert data.tags[mapped("k" * 1000)] == "v"
    assert data.tags[mapped(long_e)] == "text value"
    assert history(run, mapped(long_m + "/l")) == [(0, 1.0), (1, 2.0)]
    assert data.metrics[mapped(long_t + "/x")] == 1.0
    assert all(len(k) <= 250 for k in [*data.metrics, *data.tags])
    for name in ("précision", "准确率/top-1", "Ünïcödé ß"):
        assert data.metrics[name] == 0.5  # unicode word characters are valid MLflow names
    assert data.metrics["loss _"] == 0.5 and data.metrics["unnamed"] == 0.5
    got = report(run)
    for legacy, key in [
        (long_m, mapped(long_m)),
        (long_e, mapped(long_e)),
        ("k" * 1000, mapped("k" * 1000)),
        ("w" * 1000, mapped("w" * 1000)),
        ("loss 🔥", "loss _"),
        (".", "unnamed"),
    ]:
        assert got["metric-name", legacy]["detail"] == f"stored as {key!r}", legacy
    assert ("metric-name", "précision") not in got
    # The side files of the long names are cut to the file-name limit and the report says where.
    text_path = got["run-log-text", mapped(long_e)]["detail"].split("values kept in ")[1]
    text_path = text_path.split("'")[1]
    assert jsonl(run, text_path) == [(0, "text value")]
    assert len(text_path.split("/")[1].encode("utf-8")) <= 200
    table_detail = got["run-log-row", long_t]["detail"]
    table_path = table_detail.split("stored as ")[1].strip("'")
    assert json.loads(read(run, table_path)) == {"columns": ["x"], "data": [[1]]}


# ================================================================================================
# C. End to end: a legacy script full of bad values exits 0
# ================================================================================================

SCRIPT = """
import io, math
import numpy as np
from azureml.core import Run
from azureml.logging import get_azureml_logger
from azureml.exceptions import UserErrorException

class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr")

run = Run.get_context()
for name, value in [("nan", math.nan), ("inf", math.inf), ("big", 2**64 + 1), ("huge", 10**400),
                    ("arr0", np.array(2.5)), ("arr1", np.array([1, 2])), ("bad", BadRepr()),
                    ("m" * 1000, 1.0), ("loss 🔥", 0.5)]:
    run.log(name, value)
run.log_list("l", [math.nan, math.inf, 2**64 + 1, BadRepr()])
run.log_row("r", a=math.nan, b=BadRepr(), c=np.array([1, 2]), d=10**400)
run.log_table("t", {"a": [math.inf, 1.0], "b": [BadRepr(), None]})
run.tag("tag", BadRepr())
logger = get_azureml_logger()
logger.log("w", [[1, 2], [3]]).wait()
logger.log("w_arr", np.array([1.0, 2.0])).wait()
run.upload_file("/etc/passwd", io.BytesIO(b"not really"))
run.upload_file("a#b?.txt", io.BytesIO(b"x"))
try:
    run.upload_file("../../escape.txt", io.BytesIO(b"x"))
except UserErrorException as exc:
    print("refused:", exc)
print("done")
"""


def test_script_full_of_bad_values_exits_zero(store: str, tmp_path: Path) -> None:
    script = tmp_path / "hostile_job.py"
    script.write_text(SCRIPT, encoding="utf-8")
    before = listing(tmp_path)
    out = run_shim(script, cwd=tmp_path, env={"AML2MLFLOW_QUIET": "0"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "refused: The artifact name '../../escape.txt' points outside the run's artifacts ('..' "
        "above its folder): use a name relative to the run, such as 'escape.txt'.",
        "done",
    ]
    assert "lossy conversion(s), details in artifact aml2mlflow/conversions.json" in out.stderr
    assert "Traceback" not in out.stderr and "rejected" not in out.stderr
    exp = client().get_experiment_by_name("hostile_job")
    assert exp is not None
    (mlrun,) = client().search_runs([exp.experiment_id])
    assert mlrun.info.status == "FINISHED"
    rid = mlrun.info.run_id
    metrics = mlrun.data.metrics
    assert math.isnan(metrics["nan"]) and metrics["inf"] == MAX_FLOAT
    assert metrics["big"] == float(2**64) and metrics["arr0"] == 2.5 and metrics["loss _"] == 0.5
    assert mlrun.data.tags["bad"] == BAD_REPR_TEXT and mlrun.data.tags["huge"] == "1" + "0" * 400
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(client().download_artifacts(rid, "", tmp))
        stored = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
        entries = json.loads((local / "aml2mlflow/conversions.json").read_text())
    assert {"etc/passwd", "a_b_.txt", "tables/r.json", "tables/t.json"} <= stored
    rules = {(e["rule"], e["name"]) for e in entries}
    assert {
        ("run-log", "nan"),
        ("run-log-infinite", "inf"),
        ("run-log", "big"),
        ("run-log-text", "bad"),
        ("metric-name", "m" * 1000),
        ("run-log-row", "r"),
        ("run-log-table", "t"),
        ("run-tag", "tag"),
        ("run-log-list-text", "w"),
        ("workbench-log", "w_arr"),
        ("run-upload-file", "/etc/passwd"),
        ("run-upload-file", "a#b?.txt"),
    } <= rules
    # Nothing landed outside the store's folder for this experiment's runs.
    art = Path(unquote(urlparse(mlrun.info.artifact_uri).path))
    new = {p for p in listing(tmp_path) - before if not p.name.startswith("mlflow.db")}
    assert all(art.resolve() in p.resolve().parents for p in new), sorted(map(str, new))
