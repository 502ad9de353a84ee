"""Each risk layer: a table of intents that must pass and must be refused, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.books import make_snapshot
from engine.risk.decision import ExposureView
from engine.risk.manager import RiskManager
from polyloly.domain import OrderType, Outcome, RejectReason, Side, Strategy
from shm.layout import SlotFlags
from tests.helpers.engine_rig import MARKET_A, MARKET_B, NO_A, YES_A, intent, make_config

FRIDAY_MS = 1_767_312_000_000  # 2026-01-02 00:00 UTC
SATURDAY_MS = FRIDAY_MS + 86_400_000
BOOK = make_snapshot(YES_A, [(0.49, 100.0)], [(0.50, 100.0), (0.60, 1000.0)])


def _manager(tmp_path: Path, **risk: object) -> RiskManager:
    manager = RiskManager(make_config(tmp_path, risk=risk))
    for _ in range(12):
        manager.volatility.observe(YES_A, 0.495)
        manager.volatility.observe(NO_A, 0.495)
    return manager


CASES = [
    # (name, intent kwargs, exposure, risk overrides, expected reason or None)
    ("plain buy passes", {}, ExposureView(), {}, None),
    ("slippage: 300 shares walk to 0.60", {"size": 300, "price": 0.60}, ExposureView(),
     {"max_order_size_usdc": 1000}, RejectReason.SLIPPAGE),
    ("resting limit below the ask has no slippage", {"size": 300, "price": 0.45,
     "order_type": OrderType.GTC}, ExposureView(), {"max_order_size_usdc": 1000}, None),
    ("order notional over the limit", {"size": 100}, ExposureView(),
     {"max_order_size_usdc": 40}, RejectReason.ORDER_SIZE_LIMIT),
    ("market exposure", {}, ExposureView(by_market={MARKET_A: 995.0}), {},
     RejectReason.MARKET_EXPOSURE_LIMIT),
    ("pair leg imbalance", {"strategy": Strategy.PAIR_ARB},
     ExposureView(legs={(MARKET_A, Outcome.YES): 145.0}), {}, RejectReason.LEG_IMBALANCE),
    ("pair leg that reduces imbalance passes", {"strategy": Strategy.PAIR_ARB},
     ExposureView(legs={(MARKET_A, Outcome.NO): 200.0}), {}, None),
    ("temporal is not bound by the pair imbalance", {},
     ExposureView(legs={(MARKET_A, Outcome.YES): 145.0}), {}, None),
    ("correlation group", {}, ExposureView(by_group={"worlds": 1995.0}), {},
     RejectReason.CORRELATION_LIMIT),
    ("total exposure", {}, ExposureView(total_usdc=4995.0, by_market={MARKET_B: 4995.0}), {},
     RejectReason.TOTAL_EXPOSURE_LIMIT),
    ("sell beyond holdings", {"side": Side.SELL, "price": 0.49}, ExposureView(), {},
     RejectReason.INSUFFICIENT_BALANCE),
    ("sell within holdings", {"side": Side.SELL, "price": 0.49},
     ExposureView(shares_held={YES_A: 50.0}), {}, None),
]


@pytest.mark.parametrize(("name", "changes", "exposure", "risk", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_pre_trade_and_global_layers(tmp_path: Path, name: str, changes: dict,
                                     exposure: ExposureView, risk: dict,
                                     expected: RejectReason | None) -> None:
    manager = _manager(tmp_path, **risk)
    decision = manager.check(intent(size=changes.pop("size", 20), **changes), BOOK, exposure,
                             FRIDAY_MS)
    assert decision.reason is expected, decision.detail
    assert decision.allowed is (expected is None)


def test_missing_stale_or_crossed_books_refuse(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    stale = make_snapshot(YES_A, [(0.49, 10)], [(0.5, 10)], flags=SlotFlags.STALE)
    for book in (None, stale):
        decision = manager.check(intent(), book, ExposureView(), FRIDAY_MS)
        assert decision.reason is RejectReason.BOOK_STALE


def test_circuit_breaker_trips_after_consecutive_rejects_and_halts_the_market(
        tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    assert manager.breakers.on_venue_reject(MARKET_A, 1) is None
    assert manager.breakers.on_venue_reject(MARKET_A, 2) is None
    halt = manager.breakers.on_venue_reject(MARKET_A, 3)
    assert halt is not None and halt.reason == "consecutive_rejects"
    assert manager.check(intent(), BOOK, ExposureView(), FRIDAY_MS).reason is \
        RejectReason.MARKET_HALTED
    assert manager.check(intent(market_id=MARKET_B, token_id="2001"), None, ExposureView(),
                         FRIDAY_MS).reason is RejectReason.BOOK_STALE  # other market not halted
    manager.breakers.release(MARKET_A)
    assert manager.check(intent(), BOOK, ExposureView(), FRIDAY_MS).allowed


def test_circuit_breaker_trips_on_cancel_failures_and_slow_orders(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    for _ in range(2):
        assert manager.breakers.on_cancel_failure(MARKET_A, 1) is None
    assert manager.breakers.on_cancel_failure(MARKET_A, 1) is not None
    assert manager.breakers.on_order_latency(MARKET_B, 100.0, 1) is None
    assert manager.breakers.on_order_latency(MARKET_B, 6000.0, 1) is not None


def test_daily_loss_refuses_and_asks_for_the_kill_switch(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    assert manager.set_pnl(-499.0, 0.0) is False
    assert manager.check(intent(), BOOK, ExposureView(), FRIDAY_MS).allowed
    assert manager.set_pnl(-500.0, 0.0) is True
    assert manager.check(intent(), BOOK, ExposureView(), FRIDAY_MS).reason is \
        RejectReason.DAILY_LOSS_LIMIT
    manager.kill_switch.pull("test", 0, by="test")
    assert manager.check(intent(), BOOK, ExposureView(), FRIDAY_MS).reason is \
        RejectReason.KILL_SWITCH


def test_drawdown_shrinks_sizes_linearly(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    manager.set_pnl(0.0, 375.0)  # halfway between 250 and 500: factor 1 - 0.5*0.75 = 0.625
    decision = manager.check(intent(size=40), BOOK, ExposureView(), FRIDAY_MS)
    assert decision.allowed and decision.adjusted_size == pytest.approx(25.0)


def test_cold_volatility_halves_and_high_volatility_quarters(tmp_path: Path) -> None:
    manager = RiskManager(make_config(tmp_path))
    assert manager.check(intent(size=40), BOOK, ExposureView(), FRIDAY_MS).adjusted_size == \
        pytest.approx(20.0)
    for mid in [0.2, 0.8] * 10:
        manager.volatility.observe(YES_A, mid)
    assert manager.check(intent(size=40), BOOK, ExposureView(), FRIDAY_MS).adjusted_size == \
        pytest.approx(10.0)


def test_time_rules_weekend_peak_hours_and_open_buffer(tmp_path: Path) -> None:
    rules = {"weekend_trading": False, "peak_hours_utc": [0, 6], "peak_size_factor": 0.5,
             "open_buffer_s": 60}
    manager = _manager(tmp_path, time_rules=rules)
    assert manager.check(intent(), BOOK, ExposureView(), SATURDAY_MS).reason is \
        RejectReason.TIME_RULE
    decision = manager.check(intent(size=40), BOOK, ExposureView(), FRIDAY_MS)  # 00:00 UTC: peak
    assert decision.adjusted_size == pytest.approx(20.0)
    late = FRIDAY_MS + 12 * 3_600_000
    assert manager.check(intent(size=40), BOOK, ExposureView(), late).adjusted_size == \
        pytest.approx(40.0)
    manager.set_market_open(MARKET_A, late)
    assert manager.check(intent(), BOOK, ExposureView(), late + 30_000).reason is \
        RejectReason.TIME_RULE
    assert manager.check(intent(), BOOK, ExposureView(), late + 61_000).allowed


def test_reduced_size_below_the_minimum_is_refused(tmp_path: Path) -> None:
    manager = RiskManager(make_config(tmp_path))  # cold: factor 0.5
    assert manager.check(intent(size=8), BOOK, ExposureView(), FRIDAY_MS).reason is \
        RejectReason.BELOW_MIN_SIZE
