"""The paper executor's watch set (what the engine polls shm for) always matches its orders."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.books import StaticBookSource
from engine.executors.base import OrderRequest
from engine.executors.paper import PaperExecutor
from polyloly.clock import ManualClock
from polyloly.config import MarketConfig
from polyloly.domain import Game, OrderStatus, OrderType, Side

TOKENS = ("2001", "2002")
MARKET = MarketConfig(market_id="0xw", token_ids=TOKENS, match_id="m", game=Game.LOL,
                      tick_size=0.01, taker_fee_rate=0.02)
_WAITING = (OrderStatus.DELAYED, OrderStatus.SUBMITTED)

_submit = st.tuples(st.just("submit"), st.sampled_from(TOKENS), st.sampled_from(list(Side)),
                    st.integers(40, 60), st.integers(1, 30),
                    st.sampled_from([OrderType.GTC, OrderType.FAK, OrderType.FOK]))
_book = st.tuples(st.just("book"), st.sampled_from(TOKENS), st.integers(40, 55),
                  st.integers(1, 8), st.integers(1, 30))
_cancel = st.tuples(st.just("cancel"), st.integers(0, 20))
_advance = st.tuples(st.just("advance"), st.integers(0, 1500))
_ops = st.lists(st.one_of(_submit, _book, _cancel, _advance, st.just(("tick",)),
                          st.just(("cancel_all",))), max_size=40)


def _expected(executor: PaperExecutor) -> tuple[frozenset[str], int | None]:
    """Brute force over every order the executor ever took."""
    open_orders = [p for p in executor._orders.values() if p.status.is_open]
    resting = frozenset(p.request.token_id for p in open_orders if p.status not in _WAITING)
    due = min((p.due_ms for p in open_orders if p.status in _WAITING), default=None)
    return resting, due


@settings(max_examples=60, deadline=None)
@given(ops=_ops, delay_s=st.sampled_from([0.0, 1.0]), latency_ms=st.sampled_from([0.0, 20.0]))
def test_watch_set_and_next_due_match_the_open_orders(
        ops: list[tuple[object, ...]], delay_s: float, latency_ms: float) -> None:
    books = StaticBookSource()
    for token in TOKENS:
        books.set(token, [(0.48, 10.0)], [(0.50, 10.0)])
    clock = ManualClock(wall_ms=1_000_000)
    executor = PaperExecutor(books, [MARKET], clock, delay_s, latency_ms=latency_ms)
    venue_ids: list[str] = []

    async def run() -> None:
        for n, op in enumerate(ops):
            kind = op[0]
            if kind == "submit":
                _, token, side, cents, size, order_type = op
                request = OrderRequest(client_order_id=f"c{n}", token_id=str(token),
                                       market_id="0xw", side=side,  # type: ignore[arg-type]
                                       price=int(cents) / 100, size=float(size),  # type: ignore
                                       order_type=order_type,  # type: ignore[arg-type]
                                       tick_size=0.01)
                result = await executor.submit(request)
                if result.venue_order_id is not None:
                    venue_ids.append(result.venue_order_id)
            elif kind == "book":
                _, token, bid, spread, size = op
                bid_p = int(bid) / 100  # type: ignore[call-overload]
                books.set(str(token), [(bid_p, float(size))],  # type: ignore[arg-type]
                          [(bid_p + int(spread) / 100, float(size))])  # type: ignore
            elif kind == "cancel" and venue_ids:
                await executor.cancel(venue_ids[int(op[1]) % len(venue_ids)])  # type: ignore
            elif kind == "cancel_all":
                await executor.cancel_all()
            elif kind == "advance":
                clock.advance(ms=int(op[1]))  # type: ignore[call-overload]
            elif kind == "tick":
                await executor.tick(clock.wall_ms())
            executor.drain_events()
            assert (executor.watched_tokens(), executor.next_due_ms()) == _expected(executor)

    asyncio.run(run())
