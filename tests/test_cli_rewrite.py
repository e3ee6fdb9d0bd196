"""`aml2mlflow rewrite` end to end: modes, exit codes, files kept faithful, bad files reported."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import main

LEGACY = (
    "from azureml.core import Run\n"
    "\n"
    "run = Run.get_context()\n"
    "for i in range(3):\n"
    "    run.log('loss', 1.0 / (i + 1))  # per epoch\n"
    "run.complete()\n"
)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(LEGACY)
    (tmp_path / "pkg" / "clean.py").write_text("import logging\nlogging.log(20, 'x')\n")
    (tmp_path / "pkg" / "ignored.py").write_text(LEGACY)
    (tmp_path / ".gitignore").write_text("pkg/ignored.py\n")
    return tmp_path


def test_write_in_place_then_nothing_to_do(project: Path) -> None:
    code, _, err = cli("rewrite", str(project))
    assert code == 0, err
    text = (project / "pkg" / "train.py").read_text()
    assert "import mlflow" in text and "azureml" not in text
    assert "    mlflow.log_metric('loss', 1.0 / (i + 1))  # per epoch\n" in text
    assert (project / "pkg" / "ignored.py").read_text() == LEGACY  # .gitignore respected
    assert "2 file(s) scanned, 1 rewritten" in err
    assert cli("rewrite", "--check", str(project))[0] == 0  # idempotent


def test_check_exits_1_and_writes_nothing(project: Path) -> None:
    code, _, err = cli("rewrite", "--check", str(project))
    assert code == 1
    assert "would rewrite pkg/train.py" in err
    assert (project / "pkg" / "train.py").read_text() == LEGACY


def test_diff_prints_unified_diff_and_writes_nothing(project: Path) -> None:
    code, out, _ = cli("rewrite", "--diff", str(project))
    assert code == 0
    assert out.startswith("--- a/pkg/train.py\n+++ b/pkg/train.py\n")
    assert "-run = Run.get_context()\n+run = mlflow.active_run() or mlflow.start_run()\n" in out
    assert (project / "pkg" / "train.py").read_text() == LEGACY


def test_include_exclude_and_several_roots(tmp_path: Path) -> None:
    for root in ("a", "b"):
        (tmp_path / root / "sub").mkdir(parents=True)
        (tmp_path / root / "sub" / "x.py").write_text(LEGACY)
        (tmp_path / root / "y.py").write_text(LEGACY)
    code, _, err = cli(
        "rewrite", "--check", "--exclude", "sub", str(tmp_path / "a"), str(tmp_path / "b")
    )
    assert code == 1
    assert err.count("would rewrite") == 2 and "sub/x.py" not in err
    code, _, err = cli("rewrite", "--check", "--include", "sub/*.py", str(tmp_path / "a"))
    assert err.count("would rewrite") == 1 and "would rewrite sub/x.py" in err


def test_unparseable_file_is_reported_and_left_untouched(project: Path) -> None:
    bad = project / "pkg" / "py2.py"
    bad_bytes = b"from azureml.core import Run\nprint 'hello'\n"
    bad.write_bytes(bad_bytes)
    code, _, err = cli("rewrite", str(project))
    assert code == 3
    assert "error: pkg/py2.py:2: cannot parse" in err
    assert bad.read_bytes() == bad_bytes
    assert "azureml" not in (project / "pkg" / "train.py").read_text()  # the others still done


def test_undecodable_file_is_reported(project: Path) -> None:
    bad = project / "pkg" / "latin.py"
    data = b"# azureml\nx = '\xff'\n"
    bad.write_bytes(data)
    code, _, err = cli("rewrite", str(project))
    assert code == 3 and "pkg/latin.py:2" in err
    assert bad.read_bytes() == data


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("crlf.py", LEGACY.replace("\n", "\r\n").encode()),
        ("bom.py", b"\xef\xbb\xbf" + LEGACY.encode()),
        ("tabs.py", LEGACY.replace("    ", "\t").encode()),
        ("latin1.py", b"# -*- coding: latin-1 -*-\n" + LEGACY.encode() + b"# caf\xe9\n"),
    ],
)
def test_encoding_bom_newlines_and_tabs_are_kept(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o755)
    assert cli("rewrite", str(path))[0] == 0
    new = path.read_bytes()
    assert b"mlflow.log_metric" in new and b"azureml" not in new
    assert new.startswith(b"\xef\xbb\xbf") == data.startswith(b"\xef\xbb\xbf")
    if b"\r\n" in data:
        assert new.count(b"\n") == new.count(b"\r\n")
    else:
        assert b"\r" not in new
    if name == "tabs.py":
        assert b"\n\tmlflow.log_metric" in new
    if name == "latin1.py":
        assert new.endswith(b"# caf\xe9\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    compile(new, name, "exec")


def test_target_shim_swaps_only_imports(tmp_path: Path) -> None:
    path = tmp_path / "t.py"
    path.write_text(LEGACY)
    assert cli("rewrite", "--target", "shim", str(path))[0] == 0
    assert path.read_text() == LEGACY.replace("from azureml.core import", "from shims import")


def _notebook(cells: list[dict[str, object]]) -> str:
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def test_notebook_code_cells_rewritten_rest_byte_identical(tmp_path: Path) -> None:
    outputs = [{"name": "stdout", "output_type": "stream", "text": ["ünïcode output\n"]}]
    cells = [
        {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# Título\n"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "id": "c1",
            "metadata": {"tags": ["x"]},
            "outputs": outputs,
            "source": [
                "%matplotlib inline\n",
                "!pip install azureml-core\n",
                "from azureml.core import Run\n",
                "run = Run.get_context()\n",
                "run.log('acc', 0.9)",
            ],
        },
        {
            "cell_type": "code",
            "execution_count": 2,
            "id": "c2",
            "metadata": {},
            "outputs": [],
            "source": ["%%bash\n", "echo run.log\n"],
        },
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(_notebook(cells), encoding="utf-8")
    code, _, err = cli("rewrite", str(path))
    assert code == 0, err
    got = json.loads(path.read_text(encoding="utf-8"))
    assert got["cells"][0] == cells[0] and got["cells"][2] == cells[2]
    assert got["cells"][1]["outputs"] == outputs and got["cells"][1]["metadata"] == {"tags": ["x"]}
    # The magics survive untouched; the import goes first, as at the top of a module.
    assert got["cells"][1]["source"] == [
        "import mlflow\n",
        "\n",
        "%matplotlib inline\n",
        "!pip install azureml-core\n",
        "run = mlflow.active_run() or mlflow.start_run()\n",
        "mlflow.log_metric('acc', 0.9)",
    ]
    expected = cells.copy()
    expected[1] = dict(cells[1], source=got["cells"][1]["source"])
    assert path.read_text(encoding="utf-8") == _notebook(expected)


def test_invalid_notebook_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [\n  {"azureml": 1,,}\n]}\n')
    code, _, err = cli("rewrite", str(tmp_path))
    assert code == 3 and "broken.ipynb:2" in err


def test_parallel_jobs_give_the_same_result(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"m{i:02d}.py").write_text(LEGACY if i % 3 == 0 else f"x = {i}\n")
    code, _, err = cli("rewrite", "-j", "2", str(tmp_path))
    assert code == 0, err
    assert "30 file(s) scanned, 10 rewritten" in err
    assert all("azureml" not in (tmp_path / f"m{i:02d}.py").read_text() for i in range(0, 30, 3))


def test_console_script_and_help_documents_exit_codes() -> None:
    exe = Path(sys.executable).with_name("aml2mlflow")
    out = subprocess.run(
        [str(exe), "rewrite", "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="100"),
    )
    assert out.returncode == 0
    for line in ("0  nothing to do", "1  --check", "2  usage error", "3  some file"):
        assert line in out.stdout
    assert cli("rewrite")[0] == 2  # no PATH: a usage error


def test_files_over_max_bytes_are_reported_and_left_alone(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    big.write_text(LEGACY + "".join(f"x{i} = {i}\n" for i in range(200)))
    plain = tmp_path / "plain.py"
    plain.write_text("".join(f"y{i} = {i}\n" for i in range(400)))  # big, but nothing legacy
    before = big.read_bytes()
    size = len(before)
    for mode in ("--diff", None):
        code, out, err = cli(
            "rewrite", *([mode] if mode else []), "--max-bytes", "1000", str(tmp_path)
        )
        assert code == 3, err
        assert f"error: big.py: {size:,} bytes, over the limit of 1,000 bytes: skipped" in err
        assert "plain.py" not in err and out == ""
        assert big.read_bytes() == before
    # --check answers from Python's own parser when it can: no libcst parse, so no limit
    code, _, err = cli("rewrite", "--check", "--max-bytes", "1000", str(tmp_path))
    assert code == 1 and "would rewrite big.py" in err, err
    code, _, err = cli("rewrite", "--max-bytes", str(size), str(tmp_path))
    assert code == 0, err
    assert "import mlflow" in big.read_text()


def test_a_notebook_is_limited_by_its_code_not_its_outputs(tmp_path: Path) -> None:
    cell = {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": LEGACY}
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x" * 5000}]
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "big_outputs.ipynb"
    path.write_text(json.dumps(notebook))
    code, _, err = cli("rewrite", "--max-bytes", "1000", str(tmp_path))
    assert code == 0, err
    assert "mlflow.log_metric" in path.read_text()
    code, _, err = cli("rewrite", "--max-bytes", "100", str(tmp_path))
    assert code == 0, err  # nothing legacy is left in it: no limit applies
    path.write_text(json.dumps(notebook))
    code, _, err = cli("rewrite", "--max-bytes", "100", str(tmp_path))
    size = len(LEGACY.encode())
    assert code == 3 and f"code cells of {size} bytes, over the limit of 100 bytes: skipped" in err
