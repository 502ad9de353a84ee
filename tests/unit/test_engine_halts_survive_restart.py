"""Circuit-breaker halts survive a restart; only a hand release lifts them (specs/08)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.executors.base import OrderRequest, SubmitOutcome, SubmitResult
from polyloly.domain import RejectReason
from polyloly.messages import IntentAck, StateQuery, StateSnapshot
from tests.helpers.engine_rig import MARKET_A, MARKET_B, EngineRig, SlowPaper, intent, make_config


class RejectingPaper(SlowPaper):
    """Refuses every order (a clear, non-retryable venue refusal)."""

    async def submit(self, order: OrderRequest) -> SubmitResult:
        return SubmitResult(SubmitOutcome.REJECTED, reason=RejectReason.VENUE_REJECTED,
                            message="refused")


def _halt_market_a_by_rejects(config: object) -> None:
    rig = EngineRig(config, RejectingPaper)  # type: ignore[arg-type]
    for _ in range(3):
        asyncio.run(rig.send(intent()))
    assert rig.core.risk.breakers.halted(MARKET_A) is not None
    rig.close()


def test_a_halt_is_still_there_after_a_restart_on_the_same_sqlite(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    _halt_market_a_by_rejects(config)
    rig = EngineRig(config)
    halt = rig.core.risk.breakers.halted(MARKET_A)
    assert halt is not None and halt.reason == "consecutive_rejects"
    assert rig.core.risk.breakers.halted(MARKET_B) is None
    asyncio.run(rig.send(intent()))
    (ack,) = rig.messages(IntentAck)
    assert not ack.accepted and ack.reason is RejectReason.MARKET_HALTED
    asyncio.run(rig.send(StateQuery(shard_id=0, market_ids=(), t_sent_ns=1)))
    (snapshot,) = rig.messages(StateSnapshot)
    assert snapshot.halted_markets == (MARKET_A,)
    rig.close()


def test_a_hand_release_while_running_is_remembered_across_restarts(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    _halt_market_a_by_rejects(config)
    rig = EngineRig(config)
    rig.clock.advance(ms=1000)
    rig.kill_file.release_market(MARKET_A, rig.clock.wall_ms(), by="test")
    asyncio.run(rig.tick())
    assert rig.core.risk.breakers.halted(MARKET_A) is None
    kinds = [(k, m) for k, m, _, _ in rig.store.risk_events()]
    assert kinds == [("halt", MARKET_A), ("release", MARKET_A)]
    rig.close()
    again = EngineRig(config)
    assert again.core.risk.breakers.halted(MARKET_A) is None
    again.close()


def test_a_release_made_while_stopped_lifts_the_halt_at_start(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    _halt_market_a_by_rejects(config)
    probe = EngineRig(config)
    since = probe.core.risk.breakers.halted(MARKET_A).since_ms
    probe.kill_file.release_market(MARKET_A, since + 1, by="test")
    probe.close()
    rig = EngineRig(config)
    assert rig.core.risk.breakers.halted(MARKET_A) is None
    assert rig.store.risk_events()[-1][0] == "release"
    rig.close()


def test_a_release_older_than_the_halt_does_not_lift_it(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    _halt_market_a_by_rejects(config)
    probe = EngineRig(config)
    since = probe.core.risk.breakers.halted(MARKET_A).since_ms
    probe.kill_file.release_market(MARKET_A, since - 1, by="test")
    probe.close()
    rig = EngineRig(config)
    assert rig.core.risk.breakers.halted(MARKET_A) is not None
    rig.close()
