"""The order manager (SPEC §8.1): idempotency, lifecycle, partial fills, retries, cancels.

* An order is stored (with its idempotency key, in one SQLite transaction) *before* it is sent,
  so a duplicated intent never yields a second order, across restarts too.
* ``REJECTED`` + ``retryable`` (429/5xx/connection refused before acceptance) is resent after an
  exponential backoff, up to ``execution.retry.max_attempts`` sends; a clear refusal never is.
* ``UNKNOWN`` (timeout) is kept open and resolved through ``order_status`` / ``open_orders``
  (the shell asks the venue about :meth:`OrderManager.to_resolve`); it is never resent.
* Fills are applied once per ``fill_id`` (stored durably before being reported); a fill for a
  venue order id not yet known (a user-channel fill racing the REST answer) is parked until
  the id is known.

Every change produces an :class:`~polyloly.messages.ExecutionReport` (and a halt produces a
:class:`~polyloly.messages.RiskState`) in :attr:`OrderManager.outbox`, which the caller drains.
Status changes are not written one by one: the changed records collect in
:meth:`OrderManager.take_dirty`, which the core persists through the port (one transaction)
before it sends the reports. Claims and fills are written at once (they gate the ack and the
fill report; fills durably).
"""

from __future__ import annotations

import random

from engine.alerting import AlertFn, market_halt_alert, no_alert, storage_failure_alert
from engine.executors.base import (
    CancelResult,
    ExecutorEvent,
    OrderRequest,
    SubmitOutcome,
    SubmitResult,
    VenueFill,
    VenueOrder,
    VenueOrders,
    VenueOrderUpdate,
    VenueTrades,
)
from engine.order_record import OrderRecord, next_status
from engine.persistence.port import EnginePersistence, PersistenceError
from engine.pnl.ledger import Ledger, LedgerError
from engine.risk.circuit import Halt
from engine.risk.decision import ExposureView
from engine.risk.manager import RiskManager
from polyloly import metrics
from polyloly.clock import Clock
from polyloly.config import Config
from polyloly.domain import FillType, OrderStatus, OrderType, Outcome, Side, Strategy
from polyloly.fsm import InvalidTransition
from polyloly.logs import get_logger
from polyloly.messages import ExecutionReport, Message, OrderIntent, RiskState
from polyloly.resilience import RetryPolicy
from polyloly.venue_rules import POST_ONLY_CROSSES, SHARE_LOT, same_shares

_LOG = get_logger("engine.orders")
_EPSILON = 1e-9

_OUTCOME_STATUS = {
    SubmitOutcome.ACCEPTED: OrderStatus.SUBMITTED,
    SubmitOutcome.DELAYED: OrderStatus.DELAYED,
    SubmitOutcome.LIVE: OrderStatus.LIVE,
    SubmitOutcome.MATCHED: OrderStatus.FILLED,
    SubmitOutcome.REJECTED: OrderStatus.REJECTED,
    SubmitOutcome.UNKNOWN: OrderStatus.UNKNOWN,
}


