"""The executor interface: what the order manager needs from a venue (SPEC §8).

Two executors implement it: ``engine.executors.paper.PaperExecutor`` (default; deterministic
fills against the shm books) and ``engine.executors.polymarket.executor.RealExecutor``
(py-clob-client-v2).
The order manager never talks to a venue any other way.

Contract, in short (specs/07_EXECUTION_SPEC.md has the long form):

* :meth:`Executor.submit` sends one order and says what became of it. ``REJECTED`` with
  ``retryable=True`` means the venue certainly did *not* take the order (HTTP 429, 5xx
  before acceptance, connection refused): the order manager may resend it after a backoff.
  ``REJECTED`` with ``retryable=False`` is a clear refusal: never resent. ``UNKNOWN`` means
  the outcome is not known (timeout after sending): the order is tracked through
  :meth:`Executor.order_status` / :meth:`Executor.open_orders` / :meth:`Executor.trades`
  until the venue says, and is never blindly resent. An executor that can compute the venue
  order id before sending (the signed order's hash) puts it in ``venue_order_id`` even for
  ``UNKNOWN``.
* Fills and order changes that happen after ``submit`` returns are reported as
  :data:`ExecutorEvent` values through :meth:`Executor.drain_events` (non-blocking) or
  :meth:`Executor.wait_events` (async). Every fill has a ``fill_id`` unique per venue fill;
  the order manager ignores a ``fill_id`` it has already applied, so an executor may report
  the same fill twice (user channel and REST polling) without harm.
* :meth:`Executor.open_orders` raises :class:`IncompleteVenueAnswer` rather than return a
  partial list (a partial list would make the reconciler cancel or forget live orders).
* :meth:`Executor.on_user_update` receives the gateway's user-channel messages (engine PULL
  socket); the real executor turns them into events, the paper executor ignores them.
* :meth:`Executor.tick` is called by the engine at least every ``execution.tick_interval_ms``
  and after every book change with the current wall-clock time: the paper executor matches
  delayed and resting orders there; the real executor may poll.

Units: prices are USDC per share in (0, 1); sizes are shares; fees are USDC; ``*_ms`` are
wall-clock milliseconds since the epoch.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from polyloly.domain import OrderStatus, OrderType, RejectReason, Side
from polyloly.messages import UserOrderUpdate, UserTradeUpdate
from polyloly.venue_rules import POST_ONLY_CROSSES


class IncompleteVenueAnswer(Exception):
    """The venue answered only part of a listing (pagination failed, timeout mid-way)."""


class VenueUnavailable(Exception):
    """The venue could not be reached or refused to answer a query (not an order refusal)."""


class SubmitOutcome(StrEnum):
    """What the venue said to one submitted order."""

    ACCEPTED = "ACCEPTED"  # taken; status not yet known beyond that
    DELAYED = "DELAYED"  # taken into the sports matching delay
    LIVE = "LIVE"  # resting on the book (maybe after partial immediate fills)
    MATCHED = "MATCHED"  # fully matched at once
    REJECTED = "REJECTED"  # refused (see reason, retryable)
    UNKNOWN = "UNKNOWN"  # no answer (timeout): track, never resend blindly


CROSSES_BOOK: Final = POST_ONLY_CROSSES  # the venue's post-only refusal (simulator and CLOB)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order as the executor must send it. ``price`` is on ``tick_size``; ``size`` shares.

    ``client_order_id`` is the order manager's id (stable across retries of the same order);
    ``expiration_s`` is the GTD expiry in epoch seconds (0: none); ``post_only`` orders are
    refused with :data:`CROSSES_BOOK` in the message when they would match on arrival.
    """

    client_order_id: str
    token_id: str
    market_id: str
    side: Side
    price: float
    size: float
    order_type: OrderType
    tick_size: float
    neg_risk: bool = False
    expiration_s: int = 0
    post_only: bool = False  # rest only: a crossing one is refused by the venue (GTC/GTD only)


@dataclass(frozen=True, slots=True)
class VenueFill:
    """One fill of one of our orders. ``fee_usdc`` is what we paid: the taker fee, 0 for a maker
    fill on the real venue (it pays rebates apart), minus the rebate (< 0) for a paper maker
    fill, which is credited at the fill as the simulator does (polyloly/fees.py)."""

    fill_id: str
    venue_order_id: str
    token_id: str
    side: Side
    price: float
    size: float
    fee_usdc: float
    is_maker: bool
    t_ms: int
    market_id: str = ""


