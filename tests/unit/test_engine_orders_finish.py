"""Orders that finish (issue 20 #14, engine part): an order killed between "stored" and "venue
replied" is resolved at restart by the venue id stored before its POST (or, without one,
among the venue's open orders, concluded after the grace); the unknown-order grace is the
configured ``execution.unknown_order_timeout_s``; one POST budget per order (the real
executor no longer retries inside the order manager's retries)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.executors.base import (
    CancelResult,
    Executor,
    OrderRequest,
    SubmitOutcome,
    SubmitResult,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueTrades,
)
from engine.executors.polymarket.errors import VenueTransportError
from engine.executors.polymarket.executor import RealExecutor
from engine.executors.polymarket.signing import OrderSigner
from engine.secrets import PrivateKey
from engine.store import EngineStore
from polyloly.clock import ManualClock
from polyloly.domain import OrderStatus, Side
from polyloly.resilience import RetryPolicy
from tests.helpers.engine_rig import MARKET_A, T0_MS, YES_A, EngineRig, intent, make_config

KEY = "0x" + "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"


class Venue(Executor):
    """A scripted venue: ``prepare`` names ids ``v-<client id>``; submits answer from
    ``answers`` (None: the engine dies before the answer — the call never returns)."""

    name = "scripted"

    def __init__(self, answers: list[SubmitResult | None] | None = None,
                 store_path: Path | None = None) -> None:
        super().__init__()
        self.answers = answers or []
        self.posts = 0
        self.store_path = store_path
        self.stored_before_post: list[str | None] = []
        self.orders: dict[str, VenueOrder] = {}
        self.fills: list[VenueFill] = []
        self.listed: list[VenueOrder] = []
        self.posted = asyncio.Event()

    def prepare(self, order: OrderRequest) -> str | None:
        return f"v-{order.client_order_id}"

    async def submit(self, order: OrderRequest) -> SubmitResult:
        self.posts += 1
        self.posted.set()
        if self.store_path is not None:  # what the engine had stored when the POST left
            store = EngineStore(self.store_path)
            stored = {r.order_id: r.venue_order_id for r in store.load_orders()}
            store.close()
            self.stored_before_post.append(stored.get(order.client_order_id))
        answer = self.answers.pop(0)
        if answer is None:
            await asyncio.Event().wait()  # the process dies here
        assert answer is not None
        return answer

    async def cancel(self, venue_order_id: str) -> CancelResult:
        return CancelResult()

    async def cancel_all(self) -> CancelResult:
        return CancelResult()

    async def open_orders(self) -> VenueOrders:
        return VenueOrders(orders=tuple(self.listed), fetched_ms=0)

    async def trades(self, since_ms: int) -> VenueTrades:
        return VenueTrades(fills=tuple(self.fills), fetched_ms=0)

    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        return self.orders.get(venue_order_id)

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _rig(tmp_path: Path, venue: Venue, clock: ManualClock | None = None,
         **execution: Any) -> EngineRig:
    rig = EngineRig(make_config(tmp_path, execution=execution), clock=clock)
    rig.use_executor(venue)
    return rig


def test_the_venue_id_is_stored_before_the_post(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    venue = Venue([SubmitResult(SubmitOutcome.LIVE, venue_order_id="x")],
                  store_path=Path(config.data_path(config.storage.sqlite_file)))
    rig = _rig(tmp_path, venue)
    asyncio.run(rig.send(intent()))
    (record,) = rig.core.orders.orders()
    assert venue.stored_before_post == [f"v-{record.order_id}"]
    rig.close()


def _killed_before_the_answer(tmp_path: Path, venue: Venue) -> str:
    """An engine that stored an order and was SIGKILLed while its POST was out: the database
    is put back to what it held at that moment (what cleanup wrote later is dropped); return
    the order's id."""
    rig = _rig(tmp_path, venue)
    db_path = Path(rig.config.data_path(rig.config.storage.sqlite_file))
    snapshot = tmp_path / "at_kill.sqlite3"

    async def send_and_die() -> None:
        task = asyncio.create_task(rig.send(intent(price=0.5, size=20)))
        await venue.posted.wait()
        source = sqlite3.connect(db_path)
        target = sqlite3.connect(snapshot)
        source.backup(target)
        source.close()
        target.close()
        task.cancel()

    asyncio.run(send_and_die())
    (record,) = rig.core.orders.orders()
    rig.close()
    for leftover in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        leftover.unlink(missing_ok=True)
    snapshot.rename(db_path)
    store = EngineStore(db_path)
    (stored,) = store.load_orders()
    store.close()
    assert stored.status is OrderStatus.PENDING  # what the kill left: stored, not answered
    assert stored.venue_order_id == venue.prepare(_request_of(stored))
    return record.order_id


