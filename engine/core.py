"""The engine core: intake → risk → order manager → reports, with P&L and the kill switch.

Sans-I/O (docs/DECISIONS.md D11, specs/07 "The core's inputs, outputs and effects"), as h11
is for HTTP: no sockets, no files, no SQLite, no event loop, nothing awaited. Inputs are
decoded bus frames (:meth:`EngineCore.handle_frames`), book changes read from shm
(:meth:`EngineCore.on_book_change`), the executor's events and answers
(:meth:`EngineCore.on_executor_events`, :meth:`EngineCore.on_submit_answer`,
:meth:`EngineCore.on_cancel_answer`, ...), the periodic :meth:`EngineCore.tick` with the kill
file's content, and the clock it is given. Outputs are :class:`Outbound` messages through the
caller's ``send`` and :mod:`engine.effects` for the shell (:meth:`EngineCore.take_effects`):
submit, cancel, resolve, reconcile, persist the kill switch. The shell
(:class:`engine.driver.EngineDriver`) carries them out with the executor. State is written
through the synchronous :class:`~engine.persistence.port.EnginePersistence` port (the ack of an
intent depends on its claim's commit, so the write is a call, not an effect). The core calls
only the executor's synchronous, non-I/O members (``name``, ``healthy``, ``on_user_update``,
``next_due_ms``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from engine.alerting import (
    AlertFn,
    daily_loss_alert,
    invalid_transition_alert,
    kill_release_alert,
    manual_kill_alert,
    no_alert,
)
from engine.books import BookSource, top_mid
from engine.effects import (
    CancelAll,
    CancelAnswer,
    CancelOrders,
    ConfirmResolution,
    Effect,
    ExecutorEvents,
    Reconcile,
    ResolutionAnswer,
    ResolvePending,
    SubmitAnswer,
    SubmitOrder,
)
from engine.executors.base import (
    CancelResult,
    Executor,
    ExecutorEvent,
    OrderRequest,
    VenueOrder,
    VenueOrders,
    VenueTrades,
)
from engine.kill_switch import EngageKillFile, KillFile, KillSwitch
from engine.orders import OrderManager
from engine.persistence.port import EnginePersistence, PersistenceError
from engine.pnl.daily import DailyPnl
from engine.pnl.ledger import Ledger
from engine.risk.circuit import Halt
from engine.risk.manager import RiskManager
from engine.status import (
    EngineStatus,
    KillSwitchView,
    OpenOrderStatus,
    PnlView,
    PositionStatus,
)
from engine.store import StoredCorrection
from polyloly import metrics
from polyloly.clock import Clock
from polyloly.config import Config
from polyloly.domain import Outcome, RejectReason, TruthStatus
from polyloly.fsm import InvalidTransition
from polyloly.logs import get_logger
from polyloly.messages import (
    CancelIntent,
    IntentAck,
    MarketResolved,
    MarketStatus,
    Message,
    MessageDecodeError,
    OrderIntent,
    PositionView,
    ResolvedMarketView,
    RiskState,
    StateQuery,
    StateSnapshot,
    UserOrderUpdate,
    UserTradeUpdate,
    decode,
)

_LOG = get_logger("engine.core")
RESOLUTION_CLAIM_TTL_MS = 15 * 60_000
"""How long an unconfirmed ``market_resolved`` claim is re-checked against the venue's REST
(its REST may trail its WebSocket) before it is dropped."""
SUBMIT_WAIT_S = 5.0
"""Longest wait (s) for submits in flight before the kill switch cancels everything (and
before a periodic reconciliation)."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to send: to one shard (ROUTER ``identity``) or published (identity None)."""

    identity: bytes | None
    message: Message


Send = Callable[[Outbound], None]

_BAD_INPUT_REASONS = frozenset((RejectReason.UNKNOWN_MARKET, RejectReason.UNKNOWN_TOKEN,
                                RejectReason.NON_POSITIVE_SIZE, RejectReason.PRICE_OUT_OF_RANGE,
                                RejectReason.PRICE_OFF_TICK))


MAX_INTENT_SHARES = 1_000_000.0
"""No intent may ask for more shares (far above any risk limit): 1e308 is refused with a
reply, before any arithmetic on it can overflow."""

_SHARD_KINDS = (OrderIntent, CancelIntent, StateQuery, MarketStatus)


def sender_identity(shard_id: object) -> bytes:
    """The ROUTER identity of shard ``shard_id`` (what ``polyloly.bus.shard_identity`` sets;
    not imported: the core imports no zmq)."""
    return f"shard-{shard_id}".encode()


def absurd_values(intent: OrderIntent) -> tuple[RejectReason, str] | None:
    """Why the intent's numbers are absurd (None when they are not): a size above
    :data:`MAX_INTENT_SHARES` (infinite included), a price or expected value that is not
    finite. Other values out of range (a negative or NaN size, a price of 2) are the risk
    checks' (``NON_POSITIVE_SIZE``, ``PRICE_OUT_OF_RANGE``)."""
    if intent.size > MAX_INTENT_SHARES:  # inf too; NaN is the risk check's NON_POSITIVE_SIZE
        return RejectReason.ORDER_SIZE_LIMIT, \
            f"size: expected at most {MAX_INTENT_SHARES:.0f} shares, was {intent.size!r}"
    for name in ("price", "expected_price", "expected_edge"):
        value = getattr(intent, name)
        if not math.isfinite(value):
            return RejectReason.PRICE_OUT_OF_RANGE, \
                f"{name}: expected a finite number, was {value!r}"
    return None


