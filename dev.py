#!/usr/bin/env python3
"""One entry point for a fresh machine with only Python 3.10+.

    python3 dev.py demo    run the bundled legacy demo project through the shim into a local MLflow store
    python3 dev.py test    lint, type-check and run the whole test suite (what CI runs)
    python3 dev.py readme  regenerate the README's mapping table from the catalogue

Each command first makes `.venv/` beside this file and installs the project into it (editable, with the
`shim` and `dev` extras); later calls reuse it until `pyproject.toml` changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".aml2mlflow-installed"


def _say(msg: str) -> None:
    print(f"dev.py: {msg}", file=sys.stderr, flush=True)


def _run(*cmd: str | Path, cwd: Path = ROOT) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=cwd)


def ensure_venv() -> None:
    """Create `.venv` and install the project unless the installed copy matches pyproject.toml."""
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and PY.exists():
        return
    if not PY.exists():
        _say(f"creating {VENV.name}/")
        venv.EnvBuilder(with_pip=True).create(VENV)
    _say("installing aml2mlflow[shim,dev] (first run takes a minute or two)")
    rc = _run(
        PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[shim,dev]"
    )
    if rc != 0:
        sys.exit(f"dev.py: pip install failed with exit code {rc}")
    STAMP.write_text(want)


def cmd_test(args: list[str]) -> int:
    steps: list[tuple[str, list[str | Path]]] = [
        ("ruff check", [PY, "-m", "ruff", "check", "."]),
        ("ruff format --check", [PY, "-m", "ruff", "format", "--check", "."]),
        ("mypy", [PY, "-m", "mypy"]),
    ]
    for name, cmd in steps:
        _say(name)
        rc = _run(*cmd)
        if rc != 0:
            _say(f"{name} failed (exit {rc})")
            return rc
    # One worker per core (pytest-xdist): the suite spends most of its time in subprocesses and
    # servers; on 2 cores it takes about 7.5 minutes instead of 10. `-n 0` runs it in one process.
    workers = [] if any(a == "-n" or a.startswith("-n") for a in args) else ["-n", "auto"]
    _say("pytest")
    rc = _run(PY, "-m", "pytest", *workers, *args)
    if rc == 5:
        _say("pytest collected no tests: treating that as a failure")
        return 1
    return rc


def cmd_demo(args: list[str]) -> int:
    """Run the bundled legacy project unchanged through the shim, into ./demo-output/mlflow.db."""
    out = ROOT / "demo-output"
    out.mkdir(exist_ok=True)
    script = ROOT / "fixtures" / "demo" / "train.py"
    _say(f"running {script.relative_to(ROOT)} under the shim in {out.relative_to(ROOT)}/")
    rc = _run(BIN / "aml2mlflow", "run", script, *args, cwd=out)
    _say(
        f"the mlflow command is installed in {VENV.name}/: {BIN.relative_to(ROOT) / 'mlflow'} ui ..."
    )
    return rc


def cmd_readme(args: list[str]) -> int:
    return _run(PY, "-m", "migrate.catalogue", "--update-readme", ROOT / "README.md", *args)


COMMANDS = {"test": cmd_test, "demo": cmd_demo, "readme": cmd_readme}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    if sys.version_info < (3, 10):  # noqa: UP036 (dev.py may be started by an older python3)
        sys.exit("dev.py: aml2mlflow needs Python 3.10 or newer")
    ensure_venv()
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