@dataclass(frozen=True, slots=True)
class VenueOrderUpdate:
    """A change of one order's state at the venue (not a fill: fills are :class:`VenueFill`).

    ``size_matched`` is the cumulative matched size the venue reports, in shares.
    """

    venue_order_id: str
    status: OrderStatus
    size_matched: float
    t_ms: int
    reason: str = ""


ExecutorEvent = VenueFill | VenueOrderUpdate


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to :meth:`Executor.submit`. ``fills`` are the immediate matches, if any."""

    outcome: SubmitOutcome
    venue_order_id: str | None = None
    fills: tuple[VenueFill, ...] = ()
    reason: RejectReason | None = None
    message: str = ""
    retryable: bool = False
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The answer to a cancel: ids the venue cancelled, and the ones it did not, with why."""

    cancelled: tuple[str, ...] = ()
    not_cancelled: tuple[tuple[str, str], ...] = ()
    ok: bool = True
    message: str = ""


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """One order as the venue lists it."""

    venue_order_id: str
    token_id: str
    market_id: str
    side: Side
    price: float
    original_size: float
    size_matched: float
    status: OrderStatus
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class VenueOrders:
    """All our open orders at the venue at ``fetched_ms`` (complete, or an exception)."""

    orders: tuple[VenueOrder, ...]
    fetched_ms: int


@dataclass(frozen=True, slots=True)
class VenueTrades:
    """Our fills at the venue since some time, oldest first."""

    fills: tuple[VenueFill, ...]
    fetched_ms: int


@dataclass(slots=True)
class _EventQueue:
    items: deque[ExecutorEvent] = field(default_factory=deque)
    signal: asyncio.Event | None = None


class Executor(ABC):
    """Base class of every executor; holds the queue of asynchronous events."""

    name: str = "executor"

    def __init__(self) -> None:
        self._events = _EventQueue()

    # --- orders ---------------------------------------------------------------------------

    @abstractmethod
    async def submit(self, order: OrderRequest) -> SubmitResult:
        """Send one order; never raise for a venue refusal (return ``REJECTED``)."""

    @abstractmethod
    async def cancel(self, venue_order_id: str) -> CancelResult:
        """Cancel one order by venue id."""

    @abstractmethod
    async def cancel_all(self) -> CancelResult:
        """Cancel every open order of ours at the venue."""

    # --- queries (reconciliation) -----------------------------------------------------------

    @abstractmethod
    async def open_orders(self) -> VenueOrders:
        """List all open orders; raise :class:`IncompleteVenueAnswer` rather than a part."""

    @abstractmethod
    async def trades(self, since_ms: int) -> VenueTrades:
        """List our fills since ``since_ms`` (epoch ms); raise ``VenueUnavailable`` on failure."""

    @abstractmethod
    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        """Return one order's venue state, or None when the venue does not know the id."""

    # --- events -----------------------------------------------------------------------------

    def on_user_update(self, update: UserOrderUpdate | UserTradeUpdate) -> None:
        """Receive one user-channel message from the gateway (default: ignore)."""
        return None

    async def tick(self, now_ms: int) -> None:
        """Advance to ``now_ms`` (epoch ms): match what is due, poll what needs polling."""
        return None

    def watched_tokens(self) -> frozenset[str]:
        """Tokens whose book changes :meth:`tick` must see soon (orders this executor matches
        itself against the books); none by default: a real venue matches its own orders."""
        return frozenset()

    def next_due_ms(self) -> int | None:
        """Earliest wall time (epoch ms) at which :meth:`tick` has work whatever the books do
        (an in-flight or delayed order to deliver), or None when nothing is scheduled."""
        return None

    def emit(self, event: ExecutorEvent) -> None:
        """Queue one event for the order manager (for subclasses and their helpers)."""
        self._events.items.append(event)
        if self._events.signal is not None:
            self._events.signal.set()

    def drain_events(self) -> list[ExecutorEvent]:
        """Take every queued event, oldest first, without waiting."""
        items = list(self._events.items)
        self._events.items.clear()
        return items

    async def wait_events(self, timeout_s: float) -> list[ExecutorEvent]:
        """Wait up to ``timeout_s`` seconds for at least one event, then drain the queue."""
        if not self._events.items:
            if self._events.signal is None:
                self._events.signal = asyncio.Event()
            self._events.signal.clear()
            try:
                await asyncio.wait_for(self._events.signal.wait(), timeout_s)
            except TimeoutError:
                return []
        return self.drain_events()

    # --- lifecycle --------------------------------------------------------------------------

    @abstractmethod
    def healthy(self) -> bool:
        """Whether the executor can take orders now (venue reachable, heartbeat fine)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; idempotent."""