class OrderManager:
    """Owns every order record. Sans-I/O: it never calls the venue; the shell sends what it
    asks for (:meth:`begin_submit`, :meth:`begin_cancel`, :meth:`to_resolve`) and hands the
    answers back (:meth:`on_submit_result`, :meth:`on_cancel_result`, ...)."""

    def __init__(
        self,
        config: Config,
        store: EnginePersistence,
        ledger: Ledger,
        risk: RiskManager,
        clock: Clock,
        rng: random.Random | None = None,
        alert: AlertFn = no_alert,
    ) -> None:
        """``alert`` receives the SPEC §14 alerts of halted markets (:mod:`engine.alerting`);
        ``rng`` jitters the retry backoff (seeded: replays repeat)."""
        self._config = config
        self._alert = alert
        self._store = store
        self._ledger = ledger
        self._risk = risk
        self._clock = clock
        self._rng = rng or random.Random(0)
        retry = config.execution.retry
        self._retry = RetryPolicy(retry.max_attempts, retry.base_delay_s, retry.max_delay_s,
                                  retry.jitter)
        self._ttl_ms = int(config.execution.idempotency_ttl_s * 1000)
        # an UNKNOWN order the venue still does not know after this is REJECTED (the configured
        # value: a hard-coded 10 s here once disagreed with the 30 s configured)
        self._unknown_grace_ms = int(config.execution.unknown_order_timeout_s * 1000)
        self._markets = {m.market_id: m for m in config.markets}
        self._orders: dict[str, OrderRecord] = {}
        # orders that may still be open, in creation order: a closed status is terminal, so
        # closed ones are pruned as they are met (views stay O(open orders), not O(all ever))
        self._maybe_open: dict[str, OrderRecord] = {}
        self._by_venue_id: dict[str, str] = {}
        self._parked: dict[str, list[ExecutorEvent]] = {}
        self._next_id = 0
        self.outbox: list[Message] = []
        self._dirty: dict[str, OrderRecord] = {}  # changed since the last take_dirty
        # the price each live order's shard expected (depth-walked), for realized slippage;
        # in memory only: an order restored after a restart is measured against its limit
        self._expected_price: dict[str, float] = {}
        # post-only flag and GTD expiry (epoch s) of maker orders, sent with every attempt
        self._terms: dict[str, tuple[bool, int]] = {}
        # fills applied in memory whose durable write failed (disk full, read-only): kept and
        # retried by retry_unstored(); while any is left, the core refuses new intents
        self._unstored: dict[str, tuple[VenueFill, str]] = {}
        self.storage_error = ""
        risk.breakers.listener = self._persist_breaker

    def _persist_breaker(self, kind: str, halt: Halt) -> None:
        """Record every halt and release in ``risk_events`` (halts are restored from it)."""
        reason = halt.reason if kind == "halt" else f"released by hand (was: {halt.reason})"
        self._store.record_risk_event(kind, halt.market_id, reason, self._clock.wall_ms())

    # --- restart ------------------------------------------------------------------------------

    def restore(self) -> int:
        """Load every stored order (call once, at start, before anything else); return count.

        A PENDING order was stored and maybe sent when the engine stopped: it becomes UNKNOWN,
        resolved at the venue by its venue id (stored before the POST) or, without one, among
        the venue's open orders; never resent (issue 20 #14)."""
        now_ms = self._clock.wall_ms()
        for record in self._store.load_orders():
            if record.status is OrderStatus.PENDING:
                record.reason = "engine stopped before the venue answered: looking it up"
                record.submitted_ms = record.submitted_ms or record.updated_ms
                self._set_status(record, OrderStatus.UNKNOWN, now_ms, report=False)
            self._orders[record.order_id] = record
            if record.status.is_open:
                self._maybe_open[record.order_id] = record
            if record.venue_order_id:
                self._by_venue_id[record.venue_order_id] = record.order_id
        self._next_id = len(self._orders)
        return len(self._orders)

    # --- views --------------------------------------------------------------------------------

    def get(self, order_id: str) -> OrderRecord | None:
        return self._orders.get(order_id)

    def by_venue_id(self, venue_order_id: str) -> OrderRecord | None:
        order_id = self._by_venue_id.get(venue_order_id)
        return None if order_id is None else self._orders.get(order_id)

    def orders(self) -> list[OrderRecord]:
        return list(self._orders.values())

    def open_orders(self, market_id: str | None = None) -> list[OrderRecord]:
        return [r for r in self._live() if market_id is None or r.market_id == market_id]

    def _live(self) -> list[OrderRecord]:
        """Every open order, oldest first; forgets the ones that closed since last time."""
        live = []
        closed = []
        for order_id, record in self._maybe_open.items():
            if record.status.is_open:
                live.append(record)
            else:
                closed.append(order_id)
        for order_id in closed:
            del self._maybe_open[order_id]
        return live

    def exposure(self) -> ExposureView:
        """Positions' cost basis plus open BUY orders' remaining notional (USDC)."""
        by_market: dict[str, float] = {}
        legs: dict[tuple[str, Outcome], float] = {}
        shares: dict[str, float] = {}
        for position in self._ledger.positions():
            by_market[position.market_id] = by_market.get(position.market_id, 0.0) + \
                position.cost_usdc
            key = (position.market_id, position.outcome)
            legs[key] = legs.get(key, 0.0) + position.cost_usdc
            shares[position.token_id] = position.shares
        for record in self._live():
            if record.side is Side.SELL:
                shares[record.token_id] = shares.get(record.token_id, 0.0) - record.remaining
                continue
            notional = record.remaining * record.price
            by_market[record.market_id] = by_market.get(record.market_id, 0.0) + notional
            key = (record.market_id, record.outcome)
            legs[key] = legs.get(key, 0.0) + notional
        by_group: dict[str, float] = {}
        for market_id, value in by_market.items():
            market = self._markets.get(market_id)
            group = market.correlation_group if market is not None else "unknown"
            by_group[group] = by_group.get(group, 0.0) + value
        return ExposureView(
            total_usdc=sum(by_market.values()), by_market=by_market, by_group=by_group,
            legs=legs, shares_held=shares,
        )

    # --- creation -----------------------------------------------------------------------------

    def create(self, intent: OrderIntent, size: float, now_ms: int) -> tuple[OrderRecord, bool]:
        """Store a new order for ``intent`` (size in shares) under its idempotency key.

        Return ``(record, True)`` when created, or ``(existing record, False)`` when the key is
        already held by a live order (a duplicate: nothing is created).
        """
        self._next_id += 1
        order_id = f"o-{now_ms}-{self._next_id:06d}"
        while order_id in self._orders:
            self._next_id += 1
            order_id = f"o-{now_ms}-{self._next_id:06d}"
        record = OrderRecord(
            order_id=order_id, intent_id=intent.intent_id,
            idempotency_key=intent.idempotency_key, shard_id=intent.shard_id,
            market_id=intent.market_id, token_id=intent.token_id, outcome=intent.outcome,
            side=intent.side, price=intent.price, size=size, order_type=intent.order_type,
            strategy=intent.strategy, created_ms=now_ms, updated_ms=now_ms,
            t_origin_ns=intent.t_origin_ns,
        )
        existing_id = self._store.claim(record, now_ms, self._ttl_ms)
        if existing_id is not None:
            existing = self._orders.get(existing_id)
            if existing is None:  # stored by an earlier run and not restored: reload it
                existing = self._store.load_order(existing_id) or record
            return existing, False
        self._orders[order_id] = record
        self._maybe_open[order_id] = record
        self._expected_price[order_id] = intent.expected_price or intent.price
        if intent.post_only or intent.expiration_s:
            self._terms[order_id] = (intent.post_only, intent.expiration_s)
        self.outbox.append(self._report(record))
        return record, True

    def adopt_venue_order(self, venue: VenueOrder, outcome: Outcome, now_ms: int) -> OrderRecord:
        """Make a venue order we hold no record of ours (a fresh state adopts the venue's
        open orders): stored under the key ``adopted:<venue id>`` as a MANUAL GTC order of
        no shard, in the venue's status. Its fills, reported later, book as usual."""
        existing = self.by_venue_id(venue.venue_order_id)
        if existing is not None:
            return existing
        record = OrderRecord(
            order_id=f"adopted-{venue.venue_order_id}", intent_id="",
            idempotency_key=f"adopted:{venue.venue_order_id}", shard_id=-1,
            market_id=venue.market_id, token_id=venue.token_id, outcome=outcome,
            side=venue.side, price=venue.price, size=venue.original_size,
            order_type=OrderType.GTC, strategy=Strategy.MANUAL,
            created_ms=venue.created_ms or now_ms, updated_ms=now_ms, submitted_ms=now_ms,
            venue_order_id=venue.venue_order_id,
            reason="adopted from the venue (fresh state)",
        )
        self._store.claim(record, now_ms, self._ttl_ms)
        self._orders[record.order_id] = record
        self._maybe_open[record.order_id] = record
        self._by_venue_id[venue.venue_order_id] = record.order_id
        # resting at the venue (its fills so far book as they are reported: filled_size 0)
        self._set_status(record, OrderStatus.DELAYED if venue.status is OrderStatus.DELAYED
                         else OrderStatus.LIVE, now_ms)
        return record

    # --- submission ---------------------------------------------------------------------------

    def begin_submit(self, order_id: str) -> OrderRequest | None:
        """The first attempt of a PENDING order's submit: the request to send (None when the
        order is no longer PENDING). The shell sends it and answers :meth:`on_submit_result`."""
        record = self._orders[order_id]
        if record.status is not OrderStatus.PENDING:
            return None
        record.attempts = 1
        return self._request(record)

    def expect_venue_id(self, order_id: str, venue_order_id: str) -> OrderRecord | None:
        """Record the venue id a PENDING order will have once posted (the caller stores it
        before the POST); None when the order is no longer PENDING."""
        record = self._orders.get(order_id)
        if record is None or record.status is not OrderStatus.PENDING:
            return None
        record.venue_order_id = venue_order_id
        self._by_venue_id[venue_order_id] = order_id
        return record

    def _request(self, record: OrderRecord) -> OrderRequest:
        market = self._markets[record.market_id]
        post_only, expiration_s = self._terms.get(record.order_id, (False, 0))
        return OrderRequest(
            client_order_id=record.order_id, token_id=record.token_id,
            market_id=record.market_id, side=record.side, price=record.price, size=record.size,
            order_type=record.order_type, tick_size=market.tick_size, neg_risk=market.neg_risk,
            expiration_s=expiration_s, post_only=post_only,
        )

    def on_submit_result(self, order_id: str, result: SubmitResult,
                         latency_s: float) -> float | None:
        """Take one attempt's answer (``latency_s``: its wall time). A retryable refusal with
        sends left returns the backoff (s) to wait before resending the same request (the
        attempt is counted now); otherwise the answer is applied and None returned."""
        record = self._orders[order_id]
        metrics.order_latency.observe(latency_s)
        latency_ms = result.latency_ms or latency_s * 1000
        halt = self._risk.breakers.on_order_latency(
            record.market_id, latency_ms, self._clock.wall_ms()
        )
        if halt is not None:
            self._on_halt(halt.market_id, halt.reason)
        if result.outcome is SubmitOutcome.REJECTED and result.retryable:
            attempt = record.attempts - 1
            _LOG.warning(  # SPEC §14 "API rate limit": log only, back off and resend
                "order_retry", "venue refused for now (rate limit or busy); backing off",
                order_id=record.order_id, attempt=attempt + 1, error=result.message,
            )
            if attempt + 1 < self._retry.max_attempts:
                record.attempts += 1
                return self._retry.delay_s(attempt, self._rng)
        self._apply_submit(record, result)
        return None

    def abandon_submit(self, order_id: str, reason: str) -> None:
        """Close the books on a submit that will not complete (market halted or kill switch
        before it was sent, or interrupted at shutdown): a PENDING order never sent becomes
        CANCELLED; one whose send may have reached the venue becomes UNKNOWN (resolved through
        ``order_status``/reconciliation, never resent). Other states are left alone."""
        record = self._orders.get(order_id)
        if record is None or record.status is not OrderStatus.PENDING:
            return
        record.reason = reason
        status = OrderStatus.UNKNOWN if record.attempts > 0 else OrderStatus.CANCELLED
        if status is OrderStatus.UNKNOWN:
            record.submitted_ms = self._clock.wall_ms()
        self._set_status(record, status, self._clock.wall_ms())

    def _apply_submit(self, record: OrderRecord, result: SubmitResult) -> None:
        now_ms = self._clock.wall_ms()
        if result.venue_order_id:
            record.venue_order_id = result.venue_order_id
            self._by_venue_id[result.venue_order_id] = record.order_id
        record.submitted_ms = now_ms
        if result.outcome is SubmitOutcome.REJECTED:
            record.reason = f"{result.reason.value if result.reason else 'REJECTED'}: " \
                            f"{result.message}"
            # a post-only quote refused for crossing is the quote's race with the book (the
            # shard re-places it a tick back), not a failing venue: no breaker count
            crossed = (self._terms.get(record.order_id, (False, 0))[0]
                       and POST_ONLY_CROSSES in result.message)
            halt = (None if crossed
                    else self._risk.breakers.on_venue_reject(record.market_id, now_ms))
            if halt is not None:
                self._on_halt(halt.market_id, halt.reason)
        else:
            self._risk.breakers.on_venue_accept(record.market_id)
            metrics.orders_placed.labels(
                side=record.side.value, strategy=record.strategy.value, market=record.market_id
            ).inc()
        status = _OUTCOME_STATUS[result.outcome]
        if status is OrderStatus.FILLED:
            status = OrderStatus.SUBMITTED  # its fills move it to FILLED (resolve_pending waits)
        self._set_status(record, status, now_ms, report=not result.fills)
        for fill in result.fills:
            self._apply_fill(record, fill, now_ms)
        for event in self._parked.pop(record.venue_order_id or "", []):
            self.apply_event(event)

    def discard_uncommitted(self, order_ids: set[str]) -> None:
        """Forget orders created in a transaction that was rolled back (never stored, never
        acknowledged, never sent), with the reports they queued."""
        for order_id in order_ids:
            self._orders.pop(order_id, None)
            self._maybe_open.pop(order_id, None)
            self._dirty.pop(order_id, None)
        self.outbox = [m for m in self.outbox
                       if getattr(m, "order_id", None) not in order_ids]

    # --- venue events -------------------------------------------------------------------------

    def apply_event(self, event: ExecutorEvent) -> None:
        """Apply one fill or order update from the executor."""
        record = self.by_venue_id(event.venue_order_id)
        now_ms = self._clock.wall_ms()
        if record is None:
            self._parked.setdefault(event.venue_order_id, []).append(event)
            return
        if isinstance(event, VenueFill):
            self._apply_fill(record, event, now_ms)
            return
        self._apply_update(record, event, now_ms)

    def _apply_update(self, record: OrderRecord, update: VenueOrderUpdate, now_ms: int) -> None:
        status = update.status
        if status in (OrderStatus.LIVE, OrderStatus.DELAYED) and record.filled_size > _EPSILON:
            status = OrderStatus.PARTIALLY_FILLED
        if status is OrderStatus.FILLED and not same_shares(record.filled_size, record.size) \
                and not (update.size_matched > 0
                         and record.filled_size + SHARE_LOT > update.size_matched):
            # the venue says filled before all its fills reached us: wait for the fills. When
            # we booked all it matched (a FAK the venue rounded: 59.29104 of 59.3, or ended
            # short), its FILLED is terminal (issue 20 #9)
            status = OrderStatus.PARTIALLY_FILLED if record.filled_size > 0 else record.status
        previous = record.reason
        if update.reason:
            record.reason = update.reason
        try:
            self._set_status(record, status, now_ms)
        except InvalidTransition:
            record.reason = previous  # a refused report leaves the order exactly as it was
            raise

    @property
    def unstored_fills(self) -> int:
        """Fills applied in memory but not yet stored (0: storage is healthy)."""
        return len(self._unstored)

    def retry_unstored(self) -> bool:
        """Write the fills whose store failed, oldest first, each with its order's and
        position's current state; return whether none is left. Stops at the first failure."""
        for fill_id, (fill, order_id) in list(self._unstored.items()):
            record = self._orders[order_id]
            try:
                self._store.record_fill(fill, record, self._ledger.position(record.token_id))
            except PersistenceError as exc:
                self.storage_error = str(exc)
                return False
            del self._unstored[fill_id]
            _LOG.warning("fill_stored_late", "fill stored after a storage failure",
                         fill_id=fill_id, order_id=order_id, left=len(self._unstored))
        if self.storage_error:
            self.storage_error = ""
            _LOG.warning("storage_recovered", "every fill stored: intake reopens")
        return True

    def _apply_fill(self, record: OrderRecord, fill: VenueFill, now_ms: int) -> None:
        if fill.fill_id in self._unstored or self._store.has_fill(fill.fill_id):
            return
        size = fill.size  # the venue's fill is the truth, even beyond our size
        # full at the venue's resolution: it may match 59.29104 of 59.3 shares (issue 20 #9)
        filled = record.filled_size + size
        full = filled >= record.size or same_shares(filled, record.size)
        # the move is checked before the ledger books anything: a refused one changes nothing
        target = next_status(record.order_id, record.status,
                             OrderStatus.FILLED if full else OrderStatus.PARTIALLY_FILLED)
        try:
            self._ledger.apply_fill(
                market_id=record.market_id, token_id=record.token_id, outcome=record.outcome,
                side=record.side, price=fill.price, size=size, fee_usdc=fill.fee_usdc,
                strategy=record.strategy,
            )
        except LedgerError as exc:
            metrics.bad_input.labels(component="engine", reason="bad_fill").inc()
            _LOG.error("bad_fill", str(exc), fill_id=fill.fill_id, order_id=record.order_id)
            return
        total = record.filled_size + size
        record.avg_fill_price = (
            (record.avg_fill_price * record.filled_size + fill.price * size) / total
        )
        record.filled_size = total
        record.fees_usdc += fill.fee_usdc
        record.status = target
        record.updated_ms = now_ms
        try:
            self._store.record_fill(fill, record, self._ledger.position(record.token_id))
        except PersistenceError as exc:
            # the fill happened at the venue: keep it (memory, report), retry the write,
            # stop new intents and alert — never crash into a restart loop (issue 20 #6)
            self._unstored[fill.fill_id] = (fill, record.order_id)
            first = not self.storage_error
            self.storage_error = str(exc)
            metrics.dead_letters.labels(source="engine", reason="store_error").inc()
            _LOG.critical("fill_store_failed", "fill kept in memory, write retried; intake "
                          "stopped", fill_id=fill.fill_id, order_id=record.order_id,
                          error=repr(exc))
            if first:
                self._alert(storage_failure_alert(str(exc), len(self._unstored)))
        metrics.orders_filled.labels(side=record.side.value, strategy=record.strategy.value).inc()
        expected = (self._expected_price.pop(record.order_id, record.price) if full
                    else self._expected_price.get(record.order_id, record.price))
        metrics.slippage_bps.observe(realized_slippage_bps(record.side, expected, fill.price))
        if not full:  # SPEC §14 "partial fills": log only; the shard rebalances the lagging leg
            _LOG.info("partial_fill", f"{size} of {record.size} filled",
                      order_id=record.order_id, market_id=record.market_id,
                      remaining=record.remaining)
        self.outbox.append(self._report(
            record, fill=fill, fill_type=FillType.FULL if full else FillType.PARTIAL, size=size
        ))

    # --- cancels ------------------------------------------------------------------------------

    def begin_cancel(self, order_id: str, reason: str) -> str | None:
        """Start cancelling one order: the venue id to cancel, or None when there is nothing to
        ask the venue (closed already; never sent — a PENDING one is CANCELLED here)."""
        record = self._orders.get(order_id)
        if record is None or not record.status.is_open:
            return None
        if record.venue_order_id is None:
            if record.status is OrderStatus.PENDING:
                record.reason = reason
                self._set_status(record, OrderStatus.CANCELLED, self._clock.wall_ms())
            return None
        return record.venue_order_id

    def on_cancel_result(self, order_id: str, venue_order_id: str,
                         result: CancelResult | None, reason: str) -> None:
        """Take the venue's answer to one cancel (None: the call failed); a failure counts in
        the market's circuit breakers."""
        record = self._orders[order_id]
        now_ms = self._clock.wall_ms()
        if result is not None and venue_order_id in result.cancelled:
            record.reason = reason
            self._set_status(record, OrderStatus.CANCELLED, now_ms)
            return
        halt = self._risk.breakers.on_cancel_failure(record.market_id, now_ms)
        if halt is not None:
            self._on_halt(halt.market_id, halt.reason)

    def on_cancel_all(self, result: CancelResult, reason: str) -> bool:
        """Mark our open orders the venue cancelled (or never knew); return its ``ok``."""
        now_ms = self._clock.wall_ms()
        cancelled = set(result.cancelled)
        for record in self.open_orders():
            if record.venue_order_id is None or record.venue_order_id in cancelled:
                record.reason = reason
                self._set_status(record, OrderStatus.CANCELLED, now_ms)
        return result.ok

    # --- unknown outcomes ---------------------------------------------------------------------

    def to_resolve(self, min_age_ms: int = 2000) -> tuple[str, ...]:
        """UNKNOWN orders and SUBMITTED ones older than ``min_age_ms``: the shell asks the venue
        about each (never resends) and answers :meth:`on_order_status` /
        :meth:`on_open_orders_listing`."""
        now_ms = self._clock.wall_ms()
        return tuple(
            r.order_id for r in self._orders.values()
            if r.status is OrderStatus.UNKNOWN
            or (r.status is OrderStatus.SUBMITTED and now_ms - r.submitted_ms >= min_age_ms)
        )

    def fills_since_ms(self, order_id: str, venue: VenueOrder) -> int | None:
        """When the venue matched more of ``order_id`` than we booked: the time (epoch ms) to
        fetch the venue's trades from; None when no fill is missing."""
        record = self._orders[order_id]
        if venue.size_matched > record.filled_size + 1e-6:
            return max(0, record.submitted_ms - 60_000)
        return None

    def on_order_status(self, order_id: str, venue: VenueOrder | None,
                        trades: VenueTrades | None = None) -> None:
        """Adopt the venue's state of an order being resolved (None: the venue does not know
        it — REJECTED once the grace period passed), booking the missing fills in ``trades``."""
        record = self._orders[order_id]
        now_ms = self._clock.wall_ms()
        if venue is None:
            if now_ms - record.submitted_ms >= self._unknown_grace_ms:
                record.reason = "venue does not know the order"
                self._set_status(record, OrderStatus.REJECTED, now_ms)
            return
        if trades is not None:
            for fill in trades.fills:
                if fill.venue_order_id == record.venue_order_id:
                    self._apply_fill(record, fill, self._clock.wall_ms())
        self._apply_update(record, VenueOrderUpdate(
            venue.venue_order_id, venue.status, venue.size_matched, now_ms), now_ms)

    def on_open_orders_listing(self, order_id: str, listing: VenueOrders) -> None:
        """Find an UNKNOWN order without a venue id among the venue's open orders (same token,
        side, price and size, not already ours) and adopt it."""
        record = self._orders[order_id]
        if record.venue_order_id is not None:  # found meanwhile (an answer, a report)
            return
        known = set(self._by_venue_id)
        for venue in listing.orders:
            if venue.venue_order_id in known:
                continue
            if (venue.token_id == record.token_id and venue.side is record.side
                    and abs(venue.price - record.price) < _EPSILON
                    and abs(venue.original_size - record.size) < 1e-6):
                record.venue_order_id = venue.venue_order_id
                self._by_venue_id[venue.venue_order_id] = record.order_id
                self._apply_update(record, VenueOrderUpdate(
                    venue.venue_order_id, venue.status, venue.size_matched,
                    self._clock.wall_ms()), self._clock.wall_ms())
                return
        now_ms = self._clock.wall_ms()
        if record.status is OrderStatus.UNKNOWN \
                and now_ms - record.submitted_ms >= self._unknown_grace_ms:
            # no id to ask about and not resting after the grace: it never reached the venue
            # (a fill showing up later is still booked: REJECTED takes late fills)
            record.reason = "venue lists no such order"
            self._set_status(record, OrderStatus.REJECTED, now_ms)

    # --- helpers ------------------------------------------------------------------------------

    def _set_status(
        self, record: OrderRecord, status: OrderStatus, now_ms: int, report: bool = True
    ) -> None:
        status = next_status(record.order_id, record.status, status)  # raises when forbidden
        changed = record.status is not status
        record.status = status
        record.updated_ms = now_ms
        self._dirty[record.order_id] = record
        if status in (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED):
            self._expected_price.pop(record.order_id, None)  # a late fill uses the limit
        if status.is_terminal:
            self._terms.pop(record.order_id, None)  # never sent again
        if report and changed:
            self.outbox.append(self._report(record))

    def take_dirty(self) -> list[OrderRecord]:
        """The records whose state changed since the last call (each once), for the caller
        to persist before it sends their reports."""
        if not self._dirty:
            return []
        dirty = list(self._dirty.values())
        self._dirty = {}
        return dirty

    def mark_dirty(self, records: list[OrderRecord]) -> None:
        """Queue records again whose save failed (the next :meth:`take_dirty` returns them)."""
        for record in records:
            self._dirty.setdefault(record.order_id, record)

    def _on_halt(self, market_id: str, reason: str) -> None:
        metrics.circuit_breaker_trips.labels(market=market_id, reason=reason).inc()
        _LOG.warning("market_halted", f"circuit breaker tripped: {reason}", market_id=market_id)
        alert = market_halt_alert(market_id, reason)
        if alert is not None:
            self._alert(alert)
        self.outbox.append(RiskState(
            halted=True, kill_switch=self._risk.kill_switch.engaged, reason=reason,
            t_ns=self._clock.monotonic_ns(), market_id=market_id,
        ))

    def _report(
        self,
        record: OrderRecord,
        fill: VenueFill | None = None,
        fill_type: FillType | None = None,
        size: float = 0.0,
    ) -> ExecutionReport:
        return ExecutionReport(
            order_id=record.order_id, intent_id=record.intent_id,
            idempotency_key=record.idempotency_key, shard_id=record.shard_id,
            market_id=record.market_id, token_id=record.token_id, outcome=record.outcome,
            side=record.side, strategy=record.strategy, status=record.status,
            price=record.price, size=record.size, filled_size=record.filled_size,
            avg_fill_price=record.avg_fill_price, t_ns=self._clock.monotonic_ns(),
            t_origin_ns=record.t_origin_ns,
            last_fill_size=size if fill is not None else 0.0,
            last_fill_price=fill.price if fill is not None else 0.0,
            fee_usdc=fill.fee_usdc if fill is not None else 0.0,
            fill_type=fill_type, venue_order_id=record.venue_order_id, reason=record.reason,
        )


def realized_slippage_bps(side: Side, expected_price: float, fill_price: float) -> float:
    """How much worse than expected a fill was, in bps of the expected price: a buy above it
    or a sell below it; a fill at or better than expected is 0 (recorded, so the histogram's
    count is the fill count)."""
    if expected_price <= 0.0:
        return 0.0
    worse = fill_price - expected_price if side is Side.BUY else expected_price - fill_price
    return max(0.0, worse) / expected_price * 10_000.0
