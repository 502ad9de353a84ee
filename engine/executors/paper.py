"""Paper executor: deterministic fills against the shm books (SPEC §8.3; specs/07).

* A *marketable* order (BUY at or above the best ask, SELL at or below the best bid) waits the
  venue's sports matching delay (``polymarket.matching_delay_s``) and then matches against the
  book *as it is when the delay elapses*; with a zero delay it matches inside ``submit``.
* Taker fills walk the levels that cross the limit, at the levels' prices, and pay
  ``shares × rate × p × (1 − p)``; FAK fills what is there and cancels the rest, FOK fills all
  or nothing (cancelled), GTC/GTD fill what is there and rest the remainder.
* A resting order fills as a maker (no fee, at its own price) when a later book crosses it, and
  is credited the venue's maker rebate at the fill as the simulator's venue does
  (``MAKER_REBATE_RATE`` × the taker fee of that fill, polyloly/fees.py): the fill carries it as
  a negative ``fee_usdc``, which the ledger books apart from fees (engine/pnl/ledger.py).
* A post-only order (GTC/GTD) that would match on arrival is refused (``order crosses book``),
  never filled as a taker; a GTD order expires (EXPIRED) at ``expiration_s``; a GTD without a
  future expiry is refused.
* Liquidity we took is remembered per (token, price level) until the book's sequence number
  changes, so repeated orders never fill twice against the same size.
* ``execution.paper_latency_ms`` (``latency_ms``) > 0: the order is *in flight* for that long.
  ``submit`` answers ACCEPTED at once (``SubmitResult.latency_ms`` = the latency, which the
  latency circuit breaker sees); at ``tick(now_ms)`` with ``now_ms ≥ submit + latency`` the
  order reaches the book *as it is then* and is handled as above (rest, matching delay, match;
  a FAK/FOK that no longer crosses is CANCELLED), the outcome arriving as events.

Everything runs on the injected clock; the same inputs give the same fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.books import BookSource
from engine.executors.base import (
    CROSSES_BOOK,
    CancelResult,
    Executor,
    OrderRequest,
    SubmitOutcome,
    SubmitResult,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueOrderUpdate,
    VenueTrades,
)
from polyloly.clock import Clock
from polyloly.config import MarketConfig
from polyloly.domain import OrderStatus, OrderType, RejectReason, Side
from polyloly.fees import fill_fee_usdc, maker_rebate_usdc
from shm.reader import BookSnapshot

_EPSILON = 1e-9


@dataclass(slots=True)
class _PaperOrder:
    request: OrderRequest
    venue_order_id: str
    created_ms: int
    due_ms: int  # when a delayed order is matched; 0 once it is resting
    status: OrderStatus
    matched: float = 0.0

    @property
    def remaining(self) -> float:
        return max(0.0, self.request.size - self.matched)


@dataclass(slots=True)
class _Consumed:
    seq: int
    by_price: dict[float, float] = field(default_factory=dict)


class PaperExecutor(Executor):
    """Simulated venue over a :class:`~engine.books.BookSource`."""

    name = "paper"

    def __init__(
        self,
        books: BookSource,
        markets: Sequence[MarketConfig],
        clock: Clock,
        matching_delay_s: float,
        latency_ms: float = 0.0,
    ) -> None:
        """``matching_delay_s``: the venue's sports delay (s); ``latency_ms``: submit → book."""
        super().__init__()
        self._books = books
        self._clock = clock
        self._delay_ms = int(round(matching_delay_s * 1000))
        self._latency_ms = int(round(latency_ms))
        self._fee_rate = {t: m.taker_fee_rate for m in markets for t in m.token_ids}
        self._orders: dict[str, _PaperOrder] = {}
        self._open: dict[str, _PaperOrder] = {}  # open orders, in creation order
        self._resting_tokens: frozenset[str] = frozenset()
        self._next_due_ms: int | None = None
        self._fills: list[VenueFill] = []
        self._consumed: dict[str, _Consumed] = {}
        self._next_id = 0
        self._closed = False

    # --- orders -------------------------------------------------------------------------------

    async def submit(self, order: OrderRequest) -> SubmitResult:
        """Accept, delay, rest or match one order; refuse unknown tokens and closed executors."""
        if self._closed:
            return SubmitResult(
                SubmitOutcome.REJECTED, reason=RejectReason.VENUE_UNAVAILABLE,
                message="paper executor is closed",
            )
        if order.token_id not in self._fee_rate:
            return SubmitResult(
                SubmitOutcome.REJECTED, reason=RejectReason.UNKNOWN_TOKEN,
                message=f"token {order.token_id!r} is not traded here",
            )
        now_ms = self._clock.wall_ms()
        refusal = _order_rules(order, now_ms)
        if refusal is not None:
            return refusal
        self._next_id += 1
        venue_id = f"paper-{self._next_id:08d}"
        if self._latency_ms > 0:
            paper = _PaperOrder(order, venue_id, now_ms, now_ms + self._latency_ms,
                                OrderStatus.SUBMITTED)
            self._orders[venue_id] = paper
            self._track(paper)
            return SubmitResult(SubmitOutcome.ACCEPTED, venue_order_id=venue_id,
                                latency_ms=float(self._latency_ms))
        book = self._books.snapshot(order.token_id)
        marketable = book is not None and _crosses(order, book)
        if not marketable and order.order_type in (OrderType.FOK, OrderType.FAK):
            return SubmitResult(
                SubmitOutcome.REJECTED, venue_order_id=venue_id,
                reason=RejectReason.NO_LIQUIDITY,
                message=f"{order.order_type.value} order does not cross the book",
            )
        if marketable and order.post_only:  # the venue refuses it; never a taker
            return SubmitResult(
                SubmitOutcome.REJECTED, venue_order_id=venue_id,
                reason=RejectReason.VENUE_REJECTED,
                message=f"invalid post-only order: {CROSSES_BOOK}",
            )
        paper = _PaperOrder(order, venue_id, now_ms, 0, OrderStatus.LIVE)
        self._orders[venue_id] = paper
        if not marketable:
            self._track(paper)
            return SubmitResult(SubmitOutcome.LIVE, venue_order_id=venue_id)
        if self._delay_ms > 0:
            paper.due_ms = now_ms + self._delay_ms
            paper.status = OrderStatus.DELAYED
            self._track(paper)
            return SubmitResult(SubmitOutcome.DELAYED, venue_order_id=venue_id)
        fills, update = self._match_taker(paper, now_ms)
        self._track(paper)
        if paper.status is OrderStatus.FILLED:
            return SubmitResult(SubmitOutcome.MATCHED, venue_order_id=venue_id, fills=fills)
        if paper.status.is_open:
            return SubmitResult(SubmitOutcome.LIVE, venue_order_id=venue_id, fills=fills)
        if update is not None:
            self.emit(update)
        return SubmitResult(SubmitOutcome.ACCEPTED, venue_order_id=venue_id, fills=fills)

    async def cancel(self, venue_order_id: str) -> CancelResult:
        """Cancel one open order."""
        paper = self._orders.get(venue_order_id)
        if paper is None or not paper.status.is_open:
            why = "unknown order" if paper is None else f"order is {paper.status.value}"
            return CancelResult(not_cancelled=((venue_order_id, why),), ok=False, message=why)
        paper.status = OrderStatus.CANCELLED
        self._refresh_watch()
        return CancelResult(cancelled=(venue_order_id,))

    async def cancel_all(self) -> CancelResult:
        """Cancel every open order."""
        ids = []
        for paper in self._orders.values():
            if paper.status.is_open:
                paper.status = OrderStatus.CANCELLED
                ids.append(paper.venue_order_id)
        self._refresh_watch()
        return CancelResult(cancelled=tuple(ids))

    # --- queries ------------------------------------------------------------------------------

    async def open_orders(self) -> VenueOrders:
        orders = tuple(_view(p) for p in self._orders.values() if p.status.is_open)
        return VenueOrders(orders=orders, fetched_ms=self._clock.wall_ms())

    async def trades(self, since_ms: int) -> VenueTrades:
        fills = tuple(f for f in self._fills if f.t_ms >= since_ms)
        return VenueTrades(fills=fills, fetched_ms=self._clock.wall_ms())

    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        paper = self._orders.get(venue_order_id)
        return None if paper is None else _view(paper)

    # --- time ---------------------------------------------------------------------------------

    async def tick(self, now_ms: int) -> None:
        """Deliver in-flight orders that arrived, match delayed orders that are due, then
        resting orders the book now crosses (open orders only, in creation order)."""
        for paper in list(self._open.values()):
            expiry_s = paper.request.expiration_s
            if (paper.request.order_type is OrderType.GTD and expiry_s > 0
                    and expiry_s * 1000 <= now_ms and paper.status.is_open):
                paper.status = OrderStatus.EXPIRED  # GTD: gone at its expiry, matched or not
                self.emit(VenueOrderUpdate(paper.venue_order_id, OrderStatus.EXPIRED,
                                           paper.matched, now_ms, reason="GTD order expired"))
                continue
            if paper.status is OrderStatus.SUBMITTED and paper.due_ms <= now_ms:
                self._arrive(paper, now_ms)
            elif paper.status is OrderStatus.DELAYED and paper.due_ms <= now_ms:
                self._release_delayed(paper, now_ms)
            elif paper.status.is_open and paper.status not in (OrderStatus.DELAYED,
                                                               OrderStatus.SUBMITTED):
                for fill in self._match_maker(paper, now_ms):
                    self.emit(fill)
        self._refresh_watch()

    def watched_tokens(self) -> frozenset[str]:
        """Tokens of the orders resting on the paper book: a change of their book may fill
        them, so the engine ticks this executor soon after their shm seq moves."""
        return self._resting_tokens

    def next_due_ms(self) -> int | None:
        """When the earliest in-flight (``paper_latency_ms``) or delayed (matching delay)
        order is due (epoch ms), or None."""
        return self._next_due_ms

    def _track(self, paper: _PaperOrder) -> None:
        """Remember a new order if it is open and refresh what the engine must watch."""
        if paper.status.is_open:
            self._open[paper.venue_order_id] = paper
            self._refresh_watch()

    def _refresh_watch(self) -> None:
        """Drop orders that closed; recompute the resting tokens and the next due time."""
        self._open = {k: p for k, p in self._open.items() if p.status.is_open}
        waiting = (OrderStatus.DELAYED, OrderStatus.SUBMITTED)
        self._resting_tokens = frozenset(p.request.token_id for p in self._open.values()
                                         if p.status not in waiting)
        self._next_due_ms = min((p.due_ms for p in self._open.values()
                                 if p.status in waiting), default=None)

    def healthy(self) -> bool:
        return not self._closed

    def _arrive(self, paper: _PaperOrder, now_ms: int) -> None:
        """An in-flight order reaches the book (``paper_latency_ms`` after its submit)."""
        request = paper.request
        book = self._books.snapshot(request.token_id)
        if request.post_only and book is not None and _crosses(request, book):
            paper.status = OrderStatus.REJECTED  # as at submit: refused, never a taker
            self.emit(VenueOrderUpdate(paper.venue_order_id, OrderStatus.REJECTED, 0.0, now_ms,
                                       reason=f"invalid post-only order: {CROSSES_BOOK}"))
            return
        if book is None or not _crosses(request, book):
            if request.order_type in (OrderType.FOK, OrderType.FAK):
                paper.status = OrderStatus.CANCELLED
                self.emit(VenueOrderUpdate(
                    paper.venue_order_id, OrderStatus.CANCELLED, 0.0, now_ms,
                    reason=f"{request.order_type.value} order does not cross the book",
                ))
                return
            paper.status, paper.due_ms = OrderStatus.LIVE, 0
            self.emit(VenueOrderUpdate(paper.venue_order_id, OrderStatus.LIVE, 0.0, now_ms))
            return
        if self._delay_ms > 0:  # the matching delay counts from the arrival at the venue
            paper.status, paper.due_ms = OrderStatus.DELAYED, paper.due_ms + self._delay_ms
            self.emit(VenueOrderUpdate(paper.venue_order_id, OrderStatus.DELAYED, 0.0, now_ms))
            return
        fills, update = self._match_taker(paper, now_ms)
        for fill in fills:
            self.emit(fill)
        if update is not None:
            self.emit(update)
        elif paper.status is OrderStatus.LIVE and not fills:
            self.emit(VenueOrderUpdate(paper.venue_order_id, OrderStatus.LIVE, 0.0, now_ms))

    async def close(self) -> None:
        self._closed = True

    # --- matching -----------------------------------------------------------------------------

    def _release_delayed(self, paper: _PaperOrder, now_ms: int) -> None:
        """A delayed order's delay is over: match it now; report its fills, and that it rests
        on the book if nothing matched."""
        fills, update = self._match_taker(paper, now_ms)
        for fill in fills:
            self.emit(fill)
        if update is not None:
            self.emit(update)
        elif paper.status is OrderStatus.LIVE and not fills:
            self.emit(VenueOrderUpdate(paper.venue_order_id, OrderStatus.LIVE, 0.0, now_ms))

    def _match_taker(
        self, paper: _PaperOrder, now_ms: int
    ) -> tuple[tuple[VenueFill, ...], VenueOrderUpdate | None]:
        request = paper.request
        book = self._books.snapshot(request.token_id)
        levels = self._available(request, book) if book is not None else []
        short = sum(size for _, size in levels) + _EPSILON < paper.remaining
        if request.order_type is OrderType.FOK and short:
            paper.status = OrderStatus.CANCELLED
            return (), VenueOrderUpdate(
                paper.venue_order_id, OrderStatus.CANCELLED, paper.matched, now_ms,
                reason="FOK order could not be filled in full",
            )
        fills = self._take(paper, book, levels, now_ms, is_maker=False)
        if paper.remaining <= _EPSILON:
            paper.status = OrderStatus.FILLED
            return fills, None
        if request.order_type is OrderType.FAK:
            paper.status = OrderStatus.CANCELLED
            return fills, VenueOrderUpdate(
                paper.venue_order_id, OrderStatus.CANCELLED, paper.matched, now_ms,
                reason="FAK remainder cancelled",
            )
        paper.due_ms = 0
        paper.status = OrderStatus.PARTIALLY_FILLED if paper.matched > 0 else OrderStatus.LIVE
        return fills, None

    def _match_maker(self, paper: _PaperOrder, now_ms: int) -> tuple[VenueFill, ...]:
        book = self._books.snapshot(paper.request.token_id)
        if book is None or not _crosses(paper.request, book):
            return ()
        levels = self._available(paper.request, book)
        fills = self._take(paper, book, levels, now_ms, is_maker=True)
        if paper.remaining <= _EPSILON:
            paper.status = OrderStatus.FILLED
        elif paper.matched > 0:
            paper.status = OrderStatus.PARTIALLY_FILLED
        return fills

    def _available(self, request: OrderRequest, book: BookSnapshot) -> list[tuple[float, float]]:
        consumed = self._consumed.get(request.token_id)
        if consumed is None or consumed.seq != book.seq:
            consumed = self._consumed[request.token_id] = _Consumed(book.seq)
        if request.side is Side.BUY:
            levels = [(p, s) for p, s in book.asks if p <= request.price + _EPSILON]
        else:
            levels = [(p, s) for p, s in book.bids if p >= request.price - _EPSILON]
        available = []
        for price, size in levels:
            left = size - consumed.by_price.get(price, 0.0)
            if left > _EPSILON:
                available.append((price, left))
        return available

    def _take(
        self,
        paper: _PaperOrder,
        book: BookSnapshot | None,
        levels: list[tuple[float, float]],
        now_ms: int,
        *,
        is_maker: bool,
    ) -> tuple[VenueFill, ...]:
        request = paper.request
        fills: list[VenueFill] = []
        consumed = self._consumed.get(request.token_id)
        for level_price, level_size in levels:
            if paper.remaining <= _EPSILON:
                break
            size = round(min(level_size, paper.remaining), 6)
            if size <= 0.0:
                break
            price = request.price if is_maker else level_price
            if consumed is not None and book is not None:
                consumed.by_price[level_price] = consumed.by_price.get(level_price, 0.0) + size
            paper.matched += size
            rate = self._fee_rate[request.token_id]
            # a maker pays nothing and is paid the rebate: a negative fee (VenueFill.fee_usdc)
            fee = (-maker_rebate_usdc(size, price, rate) if is_maker
                   else fill_fee_usdc(size, price, rate, is_maker=False))
            fill = VenueFill(
                fill_id=f"{paper.venue_order_id}-f{len(self._fills) + 1:06d}",
                venue_order_id=paper.venue_order_id,
                token_id=request.token_id,
                side=request.side,
                price=price,
                size=size,
                fee_usdc=fee,
                is_maker=is_maker,
                t_ms=now_ms,
                market_id=request.market_id,
            )
            self._fills.append(fill)
            fills.append(fill)
        return tuple(fills)


