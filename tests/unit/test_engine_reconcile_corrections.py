"""Position mismatches rebuild the ledger from the venue, at start and periodically (specs/07)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from polyloly.domain import Outcome
from polyloly.messages import MarketResolved, RiskState
from tests.helpers.engine_rig import (
    MARKET_A,
    MARKET_B,
    NO_A,
    YES_A,
    EngineRig,
    LivePaper,
    SlowPaper,
    intent,
    make_config,
)

MID = 0.495  # deep_books: best bid 0.49, best ask 0.50


def _bought_20_yes(rig: EngineRig) -> None:
    asyncio.run(rig.send(intent(price=0.50, size=20)))
    position = rig.core.ledger.position(YES_A)
    assert position is not None and position.shares == pytest.approx(20)


def test_start_reconciliation_sets_the_position_to_the_venue_and_halts(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    rig = EngineRig(config, LivePaper)
    _bought_20_yes(rig)
    rig.executor.balance_override = {YES_A: 25.0}
    plan = asyncio.run(rig.driver.reconciler.on_start())
    assert [(c.token_id, c.venue_shares) for c in plan.position_corrections] == [(YES_A, 25.0)]
    position = rig.core.ledger.position(YES_A)
    assert position.shares == pytest.approx(25)
    # the 20 shares we knew keep their cost (0.50); the 5 found are booked at the mid
    assert position.cost_usdc == pytest.approx(20 * 0.50 + 5 * MID)
    assert rig.core.risk.breakers.halted(MARKET_A) is not None
    assert rig.core.risk.breakers.halted(MARKET_B) is None
    (stored,) = rig.store.load_position_corrections()
    assert (stored.local_shares, stored.venue_shares, stored.price) == (20.0, 25.0, MID)
    rig.journal.flush()
    lines = [json.loads(line) for f in sorted(rig.events_dir.glob("*.jsonl"))
             for line in f.read_text().splitlines()]
    corrections = [e for e in lines if e["event_type"] == "position_correction"]
    assert len(corrections) == 1 and corrections[0]["payload"]["venue_shares"] == 25.0
    cost_before = position.cost_usdc
    realized_before = rig.core.ledger.realized_usdc
    rig.close()

    restarted = EngineRig(config, LivePaper)  # same SQLite: the correction is replayed in place
    again = restarted.core.ledger.position(YES_A)
    assert again.shares == pytest.approx(25) and again.cost_usdc == pytest.approx(cost_before)
    assert restarted.core.ledger.realized_usdc == pytest.approx(realized_before)
    assert restarted.core.risk.breakers.halted(MARKET_A) is not None
    restarted.close()


def test_fewer_shares_at_the_venue_realize_the_difference_at_the_mid(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path), LivePaper)
    _bought_20_yes(rig)
    realized_before = rig.core.ledger.realized_usdc
    rig.executor.balance_override = {YES_A: 15.0}
    asyncio.run(rig.driver.reconciler.on_start())
    position = rig.core.ledger.position(YES_A)
    assert position.shares == pytest.approx(15)
    assert position.cost_usdc == pytest.approx(15 * 0.50)
    assert rig.core.ledger.realized_usdc - realized_before == pytest.approx(5 * (MID - 0.50))
    assert rig.core.ledger.realized_by_strategy()["correction"] == pytest.approx(
        5 * (MID - 0.50))
    rig.close()


def test_a_later_fill_after_a_correction_replays_in_the_same_order(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    rig = EngineRig(config, LivePaper)
    _bought_20_yes(rig)
    rig.executor.balance_override = {YES_A: 30.0}
    asyncio.run(rig.driver.reconciler.on_start())
    rig.core.risk.breakers.release(MARKET_A)
    rig.executor.balance_override = {}
    asyncio.run(rig.send(intent(price=0.50, size=10)))
    live = rig.core.ledger.position(YES_A)
    shares, cost = live.shares, live.cost_usdc
    assert shares == pytest.approx(40)
    rig.close()
    restarted = EngineRig(config, LivePaper)
    again = restarted.core.ledger.position(YES_A)
    assert (again.shares, again.cost_usdc) == (pytest.approx(shares), pytest.approx(cost))
    restarted.close()


def test_periodic_reconciliation_halts_and_corrects_a_live_mismatch(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path), LivePaper)
    _bought_20_yes(rig)

    async def scenario() -> None:
        consistent = rig.driver.start_periodic_reconcile()
        assert consistent is not None
        plan = await consistent
        assert plan is not None and plan.consistent
        rig.executor.balance_override = {NO_A: 7.0}
        task = rig.driver.start_periodic_reconcile()
        assert rig.driver.start_periodic_reconcile() is None  # one at a time
        plan = await task  # first sighting: a suspect, nothing done yet
        assert plan is not None and not plan.position_corrections and not plan.halts
        assert rig.core.risk.breakers.halted(MARKET_A) is None
        plan = await rig.driver.start_periodic_reconcile()  # seen again: act
        assert [c.token_id for c in plan.position_corrections] == [NO_A]

    asyncio.run(scenario())
    assert rig.core.ledger.position(NO_A).shares == pytest.approx(7)
    assert rig.core.risk.breakers.halted(MARKET_A) is not None
    halts = [m for m in rig.messages(RiskState) if m.halted and m.market_id == MARKET_A]
    assert len(halts) == 1
    assert rig.executor.balance_queries == 3
    rig.close()


def test_a_mismatch_gone_by_the_next_reconciliation_is_never_corrected(tmp_path: Path) -> None:
    """The venue settled a market a moment before our MarketResolved arrived: one reading
    disagrees, the next agrees again, and nothing is corrected or halted."""
    rig = EngineRig(make_config(tmp_path), LivePaper)
    _bought_20_yes(rig)

    async def scenario() -> None:
        rig.executor.balance_override = {YES_A: 0.0}  # venue paid out and burned our shares
        plan = await rig.driver.start_periodic_reconcile()
        assert plan is not None and not plan.position_corrections and not plan.halts
        rig.executor.balance_override = {}
        plan = await rig.driver.start_periodic_reconcile()
        assert plan is not None and plan.consistent

    asyncio.run(scenario())
    assert rig.core.risk.breakers.halted(MARKET_A) is None
    assert rig.store.load_position_corrections() == []
    assert rig.core.ledger.position(YES_A).shares == pytest.approx(20)
    rig.close()


def test_the_paper_executor_is_not_reconciled_periodically(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path), SlowPaper)

    async def scenario() -> None:
        assert not rig.core.reconciles_periodically
        assert rig.driver.start_periodic_reconcile() is None

    asyncio.run(scenario())
    rig.close()


def test_a_settled_market_is_not_corrected_by_unredeemed_venue_tokens(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path), LivePaper)
    _bought_20_yes(rig)
    asyncio.run(rig.send(MarketResolved(market_id=MARKET_A, winning_token_id=YES_A,
                                        t_exchange_ms=1, t_recv_ns=1),
                         identity=None))  # the gateway's channel
    assert rig.core.ledger.position(YES_A).shares == 0  # paid out; the venue still holds 20
    plan = asyncio.run(rig.driver.reconciler.on_start())
    assert not plan.position_corrections and not plan.halts
    assert rig.core.ledger.position(YES_A).shares == 0
    rig.close()


def test_a_correction_for_a_token_outside_the_market_is_refused(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path), LivePaper)
    rig.core.correct_position(MARKET_B, YES_A, 5.0, "test")
    assert rig.core.ledger.position(YES_A) is None
    assert rig.store.load_position_corrections() == []
    rig.close()


def test_outcome_of_a_corrected_no_token_is_no(tmp_path: Path) -> None:
    rig = EngineRig(make_config(tmp_path), LivePaper)
    rig.core.correct_position(MARKET_A, NO_A, 3.0, "test")
    position = rig.core.ledger.position(NO_A)
    assert position.outcome is Outcome.NO and position.cost_usdc == pytest.approx(3 * MID)
    rig.close()
