"""Reconciliation: compare our orders, fills and positions with the venue's, and plan fixes.

:func:`reconcile` is a pure core: it takes our view (orders, positions, the fill ids already
applied) and a complete :class:`VenueSnapshot`, and returns a :class:`ReconcilePlan`:

* venue orders we do not know, on our markets → ``adopt_orders`` (on other tokens →
  ``foreign_orders``, which the engine should cancel: we never trade them);
* venue fills we have not applied → ``adopt_fills`` (the order manager dedupes by fill id);
* our open orders the venue no longer lists → ``order_corrections``: the venue's status when
  ``GET /data/order`` knows the order; otherwise FILLED when the venue's fills cover its size,
  else CANCELLED (REJECTED for a submit whose outcome we never learnt and that left no trace);
  until that lookup has been made the order is listed in ``pending_lookups``;
* an outcome-token balance that differs from ours (after the adopted fills) by more than the
  dust → ``position_corrections`` (rebuild from the venue) and a ``halts`` entry for that
  market (SPEC §14 "position mismatch": halt, rebuild, alert critical).

The venue is authoritative, so its answer must be complete: the async runner
(:func:`reconcile_with_venue`) raises :class:`IncompleteReconciliation` when a listing failed
part-way or a query failed, never treating a partial answer as "no orders" or "flat"; the
engine refuses to start (or keeps the last state and retries) until a complete answer arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from engine.alerting import position_mismatch_alert
from engine.executors.base import (
    CancelResult,
    ExecutorEvent,
    IncompleteVenueAnswer,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueOrderUpdate,
    VenueTrades,
    VenueUnavailable,
)
from polyloly import metrics
from polyloly.domain import OrderStatus, Side
from polyloly.logs import get_logger
from polyloly.messages import RiskState

if TYPE_CHECKING:  # engine.core imports this module
    from engine.core import EngineCore

DUST_SHARES: Final = 0.01
"""Differences below one venue lot (0.01 share) are not mismatches."""

_log = get_logger("reconciler")


class IncompleteReconciliation(Exception):
    """The venue's answer was incomplete or failed; nothing may be concluded from it."""


