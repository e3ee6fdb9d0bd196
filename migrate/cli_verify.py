"""`aml2mlflow verify SCRIPT [-- ARGS...]` and `aml2mlflow verify DIR`: see `migrate.verify`.

A directory is verified script by script: every `*.py` directly in DIR that uses the legacy SDK
(its rewrite finds something), each with the args of an optional `aml2mlflow-verify.toml` in DIR:

    [scripts."train.py"]
    args = ["--epochs", "3"]

    [scripts."needs_a_cluster.py"]
    skip = "reads from a datastore"      # not run; the reason is printed

Exit codes: 0 equivalent, 1 some difference, 2 usage error, 3 some script could not be run.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from migrate.cli_history import _table

CONFIG = "aml2mlflow-verify.toml"


class ConfigError(Exception):
    """The directory's aml2mlflow-verify.toml is unreadable or malformed."""


def read_config(folder: Path) -> dict[str, dict[str, Any]]:
    """`{script name: {"args": [...], "skip": reason}}` from FOLDER's aml2mlflow-verify.toml."""
    path = folder / CONFIG
    if not path.is_file():
        return {}
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
        data = toml.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path}: {exc}") from None
    scripts = data.get("scripts", {})
    unknown = set(data) - {"scripts"}
    if unknown or not isinstance(scripts, dict):
        raise ConfigError(f'{path}: only [scripts."name.py"] tables are allowed')
    out: dict[str, dict[str, Any]] = {}
    for name, table in scripts.items():
        if not isinstance(table, dict) or set(table) - {"args", "skip"}:
            raise ConfigError(f"{path}: [scripts.{name!r}] takes only args and skip")
        args = table.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
            raise ConfigError(f"{path}: [scripts.{name!r}] args must be a list of strings")
        if not (folder / name).is_file():
            raise ConfigError(f"{path}: [scripts.{name!r}] names no file in {folder}")
        out[name] = {"args": [str(a) for a in args], "skip": table.get("skip")}
    return out


def legacy_scripts(folder: Path) -> list[Path]:
    """The `*.py` files directly in FOLDER whose rewrite finds a legacy call."""
    from migrate.api import rewrite_source

    found = []
    for path in sorted(folder.glob("*.py")):
        try:
            result = rewrite_source(path.read_text(encoding="utf-8"), path.name)
        except Exception:  # unparseable: verify will report it as not runnable
            found.append(path)
            continue
        if result.findings:
            found.append(path)
    return found


def _render(verdict: Any) -> str:
    rows: list[list[str]] = []
    for label, items in (("DIFF", verdict.differences), ("note", verdict.notes)):
        for d in items:
            why = d.note + (f" [{d.rule}]" if d.rule else "")
            rows.append([label, d.kind, d.key, d.legacy, d.rewritten, why])
    head = f"{verdict.script} {' '.join(verdict.args)}".rstrip()
    lines = [head]
    if verdict.error:
        lines.append(f"could not be run: {verdict.error}")
    if rows:
        lines.append(_table(rows, ["", "kind", "key", "legacy (shim)", "rewritten", "why"]))
    if verdict.stderr_tail:
        lines.append("stderr (tail):\n" + verdict.stderr_tail.rstrip())
    if not verdict.error:
        n, m = len(verdict.differences), len(verdict.notes)
        lines.append(
            f"{'equivalent' if not n else 'DIFFERENT'}: {n} difference(s), {m} note(s)"
            f" (legacy run {verdict.legacy_run}, rewritten run {verdict.rewritten_run})"
        )
    return "\n".join(lines)


def _code(verdicts: Sequence[Any]) -> int:
    if any(v.error for v in verdicts):
        return 3
    return 1 if any(v.differences for v in verdicts) else 0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--rtol", default=1e-9, show_default=True, help="Relative tolerance for floats.")
@click.option("--atol", default=0.0, show_default=True, help="Absolute tolerance for floats.")
@click.option(
    "--strict-steps",
    is_flag=True,
    help="A series the rewrite logs without step= (all at step 0) differs from the shim's 0..n-1.",
)
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="GLOB",
    help="Artifacts not compared (e.g. '*.png'); repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict(s) as JSON.")
@click.option(
    "--tracking-uri",
    default=None,
    help="The MLflow store both runs go to (default: a temporary sqlite store).",
)
@click.option("--timeout", default=600.0, show_default=True, help="Seconds each script may run.")
def verify(
    target: Path,
    args: tuple[str, ...],
    rtol: float,
    atol: float,
    strict_steps: bool,
    excludes: tuple[str, ...],
    as_json: bool,
    tracking_uri: str | None,
    timeout: float,
) -> None:
    """Run TARGET under the shim and rewritten on plain MLflow; compare what they logged.

    TARGET is a legacy script (its arguments after `--`) or a directory of them (arguments from
    its aml2mlflow-verify.toml). Exit 0 when equivalent, 1 when they differ, 3 when a script
    could not be run.
    """
    from migrate.verify import verify_script

    if rtol < 0 or atol < 0:
        raise click.UsageError("--rtol and --atol must not be negative")
    jobs: list[tuple[Path, list[str]]] = []
    skipped: list[tuple[str, str]] = []
    if target.is_dir():
        if args:
            raise click.UsageError(
                f"a directory takes no script arguments: put them in {target / CONFIG}"
            )
        try:
            config = read_config(target)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        scripts = legacy_scripts(target)
        names = {p.name for p in scripts}
        scripts += [target / n for n in sorted(config) if n not in names]  # listed explicitly
        for path in scripts:
            entry = config.get(path.name, {})
            if entry.get("skip"):
                skipped.append((path.name, str(entry["skip"])))
            else:
                jobs.append((path, list(entry.get("args", []))))
        if not jobs:
            raise click.UsageError(f"no legacy script to verify in {target}")
    elif target.suffix != ".py":
        raise click.UsageError(f"{target} is not a Python script or a directory")
    else:
        jobs.append((target, list(args)))

    verdicts = []
    for path, script_args in jobs:
        verdict = verify_script(
            path,
            script_args,
            tracking_uri=tracking_uri,
            rtol=rtol,
            atol=atol,
            strict_steps=strict_steps,
            exclude=excludes,
            timeout=timeout,
        )
        verdicts.append(verdict)
        if not as_json:
            click.echo(_render(verdict) + "\n")
    code = _code(verdicts)
    if as_json:
        data: dict[str, Any]
        if target.is_dir():
            data = {
                "equivalent": code == 0,
                "scripts": [v.as_dict() for v in verdicts],
                "skipped": [{"script": n, "reason": r} for n, r in skipped],
            }
        else:
            data = verdicts[0].as_dict()
        click.echo(json.dumps(data, indent=1))
    else:
        for name, reason in skipped:
            click.echo(f"skipped {name}: {reason}")
        if len(verdicts) > 1:
            same = sum(1 for v in verdicts if v.equivalent)
            broken = sum(1 for v in verdicts if v.error)
            click.echo(
                f"{len(verdicts)} script(s): {same} equivalent, "
                f"{len(verdicts) - same - broken} different, {broken} could not be run"
            )
    sys.stdout.flush()
    sys.exit(code)
