"""Property tests: the shm book equals a plain reference book; depth walks behave."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shm import BookReader, BookUpdateError, BookWriter, SizeUnit, walk_levels
from shm.reader import BookSnapshot

LEVELS = 4
TICK = 0.01
TOKEN = "7" * 77

ticks = st.integers(min_value=1, max_value=99)
sizes = st.sampled_from([0.5, 1.0, 2.0, 5.0, 10.0, 123.45, 1e6])
side_levels = st.lists(st.tuples(ticks, sizes), max_size=10, unique_by=lambda level: level[0])
snapshot_op = st.tuples(st.just("book"), side_levels, side_levels)
change = st.tuples(st.sampled_from(["BUY", "SELL"]), ticks, st.one_of(st.just(0.0), sizes))
changes_op = st.tuples(st.just("changes"), st.lists(change, min_size=1, max_size=6))
operations = st.lists(st.one_of(snapshot_op, changes_op), min_size=1, max_size=25)


@pytest.fixture(scope="module")
def store() -> Iterator[tuple[BookWriter, BookReader]]:
    name = f"plp_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with BookWriter.create(name, [TOKEN], levels=LEVELS, tick_size=TICK) as writer, \
            BookReader.attach(name) as reader:
        yield writer, reader


def _price(tick: int) -> float:
    return round(tick * TICK, 2)


def _check_against_reference(snap: BookSnapshot, bids: dict[float, float],
                             asks: dict[float, float]) -> None:
    ref_bids = sorted(bids.items(), reverse=True)
    ref_asks = sorted(asks.items())
    assert snap.bids == ref_bids[:LEVELS]
    assert snap.asks == ref_asks[:LEVELS]
    assert snap.bid_levels_total == len(ref_bids)
    assert snap.ask_levels_total == len(ref_asks)
    assert snap.best_bid == (ref_bids[0][0] if ref_bids else None)
    assert snap.best_ask == (ref_asks[0][0] if ref_asks else None)
    if snap.best_bid is not None and snap.best_ask is not None:
        assert snap.crossed == (snap.best_bid >= snap.best_ask)
        if not snap.crossed:
            assert snap.best_bid < snap.best_ask
    else:
        assert not snap.crossed


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_any_sequence_of_snapshots_and_changes_matches_a_reference_book(
    store: tuple[BookWriter, BookReader], ops: list[tuple[object, ...]]
) -> None:
    writer, reader = store
    writer.apply_snapshot(TOKEN, [], [], t_recv_ns=0, exchange_ts_ms=0)  # reset per example
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    seq = reader.seq(0)
    for step, op in enumerate(ops):
        if op[0] == "book":
            _, raw_bids, raw_asks = op
            new_bids = [(_price(t), s) for t, s in raw_bids]  # type: ignore[attr-defined]
            new_asks = [(_price(t), s) for t, s in raw_asks]  # type: ignore[attr-defined]
            write = writer.apply_snapshot(TOKEN, new_bids, new_asks, t_recv_ns=step,
                                          exchange_ts_ms=step)
            bids = {p: s for p, s in new_bids if s > 0}
            asks = {p: s for p, s in new_asks if s > 0}
        else:
            _, batch = op
            write = writer.apply_changes(
                TOKEN, [(side, _price(t), s) for side, t, s in batch],  # type: ignore[attr-defined]
                t_recv_ns=step, exchange_ts_ms=step)
            for side, t, s in batch:  # type: ignore[attr-defined]
                book = bids if side == "BUY" else asks
                if s == 0.0:
                    book.pop(_price(t), None)
                else:
                    book[_price(t)] = s
        seq += 1
        snap = reader.snapshot(0)
        assert write.seq == snap.seq == seq
        assert snap.exchange_ts_ms == step
        _check_against_reference(snap, bids, asks)
        full_bids, full_asks = writer.full_book(TOKEN)
        assert full_bids == sorted(bids.items(), reverse=True)
        assert full_asks == sorted(asks.items())


bad_change = st.one_of(
    st.tuples(st.sampled_from(["BUY", "SELL"]), st.floats(min_value=1.0, max_value=5.0), sizes),
    st.tuples(st.sampled_from(["BUY", "SELL"]), st.floats(max_value=0.0), sizes),
    st.tuples(st.sampled_from(["BUY", "SELL"]), st.just(0.505), sizes),
    st.tuples(st.sampled_from(["BUY", "SELL"]), ticks.map(_price),
              st.one_of(st.floats(max_value=-1e-9), st.just(float("nan")))),
    st.tuples(st.text(max_size=3).filter(lambda s: s not in ("BUY", "SELL")), ticks.map(_price),
              sizes),
)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(good=st.lists(change, max_size=4), bad=bad_change, position=st.integers(0, 4))
def test_a_batch_with_any_bad_entry_leaves_the_slot_untouched(
    store: tuple[BookWriter, BookReader], good: list[tuple[str, int, float]],
    bad: tuple[str, float, float], position: int,
) -> None:
    writer, reader = store
    writer.apply_snapshot(TOKEN, [(0.40, 1.0), (0.30, 2.0)], [(0.60, 3.0)], t_recv_ns=1,
                          exchange_ts_ms=1)
    before = reader.snapshot(0)
    full_before = writer.full_book(TOKEN)
    batch: list[tuple[str, float, float]] = [(side, _price(t), s) for side, t, s in good]
    batch.insert(min(position, len(batch)), bad)
    with pytest.raises(BookUpdateError):
        writer.apply_changes(TOKEN, batch, t_recv_ns=2, exchange_ts_ms=2)
    assert reader.snapshot(0) == before
    assert writer.full_book(TOKEN) == full_before


level_list = st.lists(st.tuples(ticks, st.floats(min_value=0.01, max_value=1e5)), min_size=1,
                      max_size=12, unique_by=lambda level: level[0])
quantities = st.floats(min_value=0.0, max_value=2e5, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(levels=level_list, side=st.sampled_from(["BUY", "SELL"]),
       unit=st.sampled_from(list(SizeUnit)), q1=quantities, q2=quantities)
def test_effective_price_is_monotone_in_size_and_never_better_than_best(
    levels: list[tuple[int, float]], side: str, unit: SizeUnit, q1: float, q2: float
) -> None:
    ordered = sorted(levels, reverse=(side == "SELL"))  # asks ascending for BUY, bids descending
    prices = [_price(t) for t, _ in ordered]
    level_sizes = [s for _, s in ordered]
    small, large = sorted((q1, q2))
    first = walk_levels(prices, level_sizes, side, small, unit)
    second = walk_levels(prices, level_sizes, side, large, unit)
    best = prices[0]
    depth = sum(level_sizes) if unit is SizeUnit.SHARES else sum(
        p * s for p, s in zip(prices, level_sizes, strict=True))
    for estimate, quantity in ((first, small), (second, large)):
        assert estimate.complete == (quantity <= depth * (1 + 1e-12) + 1e-9)
        filled = estimate.filled_shares if unit is SizeUnit.SHARES else estimate.filled_usdc
        assert filled <= quantity * (1 + 1e-12) + 1e-9
        if estimate.complete:
            assert filled == pytest.approx(quantity, rel=1e-9, abs=1e-9)
        if estimate.average_price is None:
            assert estimate.filled_shares == 0.0
            continue
        if side == "BUY":
            assert estimate.average_price >= best
        else:
            assert estimate.average_price <= best
    if first.average_price is not None and second.average_price is not None:
        tolerance = 1e-9
        if side == "BUY":
            assert second.average_price >= first.average_price - tolerance
        else:
            assert second.average_price <= first.average_price + tolerance
