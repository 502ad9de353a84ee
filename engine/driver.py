"""The engine's async shell around the sans-I/O core: it carries the core's effects out with
the executor and feeds the answers back (docs/DECISIONS.md D11, specs/07).

One driver serves the process (:mod:`engine.main`, which adds sockets, timers and signals), the
replay, the intake bench and the tests, so they all run the same sequence: the core decides,
the driver calls the venue. Ordering and timing are those of specs/07: at most
``execution.max_inflight_submits`` submits at once, a pair's legs started in arrival order,
a market's cancels after its submits in flight, the kill switch's cancels after every submit
(≤ 5 s) before the tick returns, periodic reconciliation with submits paused, a bounded drain
and the optional cancel-all at shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, Protocol, runtime_checkable

from engine.core import EngineCore, Send
from engine.effects import (
    CancelAll,
    CancelAnswer,
    CancelOrders,
    ConfirmResolution,
    Effect,
    EngageKillFile,
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
    OrderRequest,
    SubmitOutcome,
    SubmitResult,
    VenueTrades,
)
from engine.kill_switch import KillFile, KillSwitchFile, carry_out
from engine.reconciler import EngineView, Reconciler
from engine.scheduling import BackgroundTasks, CancelScheduler, SubmitScheduler
from polyloly import metrics
from polyloly.logs import get_logger

_LOG = get_logger("engine.driver")
Sleep = Callable[[float], Awaitable[None]]


@runtime_checkable
class ResolutionSource(Protocol):
    """An executor that can read a market's resolution from the venue's REST (the real
    one: ``GET /markets/{condition_id}``)."""

    async def market_resolution(self, market_id: str) -> ResolutionAnswer: ...


@runtime_checkable
class PreparingVenue(Protocol):
    """An executor that knows an order's venue id before posting it (the real one: the id is
    the signed order's hash)."""

    def prepare(self, order: OrderRequest) -> str | None: ...


