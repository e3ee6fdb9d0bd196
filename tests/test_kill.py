"""A rewrite killed with SIGKILL at any moment leaves every file fully old or fully new."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from migrate.api import rewrite_source

TEMPLATE = """\
# generated training script {i}
from azureml.core import Run

run = Run.get_context()
for epoch in range({n}):
    run.log("loss_{i}", 1.0 / (epoch + 1))  # per epoch
run.log_list("curve_{i}", [0.{i}, 0.5])
run.tag("script", "{i}")
run.complete()
"""


def test_sigkill_mid_rewrite_never_leaves_a_partial_file(tmp_path: Path) -> None:
    original = tmp_path / "original"
    original.mkdir()
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for i in range(200):
        name = f"pkg{i % 10}/train_{i:03d}.py"
        text = TEMPLATE.format(i=i, n=3 + i % 5) + "\n" * (i % 3) + "# padding\n" * (i * 7 % 400)
        (original / name).parent.mkdir(exist_ok=True)
        (original / name).write_text(text)
        old[name] = text
        new[name] = rewrite_source(text, name).code
        assert new[name] != text
    exe = Path(sys.executable).with_name("aml2mlflow")
    # How long a whole run takes here, so that the kills land inside it on any machine.
    timing = tmp_path / "timing"
    shutil.copytree(original, timing)
    start = time.monotonic()
    subprocess.run([str(exe), "rewrite", "-q", "-j", "2", str(timing)], check=True)
    duration = time.monotonic() - start
    rng = random.Random(20261125)
    outcomes = {"old": 0, "new": 0}
    for trial in range(3):
        tree = tmp_path / f"tree{trial}"
        shutil.copytree(original, tree)
        proc = subprocess.Popen(
            [str(exe), "rewrite", "-q", "-j", "2", str(tree)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(duration * rng.uniform(0.3, 0.9))
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes, mid-write
        proc.wait()
        for name in old:
            text = (tree / name).read_text()
            assert text in (old[name], new[name]), f"{name} is neither old nor new after a kill"
            outcomes["old" if text == old[name] else "new"] += 1
        leftovers = [p for p in tree.rglob("*") if p.is_file() and p.suffix != ".py"]
        assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in leftovers)
        # A later run finishes the job and ignores what the kill left behind.
        done = subprocess.run(
            [str(exe), "rewrite", "-q", str(tree)], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert all((tree / name).read_text() == new[name] for name in old)
    # The kills landed mid-run at least once: some files old, some new.
    assert outcomes["old"] and outcomes["new"]
