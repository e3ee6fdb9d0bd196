"""`python -m shims.replay SPOOL_DIR [--tracking-uri URI]`: deliver records a run could not send.

When the tracking server stayed unreachable past the exit flush, the shim wrote the undelivered
records (and staged artifact files) to a spool folder and printed this command. Replaying sends them
in their original order with the same batching; a folder that was replayed is marked done and is not
sent twice. Metrics, params and tags are idempotent in MLflow's SQL stores (an identical metric point
is stored once), so a replay interrupted half-way can simply be run again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

DONE = "replayed"


class ReplayError(Exception):
    """The spool folder is unusable or the tracking server is still unreachable."""


def load(folder: Path) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """Read a spool folder: its metadata and records (artifact paths made absolute)."""
    meta_file, records_file = folder / "meta.json", folder / "records.jsonl"
    if not meta_file.is_file() or not records_file.is_file():
        raise ReplayError(f"{folder}: not a spool folder (meta.json and records.jsonl expected)")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    records: list[tuple[Any, ...]] = []
    for lineno, line in enumerate(records_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise ReplayError(f"{records_file}:{lineno}: not a JSON record ({exc})") from None
        if rec[0] == "a":
            rec[2] = str(folder / rec[2])
        records.append(tuple(rec))
    return meta, records


def replay(
    folder: str | os.PathLike[str], tracking_uri: str | None = None, timeout: float = 300
) -> int:
    """Send every record of `folder` to `tracking_uri` (default: the one it was meant for).

    Returns how many records were delivered; raises ReplayError when the folder was already
    replayed or the server did not take everything within `timeout` seconds (nothing is lost:
    the folder stays and the command can be run again).
    """
    from shims.writer import Writer

    path = Path(folder)
    if (path / DONE).exists():
        raise ReplayError(f"{path}: already replayed")
    meta, records = load(path)
    uri = tracking_uri or meta.get("tracking_uri") or None
    writer = Writer(uri)
    rejected: list[str] = []
    writer.on_reject = lambda rec, exc: rejected.append(f"{rec[0]} {rec[2]!r}: {exc}")
    writer.put_many(records)
    if not writer.wait(timeout=timeout):
        writer._closing = True
        raise ReplayError(
            f"{path}: the tracking server at {uri} did not take the records within {timeout:g} s "
            f"({writer.last_error or 'no error'}); nothing was lost, run the replay again later"
        )
    writer._closing = True
    (path / DONE).write_text(json.dumps({"records": len(records), "rejected": rejected}))
    return len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shims.replay", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--timeout", type=float, default=300)
    ns = parser.parse_args(argv)
    try:
        n = replay(ns.folder, ns.tracking_uri, ns.timeout)
    except ReplayError as exc:
        print(f"aml2mlflow replay: {exc}", file=sys.stderr)
        return 1
    print(f"aml2mlflow replay: delivered {n} record(s) from {ns.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