def _order_rules(order: OrderRequest, now_ms: int) -> SubmitResult | None:
    """The venue's refusals of the order itself (the simulator's and CLOB's wording)."""
    if order.post_only and order.order_type in (OrderType.FOK, OrderType.FAK):
        return SubmitResult(SubmitOutcome.REJECTED, reason=RejectReason.VENUE_REJECTED,
                            message="invalid post-only order: only GTC and GTD may be post-only")
    if order.order_type is OrderType.GTD and order.expiration_s * 1000 <= now_ms:
        return SubmitResult(SubmitOutcome.REJECTED, reason=RejectReason.VENUE_REJECTED,
                            message="invalid expiration: a GTD order needs a future expiry")
    return None


def _crosses(order: OrderRequest, book: BookSnapshot) -> bool:
    if order.side is Side.BUY:
        return book.best_ask is not None and book.best_ask <= order.price + _EPSILON
    return book.best_bid is not None and book.best_bid >= order.price - _EPSILON


def _view(paper: _PaperOrder) -> VenueOrder:
    request = paper.request
    return VenueOrder(
        venue_order_id=paper.venue_order_id,
        token_id=request.token_id,
        market_id=request.market_id,
        side=request.side,
        price=request.price,
        original_size=request.size,
        size_matched=paper.matched,
        status=paper.status,
        created_ms=paper.created_ms,
    )
