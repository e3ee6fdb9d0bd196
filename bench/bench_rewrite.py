"""Benchmark `aml2mlflow rewrite`: the prefilter, per-file throughput, and memory as trees grow.

    .venv/bin/python bench/bench_rewrite.py [--files 2000] [--legacy-share 0.1]

Generates a tree of realistic Python files (a share of them SDK v1 training scripts, the rest
ordinary code of the same size), then measures side by side, in one process each:

1. `rewrite --check` over the whole tree (`migrate.api.rewrite_paths(mode="check", jobs=1)`)
   against a plain libcst parse-and-render of every file. Target (issue 3): >= 10x faster.
2. On the legacy files only: `rewrite_module` throughput against a bare libcst parse-and-render of
   the same files. Target: >= 0.5x. Also the full engine's (`fast=False`), and how many of the
   repository's fixture scripts the fast path takes (`migrate.fast`: the rest take the full one).
3. Peak memory (max RSS of a fresh process) of `rewrite --check -j 1` on trees of N and 4N files.
   Target: flat (workers stream files).
4. `audit` of the same tree in one process, against `rewrite --check` (issue 4: at least as fast)
   and against `rewrite --diff` (the same codemod work: every site of every legacy file); also
   with its result cache: empty, on the unchanged tree, and after a tenth of the legacy files changed;
   and the wall time of `aml2mlflow --help` and of `aml2mlflow audit` on a one-file project
   (issue 4: under 0.5 s each).

Prints a Markdown table and writes bench/rewrite_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LEGACY = '''"""Training script {i} (SDK v1)."""
import os

import numpy as np
from azureml.core import Run
from sklearn.linear_model import Ridge

run = Run.get_context()


def load(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 5))
    y = X @ rng.normal(size=5) + rng.normal(size=200)
    return X, y


def train(alpha, X, y):
    model = Ridge(alpha=alpha).fit(X, y)
    mse = float(np.mean((model.predict(X) - y) ** 2))
    run.log("alpha", alpha)
    run.log("mse", mse)  # per alpha
    return model, mse


X, y = load({i})
best = None
for alpha in np.arange(0.0, 1.0, 0.05):
    model, mse = train(alpha, X, y)
    if best is None or mse < best[1]:
        best = (alpha, mse)
run.log_list("coefficients", list(model.coef_))
run.log_row("best", alpha=best[0], mse=best[1])
run.tag("dataset", "synthetic-{i}")
os.makedirs("outputs", exist_ok=True)
run.complete()
'''

PLAIN = '''"""Utility module {i}: ordinary code with no Azure ML in it."""
import logging
import math
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class Point:
    x: float
    y: float

    def norm(self) -> float:
        return math.hypot(self.x, self.y)


def scale(points, factor):
    out = []
    for p in points:
        out.append(Point(p.x * factor, p.y * factor))
    logger.log(logging.DEBUG, "scaled %d points", len(out))
    return out


def mean_norm(points):
    if not points:
        return 0.0
    return sum(p.norm() for p in points) / len(points)


def run(seed={i}):
    values = [Point(math.log(k + 1), math.sqrt(k)) for k in range(seed % 50 + 10)]
    return mean_norm(scale(values, 2.0))


if __name__ == "__main__":
    print(run())
'''


def make_tree(folder: Path, files: int, share: float, seed: int = 0) -> list[Path]:
    """Write `files` modules under `folder` (nested packages); return the legacy ones."""
    rng = random.Random(seed)
    legacy: list[Path] = []
    for i in range(files):
        sub = folder / f"pkg{i % 20:02d}" / f"sub{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        is_legacy = rng.random() < share
        path = sub / (f"train_{i:05d}.py" if is_legacy else f"util_{i:05d}.py")
        path.write_text((LEGACY if is_legacy else PLAIN).format(i=i))
        if is_legacy:
            legacy.append(path)
    return legacy


def parse_render_all(paths: list[Path]) -> float:
    import libcst as cst

    start = time.perf_counter()
    for p in paths:
        cst.parse_module(p.read_text()).code  # noqa: B018 - rendering is the measured work
    return time.perf_counter() - start


def check_tree(folder: Path) -> tuple[float, int]:
    from migrate.api import rewrite_paths

    start = time.perf_counter()
    changed = sum(o.changed for o in rewrite_paths([folder], mode="check", jobs=1))
    return time.perf_counter() - start, changed


def cost_ms(source: str, repeat: int = 50) -> dict[str, float]:
    """Where one legacy file's time goes: libcst parse, one whole-module visit, the codemod, and
    the positions of its findings both ways (libcst's whole-module `PositionProvider` against the
    codemod's per-statement `_Positions`, for every call of the file)."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    from migrate.codemod import _Positions, rewrite_module

    tree = cst.parse_module(source)
    calls: list[tuple[cst.CSTNode, cst.CSTNode]] = []  # (call, its top-level statement)
    for stmt in tree.body:

        class Calls(cst.CSTVisitor):
            def visit_Call(self, node: cst.Call, top: cst.CSTNode = stmt) -> None:
                calls.append((node, top))

        stmt.visit(Calls())

    def provider() -> object:
        positions = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
        return [positions[c] for c, _ in calls]

    def per_statement() -> object:
        positions = _Positions(tree)
        return [positions.get(c, top) for c, top in calls]

    assert provider() == per_statement()

    def each(fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        return round((time.perf_counter() - start) / repeat * 1000, 2)

    return {
        "libcst_parse": each(lambda: cst.parse_module(source)),
        "libcst_parse_render": each(lambda: cst.parse_module(source).code),
        "libcst_empty_visit": each(lambda: tree.visit(cst.CSTVisitor())),
        "rewrite_module": each(lambda: rewrite_module(source)),
        "rewrite_module_full": each(lambda: rewrite_module(source, fast=False)),
        "positions_provider": each(provider),
        "positions_per_statement": each(per_statement),
    }


def diff_tree(folder: Path) -> float:
    """`rewrite --diff`: the codemod on every legacy file, every finding computed, nothing written."""
    from migrate.api import rewrite_paths

    start = time.perf_counter()
    for _ in rewrite_paths([folder], mode="diff", jobs=1):
        pass
    return time.perf_counter() - start


def rewrite_files(paths: list[Path], fast: bool = True) -> float:
    from migrate.codemod import rewrite_module

    start = time.perf_counter()
    for p in paths:
        rewrite_module(p.read_text(), str(p), fast=fast)
    return time.perf_counter() - start


def fast_share() -> dict[str, int]:
    """How many of the scripts this repository holds (fixtures) the fast path rewrites, of those
    with a legacy run: the rest go through the full engine."""
    from migrate.codemod import rewrite_module
    from migrate.fast import rewrite_fast

    taken = total = 0
    for path in sorted((ROOT / "fixtures").rglob("*.py")):
        source = path.read_text(encoding="utf-8", errors="replace")
        try:
            full = rewrite_module(source, str(path), fast=False)
        except Exception:  # unparseable fixtures
            continue
        if not any(f.api.startswith("Run.") for f in full.findings):
            continue
        total += 1
        taken += rewrite_fast(source, str(path), "mlflow") is not None
    return {"taken": taken, "of": total}


def audit_tree(folder: Path, cache: Path | None = None) -> float:
    from migrate.audit import audit_paths

    start = time.perf_counter()
    audit_paths([folder], jobs=1, cache=cache)
    return time.perf_counter() - start


def audit_floor(folder: Path) -> float:
    """The audit's work without the codemod: discover, read and prefilter every file, and run
    the audit's own `ast` checks on those that need them. No audit that reports `rewrite`'s
    findings can take less (it also runs the codemod on every legacy file)."""
    from migrate.audit import _check_code
    from migrate.sources import discover, might_contain_legacy, read_source

    start = time.perf_counter()
    for source in discover([folder]):
        text = read_source(source.path).text
        if might_contain_legacy(text):
            _check_code(text, None)
    return time.perf_counter() - start


def audit_cached(folder: Path, legacy: list[Path], cache: Path) -> dict[str, float]:
    """The audit with its result cache: first run (empty cache), again on the unchanged tree (what
    a CI gate or a hook sees most often), and again after a tenth of the legacy files changed."""
    first = audit_tree(folder, cache)
    unchanged = audit_tree(folder, cache)
    for path in legacy[::10]:
        path.write_text(path.read_text().replace('run.log("mse", mse)', 'run.log("loss", mse)'))
    changed = audit_tree(folder, cache)
    return {"empty": first, "unchanged": unchanged, "tenth_changed": changed}


def wall(*args: str) -> float:
    """Median wall time of a fresh `aml2mlflow ...` process, over 5 runs."""
    exe = Path(sys.executable).with_name("aml2mlflow")
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([str(exe), *args], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return sorted(times)[2]


def peak_rss_kib(folder: Path) -> int:
    code = (
        "import resource, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from migrate.api import rewrite_paths\n"
        f"for _ in rewrite_paths([{str(folder)!r}], mode='check', jobs=1): pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--legacy-share", type=float, default=0.1)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "rewrite_results.json")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aml2mlflow-bench-rewrite-") as tmp:
        tree = Path(tmp) / "tree"
        legacy = make_tree(tree, ns.files, ns.legacy_share)
        every = sorted(tree.rglob("*.py"))
        rewrite_files(legacy[:5])  # warm up imports and caches
        parse_all = parse_render_all(every)
        check, changed = check_tree(tree)
        audit = audit_tree(tree)
        diff = diff_tree(tree)
        copy = Path(tmp) / "copy"  # (the cache's third run edits files)
        shutil.copytree(tree, copy)
        floor = audit_floor(tree)
        cached = audit_cached(copy, [copy / p.relative_to(tree) for p in legacy], Path(tmp) / "c")
        one = Path(tmp) / "one"
        one.mkdir()
        (one / "train.py").write_text(LEGACY.format(i=0))
        help_s, audit_one_s = wall("--help"), wall("audit", str(one), "--no-cache")
        parse_legacy = parse_render_all(legacy)
        ours_legacy = rewrite_files(legacy)
        full_legacy = rewrite_files(legacy, fast=False)
        share = fast_share()
        costs = cost_ms(LEGACY.format(i=0))
        big = Path(tmp) / "big"
        make_tree(big, ns.files * 4, ns.legacy_share, seed=1)
        rss_small, rss_big = peak_rss_kib(tree), peak_rss_kib(big)
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "nproc": os.cpu_count(),
        "files": ns.files,
        "legacy_files": len(legacy),
        "changed": changed,
        "parse_render_all_s": round(parse_all, 3),
        "check_all_s": round(check, 3),
        "check_speedup": round(parse_all / check, 2),
        "parse_render_legacy_files_per_s": round(len(legacy) / parse_legacy, 1),
        "rewrite_legacy_files_per_s": round(len(legacy) / ours_legacy, 1),
        "rewrite_vs_parse": round(parse_legacy / ours_legacy, 2),
        "full_engine_legacy_files_per_s": round(len(legacy) / full_legacy, 1),
        "full_engine_vs_parse": round(parse_legacy / full_legacy, 2),
        "fast_path_fixtures": share,
        "one_legacy_file_ms": costs,
        "peak_rss_mib": {str(ns.files): rss_small // 1024, str(ns.files * 4): rss_big // 1024},
        "audit_all_s": round(audit, 3),
        "audit_cache_s": {k: round(v, 3) for k, v in cached.items()},
        "audit_floor_s": round(floor, 3),
        "diff_all_s": round(diff, 3),
        "help_wall_s": round(help_s, 3),
        "audit_one_file_wall_s": round(audit_one_s, 3),
    }
    ns.json.write_text(json.dumps(results, indent=1) + "\n")
    ok = {True: "PASS", False: "MISS"}
    print(
        f"{results['date']}, {results['nproc']} cores, Python {results['python']}, "
        f"{ns.files} files ({len(legacy)} legacy)\n"
    )
    print("| Measurement | value | target |")
    print("|---|---|---|")
    print(f"| libcst parse+render of every file | {parse_all:.2f} s | |")
    print(
        f"| `rewrite --check` of the tree (1 process) | {check:.2f} s "
        f"({results['check_speedup']}x faster) | >= 10x: {ok[parse_all / check >= 10]} |"
    )
    print(
        f"| legacy files: bare parse+render | {results['parse_render_legacy_files_per_s']} "
        "files/s | |"
    )
    print(
        f"| legacy files: rewrite | {results['rewrite_legacy_files_per_s']} files/s "
        f"({results['rewrite_vs_parse']}x) | >= 0.5x: {ok[parse_legacy / ours_legacy >= 0.5]} |"
    )
    print(
        f"| legacy files: the full engine (fast path off) | "
        f"{results['full_engine_legacy_files_per_s']} files/s "
        f"({results['full_engine_vs_parse']}x) | |"
    )
    print(
        f"| fixture scripts with a legacy run that the fast path takes | {share['taken']} of "
        f"{share['of']} | |"
    )
    print(
        f"| one legacy file: libcst parse / parse+render / one empty visit / `rewrite_module` "
        f"(fast path) / full engine | "
        f"{costs['libcst_parse']} / {costs['libcst_parse_render']} / "
        f"{costs['libcst_empty_visit']} / {costs['rewrite_module']} / "
        f"{costs['rewrite_module_full']} ms | |"
    )
    print(
        f"| one legacy file, positions of every call: libcst `PositionProvider` / per statement | "
        f"{costs['positions_provider']} / {costs['positions_per_statement']} ms | |"
    )
    print(
        f"| `audit` of the tree (1 process, no cache) | {audit:.2f} s | <= rewrite --check: "
        f"{ok[audit <= check * 1.05]} |"
    )
    print(
        f"| the audit's floor: discover, read, prefilter and its own `ast` checks, no codemod | "
        f"{floor:.2f} s | (for comparison) |"
    )
    print(
        f"| `audit` with its cache: first run / tree unchanged / a tenth of the legacy files "
        f"changed | {cached['empty']:.2f} / {cached['unchanged']:.2f} / "
        f"{cached['tenth_changed']:.2f} s | unchanged <= rewrite --check: "
        f"{ok[cached['unchanged'] <= check * 1.05]} |"
    )
    print(
        f"| `rewrite --diff` of the tree (1 process; the codemod on every legacy file, all "
        f"findings) | {diff:.2f} s | audit for comparison: {audit / diff:.2f}x of this |"
    )
    print(f"| `aml2mlflow --help` wall | {help_s:.2f} s | < 0.5 s: {ok[help_s < 0.5]} |")
    print(
        f"| `aml2mlflow audit` on one file, wall | {audit_one_s:.2f} s | < 0.5 s: "
        f"{ok[audit_one_s < 0.5]} |"
    )
    small, large = results["peak_rss_mib"].values()
    print(
        f"| peak RSS, {ns.files} vs {ns.files * 4} files | {small} MiB vs {large} MiB | flat: "
        f"{ok[large <= small * 1.2]} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
