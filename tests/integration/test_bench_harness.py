"""The bench harness's pure parts: percentile math and the load model's frames."""

from __future__ import annotations

import math

import orjson
from hypothesis import given
from hypothesis import strategies as st

from bench.harness.load import FrameKind, LoadModel, bench_markets
from bench.harness.stats import median_of_runs, percentile, ratio, summarize_ns
from gateway.polymarket.parse import LevelChanges, parse_market_frame


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=300))
def test_summary_percentiles_are_ordered_samples_and_bounded_by_the_max(samples: list[int]
                                                                        ) -> None:
    summary = summarize_ns(samples)
    values = [summary[k] for k in ("p50", "p90", "p99", "p99_9", "max")]
    assert values == sorted(values)
    assert summary["max"] == max(samples) / 1e3
    assert summary["count"] == len(samples)
    assert all(any(math.isclose(v * 1e3, s) for s in samples) for v in values)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200),
       st.floats(min_value=0.0, max_value=1.0))
def test_nearest_rank_percentile_has_that_fraction_at_or_below_it(values: list[float],
                                                                   fraction: float) -> None:
    ordered = sorted(values)
    result = percentile(ordered, fraction)
    at_or_below = sum(1 for v in ordered if v <= result)
    assert at_or_below >= fraction * len(ordered)


def test_median_of_runs_and_ratio_skip_missing_values() -> None:
    assert median_of_runs([{"p50": 1.0}, {"p50": 3.0, "p99": 5.0}, {"p50": 2.0}]) == {
        "p50": 2.0, "p99": 5.0}
    assert ratio(4.0, 2.0) == 2.0
    assert ratio(None, 2.0) is None and ratio(1.0, 0.0) is None
    assert summarize_ns([]) == {"count": 0}


def test_load_model_frames_parse_and_trigger_a_known_fraction_with_resets() -> None:
    model = LoadModel(bench_markets(20, 2), trigger_fraction=0.01, hold_ms=5.0,
                      min_trigger_gap_ms=50.0)
    kinds = []
    for index in range(4000):
        frame = model.next_frame(index * 100_000, 1)  # 10k frames/s
        parsed = parse_market_frame(frame.payload)
        assert not parsed.errors
        (event,) = parsed.events
        assert isinstance(event, LevelChanges)
        assert event.token_id == frame.token_id
        book = model.books[frame.token_id]
        assert (event.expected_best_bid, event.expected_best_ask) == book.top()
        kinds.append(frame.kind)
    resets = kinds.count(FrameKind.RESET)
    assert abs(kinds.count(FrameKind.TRIGGER) - (len(kinds) - resets) * 0.01) <= 1
    assert 0 <= kinds.count(FrameKind.TRIGGER) - resets <= 1
    assert model.skipped_triggers == 0


def test_book_frames_hold_every_requested_token_once() -> None:
    model = LoadModel(bench_markets(120, 2), trigger_fraction=0.0)
    frames = model.book_frames(model.token_ids, 1)
    books = [b for f in frames for b in orjson.loads(f)]
    assert sorted(b["asset_id"] for b in books) == sorted(model.token_ids)
    for frame in frames:
        assert all(isinstance(e, object) for e in parse_market_frame(frame).events)
        assert not parse_market_frame(frame).errors


def test_throughput_pieces_measure_the_real_gateway_and_shard_code_on_small_inputs() -> None:
    from bench import throughput

    model, frames = throughput.make_frames(20, 200, 10, "price_change")
    assert len(frames) == 20 and all(f.startswith(b"[") for f in frames)
    decode = throughput.decoders(frames)
    assert set(decode) == {"json", "orjson", "msgspec_typed"} and min(decode.values()) > 0
    core = throughput.gateway_core(20, frames, model, 10)
    assert core["messages_per_s"] > 0 and core["us_per_frame"] > 0
    shard = throughput.shard_core(20, 2, 200)
    assert shard["ticks_per_s"] > 0 and shard["markets_in_shard"] == 5
