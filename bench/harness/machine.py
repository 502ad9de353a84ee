"""Where a figure came from (CPU count and model, Python) and how results are written."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The ``model name`` of the first CPU in /proc/cpuinfo (``platform.processor()`` else)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, Python version and implementation, platform, kernel."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def write_results(path: str | Path, bench: str, params: dict[str, Any],
                  results: dict[str, Any]) -> Path:
    """Write one benchmark's results as JSON (machine, parameters, wall time); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "bench": bench,
        "recorded_at_unix_s": int(time.time()),
        "machine": machine_info(),
        "params": params,
        "results": results,
    }
    target.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return target