class EngineDriver:
    """Feeds an :class:`EngineCore` and carries out its effects with ``executor``.

    ``send`` takes every outbound message; ``sleep`` paces the submit retry backoff (a no-op
    in replays and tests); ``kill_file`` receives the core's own kill-switch pulls (None: the
    caller carries :class:`EngageKillFile` out itself, e.g. a replay keeps no file).
    """

    def __init__(self, core: EngineCore, executor: Executor, send: Send, *,
                 sleep: Sleep = asyncio.sleep, kill_file: KillSwitchFile | None = None) -> None:
        self.core = core
        self.executor = executor
        self.send = send
        self._sleep = sleep
        self.kill_file = kill_file
        self.tasks = BackgroundTasks()
        self.submits = SubmitScheduler(core.config.execution.max_inflight_submits, self.tasks)
        self.cancels = CancelScheduler(self.submits)
        self.reconciler = Reconciler(EngineView(core))  # start-up and periodic runs

    # --- inputs -------------------------------------------------------------------------------

    async def handle_frames(self, frames: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Every frame ready on a socket (:meth:`EngineCore.handle_frames`)."""
        self.core.handle_frames(frames, self.send)
        await self._after_intake()

    async def handle_frame(self, identity: bytes | None, payload: bytes) -> None:
        """One raw frame."""
        await self.handle_frames(((identity, payload),))

    async def handle(self, identity: bytes | None, message: Any) -> None:
        """One decoded message (tests and replay)."""
        self.core.handle(identity, message, self.send)
        await self._after_intake()

    async def _after_intake(self) -> None:
        """Apply what the executor reported meanwhile (a user-channel update queues events),
        start the submits and cancels asked for, then give the loop one turn: an executor
        that answers at once is done after it."""
        self.settle()
        started = await self.carry_out(self.core.take_effects())
        if started:
            await asyncio.sleep(0)

    async def on_book_change(self, token_ids: Iterable[str]) -> None:
        """The one book entry: the core samples the mids, then the executor advances once
        (resting orders match the books as they are now, delayed ones are released) and its
        events go back to the core."""
        self.core.on_book_change(token_ids)
        await self.executor.tick(self.core.clock.wall_ms())
        self.settle()

    async def tick(self, *, kill: KillFile | None = None, resolve_pending: bool = False) -> None:
        """The periodic step: advance the executor and apply its events, resolve pending
        orders when asked (the venue's answers go back to the core), then the core's tick
        with the kill file's content; its effects are carried out before this returns (the
        kill switch's cancels included)."""
        await self.executor.tick(self.core.clock.wall_ms())
        self.core.on_executor_events(self._events(), self.send)
        if resolve_pending:
            effect = self.core.resolve_effect()
            if effect is not None:
                await self._resolve(effect)
            for claim in self.core.resolution_claims():  # unconfirmed ones, asked again
                await self._confirm_resolution(claim)
        self.core.tick(self.send, kill=kill)
        await self.carry_out(self.core.take_effects())
        self.core.flush(self.send)

    def settle(self) -> None:
        """Hand the executor's queued events to the core, which applies them and flushes."""
        self.core.on_executor_events(self._events(), self.send)

    def _events(self) -> ExecutorEvents:
        return ExecutorEvents(tuple(self.executor.drain_events()))

    # --- effects ------------------------------------------------------------------------------

    async def carry_out(self, effects: Sequence[Effect]) -> bool:
        """Carry out ``effects`` in order; return whether a background task was started.
        Submits and a market's cancels run as tasks; the kill switch's cancels, resolutions and
        the shutdown cancel-all are awaited here."""
        started = False
        for effect in effects:
            if isinstance(effect, SubmitOrder):
                self._submit(effect)
                started = True
            elif isinstance(effect, CancelOrders):
                if effect.market_id is None:
                    await self.cancels.after_all_submits(effect.wait_s or 0.0,
                                                         partial(self._cancel, effect))
                    self.core.flush(self.send)
                else:
                    self.cancels.after_market_submits(effect.market_id,
                                                      partial(self._cancel, effect))
                    started = True
            elif isinstance(effect, EngageKillFile):
                if self.kill_file is not None:
                    carry_out(self.kill_file, [effect])
            elif isinstance(effect, ResolvePending):
                await self._resolve(effect)
            elif isinstance(effect, CancelAll):
                await self._cancel_all(effect)
            elif isinstance(effect, Reconcile):
                self._reconcile(effect)
                started = True
            elif isinstance(effect, ConfirmResolution):
                await self._confirm_resolution(effect)
        return started

    async def _confirm_resolution(self, effect: ConfirmResolution) -> None:
        """Ask the venue's REST about a resolution claim; an executor without REST (paper)
        answers "unconfirmable" with the resolved state the claim had — nothing else can."""
        executor = self.executor
        answer: ResolutionAnswer | None
        if isinstance(executor, ResolutionSource):
            try:
                answer = await executor.market_resolution(effect.market_id)
            except Exception as exc:
                _LOG.warning("resolution_query_failed", repr(exc), market_id=effect.market_id)
                answer = None
        else:
            answer = self.core.unconfirmable_resolution(effect.market_id)
        self.core.on_resolution_answer(effect.market_id, answer)
        self.core.flush(self.send)

    def _submit(self, effect: SubmitOrder) -> None:
        core = self.core

        async def send(request: OrderRequest) -> None:
            executor = self.executor
            if isinstance(executor, PreparingVenue):
                # the venue id, stored before the POST: a crash before the answer is resolved
                # by looking the order up at restart (issue 20 #14)
                core.on_prepared(effect.order_id, executor.prepare(request))
            while True:
                started_ns = core.clock.monotonic_ns()
                result = await self._safe_submit(request)
                latency_s = (core.clock.monotonic_ns() - started_ns) / 1e9
                delay_s = core.on_submit_answer(SubmitAnswer(effect.order_id, result, latency_s))
                if delay_s is None:
                    return
                await self._sleep(delay_s)

        self.submits.submit(
            effect.order_id, effect.market_id,
            begin=lambda: core.begin_submit(effect.order_id),
            send=send,
            abandon=lambda reason: core.abandon_submit(effect.order_id, reason),
            settle=self.settle,
        )

    async def _safe_submit(self, request: OrderRequest) -> SubmitResult:
        try:
            return await self.executor.submit(request)
        except Exception as exc:  # an executor bug must not lose the order: outcome unknown
            _LOG.error("executor_error", "submit raised; order tracked as UNKNOWN",
                       order_id=request.client_order_id, error=repr(exc))
            return SubmitResult(SubmitOutcome.UNKNOWN, message=f"executor raised: {exc!r}")

    async def _cancel(self, effect: CancelOrders) -> None:
        """Cancel the effect's targets one by one (each answer back to the core)."""
        try:
            for order_id in self.core.cancel_targets(effect):
                venue_order_id = self.core.begin_cancel(order_id, effect.reason)
                if venue_order_id is None:
                    continue
                result: CancelResult | None
                try:
                    result = await self.executor.cancel(venue_order_id)
                except Exception as exc:
                    result = None
                    _LOG.warning("cancel_failed", repr(exc), order_id=order_id)
                self.core.on_cancel_answer(CancelAnswer(order_id, venue_order_id, result,
                                                        effect.reason))
        finally:
            self.settle()

    async def _cancel_all(self, effect: CancelAll) -> bool:
        try:
            result = await self.executor.cancel_all()
        except Exception as exc:
            _LOG.error("cancel_all_failed", repr(exc))
            return False
        ok = self.core.on_cancel_all_answer(result, effect.reason)
        self.core.flush(self.send)
        return ok

    async def _resolve(self, effect: ResolvePending) -> None:
        """Ask the venue about each order of ``effect`` (never resend); failures are logged
        and the order is asked about again at the next resolution."""
        for order_id in effect.order_ids:
            venue_order_id = self.core.venue_order_id(order_id)
            if venue_order_id is None:
                try:
                    listing = await self.executor.open_orders()
                except Exception as exc:
                    _LOG.warning("open_orders_failed", repr(exc), order_id=order_id)
                    continue
                self.core.on_open_orders_listing(order_id, listing)
                continue
            try:
                venue = await self.executor.order_status(venue_order_id)
            except Exception as exc:
                _LOG.warning("order_status_failed", repr(exc), order_id=order_id)
                continue
            trades: VenueTrades | None = None
            since_ms = None if venue is None else self.core.fills_since_ms(order_id, venue)
            if since_ms is not None:
                try:
                    trades = await self.executor.trades(since_ms)
                except Exception as exc:
                    _LOG.warning("trades_failed", repr(exc), order_id=order_id)
            self.core.on_order_status(order_id, venue, trades)

    def _reconcile(self, effect: Reconcile) -> asyncio.Task[Any] | None:
        return self.submits.reconcile(self.reconciler.periodically, effect.wait_s,
                                      settle=self.settle)

    # --- process-level operations -------------------------------------------------------------

    async def reconcile_on_start(self, *, adopt: bool = False) -> None:
        """Reconcile with the venue before intake (:meth:`Reconciler.on_start`: retried until
        the venue's answer is complete, else the engine refuses to start); ``adopt`` (a fresh
        state): the venue's open orders and positions become ours."""
        await self.reconciler.on_start(adopt=adopt)
        self.settle()

    def start_periodic_reconcile(self) -> asyncio.Task[Any] | None:
        """Start one background reconciliation when the core asks for it (live executors,
        intake open) and none runs; return the task (its result is the plan, None when it
        failed or was skipped)."""
        effect = self.core.reconcile_effect()
        return None if effect is None else self._reconcile(effect)

    def submits_in_flight(self, market_id: str | None = None) -> int:
        """Submits started or queued and not finished (of one market, or all)."""
        return self.submits.in_flight(market_id)

    async def wait_submits(self, timeout_s: float, market_id: str | None = None) -> bool:
        """Wait up to ``timeout_s`` s for the current submits (of one market, or all) to
        finish; return whether they all did."""
        return await self.submits.wait(timeout_s, market_id)

    async def drain(self, timeout_s: float) -> int:
        """At shutdown: wait up to ``timeout_s`` s for every background task (submits, cancels,
        reconciliation), then cancel what is left; return how many were cancelled. An
        interrupted submit leaves its order UNKNOWN (resolved at the next start)."""
        return await self.tasks.drain(timeout_s)

    async def shutdown(self, budget_s: float) -> None:
        """Stop intake, drain (≤ ``budget_s``; queued submits are dropped as CANCELLED, those
        in flight finish), flush, then cancel everything at the venue when configured
        (≤ ``budget_s``). Failures are logged: shutdown always goes on."""
        self.core.stop_intake()
        try:
            await self.drain(budget_s)
            self.core.flush(self.send)
        except Exception as exc:
            _LOG.error("shutdown_drain_failed", repr(exc))
        effect = self.core.shutdown_effect()
        if effect is None:
            return
        try:
            await asyncio.wait_for(self._cancel_all(effect), budget_s)
        except (TimeoutError, Exception) as exc:
            metrics.dead_letters.labels(source="engine", reason="shutdown_cancel").inc()
            _LOG.error("shutdown_cancel_failed", repr(exc))