def _request_of(record: Any) -> OrderRequest:
    return OrderRequest(client_order_id=record.order_id, token_id=record.token_id,
                        market_id=record.market_id, side=record.side, price=record.price,
                        size=record.size, order_type=record.order_type, tick_size=0.01,
                        neg_risk=False)


def test_an_order_killed_before_the_venue_answered_is_looked_up_at_restart(
        tmp_path: Path) -> None:
    order_id = _killed_before_the_answer(tmp_path, Venue([None]))
    venue = Venue()
    venue_id = f"v-{order_id}"
    venue.orders[venue_id] = VenueOrder(venue_id, YES_A, MARKET_A, Side.BUY, 0.5, 20.0, 20.0,
                                        OrderStatus.FILLED)
    venue.fills.append(VenueFill("t1", venue_id, YES_A, Side.BUY, 0.5, 20.0, 0.15, False,
                                 T0_MS, MARKET_A))
    again = _rig(tmp_path, venue)
    record = again.core.orders.get(order_id)
    assert record is not None and record.status is OrderStatus.UNKNOWN  # never left PENDING
    assert again.core.orders.to_resolve() == (order_id,)
    asyncio.run(again.resolve_pending())
    assert record.status is OrderStatus.FILLED and venue.posts == 0  # found, never resent
    assert again.core.ledger.position(YES_A).shares == pytest.approx(20.0)
    again.close()


def test_an_order_the_venue_never_got_is_rejected_after_the_configured_grace(
        tmp_path: Path) -> None:
    order_id = _killed_before_the_answer(tmp_path, Venue([None]))
    clock = ManualClock(wall_ms=T0_MS)
    again = _rig(tmp_path, Venue(), clock=clock, unknown_order_timeout_s=30.0)
    record = again.core.orders.get(order_id)
    assert record is not None
    clock.advance(s=15)  # past the 10 s once hard-coded, inside the 30 s configured
    asyncio.run(again.resolve_pending())
    assert record.status is OrderStatus.UNKNOWN
    clock.advance(s=16)
    asyncio.run(again.resolve_pending())
    assert record.status is OrderStatus.REJECTED
    again.close()


class NoIdVenue(Venue):
    """A venue whose ids are only known from its answer (like the paper one)."""

    def prepare(self, order: OrderRequest) -> str | None:
        return None


def test_without_a_venue_id_it_is_found_among_open_orders_or_rejected_after_grace(
        tmp_path: Path) -> None:
    order_id = _killed_before_the_answer(tmp_path / "a", NoIdVenue([None]))
    venue = NoIdVenue()
    venue.listed.append(VenueOrder("v-found", YES_A, MARKET_A, Side.BUY, 0.5, 20.0, 0.0,
                                   OrderStatus.LIVE))
    again = _rig(tmp_path / "a", venue)
    record = again.core.orders.get(order_id)
    assert record is not None and record.size == pytest.approx(20.0)
    asyncio.run(again.resolve_pending())
    assert record.status is OrderStatus.LIVE and record.venue_order_id == "v-found"
    again.close()

    lost = _killed_before_the_answer(tmp_path / "b", NoIdVenue([None]))
    clock = ManualClock(wall_ms=T0_MS)
    third = _rig(tmp_path / "b", NoIdVenue(), clock=clock, unknown_order_timeout_s=5.0)
    asyncio.run(third.resolve_pending())
    assert third.core.orders.get(lost).status is OrderStatus.UNKNOWN
    clock.advance(s=6)
    asyncio.run(third.resolve_pending())
    assert third.core.orders.get(lost).status is OrderStatus.REJECTED
    third.close()


class RefusingClient:
    """A CLOB client whose POSTs never connect (retryable); counts them."""

    def __init__(self) -> None:
        self.posts = 0

    def post_order(self, *args: Any) -> Any:
        self.posts += 1
        raise VenueTransportError("connect", "connection refused")

    def close(self) -> None:
        return None


def test_one_post_budget_per_order_in_the_real_executor(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    client = RefusingClient()
    clock = ManualClock(wall_ms=T0_MS)
    retry = config.execution.retry

    async def no_sleep(_: float) -> None:
        return None

    async def body() -> int:
        executor = RealExecutor(
            client, OrderSigner(PrivateKey(KEY, "test"), 137), api_key="k", clock=clock,  # type: ignore[arg-type]
            retry=RetryPolicy(retry.max_attempts, retry.base_delay_s, retry.max_delay_s,
                              retry.jitter),
            request_timeout_s=2.0, rng=random.Random(0), sleep=no_sleep)
        rig = EngineRig(config, clock=clock)
        rig.use_executor(executor)
        await rig.send(intent())
        await rig.driver.wait_submits(5.0)
        (record,) = rig.core.orders.orders()
        assert record.status is OrderStatus.REJECTED
        assert record.venue_order_id and record.venue_order_id.startswith("0x")  # prepared
        await executor.close()
        rig.close()
        return client.posts

    assert asyncio.run(body()) == config.execution.retry.max_attempts  # was up to 3 × 3