@dataclass(frozen=True, slots=True)
class _Admission:
    """One intent's verdict inside a batch: the ack to send after the claims commit."""

    identity: bytes | None
    intent: OrderIntent
    reason: RejectReason | None
    detail: str
    order_id: str | None = None
    submit: bool = False


class EngineCore:
    """All engine state and decisions. Build, :meth:`start`, then feed it."""

    def __init__(
        self,
        config: Config,
        store: EnginePersistence,
        executor: Executor,
        books: BookSource,
        clock: Clock,
        *,
        kill_switch: KillSwitch | None = None,
        alert: AlertFn = no_alert,
    ) -> None:
        """``store`` is the persistence port; ``executor`` is consulted for its name, health
        and due time only (the shell makes its venue calls); ``kill_switch`` is the global
        switch (a fresh released one by default); ``alert`` receives the SPEC §14 alerts
        (:mod:`engine.alerting`), none by default."""
        self.config = config
        self.alert = alert
        self.store = store
        self.executor = executor
        # With real money the idempotency claims are fsynced too (one fsync per intake batch),
        # so a duplicated intent never becomes a second order even across a power loss; on
        # paper a process crash is the only risk and WAL NORMAL already survives it (D9).
        self.durable_claims = executor.name != "paper"
        self.books = books
        self.clock = clock
        self.kill_switch = kill_switch if kill_switch is not None else KillSwitch()
        self.ledger = Ledger()
        self.risk = RiskManager(config, self.kill_switch)
        self.orders = OrderManager(config, store, self.ledger, self.risk, clock, alert=alert)
        self.daily = DailyPnl()
        self.ready = False
        self._last_seq: dict[str, int] = {}  # token → book seq of its last volatility sample
        self._release_seen: dict[str, int] = {}
        # market → (wall ms, claimed winner token) of an unconfirmed resolution claim
        self._claims: dict[str, tuple[int, str | None]] = {}
        self._effects: list[Effect] = []
        self._markets = {m.market_id: m for m in config.markets}
        self.token_ids: tuple[str, ...] = tuple(t for m in config.markets for t in m.token_ids)
        """Every configured token (the shell watches their shm seqs)."""

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, kill: KillFile | None = None) -> None:
        """Rebuild state from storage (orders; fills, position corrections and settlements →
        positions; circuit-breaker halts) and take the kill file's content ``kill`` (read by
        the shell). A halt stays until a hand release (``polyloly kill --market ID
        --release``) stamped at or after it, whether that release came while the engine ran or
        while it was down. Intake is refused (``NOT_READY``) until :meth:`mark_ready`."""
        self.orders.restore()
        self.store.restore_ledger(self.ledger)
        self.store.save_positions(self.ledger.positions())
        self._restore_halts()
        if kill is not None:
            self.kill_switch.restore(kill)
            self._release_seen = dict(kill.released_markets)
            for market_id, released_ms in kill.released_markets.items():
                halt = self.risk.breakers.halted(market_id)
                if halt is not None and released_ms >= halt.since_ms:
                    self.risk.breakers.release(market_id)
                    _LOG.warning("market_released", "halt released by hand while stopped",
                                 market_id=market_id)

    def _restore_halts(self) -> None:
        """Re-install the halts ``risk_events`` still holds (a halt not followed by a release)."""
        halts: dict[str, Halt] = {}
        for kind, market_id, reason, t_ms in self.store.risk_events():
            if market_id is None:
                continue
            if kind == "halt":
                halts.setdefault(market_id, Halt(market_id, reason, t_ms))
            elif kind == "release":
                halts.pop(market_id, None)
        for halt in halts.values():
            self.risk.breakers.restore(halt)
            _LOG.warning("market_halt_restored", f"still halted: {halt.reason}",
                         market_id=halt.market_id, since_ms=halt.since_ms)

    def mark_ready(self) -> None:
        """Accept intents from now on (after reconciliation)."""
        self.ready = True

    def stop_intake(self) -> None:
        """Shutdown begins: intents are refused (``NOT_READY``) and queued submits dropped."""
        self.ready = False

    def take_effects(self) -> list[Effect]:
        """The effects asked for since the last call, in order (the shell carries them out)."""
        effects, self._effects = self._effects, []
        return effects

    # --- intake -------------------------------------------------------------------------------

    def handle_frame(self, identity: bytes | None, payload: bytes, send: Send) -> None:
        """Decode one frame from a shard (ROUTER) or the gateway (PULL/SUB) and act on it.

        Garbage is counted (``bad_input{reason=decode_error}``), logged and skipped.
        """
        self.handle_frames(((identity, payload),), send)

    def handle_frames(self, frames: Sequence[tuple[bytes | None, bytes]], send: Send) -> None:
        """Decode and act on every frame ready on a socket, in arrival order.

        Consecutive :class:`OrderIntent` frames are admitted as one batch (:meth:`_on_intents`:
        one storage transaction for their claims, acks in arrival order), so the second leg of
        a pair never waits behind the first leg's storage or submit. Garbage is counted
        (``bad_input{reason=decode_error}``), logged and skipped; one message's failure never
        loses the others (``dead_letters{reason=handler_error}``).
        """
        messages: list[tuple[bytes | None, Message]] = []
        for identity, payload in frames:
            try:
                messages.append((identity, decode(payload)))
            except MessageDecodeError as exc:
                metrics.bad_input.labels(component="engine", reason="decode_error").inc()
                _LOG.warning("bad_frame", str(exc),
                             identity=(identity or b"").decode("latin-1"))
        i = 0
        while i < len(messages):
            j = i
            while j < len(messages) and isinstance(messages[j][1], OrderIntent):
                j += 1
            try:
                if j > i:
                    run = [(ident, m) for ident, m in messages[i:j]
                           if isinstance(m, OrderIntent)]
                    self._on_intents(run, send)
                    i = j
                    continue
                identity, message = messages[i]
                i += 1
                self.handle(identity, message, send)
            except Exception as exc:  # one bad message must never stop the engine
                i = max(i, j)
                metrics.dead_letters.labels(source="engine", reason="handler_error").inc()
                _LOG.error("handler_error", repr(exc))

    def handle(self, identity: bytes | None, message: Message, send: Send) -> None:
        """Act on one decoded message. Books are not messages here: they reach the engine
        through :meth:`on_book_change` only (a ``BookTick`` is an unexpected kind)."""
        if isinstance(message, OrderIntent):
            self._on_intents([(identity, message)], send)
            return
        source = (identity or b"gateway").decode("latin-1")
        if not self._authorized(identity, message):
            return
        self.store.journal(message, source)
        if isinstance(message, CancelIntent):
            self._on_cancel(message)
        elif isinstance(message, StateQuery):
            if identity is not None:
                send(Outbound(identity, self.snapshot(message)))
        elif isinstance(message, MarketStatus):
            if message.truth_status is TruthStatus.LIVE:
                self.risk.set_market_open(message.market_id, self.clock.wall_ms())
        elif isinstance(message, UserOrderUpdate | UserTradeUpdate):
            # the executor turns it into events (queued, no I/O); the shell drains them
            self.executor.on_user_update(message)
        elif isinstance(message, MarketResolved):
            self._on_resolved(message)
        else:
            metrics.bad_input.labels(component="engine", reason="unexpected_kind").inc()
            _LOG.warning("unexpected_message", f"{type(message).__name__} is not for the engine")
        self.flush(send)

    def _authorized(self, identity: bytes | None, message: Message) -> bool:
        """Whether ``message`` may come from this sender (issue 20 #2). A shard (ROUTER
        ``identity``) may send only intents, cancels, queries and its market statuses, each
        as itself; venue facts (order and trade updates, resolutions) come only from the
        gateway's authenticated channels (PULL/SUB, no identity). Anything else is counted
        (``bad_input{reason=forbidden_sender}``), logged and dropped."""
        if identity is None:
            return True
        shard_id = getattr(message, "shard_id", None)
        if isinstance(message, _SHARD_KINDS) and identity == sender_identity(shard_id):
            return True
        metrics.bad_input.labels(component="engine", reason="forbidden_sender").inc()
        _LOG.warning("forbidden_sender",
                     f"{type(message).__name__} (shard_id {shard_id}) refused from "
                     f"{identity.decode('latin-1')!r}: shards send only intents, cancels, "
                     "queries and statuses, as themselves")
        return False

    # --- books --------------------------------------------------------------------------------

    def on_book_change(self, token_ids: Iterable[str]) -> None:
        """The one book entry (live, replay, tests, bench): the books of ``token_ids`` changed
        since the engine last looked (the live shell's shm seq poll, the replay's book writes),
        or the executor has an order due. Record each token's mid once per book seq for the
        volatility sizer (top of book only; unknown tokens and one-sided books are skipped).
        The shell then advances the executor once (resting orders match against the books as
        they are now, delayed ones are released) and hands its events to
        :meth:`on_executor_events`."""
        for token_id in token_ids:
            top = top_mid(self.books, token_id)
            if top is not None:
                self._observe_mid(token_id, top[0], top[1])

    def executor_due(self) -> bool:
        """Whether the executor has an in-flight or delayed order due now (the shell then calls
        :meth:`on_book_change` even when no watched book moved)."""
        due_ms = self.executor.next_due_ms()
        return due_ms is not None and due_ms <= self.clock.wall_ms()

    def _observe_mid(self, token_id: str, seq: int, mid: float) -> None:
        if self._last_seq.get(token_id) != seq:
            self._last_seq[token_id] = seq
            self.risk.volatility.observe(token_id, mid)

    def marks(self) -> dict[str, float]:
        """Current mids of every token we hold (tokens without a two-sided book are left out)."""
        marks: dict[str, float] = {}
        for position in self.ledger.positions():
            if position.shares <= 0:
                continue
            book = self.books.snapshot(position.token_id)
            if book is not None and book.mid is not None:
                marks[position.token_id] = book.mid
        return marks

    # --- intents ------------------------------------------------------------------------------

    def _on_intents(
        self, intents: Sequence[tuple[bytes | None, OrderIntent]], send: Send
    ) -> None:
        """Admit a batch of intents: journal each, check risk and claim each accepted one's
        idempotency key in **one** storage transaction, then — only once it committed — send
        every ack in arrival order, publish the PENDING reports and ask for the submits
        (:class:`SubmitOrder` effects, in arrival order).

        If the transaction fails (disk full, I/O error), nothing of the batch is stored, no
        order exists, no ack is sent (``dead_letters{reason=store_error}``): the shards' ack
        timeout handles it, and a resent intent claims its key afresh.
        """
        now_ms = self.clock.wall_ms()
        admitted: list[_Admission] = []
        try:
            with self.store.transaction(durable=self.durable_claims):
                for identity, intent in intents:
                    self.store.journal(intent, (identity or b"gateway").decode("latin-1"))
                    admission = self._admit(identity, intent, now_ms)
                    if admission is not None:
                        admitted.append(admission)
        except PersistenceError as exc:
            created = {a.order_id for a in admitted if a.submit and a.order_id is not None}
            self.orders.discard_uncommitted(created)
            metrics.dead_letters.labels(source="engine", reason="store_error").inc(len(intents))
            _LOG.error("intake_store_failed", repr(exc), intents=len(intents))
            return
        for admission in admitted:
            self._ack(admission.identity, admission.intent, send, reason=admission.reason,
                      detail=admission.detail, order_id=admission.order_id)
        self.flush(send)
        for admission in admitted:
            if admission.submit and admission.order_id is not None:
                self._effects.append(SubmitOrder(admission.order_id, admission.intent.market_id))

    def _admit(self, identity: bytes | None, intent: OrderIntent,
               now_ms: int) -> _Admission | None:
        """Risk-check one intent and claim its key (inside the batch's transaction); return
        the ack to send once the transaction committed (None if the intent crashed: logged,
        counted, no ack — a bug in one intent never loses the batch)."""
        try:
            return self._decide(identity, intent, now_ms)
        except PersistenceError:
            raise
        except Exception as exc:  # refused with a reply: a shard never waits on silence
            metrics.dead_letters.labels(source="engine", reason="handler_error").inc()
            _LOG.error("handler_error", repr(exc), intent_id=intent.intent_id)
            return _Admission(identity, intent, RejectReason.DECODE_ERROR,
                              f"the engine could not process this intent: {exc!r}")

    def _decide(self, identity: bytes | None, intent: OrderIntent, now_ms: int) -> _Admission:
        metrics.intents.labels(strategy=intent.strategy.value, market=intent.market_id).inc()
        if identity is not None and identity != sender_identity(intent.shard_id):
            metrics.bad_input.labels(component="engine", reason="forbidden_sender").inc()
            return _Admission(identity, intent, RejectReason.DECODE_ERROR,
                              f"shard_id {intent.shard_id} is not the sender "
                              f"{identity.decode('latin-1')!r}: a shard sends as itself")
        absurd = absurd_values(intent)
        if absurd is not None:
            metrics.bad_input.labels(component="engine", reason="absurd_value").inc()
            return _Admission(identity, intent, absurd[0], absurd[1])
        if not self.ready:
            return _Admission(identity, intent, RejectReason.NOT_READY, "engine is reconciling")
        if self.orders.unstored_fills:
            return _Admission(identity, intent, RejectReason.NOT_READY,
                              f"storage failing ({self.orders.unstored_fills} fill(s) not "
                              f"stored yet): new intents refused until they are")
        if not self.executor.healthy():
            return _Admission(identity, intent, RejectReason.VENUE_UNAVAILABLE,
                              f"{self.executor.name} executor is unhealthy")
        book = self.books.snapshot(intent.token_id) if intent.market_id in self._markets else None
        if book is not None and book.mid is not None:
            self._observe_mid(intent.token_id, book.seq, book.mid)
        decision = self.risk.check(intent, book, self.orders.exposure(), now_ms)
        if not decision.allowed:
            assert decision.reason is not None
            if decision.reason in _BAD_INPUT_REASONS:
                metrics.bad_input.labels(component="engine", reason=decision.reason.value).inc()
            return _Admission(identity, intent, decision.reason, decision.detail)
        record, created = self.orders.create(intent, decision.adjusted_size, now_ms)
        if not created:
            return _Admission(identity, intent, RejectReason.DUPLICATE,
                              f"idempotency key already used by order {record.order_id}",
                              order_id=record.order_id)
        return _Admission(identity, intent, None, f"size {decision.adjusted_size}",
                          order_id=record.order_id, submit=True)

    def _ack(
        self,
        identity: bytes | None,
        intent: OrderIntent,
        send: Send,
        *,
        reason: RejectReason | None = None,
        detail: str = "",
        order_id: str | None = None,
    ) -> None:
        if reason is not None:
            metrics.intent_rejects.labels(reason=reason.value).inc()
        ack = IntentAck(
            intent_id=intent.intent_id, idempotency_key=intent.idempotency_key,
            accepted=reason is None, t_ns=self.clock.monotonic_ns(), reason=reason,
            detail=detail, order_id=order_id,
        )
        self.store.journal(ack, "engine")
        if identity is not None:
            send(Outbound(identity, ack))

    # --- submits and cancels (carried out by the shell) --------------------------------------

    def begin_submit(self, order_id: str) -> OrderRequest | None:
        """A :class:`SubmitOrder` reached the front of the shell's queue: the request to send
        now, or None when it must not go out (the order is then CANCELLED unsent, see
        :meth:`submit_blocked`, or it is no longer PENDING)."""
        record = self.orders.get(order_id)
        if record is None:
            return None
        reason = self.submit_blocked(record.market_id)
        if reason:
            self.orders.abandon_submit(order_id, reason)
            return None
        return self.orders.begin_submit(order_id)

    def submit_blocked(self, market_id: str) -> str:
        """Why a queued submit must not go out now ("" when it may): the market halted, the
        kill switch was pulled or the engine is stopping."""
        if self.kill_switch.engaged:
            return f"kill switch engaged before the order was sent: {self.kill_switch.reason}"
        halt = self.risk.breakers.halted(market_id)
        if halt is not None:
            return f"market halted before the order was sent: {halt.reason}"
        if not self.ready:
            return "engine stopping: order not sent"
        return ""

    def on_prepared(self, order_id: str, venue_order_id: str | None) -> None:
        """The venue id an order will have, known before its POST: stored now (one write), so
        a restart after a crash before the answer looks the order up by it."""
        if venue_order_id is None:
            return
        record = self.orders.expect_venue_id(order_id, venue_order_id)
        if record is None:
            return
        try:
            self.store.save_orders([record])
        except PersistenceError as exc:  # the POST goes on: the answer stores it again
            self.orders.mark_dirty([record])
            metrics.dead_letters.labels(source="engine", reason="store_error").inc()
            _LOG.error("order_save_failed", repr(exc), order_id=order_id)

    def on_submit_answer(self, answer: SubmitAnswer) -> float | None:
        """One submit attempt's answer: the backoff (s) before resending the same request when
        the venue refused for now with sends left, else None (the answer is applied; events
        parked for its venue id follow). The shell :meth:`settle` after the last one."""
        try:
            return self.orders.on_submit_result(answer.order_id, answer.result,
                                                answer.latency_s)
        except InvalidTransition as exc:
            self._refuse_report(exc, answer.order_id, "submit_answer", answer.result)
            return None

    def abandon_submit(self, order_id: str, reason: str) -> None:
        """A submit that will not complete (interrupted at shutdown, or it raised): a PENDING
        order never sent is CANCELLED, one maybe sent is UNKNOWN (resolved, never resent)."""
        self.orders.abandon_submit(order_id, reason)

    def _on_cancel(self, cancel: CancelIntent) -> None:
        """Cancel the orders of the market (token) that exist now, once the submits of that
        market in flight now have finished (so every target has its venue id)."""
        wanted = frozenset(
            r.order_id for r in self.orders.open_orders(cancel.market_id)
            if (cancel.token_id is None or r.token_id == cancel.token_id)
            and (not cancel.intent_ids or r.intent_id in cancel.intent_ids)  # a quote's cancel
        )
        self._effects.append(CancelOrders(cancel.reason or "cancel intent", cancel.market_id,
                                          wanted))

    def cancel_targets(self, cancel: CancelOrders) -> list[str]:
        """The orders a :class:`CancelOrders` covers when the shell runs it (still open; every
        open one for the kill switch), oldest first."""
        return [r.order_id for r in self.orders.open_orders(cancel.market_id)
                if cancel.order_ids is None or r.order_id in cancel.order_ids]

    def begin_cancel(self, order_id: str, reason: str) -> str | None:
        """The venue id to cancel for ``order_id`` now, or None when the venue need not be
        asked (closed meanwhile; never sent: a PENDING order is CANCELLED here)."""
        return self.orders.begin_cancel(order_id, reason)

    def on_cancel_answer(self, answer: CancelAnswer) -> None:
        """The venue's answer to one cancel (a failure counts in the circuit breakers)."""
        try:
            self.orders.on_cancel_result(answer.order_id, answer.venue_order_id, answer.result,
                                         answer.reason)
        except InvalidTransition as exc:
            self._refuse_report(exc, answer.order_id, "cancel_answer", answer.result)

    def shutdown_effect(self) -> CancelAll | None:
        """At shutdown, after the drain: cancel everything at the venue when
        ``execution.cancel_on_shutdown`` is set and orders are open."""
        if self.config.execution.cancel_on_shutdown and self.orders.open_orders():
            return CancelAll("shutdown")
        return None

    def on_cancel_all_answer(self, result: CancelResult, reason: str) -> bool:
        """The venue's answer to :class:`CancelAll`; return whether it succeeded."""
        return self.orders.on_cancel_all(result, reason)

    # --- executor events and unknown outcomes -------------------------------------------------

    def on_executor_events(self, events: ExecutorEvents, send: Send) -> None:
        """Apply the executor's fills and order updates (each fill its own durable transaction:
        a failing write never takes back a fill already stored and reported), then flush."""
        for event in events.events:
            self.apply_venue_event(event)
        self.flush(send)

    def apply_venue_event(self, event: ExecutorEvent) -> None:
        """Apply one venue report. One the order lifecycle forbids is refused at this boundary
        (:meth:`_refuse_report`): the engine goes on and the order keeps its state."""
        try:
            self.orders.apply_event(event)
        except InvalidTransition as exc:
            record = self.orders.by_venue_id(event.venue_order_id)
            self._refuse_report(exc, record.order_id if record else "", type(event).__name__,
                                event)

    def resolve_effect(self) -> ResolvePending | None:
        """The orders whose outcome to ask the venue about (UNKNOWN, or SUBMITTED and older
        than 2 s), or None when there are none."""
        order_ids = self.orders.to_resolve()
        return ResolvePending(order_ids) if order_ids else None

    def venue_order_id(self, order_id: str) -> str | None:
        """The venue id of one order being resolved (None: not known yet)."""
        record = self.orders.get(order_id)
        return None if record is None else record.venue_order_id

    def fills_since_ms(self, order_id: str, venue: VenueOrder) -> int | None:
        """From when to fetch the venue's trades for fills of ``order_id`` we miss (None:
        none missing)."""
        return self.orders.fills_since_ms(order_id, venue)

    def on_order_status(self, order_id: str, venue: VenueOrder | None,
                        trades: VenueTrades | None = None) -> None:
        """The venue's state of one order being resolved (and its trades when fetched)."""
        try:
            self.orders.on_order_status(order_id, venue, trades)
        except InvalidTransition as exc:
            self._refuse_report(exc, order_id, "order_status", venue)

    def on_open_orders_listing(self, order_id: str, listing: VenueOrders) -> None:
        """The venue's open orders, to find an UNKNOWN order that has no venue id."""
        try:
            self.orders.on_open_orders_listing(order_id, listing)
        except InvalidTransition as exc:
            self._refuse_report(exc, order_id, "open_orders", None)

    def _refuse_report(self, exc: InvalidTransition, order_id: str, kind: str,
                       report: object) -> None:
        """A venue report the order table does not list: count it
        (``invalid_transitions{transition}``), log it with the order and both statuses,
        dead-letter the report in the journal and alert. The order keeps its state (the
        table refuses before anything moves)."""
        status, reported = exc.state.value, exc.trigger.value
        metrics.invalid_transitions.labels(transition=f"{status}->{reported}").inc()
        metrics.dead_letters.labels(source="engine", reason="invalid_transition").inc()
        record = self.orders.get(order_id)
        market_id = record.market_id if record is not None else None
        _LOG.error("invalid_transition", str(exc), order_id=order_id, status=status,
                   reported=reported, report_kind=kind)
        try:
            self.store.journal_event(
                "dead_letter",
                {"reason": "invalid_transition", "order_id": order_id, "status": status,
                 "reported": reported, "report_kind": kind, "report": repr(report)},
                market_id, "engine")
        except PersistenceError as write_error:  # the log line above still has it all
            _LOG.error("dead_letter_write_failed", repr(write_error), order_id=order_id)
        self.alert(invalid_transition_alert(order_id, status, reported))

    # --- resolution ---------------------------------------------------------------------------

    def _on_resolved(self, resolved: MarketResolved) -> None:
        """A resolution claim from the gateway's market channel: checked (known market, winner
        in it), then confirmed against the venue's REST before anything settles
        (:class:`ConfirmResolution`; issue 20 #2: a forged ``market_resolved`` paid out a
        live market)."""
        market = self._markets.get(resolved.market_id)
        if market is None:
            metrics.bad_input.labels(component="engine", reason="unknown_market").inc()
            _LOG.warning("bad_resolution", f"unknown market {resolved.market_id!r}")
            return
        if resolved.winning_token_id is not None \
                and resolved.winning_token_id not in market.token_ids:
            metrics.bad_input.labels(component="engine", reason="unknown_token").inc()
            _LOG.warning("bad_resolution", f"winner {resolved.winning_token_id!r} not in market")
            return
        if self.ledger.is_settled(resolved.market_id):
            return
        if resolved.market_id not in self._claims:
            self._claims[resolved.market_id] = (self.clock.wall_ms(),
                                                resolved.winning_token_id)
            self._effects.append(ConfirmResolution(resolved.market_id))

    def resolution_claims(self) -> list[ConfirmResolution]:
        """Claims still unconfirmed (the venue's REST did not answer, or not resolved yet),
        asked again at each resolution tick until :data:`RESOLUTION_CLAIM_TTL_MS` passed."""
        now_ms = self.clock.wall_ms()
        for market_id, (since_ms, _) in list(self._claims.items()):
            if now_ms - since_ms > RESOLUTION_CLAIM_TTL_MS:
                del self._claims[market_id]
                metrics.bad_input.labels(component="engine", reason="unconfirmed_resolution").inc()
                _LOG.error("resolution_unconfirmed", "the venue never confirmed a resolution "
                           "claim: dropped, nothing settled", market_id=market_id)
        return [ConfirmResolution(m) for m in self._claims]

    def unconfirmable_resolution(self, market_id: str) -> ResolutionAnswer | None:
        """The answer for an executor with no venue REST (paper: its venue is the books the
        gateway reads, so the gateway's claim is all there is): the claim as it was."""
        claim = self._claims.get(market_id)
        if claim is None:
            return None
        return ResolutionAnswer(True, claim[1], f"unconfirmable: {self.executor.name} "
                                "executor has no venue REST")

    def on_resolution_answer(self, market_id: str, answer: ResolutionAnswer | None) -> None:
        """The venue's REST answer to a :class:`ConfirmResolution` (None: the query failed;
        asked again later). Not resolved: nothing settles (a forged or early claim). Resolved:
        settled with the venue's winner, whatever the claim said."""
        if answer is None or market_id not in self._claims:
            return
        if not answer.resolved:
            metrics.bad_input.labels(component="engine", reason="unconfirmed_resolution").inc()
            _LOG.warning("resolution_not_confirmed", "the venue says the market is not "
                         "resolved: nothing settled (asked again until the claim expires)",
                         market_id=market_id, source=answer.source)
            return
        market = self._markets[market_id]
        winner: Outcome | None = None
        if answer.winning_token_id is not None:
            if answer.winning_token_id not in market.token_ids:
                del self._claims[market_id]
                _LOG.error("bad_resolution", "venue winner not in market", market_id=market_id,
                           winner=answer.winning_token_id)
                return
            winner = Outcome.YES if answer.winning_token_id == market.token_ids[0] \
                else Outcome.NO
        try:
            stored = self.store.record_settlement(market_id, winner, self.clock.wall_ms())
        except PersistenceError as exc:  # the claim stays: confirmed and stored next tick
            metrics.dead_letters.labels(source="engine", reason="store_error").inc()
            _LOG.error("settlement_store_failed", repr(exc), market_id=market_id)
            return
        del self._claims[market_id]
        if stored:
            realized = self.ledger.settle(market_id, winner)
            self.store.save_positions(self.ledger.positions())
            _LOG.info("market_settled", "market resolved", market_id=market_id,
                      winner=None if winner is None else winner.value, realized_usdc=realized,
                      confirmed_by=answer.source)

    # --- reconciliation ------------------------------------------------------------------------

    def correct_position(self, market_id: str, token_id: str, venue_shares: float,
                         reason: str) -> None:
        """Set our holdings of ``token_id`` to the venue's ``venue_shares`` (reconciliation).

        Cost-basis rule: the difference is a fee-free trade at the token's current mid (shm
        book); without a two-sided book, at the position's average cost, else at 0.5. The
        shares we knew keep their average cost. Stored as a ``position_corrections`` row (in
        place among the fills, so a restart replays it) and a ``position_correction`` event in
        the event log; logged critical. Settled markets and unknown tokens are refused (logged;
        unknown tokens counted as ``bad_input``).
        """
        market = self._markets.get(market_id)
        if market is None or token_id not in market.token_ids:
            metrics.bad_input.labels(component="engine", reason="bad_correction").inc()
            _LOG.error("bad_correction", f"token {token_id!r} is not in market {market_id!r}")
            return
        if self.ledger.is_settled(market_id):
            _LOG.warning("correction_skipped", "market already settled", market_id=market_id,
                         token_id=token_id, venue_shares=venue_shares)
            return
        outcome = Outcome.YES if token_id == market.token_ids[0] else Outcome.NO
        position = self.ledger.position(token_id)
        local_shares = position.shares if position is not None else 0.0
        book = self.books.snapshot(token_id)
        if book is not None and book.mid is not None:
            price = book.mid
        elif position is not None and position.shares > 0:
            price = position.average_cost
        else:
            price = 0.5
        realized = self.ledger.set_position(market_id=market_id, token_id=token_id,
                                            outcome=outcome, shares=venue_shares, price=price)
        stored = self.store.record_position_correction(
            StoredCorrection(market_id=market_id, token_id=token_id, outcome=outcome,
                             local_shares=local_shares, venue_shares=venue_shares, price=price,
                             reason=reason, t_ms=self.clock.wall_ms()),
            self.ledger.position(token_id),
        )
        fields = {"token_id": token_id, "local_shares": local_shares,
                  "venue_shares": venue_shares, "price": price, "realized_usdc": realized,
                  "after_fill_seq": stored.after_fill_seq, "reason": reason}
        self.store.journal_event("position_correction", fields, market_id, "engine")
        _LOG.critical("position_corrected", "position set to the venue's", market_id=market_id,
                      **fields)

    def adopt_venue_order(self, venue: VenueOrder) -> None:
        """Make a venue order on one of our markets ours (fresh state, ``--new-state``);
        orders on tokens we do not trade are refused (logged, counted)."""
        market = self._markets.get(venue.market_id)
        if market is None or venue.token_id not in market.token_ids:
            market = next((m for m in self._markets.values() if venue.token_id in m.token_ids),
                          None)
        if market is None:
            metrics.bad_input.labels(component="engine", reason="bad_adoption").inc()
            _LOG.error("bad_adoption", f"venue order on token {venue.token_id!r} is not ours")
            return
        outcome = Outcome.YES if venue.token_id == market.token_ids[0] else Outcome.NO
        if venue.market_id != market.market_id:
            venue = replace(venue, market_id=market.market_id)
        self.orders.adopt_venue_order(venue, outcome, self.clock.wall_ms())

    @property
    def reconciles_periodically(self) -> bool:
        """Live executors are reconciled every ``execution.reconcile_interval_s``; the paper
        executor *is* the venue, so it is never inconsistent with itself."""
        return self.executor.name != "paper"

    def reconcile_effect(self) -> Reconcile | None:
        """One periodic reconciliation (``Reconciler.periodically``, run by the shell) unless
        the executor is the paper one or intake is closed. The shell pauses new submits and
        waits (bounded by ``SUBMIT_WAIT_S``) for those in flight first — a venue order we have
        not heard back about yet would look foreign."""
        if not self.reconciles_periodically or not self.ready:
            return None
        return Reconcile(SUBMIT_WAIT_S)

    # --- periodic -----------------------------------------------------------------------------

    def tick(self, send: Send, *, kill: KillFile | None = None) -> None:
        """The periodic step, after the shell advanced the executor (and resolved pending
        orders when due): take the kill file's content ``kill`` when the shell read it, then
        update P&L and risk. When the daily loss limit trips, the switch is pulled, an
        :class:`EngageKillFile` effect asks the shell to persist it (the file is read before,
        so the engine's own pull is never mistaken for a hand pull or undone by a stale read)
        and a :class:`CancelOrders` effect cancels every open order."""
        now_ms = self.clock.wall_ms()
        if self.orders.unstored_fills:
            self.orders.retry_unstored()  # every tick until the disk takes them again
        if kill is not None:
            self._on_kill_file(kill, now_ms, send)
        summary = self.ledger.summary(self.marks())
        self.daily.observe(summary.total_usdc, now_ms)
        metrics.pnl_realized.set(summary.realized_usdc)
        metrics.pnl_unrealized.set(summary.unrealized_usdc)
        metrics.daily_pnl.set(self.daily.daily_usdc)
        for market_id, value in self.orders.exposure().by_market.items():
            metrics.exposure_usdc.labels(market=market_id).set(value)
        if self.risk.set_pnl(self.daily.daily_usdc, self.daily.drawdown_usdc):
            reason = f"daily loss limit: daily P&L {self.daily.daily_usdc:.2f} USDC"
            self._effects.append(EngageKillFile(reason, now_ms))
            self.alert(daily_loss_alert(self.daily.daily_usdc,
                                        self.config.risk.max_daily_loss_usdc))
            self._engage_kill(reason, now_ms, "engine", send)
        self.flush(send)

    def _on_kill_file(self, content: KillFile, now_ms: int, send: Send) -> None:
        """Follow the kill file: a pull by hand engages, a release by hand releases, and each
        new hand release of a halted market (stamped at or after its halt) lifts the halt."""
        if content.engaged and not self.kill_switch.engaged:
            self.alert(manual_kill_alert(content.reason, content.by))
            self._engage_kill(content.reason, now_ms, content.by, send)
        elif not content.engaged and self.kill_switch.release():
            self.store.record_risk_event("kill_release", None, content.reason, now_ms)
            metrics.kill_switch.set(0)
            _LOG.warning("kill_switch_released", content.reason or "released by hand")
            self.alert(kill_release_alert(content.reason, content.by))
            self.orders.outbox.append(RiskState(
                halted=False, kill_switch=False, reason=content.reason or "released",
                t_ns=self.clock.monotonic_ns()))
        for market_id, released_ms in content.released_markets.items():
            if self._release_seen.get(market_id) == released_ms:
                continue
            self._release_seen[market_id] = released_ms
            halt = self.risk.breakers.halted(market_id)
            if halt is not None and released_ms >= halt.since_ms:
                self.risk.breakers.release(market_id)  # recorded in risk_events by its listener
                self.orders.outbox.append(RiskState(
                    halted=False, kill_switch=self.kill_switch.engaged,
                    reason="released by hand", t_ns=self.clock.monotonic_ns(),
                    market_id=market_id))

    def _engage_kill(self, reason: str, now_ms: int, by: str, send: Send) -> None:
        """Pull the switch, tell the shards, and ask the shell to cancel every open order once
        the submits in flight finished (≤ ``SUBMIT_WAIT_S``; queued ones are not sent: the
        switch is on)."""
        self.kill_switch.pull(reason, now_ms, by)
        metrics.kill_switch.set(1)
        self.store.record_risk_event("kill", None, reason, now_ms)
        _LOG.critical("kill_switch_engaged", reason)
        self.orders.outbox.append(RiskState(
            halted=True, kill_switch=True, reason=reason, t_ns=self.clock.monotonic_ns()))
        self.flush(send)
        self._effects.append(CancelOrders(f"kill switch: {reason}", None, None, SUBMIT_WAIT_S))

    # --- output -------------------------------------------------------------------------------

    def settle(self, send: Send) -> None:
        """After a step the shell carried out (a submit, a cancel, a reconciliation):
        :meth:`flush`."""
        self.flush(send)

    def flush(self, send: Send) -> None:
        """Persist the orders whose state changed (one transaction), then journal and send
        every queued report and risk state, in order. A failed write is logged, counted
        (``dead_letters{reason=store_error}``) and retried at the next flush; the reports
        still go out (they tell what the venue did, which storage cannot undo)."""
        dirty = self.orders.take_dirty()
        if dirty:
            try:
                self.store.save_orders(dirty)
            except PersistenceError as exc:
                self.orders.mark_dirty(dirty)
                metrics.dead_letters.labels(source="engine", reason="store_error").inc()
                _LOG.error("order_save_failed", repr(exc), orders=len(dirty))
        outbox = self.orders.outbox
        if not outbox:
            return
        self.orders.outbox = []
        for message in outbox:
            self.store.journal(message, "engine")
            send(Outbound(None, message))

    # --- views --------------------------------------------------------------------------------

    def snapshot(self, query: StateQuery) -> StateSnapshot:
        """Positions and open orders of the markets asked for (all when none are named)."""
        wanted = set(query.market_ids)
        positions = tuple(
            PositionView(market_id=p.market_id, token_id=p.token_id, outcome=p.outcome,
                         shares=p.shares, cost_usdc=p.cost_usdc, fees_usdc=p.fees_usdc)
            for p in self.ledger.positions() if not wanted or p.market_id in wanted
        )
        open_orders = tuple(
            r.view() for r in self.orders.open_orders() if not wanted or r.market_id in wanted
        )
        halted = tuple(h.market_id for h in self.risk.breakers.halts()
                       if not wanted or h.market_id in wanted)
        return StateSnapshot(
            shard_id=query.shard_id, positions=positions, open_orders=open_orders,
            halted_markets=halted, kill_switch=self.kill_switch.engaged,
            t_ns=self.clock.monotonic_ns(), resolved_markets=self._resolved_views(wanted),
        )

    def _resolved_views(self, wanted: set[str]) -> tuple[ResolvedMarketView, ...]:
        """The settled markets (ledger, rebuilt from ``settlements`` on start) among ``wanted``
        (all when empty), each with its winning token; a market no longer configured is left
        out (its token ids are unknown)."""
        views: list[ResolvedMarketView] = []
        for market_id, winner in self.ledger.settlements().items():
            market = self._markets.get(market_id)
            if market is None or (wanted and market_id not in wanted):
                continue
            index = 0 if winner is Outcome.YES else 1
            token = None if winner is None else market.token_ids[index]
            views.append(ResolvedMarketView(market_id=market_id, winning_token_id=token))
        return tuple(views)

    def status(self) -> EngineStatus:
        """Everything /status shows: positions, P&L, open orders, halts, kill switch."""
        summary = self.ledger.summary(self.marks())
        return EngineStatus(
            ready=self.ready,
            executor=self.executor.name,
            kill_switch=KillSwitchView(engaged=self.kill_switch.engaged,
                                       reason=self.kill_switch.reason),
            halted_markets={h.market_id: h.reason for h in self.risk.breakers.halts()},
            pnl=PnlView(
                realized_usdc=summary.realized_usdc,
                unrealized_usdc=summary.unrealized_usdc,
                fees_usdc=summary.fees_usdc,
                daily_usdc=self.daily.daily_usdc,
                by_market=self.ledger.realized_by_market(),
                by_strategy=self.ledger.realized_by_strategy(),
            ),
            exposure_usdc=summary.exposure_usdc,
            positions=tuple(
                PositionStatus(market_id=p.market_id, token_id=p.token_id,
                               outcome=p.outcome.value, shares=p.shares,
                               cost_usdc=p.cost_usdc, fees_usdc=p.fees_usdc)
                for p in self.ledger.positions() if p.shares > 0
            ),
            open_orders=tuple(
                OpenOrderStatus(order_id=r.order_id, market_id=r.market_id,
                                token_id=r.token_id, side=r.side.value, price=r.price,
                                size=r.size, filled_size=r.filled_size, status=r.status.value)
                for r in self.orders.open_orders()
            ),
            unstored_fills=self.orders.unstored_fills,
            storage_error=self.orders.storage_error,
        )