@dataclass(frozen=True, slots=True)
class LocalOrder:
    """One of our orders as the order manager holds it (sizes in shares)."""

    venue_order_id: str
    market_id: str
    token_id: str
    side: Side
    price: float
    size: float
    filled_size: float
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class VenueSnapshot:
    """A complete venue answer. ``positions`` (token → shares) is None when the executor has
    no balance query; ``lookups`` holds ``order_status`` answers for our open orders that
    ``open_orders`` did not list (None: the venue does not list that id)."""

    open_orders: VenueOrders
    trades: VenueTrades
    positions: Mapping[str, float] | None = None
    lookups: Mapping[str, VenueOrder | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrderCorrection:
    venue_order_id: str
    status: OrderStatus
    size_matched: float
    reason: str


@dataclass(frozen=True, slots=True)
class PositionCorrection:
    """Set the position in ``token_id`` to ``venue_shares`` (ours was ``local_shares``)."""

    market_id: str
    token_id: str
    local_shares: float
    venue_shares: float


@dataclass(frozen=True, slots=True)
class MarketHalt:
    market_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    """What to change so our state equals the venue's; empty when they already agree."""

    adopt_orders: tuple[VenueOrder, ...] = ()
    adopt_fills: tuple[VenueFill, ...] = ()
    order_corrections: tuple[OrderCorrection, ...] = ()
    position_corrections: tuple[PositionCorrection, ...] = ()
    halts: tuple[MarketHalt, ...] = ()
    foreign_orders: tuple[VenueOrder, ...] = ()
    foreign_fills: tuple[VenueFill, ...] = ()
    pending_lookups: tuple[str, ...] = ()

    @property
    def consistent(self) -> bool:
        """True when nothing needs changing."""
        return not (
            self.adopt_orders
            or self.adopt_fills
            or self.order_corrections
            or self.position_corrections
            or self.halts
            or self.foreign_orders
            or self.foreign_fills
            or self.pending_lookups
        )


def _signed_shares(fill: VenueFill) -> float:
    return fill.size if fill.side is Side.BUY else -fill.size


def reconcile(
    local_orders: Iterable[LocalOrder],
    local_positions: Mapping[str, float],
    applied_fill_ids: Container[str],
    snapshot: VenueSnapshot,
    market_of_token: Mapping[str, str],
    dust: float = DUST_SHARES,
) -> ReconcilePlan:
    """Compare our state with a complete venue snapshot; return the plan (pure)."""
    venue_open = {o.venue_order_id: o for o in snapshot.open_orders.orders}
    ours = {o.venue_order_id: o for o in local_orders}
    fills_by_order: dict[str, float] = {}
    adopt_fills: list[VenueFill] = []
    foreign_fills: list[VenueFill] = []
    for fill in snapshot.trades.fills:
        fills_by_order[fill.venue_order_id] = fills_by_order.get(fill.venue_order_id, 0) + fill.size
        if fill.fill_id in applied_fill_ids:
            continue
        (adopt_fills if fill.token_id in market_of_token else foreign_fills).append(fill)

    adopt_orders: list[VenueOrder] = []
    foreign_orders: list[VenueOrder] = []
    corrections: list[OrderCorrection] = []
    for order_id, venue_order in venue_open.items():
        local = ours.get(order_id)
        if local is None:
            target = adopt_orders if venue_order.token_id in market_of_token else foreign_orders
            target.append(venue_order)
        elif local.status is not venue_order.status or (
            venue_order.size_matched > local.filled_size + dust
        ):
            corrections.append(
                OrderCorrection(
                    order_id, venue_order.status, venue_order.size_matched, "venue lists it so"
                )
            )

    pending: list[str] = []
    for order_id, local in ours.items():
        if not local.status.is_open or order_id in venue_open:
            continue
        if order_id not in snapshot.lookups:
            pending.append(order_id)
            continue
        looked_up = snapshot.lookups[order_id]
        if looked_up is not None and looked_up.status.is_open:
            corrections.append(
                OrderCorrection(
                    order_id, looked_up.status, looked_up.size_matched, "venue order lookup"
                )
            )
            continue
        matched = max(
            fills_by_order.get(order_id, 0.0),
            local.filled_size,
            looked_up.size_matched if looked_up is not None else 0.0,
        )
        if looked_up is not None and looked_up.status.is_terminal:
            status = looked_up.status
        elif matched >= local.size - dust:
            status = OrderStatus.FILLED
        elif matched <= 0 and local.status is OrderStatus.UNKNOWN:
            status = OrderStatus.REJECTED
        else:
            status = OrderStatus.CANCELLED
        corrections.append(
            OrderCorrection(order_id, status, matched, "no longer open at the venue")
        )

    position_corrections: list[PositionCorrection] = []
    halts: dict[str, MarketHalt] = {}
    if snapshot.positions is not None:
        expected = dict(local_positions)
        for fill in adopt_fills:
            expected[fill.token_id] = expected.get(fill.token_id, 0.0) + _signed_shares(fill)
        tokens = sorted(set(expected) | set(snapshot.positions))
        for token in tokens:
            market_id = market_of_token.get(token)
            if market_id is None or token not in snapshot.positions:
                continue
            ours_now = expected.get(token, 0.0)
            venue_shares = snapshot.positions[token]
            if abs(ours_now - venue_shares) <= dust:
                continue
            position_corrections.append(
                PositionCorrection(market_id, token, local_positions.get(token, 0.0), venue_shares)
            )
            halts.setdefault(
                market_id,
                MarketHalt(
                    market_id,
                    f"position mismatch on token {token}: ours {ours_now:.4f} "
                    f"(after adopted fills), venue {venue_shares:.4f}",
                ),
            )

    return ReconcilePlan(
        adopt_orders=tuple(adopt_orders),
        adopt_fills=tuple(adopt_fills),
        order_corrections=tuple(corrections),
        position_corrections=tuple(position_corrections),
        halts=tuple(halts.values()),
        foreign_orders=tuple(foreign_orders),
        foreign_fills=tuple(foreign_fills),
        pending_lookups=tuple(pending),
    )


# --- the thin async runner ----------------------------------------------------------------------


class VenueQueries(Protocol):
    """What the runner needs from an executor (:class:`~engine.executors.base.Executor`)."""

    async def open_orders(self) -> VenueOrders: ...

    async def trades(self, since_ms: int) -> VenueTrades: ...

    async def order_status(self, venue_order_id: str) -> VenueOrder | None: ...


BalanceQuery = Callable[[Sequence[str]], Awaitable[Mapping[str, float]]]
"""Fetch outcome-token balances (token → shares) for the given tokens."""


async def fetch_snapshot(
    venue: VenueQueries,
    local_orders: Sequence[LocalOrder],
    since_ms: int,
    token_ids: Sequence[str],
    balances: BalanceQuery | None = None,
) -> VenueSnapshot:
    """Fetch a complete snapshot; raise :class:`IncompleteReconciliation` otherwise."""
    try:
        open_orders = await venue.open_orders()
        trades = await venue.trades(since_ms)
        positions = await balances(token_ids) if balances is not None else None
        listed = {o.venue_order_id for o in open_orders.orders}
        lookups: dict[str, VenueOrder | None] = {}
        for order in local_orders:
            if order.status.is_open and order.venue_order_id not in listed:
                lookups[order.venue_order_id] = await venue.order_status(order.venue_order_id)
    except (IncompleteVenueAnswer, VenueUnavailable, TimeoutError) as exc:
        raise IncompleteReconciliation(f"{type(exc).__name__}: {exc}") from None
    return VenueSnapshot(open_orders, trades, positions, lookups)


async def reconcile_with_venue(
    venue: VenueQueries,
    local_orders: Sequence[LocalOrder],
    local_positions: Mapping[str, float],
    applied_fill_ids: Container[str],
    market_of_token: Mapping[str, str],
    since_ms: int,
    balances: BalanceQuery | None = None,
) -> ReconcilePlan:
    """Fetch a complete venue snapshot, compute the plan, log it (critical for halts)."""
    snapshot = await fetch_snapshot(
        venue, local_orders, since_ms, sorted(market_of_token), balances
    )
    plan = reconcile(local_orders, local_positions, applied_fill_ids, snapshot, market_of_token)
    adopt = getattr(venue, "adopt", None)
    if callable(adopt):
        for order in plan.adopt_orders:
            adopt(order.venue_order_id)
    log_plan(plan)
    return plan


async def reconcile_until_complete(
    run: Callable[[], Awaitable[ReconcilePlan]],
    attempts: int,
    delay_s: float,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> ReconcilePlan:
    """Call ``run`` until it returns a plan; after ``attempts`` incomplete answers raise the
    last :class:`IncompleteReconciliation` (the engine then refuses to start)."""
    last: IncompleteReconciliation | None = None
    for attempt in range(max(1, attempts)):
        try:
            return await run()
        except IncompleteReconciliation as exc:
            last = exc
            _log.warning(
                "reconcile_incomplete", "venue answer incomplete; not concluding anything",
                attempt=attempt + 1, error=str(exc),
            )
            if attempt + 1 < attempts:
                await sleep(delay_s)
    assert last is not None
    raise last


def log_plan(plan: ReconcilePlan) -> None:
    """Log the plan: critical per halted market, warning for adoptions and corrections."""
    for halt in plan.halts:
        metrics.circuit_breaker_trips.labels(halt.market_id, "position_mismatch").inc()
        _log.critical("position_mismatch", halt.reason, market_id=halt.market_id)
    if plan.consistent:
        _log.info("reconcile_consistent", "our state matches the venue")
        return
    _log.warning(
        "reconcile_plan",
        "state differs from the venue",
        adopt_orders=[o.venue_order_id for o in plan.adopt_orders],
        adopt_fills=[f.fill_id for f in plan.adopt_fills],
        order_corrections=[(c.venue_order_id, c.status.value) for c in plan.order_corrections],
        foreign_orders=[o.venue_order_id for o in plan.foreign_orders],
        pending_lookups=list(plan.pending_lookups),
    )


# --- the runner: the engine's start-up and periodic reconciliation --------------------------

START_ATTEMPTS: Final = 5
START_RETRY_DELAY_S: Final = 2.0
TRADES_LOOKBACK_MS: Final = 86_400_000


class ReconcileVenue(VenueQueries, Protocol):
    """What the runner needs from the executor beyond the queries."""

    async def cancel(self, venue_order_id: str) -> CancelResult: ...

    def drain_events(self) -> list[ExecutorEvent]: ...


class ReconcileEngine(Protocol):
    """What the runner needs from the engine: its view of orders and positions, and the ways
    to act on a plan. :class:`EngineView` adapts an :class:`engine.core.EngineCore`."""

    @property
    def venue(self) -> ReconcileVenue: ...

    def wall_ms(self) -> int: ...

    def market_of_token(self) -> Mapping[str, str]: ...

    def local_orders(self) -> list[LocalOrder]:
        """Our open orders that have a venue id."""
        ...

    def positions(self) -> dict[str, float]:
        """Our holdings, token → shares."""
        ...

    def has_fill(self, fill_id: str) -> bool: ...

    def is_settled(self, market_id: str) -> bool:
        """Whether the market resolved and we booked its payout."""
        ...

    def balances(self) -> BalanceQuery | None:
        """The venue's balance query (None when the executor has none, e.g. paper)."""
        ...

    def adopt(self, venue_order_id: str) -> None:
        """Let the executor track a venue order we did not know (its fills reach us)."""
        ...

    def adopt_order(self, order: VenueOrder) -> None:
        """Make a venue order we did not know one of ours (a fresh state adopts the venue's
        open orders: tracked, counted in exposure, cancellable, its fills booked)."""
        ...

    def apply_event(self, event: ExecutorEvent) -> None:
        """Apply a fill or an order correction through the order manager."""
        ...

    def correct_position(self, market_id: str, token_id: str, venue_shares: float,
                         reason: str) -> None: ...

    def halt_market(self, market_id: str, reason: str) -> bool:
        """Halt the market (publish RiskState, alert); False when it was already halted."""
        ...


class Reconciler:
    """Runs reconciliations of one engine: at start (retried until complete) and periodically
    (single attempts, position mismatches acted on only when two in a row agree)."""

    def __init__(self, engine: ReconcileEngine) -> None:
        self._engine = engine
        # tokens whose last periodic reconciliation found a mismatch not yet acted on
        self._suspects: dict[str, float] = {}

    @property
    def suspects(self) -> Mapping[str, float]:
        """Token → venue shares of position mismatches awaiting confirmation."""
        return self._suspects

    async def on_start(
        self, attempts: int = START_ATTEMPTS, delay_s: float = START_RETRY_DELAY_S,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep, *, adopt: bool = False,
    ) -> ReconcilePlan:
        """Reconcile before intake opens (``engine.main`` calls this). Retries incomplete
        answers, then raises :class:`IncompleteReconciliation` (the engine refuses to start).
        Applies the plan: adopted fills and order corrections go through the order manager;
        markets with a position mismatch or unknown venue orders are halted; foreign orders
        are cancelled. ``adopt`` (a fresh state, ``--new-state``): the venue's open orders on
        our markets become ours and its positions are taken as they are, without halting —
        nothing of ours can disagree with them yet."""
        engine = self._engine
        local = engine.local_orders()
        positions = engine.positions()
        market_of_token = engine.market_of_token()
        since_ms = engine.wall_ms() - TRADES_LOOKBACK_MS

        async def run() -> ReconcilePlan:
            return await reconcile_with_venue(
                engine.venue, local, positions, _AppliedFills(engine.has_fill),
                market_of_token, since_ms, self._balances(),
            )

        plan = await reconcile_until_complete(run, attempts, delay_s, sleep)
        await self.apply(plan, adopt=adopt)
        return plan

    async def periodically(self) -> ReconcilePlan | None:
        """One periodic reconciliation of a running engine (every
        ``execution.reconcile_interval_s`` in live mode; the core pauses submits around it).
        An incomplete venue answer concludes nothing and returns None. Our positions and
        orders are read *after* the venue answered, so fills applied meanwhile are not taken
        for a mismatch. A position mismatch seen twice with the same venue figure halts the
        market and sets the position to the venue's."""
        engine = self._engine
        market_of_token = engine.market_of_token()
        since_ms = engine.wall_ms() - TRADES_LOOKBACK_MS
        try:
            snapshot = await fetch_snapshot(engine.venue, engine.local_orders(), since_ms,
                                            sorted(market_of_token), self._balances())
        except IncompleteReconciliation as exc:
            metrics.bad_input.labels(component="engine", reason="reconcile_incomplete").inc()
            _log.warning("reconcile_incomplete", "periodic reconciliation skipped",
                         error=str(exc))
            return None
        for event in engine.venue.drain_events():
            engine.apply_event(event)
        plan = reconcile(engine.local_orders(), engine.positions(),
                         _AppliedFills(engine.has_fill), snapshot, market_of_token)
        plan, self._suspects = confirm_position_mismatches(plan, self._suspects)
        if self._suspects:
            _log.warning("position_mismatch_suspected", "acting if the next reconciliation "
                         "agrees", tokens=sorted(self._suspects))
        for order in plan.adopt_orders:
            engine.adopt(order.venue_order_id)
        log_plan(plan)
        await self.apply(plan)
        return plan

    async def apply(self, plan: ReconcilePlan, *, adopt: bool = False) -> None:
        """Apply a plan: fills and order corrections, position corrections, halts (adopted
        unknown orders halt their market for review), cancels of foreign orders. ``adopt``:
        unknown venue orders become ours first (so their fills book) and nothing halts."""
        engine = self._engine
        now_ms = engine.wall_ms()
        if adopt:
            for order in plan.adopt_orders:
                engine.adopt_order(order)
                _log.warning("venue_order_adopted", "fresh state: venue order made ours",
                             venue_order_id=order.venue_order_id, market_id=order.market_id)
        for fill in plan.adopt_fills:
            engine.apply_event(fill)
        for correction in plan.order_corrections:
            engine.apply_event(VenueOrderUpdate(
                correction.venue_order_id, correction.status, correction.size_matched, now_ms,
                correction.reason,
            ))
        for position in plan.position_corrections:
            engine.correct_position(
                position.market_id, position.token_id, position.venue_shares,
                f"reconciliation: ours {position.local_shares:.4f}, venue "
                f"{position.venue_shares:.4f}")
        halts = {} if adopt else {h.market_id: h.reason for h in plan.halts}
        for order in () if adopt else plan.adopt_orders:
            halts.setdefault(
                order.market_id, f"unknown venue order {order.venue_order_id} adopted: review"
            )
        for market_id, reason in halts.items():
            if engine.halt_market(market_id, reason):
                _log.critical("market_halted", reason, market_id=market_id)
        for order in plan.foreign_orders:
            result = await engine.venue.cancel(order.venue_order_id)
            _log.warning("foreign_order_cancelled", "cancelled an order outside our markets",
                         venue_order_id=order.venue_order_id, ok=result.ok)

    def _balances(self) -> BalanceQuery | None:
        """The venue's balance query without the tokens of settled markets (we book their
        payout at resolution; the venue keeps the tokens until they are redeemed)."""
        balances = self._engine.balances()
        if balances is None:
            return None
        engine = self._engine
        market_of_token = engine.market_of_token()

        async def query(token_ids: Sequence[str]) -> Mapping[str, float]:
            answer = await balances(token_ids)
            return {t: s for t, s in answer.items()
                    if t not in market_of_token or not engine.is_settled(market_of_token[t])}

        return query


class _AppliedFills:
    def __init__(self, has_fill: Callable[[str], bool]) -> None:
        self._has_fill = has_fill

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and self._has_fill(item)


def confirm_position_mismatches(
    plan: ReconcilePlan, suspects: Mapping[str, float], dust: float = DUST_SHARES
) -> tuple[ReconcilePlan, dict[str, float]]:
    """Keep only position corrections seen twice in a row with the same venue shares.

    A running engine's view and the venue's balances can disagree for a moment without being
    wrong: the venue resolved a market before our ``MarketResolved`` arrived, or (on the real
    venue) balances lag matched trades not yet mined. A periodic reconciliation therefore acts
    on a position mismatch only when the previous one saw the same venue figure for that token
    (``suspects``, token → venue shares); a new one becomes a suspect. Returns the plan to
    apply and the suspects for the next round. Halts for deferred markets are dropped too.
    """
    confirmed: list[PositionCorrection] = []
    deferred: dict[str, float] = {}
    for correction in plan.position_corrections:
        seen = suspects.get(correction.token_id)
        if seen is not None and abs(seen - correction.venue_shares) <= dust:
            confirmed.append(correction)
        else:
            deferred[correction.token_id] = correction.venue_shares
    confirmed_markets = {c.market_id for c in confirmed}
    deferred_markets = {c.market_id for c in plan.position_corrections} - confirmed_markets
    halts = tuple(h for h in plan.halts if h.market_id not in deferred_markets)
    return replace(plan, position_corrections=tuple(confirmed), halts=halts), deferred


class EngineView:
    """:class:`ReconcileEngine` over an :class:`engine.core.EngineCore` (its order manager,
    ledger, persistence, risk layers and executor)."""

    def __init__(self, core: EngineCore) -> None:
        self._core = core

    @property
    def venue(self) -> ReconcileVenue:
        return self._core.executor

    def wall_ms(self) -> int:
        return self._core.clock.wall_ms()

    def market_of_token(self) -> Mapping[str, str]:
        return {token: market.market_id
                for market in self._core.config.markets for token in market.token_ids}

    def local_orders(self) -> list[LocalOrder]:
        return [
            LocalOrder(r.venue_order_id, r.market_id, r.token_id, r.side, r.price, r.size,
                       r.filled_size, r.status)
            for r in self._core.orders.open_orders() if r.venue_order_id
        ]

    def positions(self) -> dict[str, float]:
        return {p.token_id: p.shares for p in self._core.ledger.positions()}

    def has_fill(self, fill_id: str) -> bool:
        return self._core.store.has_fill(fill_id)

    def is_settled(self, market_id: str) -> bool:
        return self._core.ledger.is_settled(market_id)

    def balances(self) -> BalanceQuery | None:
        # only the real executor can ask the venue for balances
        executor = self._core.executor
        return executor.positions if isinstance(executor, BalanceSource) else None

    def adopt(self, venue_order_id: str) -> None:
        executor = self._core.executor
        if isinstance(executor, AdoptingVenue):  # the real executor tracks adopted orders
            executor.adopt(venue_order_id)

    def adopt_order(self, order: VenueOrder) -> None:
        self._core.adopt_venue_order(order)
        self.adopt(order.venue_order_id)

    def apply_event(self, event: ExecutorEvent) -> None:
        self._core.apply_venue_event(event)  # a forbidden report is refused, not raised

    def correct_position(self, market_id: str, token_id: str, venue_shares: float,
                         reason: str) -> None:
        self._core.correct_position(market_id, token_id, venue_shares, reason)

    def halt_market(self, market_id: str, reason: str) -> bool:
        core = self._core
        if core.risk.breakers.halt(market_id, "reconcile_mismatch", core.clock.wall_ms()) is None:
            return False
        core.orders.outbox.append(RiskState(
            halted=True, kill_switch=core.kill_switch.engaged, reason=reason,
            t_ns=core.clock.monotonic_ns(), market_id=market_id,
        ))
        core.alert(position_mismatch_alert(market_id, reason))  # SPEC §14: critical
        return True


@runtime_checkable
class BalanceSource(Protocol):
    """An executor that can read the venue's token balances (the real one)."""

    async def positions(self, token_ids: Sequence[str]) -> dict[str, float]: ...


@runtime_checkable
class AdoptingVenue(Protocol):
    """An executor that can track a venue order it did not place (the real one)."""

    def adopt(self, venue_order_id: str) -> None: ...
