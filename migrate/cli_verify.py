"""`aml2mlflow verify SCRIPT [-- ARGS...]` and `aml2mlflow verify DIR`: see `migrate.verify`.

A directory is verified script by script: every Python script under DIR (walked as `rewrite` walks
it, `.gitignore` respected; notebooks are not run) whose rewrite finds a legacy call, plus any
script its configuration lists, each with that configuration's settings. The configuration is
`aml2mlflow-verify.toml` or `aml2mlflow-verify.yaml`/`.yml` in DIR (one of them), read by
`migrate.verify.read_config`; the schema is in the command's help. Scripts are named by their path
relative to DIR, in the output too.

A folder under DIR that cannot be listed (no permission) is reported as an error on stderr (and
under "errors" with --json); the scripts found elsewhere are still verified, and the exit code is 3.

Exit codes: 0 equivalent, 1 some difference, 2 usage error (an invalid configuration too), 3 some
script could not be run or some folder could not be listed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from migrate.cli_history import _table


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

    TARGET is a legacy script (its arguments after `--`) or a directory: then every script under
    it that uses the legacy SDK is verified (walked like `rewrite`: .gitignore respected,
    virtualenvs and caches skipped; notebooks are not run), each in its own folder, and named by
    its path relative to the directory.

    \b
    The directory's aml2mlflow-verify.toml (or .yaml/.yml; only one of them)
    sets each script's options. Every key is optional; a script listed there
    runs even if it has no legacy call.
      [scripts."jobs/train.py"]    # a path relative to the directory
      args = ["--epochs", "1"]     # the script's arguments
      skip = "needs a cluster"     # do not run it; the reason is printed
      rtol = 1e-6                  # rtol, atol, strict_steps = true, timeout = 60:
      exclude = ["*.png"]          #   replace the options; exclude globs are added

    \b
      scripts:                     # the same in YAML
        jobs/train.py:
          args: ["--epochs", "1"]

    Exit 0 when equivalent, 1 when they differ, 2 on a usage error or an invalid configuration,
    3 when a script could not be run or a folder under TARGET could not be listed.
    """
    from migrate.verify import (
        CONFIG_NAMES,
        ConfigError,
        ScriptConfig,
        legacy_scripts,
        read_config,
        verify_script,
    )

    if rtol < 0 or atol < 0:
        raise click.UsageError("--rtol and --atol must not be negative")
    # (script, its name in the output or None for the path itself, its settings)
    jobs: list[tuple[Path, str | None, ScriptConfig]] = []
    skipped: list[tuple[str, str]] = []
    unlisted: list[str] = []  # folders under a directory TARGET that could not be listed
    config_path: Path | None = None
    if target.is_dir():
        if args:
            raise click.UsageError(
                f"a directory takes no script arguments: put them in {target / CONFIG_NAMES[0]}"
                " (or .yaml)"
            )
        try:
            config_path, config = read_config(target)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        found, unlisted = legacy_scripts(target)
        # in discovery order (path components sorted); scripts only listed in the config too
        for rel in sorted(set(found) | set(config), key=lambda r: r.split("/")):
            entry = config.get(rel, ScriptConfig())
            if entry.skip:
                skipped.append((rel, entry.skip))
            else:
                jobs.append((target / rel, rel, entry))
        if not jobs and not unlisted:  # (with unlisted folders, scripts may be in them: exit 3)
            raise click.UsageError(f"no legacy script to verify in {target}")
    elif target.suffix != ".py":
        raise click.UsageError(f"{target} is not a Python script or a directory")
    else:
        jobs.append((target, None, ScriptConfig(args=args)))

    verdicts = []
    for path, name, entry in jobs:
        verdict = verify_script(
            path,
            entry.args,
            tracking_uri=tracking_uri,
            rtol=rtol if entry.rtol is None else entry.rtol,
            atol=atol if entry.atol is None else entry.atol,
            strict_steps=strict_steps if entry.strict_steps is None else entry.strict_steps,
            exclude=[*excludes, *entry.exclude],
            timeout=timeout if entry.timeout is None else entry.timeout,
        )
        if name is not None:
            verdict.script = name
        verdicts.append(verdict)
        if not as_json:
            click.echo(_render(verdict) + "\n")
    code = 3 if unlisted else _code(verdicts)
    if as_json:
        data: dict[str, Any]
        if target.is_dir():
            data = {
                "equivalent": code == 0,
                "config": config_path.name if config_path else None,
                "scripts": [v.as_dict() for v in verdicts],
                "skipped": [{"script": n, "reason": r} for n, r in skipped],
                "errors": unlisted,
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
    for message in unlisted:
        click.echo(f"error: {message}", err=True)
    sys.stdout.flush()
    sys.exit(code)
