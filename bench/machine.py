"""What the benchmarks record about the machine they ran on (shared by bench_*.py)."""

from __future__ import annotations

import datetime
import os
import platform
from typing import Any


def machine() -> dict[str, Any]:
    """Date, cores, Python, mlflow, platform and load average, for a results file."""
    import mlflow

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": cpus,
        "python": platform.python_version(),
        "mlflow": mlflow.__version__,
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }
