"""`polyloly bench sign` runs both paths, checks they sign alike, and writes its figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.sign_bench import main


def test_sign_bench_writes_both_paths_and_the_ratio(tmp_path: Path) -> None:
    out = tmp_path / "sign.json"
    assert main(["--orders", "20", "--repeats", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["paths"]) == {"executor", "client"}
    assert result["paths"]["executor"]["orders"] == 40
    assert result["executor_backend"].startswith("coincurve")
    # The figure is reported, not judged here: speed targets belong to the benchmark's own run
    # (bench/README.md), never to a timed unit test on a loaded machine.
    ratio = result["ratio_client_over_executor"]
    assert math.isfinite(ratio) and ratio > 0
