"""A legacy Azure ML SDK v1 training script for the load test and benchmark (`tests/load.py`).

Run unchanged under the shim:
`python -m shims tests/load_worker.py --total V --processes P --threads T (--unit U | --threaded)`.
The load is V metric values shared out evenly between P processes and, with T > 0, one more process
whose share is shared out between its T threads; each share is a "unit" (units 0..P-1 are the
processes, P..P+T-1 the threads). A process logs its unit into `Run.get_context()`; the threaded
process's threads log theirs into that one run, which they share. A unit logs four keys, each in
its own style, in blocks taken round-robin so that the keys interleave in the shim's queue:

    u<U>_loss   run.log per value
    u<U>_acc    run.log per value
    u<U>_lr     run.log_list of a block
    u<U>_mix    alternately run.log per value and run.log_list, the steps of one key continuing

The i-th value of a key is `value(unit, k, i) = i + (4 * unit + k) / 1024` (exact in binary), so a
stored point proves which key and which call it came from: its step must be i.

Protocol with the harness: once the run exists, print `{"ready": run_id}` and wait for a line on
stdin (the start signal, so that every worker starts logging at once); then log, `run.flush()`, and
print `{"run_id", "first", "logged", "flushed"}` (wall-clock times of the first call, of the last
call and of the flush returning). The run is ended FINISHED by the shim at exit, as Azure ML did.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

KEYS = ("loss", "acc", "lr", "mix")
BLOCK = 250


def key_name(unit: int, k: int) -> str:
    return f"u{unit:02d}_{KEYS[k]}"


def split(total: int, parts: int) -> list[int]:
    """`total` shared out as evenly as possible, the first parts taking one more."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def unit_values(total: int, processes: int, threads: int) -> list[int]:
    """The values of each unit: the processes' shares, then the threads' parts of the last one."""
    shares = split(total, processes + (1 if threads else 0))
    return shares[:processes] + (split(shares[-1], threads) if threads else [])


def key_counts(values: int) -> list[int]:
    """How many of a unit's `values` each key gets."""
    return split(values, len(KEYS))


def value(unit: int, k: int, i: int) -> float:
    return i + (len(KEYS) * unit + k) / 1024


def produce(run: Any, unit: int, values: int) -> None:
    """Log `values` values for `unit` the legacy way."""
    counts = key_counts(values)
    names = [key_name(unit, k) for k in range(len(KEYS))]
    done = [0] * len(KEYS)
    block = 0
    while done != counts:
        for k, name in enumerate(names):
            n = min(BLOCK, counts[k] - done[k])
            if n <= 0:
                continue
            vals = [value(unit, k, done[k] + j) for j in range(n)]
            if k == 2 or (k == 3 and block % 2):
                run.log_list(name, vals)
            else:
                for v in vals:
                    run.log(name, v)
            done[k] += n
        block += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, required=True, help="values of the whole load")
    parser.add_argument("--processes", type=int, required=True, help="single-unit processes")
    parser.add_argument("--threads", type=int, required=True, help="threads of the threaded one")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--unit", type=int, help="this process's unit")
    which.add_argument("--threaded", action="store_true", help="this is the threaded process")
    args = parser.parse_args()
    values = unit_values(args.total, args.processes, args.threads)

    from azureml.core import Run

    run = Run.get_context()
    print(json.dumps({"ready": run.id}), flush=True)
    sys.stdin.readline()

    errors: list[BaseException] = []

    def thread(unit: int) -> None:
        try:
            produce(run, unit, values[unit])
        except BaseException as exc:
            errors.append(exc)
            raise

    first = time.time()
    if args.threaded:
        workers = [
            threading.Thread(target=thread, args=(args.processes + t,)) for t in range(args.threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if errors:
            raise errors[0]
    else:
        produce(run, args.unit, values[args.unit])
    logged = time.time()
    run.flush()
    flushed = time.time()
    report = {"run_id": run.id, "first": first, "logged": logged, "flushed": flushed}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
