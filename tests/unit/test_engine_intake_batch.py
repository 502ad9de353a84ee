"""Engine intake batching, book polling from shm seqs and SQLite durability."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.core import Outbound
from engine.main import BookPoll
from engine.store import EngineStore
from polyloly.domain import OrderStatus, OrderType, Outcome, RejectReason
from polyloly.messages import ExecutionReport, IntentAck, encode
from tests.helpers.engine_rig import (
    NO_A,
    YES_A,
    EngineRig,
    intent,
    make_config,
)


def _frames(*messages: Any) -> list[tuple[bytes | None, bytes]]:
    return [(b"shard-0", encode(m)) for m in messages]


def _acks(sent: list[Outbound]) -> list[IntentAck]:
    return [o.message for o in sent if isinstance(o.message, IntentAck)]


def test_a_batch_of_intents_is_acked_in_arrival_order_with_one_claim_transaction(
        tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    yes = intent(token_id=YES_A, outcome=Outcome.YES)
    no = intent(token_id=NO_A, outcome=Outcome.NO, price=0.5)
    dup = intent(token_id=YES_A, key=yes.idempotency_key)
    garbage = (b"shard-0", b"\xff not msgpack")
    frames = _frames(yes, no)[:1] + [garbage] + _frames(no, dup)
    syncs_before = harness.store.syncs
    asyncio.run(harness.frames(frames))
    acks = _acks(harness.sent)
    assert [a.intent_id for a in acks] == [yes.intent_id, no.intent_id, dup.intent_id]
    assert [a.accepted for a in acks] == [True, True, False]
    assert acks[2].reason is RejectReason.DUPLICATE and acks[2].order_id == acks[0].order_id
    # the acks precede every report of their orders, and both legs were submitted and filled
    first_report = next(i for i, o in enumerate(harness.sent)
                        if isinstance(o.message, ExecutionReport))
    last_ack = max(i for i, o in enumerate(harness.sent) if isinstance(o.message, IntentAck))
    assert last_ack < first_report
    statuses = {harness.core.orders.get(a.order_id).status for a in acks[:2]}  # type: ignore
    assert statuses == {OrderStatus.FILLED}
    assert harness.store.syncs - syncs_before == 2  # one fsync per fill, none for the claims
    # claims are stored: a restart on the same database refuses the duplicates
    again = EngineRig(harness.config)
    out = asyncio.run(again.send(intent(token_id=YES_A, key=yes.idempotency_key)))
    assert _acks(out)[0].reason is RejectReason.DUPLICATE


def test_a_failed_claim_transaction_stores_acks_and_sends_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    harness = EngineRig(make_config(tmp_path))
    real_claim = harness.store.claim
    calls = []

    def failing_claim(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real_claim(*args)

    monkeypatch.setattr(harness.store, "claim", failing_claim)
    first, second = intent(token_id=YES_A), intent(token_id=NO_A, outcome=Outcome.NO)
    asyncio.run(harness.frames(_frames(first, second)))
    assert harness.sent == []
    assert harness.core.orders.open_orders() == []
    assert harness.store.load_orders() == []  # the first claim was rolled back too
    assert harness.core.orders.exposure().total_usdc == 0.0
    # the store is usable afterwards and the same intent can be claimed afresh
    monkeypatch.setattr(harness.store, "claim", real_claim)
    out = asyncio.run(harness.send(first))
    assert _acks(out)[0].accepted


def test_the_book_entry_feeds_volatility_and_rest_orders_match(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    resting = intent(token_id=YES_A, price=0.45, size=10.0, order_type=OrderType.GTC)
    (ack,) = _acks(asyncio.run(harness.send(resting)))
    assert ack.accepted
    order = harness.core.orders.get(ack.order_id)  # type: ignore[arg-type]
    assert order is not None and order.status is OrderStatus.LIVE
    harness.books.set(YES_A, [(0.44, 100.0)], [(0.45, 100.0)])
    seen_before = dict(harness.core._last_seq)
    asyncio.run(harness.driver.on_book_change([YES_A, "9999-unknown"]))
    assert order.status is OrderStatus.FILLED
    assert harness.core._last_seq[YES_A] != seen_before.get(YES_A)


def test_poll_books_ticks_the_executor_only_when_a_watched_seq_moves(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    poll = BookPoll(harness.driver, harness.books)
    assert harness.executor.watched_tokens() == frozenset()
    assert asyncio.run(poll.poll()) is False  # nothing rests: no work
    resting = intent(token_id=YES_A, price=0.45, size=10.0, order_type=OrderType.GTC)
    (ack,) = _acks(asyncio.run(harness.send(resting)))
    order = harness.core.orders.get(ack.order_id)  # type: ignore[arg-type]
    assert order is not None and order.status is OrderStatus.LIVE
    assert harness.executor.watched_tokens() == frozenset({YES_A})
    assert asyncio.run(poll.poll()) is True  # first look at YES_A
    assert asyncio.run(poll.poll()) is False  # same seq: no tick
    harness.books.set(YES_A, [(0.40, 100.0)], [(0.46, 100.0)])  # moved, does not cross
    assert asyncio.run(poll.poll()) is True
    assert order.status is OrderStatus.LIVE
    harness.books.set(YES_A, [(0.44, 100.0)], [(0.45, 100.0)])  # now crosses the resting bid
    assert asyncio.run(poll.poll()) is True
    assert order.status is OrderStatus.FILLED
    assert harness.executor.watched_tokens() == frozenset()
    reports = [o.message for o in harness.sent if isinstance(o.message, ExecutionReport)]
    assert reports[-1].status is OrderStatus.FILLED


def test_poll_books_releases_delayed_orders_when_due(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path, polymarket={"matching_delay_s": 3.0}))
    taker = intent(token_id=YES_A, price=0.6, size=5.0, order_type=OrderType.FAK)
    (ack,) = _acks(asyncio.run(harness.send(taker)))
    order = harness.core.orders.get(ack.order_id)  # type: ignore[arg-type]
    assert order is not None and order.status is OrderStatus.DELAYED
    due = harness.executor.next_due_ms()
    assert due == harness.clock.wall_ms() + 3000
    poll = BookPoll(harness.driver, harness.books)
    harness.clock.advance(ms=2999)
    assert asyncio.run(poll.poll()) is False
    harness.clock.advance(ms=1)
    assert asyncio.run(poll.poll()) is True
    assert order.status is OrderStatus.FILLED
    assert harness.executor.next_due_ms() is None


def test_the_sampling_poll_observes_each_moved_book_once(tmp_path: Path) -> None:
    harness = EngineRig(make_config(tmp_path))
    poll = BookPoll(harness.driver, harness.books)
    assert asyncio.run(poll.poll(sample=True)) is True
    assert set(harness.core._last_seq) == set(harness.core.token_ids)  # every two-sided book
    assert asyncio.run(poll.poll(sample=True)) is False  # no seq moved: core not called
    harness.books.set(YES_A, [(0.30, 10.0)], [(0.32, 10.0)])
    history_before = len(harness.core.risk.volatility._mids[YES_A])
    assert asyncio.run(poll.poll()) is False  # not sampled between sampling periods
    assert asyncio.run(poll.poll(sample=True)) is True
    assert harness.core.risk.volatility._mids[YES_A][-1] == pytest.approx(0.31)
    assert len(harness.core.risk.volatility._mids[YES_A]) == history_before + 1
    seq_before = harness.core._last_seq[NO_A]
    harness.books.set(NO_A, [(0.30, 10.0)], [])  # one-sided: no mid, nothing recorded
    assert asyncio.run(poll.poll(sample=True)) is True
    assert harness.core._last_seq[NO_A] == seq_before


def test_durable_writes_fsync_and_nested_transactions_join(tmp_path: Path) -> None:
    store = EngineStore(tmp_path / "e.sqlite")
    try:
        store.record_risk_event("halt", "m", "test", 1)
        assert store.syncs == 1
        with store.transaction():
            store.record_risk_event("release", "m", "test", 2)
            store.record_settlement("m", None, 3)
            assert store.syncs == 1  # not before the outer commit
        assert store.syncs == 2  # one fsync for both
        with pytest.raises(RuntimeError), store.transaction():
            store.record_risk_event("halt", "n", "rolled back", 4)
            raise RuntimeError("boom")
        assert [e[0] for e in store.risk_events()] == ["halt", "release"]
        assert store.syncs == 2
    finally:
        store.close()


@pytest.mark.parametrize(("live", "claim_syncs"), [(False, 0), (True, 1)])
def test_real_executor_claims_are_fsynced_paper_claims_are_not(
        tmp_path: Path, live: bool, claim_syncs: int) -> None:
    """With real money the intake batch's claims survive a power loss (one fsync per batch);
    on paper WAL NORMAL (process-crash safe) is enough."""
    harness = EngineRig(make_config(tmp_path))
    harness.core.durable_claims = live  # what the core derives from executor.name
    yes = intent(token_id=YES_A, outcome=Outcome.YES, price=0.3)  # not marketable: no fill
    no = intent(token_id=NO_A, outcome=Outcome.NO, price=0.3)
    syncs_before = harness.store.syncs
    asyncio.run(harness.frames(_frames(yes, no)))
    assert [a.accepted for a in _acks(harness.sent)] == [True, True]
    fills = sum(1 for o in harness.sent
                if isinstance(o.message, ExecutionReport) and o.message.last_fill_size > 0)
    assert harness.store.syncs - syncs_before == claim_syncs + fills
