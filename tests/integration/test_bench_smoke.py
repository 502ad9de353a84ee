"""Smoke test of ``polyloly bench latency``: a short run of floor, baseline and PolyLOL.

Checks that every stage of every path is stamped and the report is complete — not timings.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench import latency
from bench.harness.runs import LoadSpec
from bench.harness.stamps import REAL_STAGES

pytestmark = pytest.mark.timeout(90)

FLOOR_STAGES = {"frame_received_to_shm_written", "shm_written_to_shard_woken",
                "shard_woken_to_intent_sent", "intent_sent_to_engine_received", "tick_to_intent"}
BASELINE_STAGES = {"frame_received_to_parsed", "parsed_to_consumer_woken",
                   "consumer_woken_to_intent_queued", "intent_queued_to_risk_received",
                   "tick_to_intent"}


def test_latency_bench_stamps_every_stage_and_reports_ratios(tmp_path: Path) -> None:
    spec = LoadSpec(rate=1000.0, tokens=20, shards=2, seconds=2.0, trigger_fraction=0.005)
    report = asyncio.run(latency.measure(spec, repeats=1, progress=False))

    summaries = report["summaries"]
    real_stages = {name for name, _, _ in REAL_STAGES} | {
        "tick_to_intent", "tick_to_first_intent", "tick_to_order"}
    for path, stages in (("polyloly", real_stages), ("floor", FLOOR_STAGES),
                         ("baseline", BASELINE_STAGES)):
        assert set(summaries[path]) == stages, path
        for stage, summary in summaries[path].items():
            assert summary["count"] > 0, (path, stage)
            assert summary["p50"] <= summary["p99"] <= summary["max"], (path, stage)

    polyloly_run = report["runs"]["polyloly"][0]
    triggers = polyloly_run["by_kind"]["trigger"]
    assert triggers > 0
    assert polyloly_run["frames_dropped"] == 0
    assert polyloly_run["dead_letters"] == 0
    assert polyloly_run["intents_seen_by_engine"] == polyloly_run["intents_expected"]
    assert polyloly_run["intents_complete"] == polyloly_run["intents_seen_by_engine"]
    assert polyloly_run["intents_rejected"] == 0
    assert set(polyloly_run["exit_codes"].values()) == {0}
    assert report["runs"]["floor"][0]["hops_seen"] == triggers
    assert report["runs"]["baseline"][0]["intents_seen"] == 2 * triggers
    assert report["gateway_cpu_us_per_frame"] > 0

    for name in ("tick_to_intent_over_floor", "tick_to_intent_over_baseline"):
        assert all(value is not None and value > 0 for value in report["ratios"][name].values())
    assert set(report["targets"]) == {"p50_within_2x_floor", "p99_within_4x_floor_p99",
                                      "p99_ahead_of_baseline"}

    out = tmp_path / "latency.json"
    latency.write_results(out, "latency", {"rate": 1000}, report)
    written = json.loads(out.read_text())
    assert written["machine"]["nproc"] >= 1 and written["results"]["summaries"]
