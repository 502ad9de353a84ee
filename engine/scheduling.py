"""Concurrency of the engine's venue calls: submits, cancels and reconciliation as tasks.

The core decides *what* to send; this decides *when*: at most
``execution.max_inflight_submits`` submits at once, none while a reconciliation runs (a venue
order we have not heard back about would look foreign), a cancel only after the submits of its
market in flight when it arrived (so every target has its venue id), and a bounded drain at
shutdown. No sleeping: waits are on events, bounded by timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from polyloly import metrics
from polyloly.logs import get_logger

_LOG = get_logger("engine.scheduling")
T = TypeVar("T")


class SubmitScheduler:
    """Runs submits, cancels and reconciliations as tasks of the running event loop."""

    def __init__(self, max_inflight: int) -> None:
        self._slots = asyncio.Semaphore(max_inflight)
        self._open = asyncio.Event()  # cleared while a reconciliation runs
        self._open.set()
        self._idle = asyncio.Event()  # set while no submit is talking to the venue
        self._idle.set()
        self._submitting = 0
        self._submits: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._reconcile: asyncio.Task[Any] | None = None

    # --- submits ------------------------------------------------------------------------------

    def submit(
        self,
        order_id: str,
        market_id: str,
        *,
        blocked: Callable[[], str],
        send: Callable[[], Awaitable[None]],
        abandon: Callable[[str], None],
        settle: Callable[[], None],
    ) -> None:
        """Run one stored, acknowledged order's submit as its own task: wait for a free slot and
        for no reconciliation, then ``send()`` unless ``blocked()`` names a reason (then
        ``abandon(reason)``); ``settle()`` runs last whatever happened."""

        async def run() -> None:
            try:
                async with self._slots:
                    await self._open.wait()
                    reason = blocked()
                    if reason:
                        abandon(reason)
                        return
                    self._submitting += 1
                    self._idle.clear()
                    try:
                        await send()
                    finally:
                        self._submitting -= 1
                        if not self._submitting:
                            self._idle.set()
            except asyncio.CancelledError:
                abandon("submit interrupted at shutdown")
                raise
            except Exception as exc:  # a bug must not lose the order: it is tracked as UNKNOWN
                metrics.dead_letters.labels(source="engine", reason="submit_error").inc()
                _LOG.error("submit_error", repr(exc), order_id=order_id)
                abandon(f"submit failed: {exc!r}")
            finally:
                settle()

        task = asyncio.get_running_loop().create_task(run())
        self._submits[order_id] = (market_id, task)
        self._background.add(task)
        task.add_done_callback(lambda done: self._forget(order_id, done))

    def _forget(self, order_id: str, task: asyncio.Task[Any]) -> None:
        self._submits.pop(order_id, None)
        self._background.discard(task)

    async def yield_turn(self) -> None:
        """Give the loop one turn: an executor that answers at once is done after it."""
        await asyncio.sleep(0)

    def in_flight(self, market_id: str | None = None) -> int:
        """Submits started or queued and not finished (of one market, or all)."""
        return sum(1 for m, t in self._submits.values()
                   if market_id in (None, m) and not t.done())

    async def wait(self, timeout_s: float, market_id: str | None = None) -> bool:
        """Wait up to ``timeout_s`` s for the current submits (of one market, or all) to
        finish; return whether they all did."""
        tasks = [t for m, t in self._submits.values() if market_id in (None, m)]
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending

    # --- cancels ------------------------------------------------------------------------------

    def after_submits(self, market_id: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work()`` as a task once the submits of ``market_id`` in flight now finished."""
        before = [t for m, t in self._submits.values() if m == market_id]

        async def run() -> None:
            if before:
                await asyncio.wait(before)
            await work()

        self._track(asyncio.get_running_loop().create_task(run()))

    # --- reconciliation -----------------------------------------------------------------------

    def reconcile(self, work: Callable[[], Awaitable[T]], wait_s: float,
                  settle: Callable[[], None]) -> asyncio.Task[T | None] | None:
        """Start one reconciliation task unless one still runs: pause new submits, wait up to
        ``wait_s`` for those in flight (skipped when they do not finish), run ``work()``,
        resume submits, ``settle()``. A failure is logged and counted, never raised."""
        if self._reconcile is not None and not self._reconcile.done():
            return None

        async def run() -> T | None:
            self._open.clear()
            try:
                try:
                    await asyncio.wait_for(self._idle.wait(), wait_s)
                except TimeoutError:
                    _LOG.warning("reconcile_skipped", "submits still in flight; next interval",
                                 in_flight=self._submitting)
                    return None
                return await work()
            except Exception as exc:  # a failed reconciliation must never stop the engine
                metrics.dead_letters.labels(source="engine", reason="reconcile_error").inc()
                _LOG.error("reconcile_error", repr(exc))
                return None
            finally:
                self._open.set()
                settle()

        task = asyncio.get_running_loop().create_task(run())
        self._reconcile = task
        self._track(task)
        return task

    # --- shutdown -----------------------------------------------------------------------------

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` s for every task (submits, cancels, reconciliation), then
        cancel what is left; return how many were cancelled."""
        tasks = list(self._background)
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
            _LOG.error("drain_timeout", "background tasks cancelled at shutdown",
                       count=len(pending))
        return len(pending)
