"""Concurrency of the engine's venue calls: submits, cancels and reconciliation as tasks.

The core decides *what* to send (its effects); this decides *when*: at most
``execution.max_inflight_submits`` submits at once, none while a reconciliation runs (a venue
order we have not heard back about would look foreign) (:class:`SubmitScheduler`), a cancel
only after the submits of its market in flight when it arrived, so every target has its venue
id, or for the kill switch after every submit in flight, bounded (:class:`CancelScheduler`),
and a bounded drain of every task at shutdown (:class:`BackgroundTasks`). No sleeping: waits
are on events, bounded by timeouts. Used by the shell, :mod:`engine.driver`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from polyloly import metrics
from polyloly.logs import get_logger

_LOG = get_logger("engine.scheduling")
T = TypeVar("T")
R = TypeVar("R")


class BackgroundTasks:
    """The shell's background tasks (submits, cancels, reconciliation), drained at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` s for every task, then cancel what is left; return how
        many were cancelled."""
        tasks = list(self._tasks)
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


class SubmitScheduler:
    """Runs submits (bounded concurrency) and reconciliations as tasks of the running loop."""

    def __init__(self, max_inflight: int, tasks: BackgroundTasks | None = None) -> None:
        self.tasks = tasks or BackgroundTasks()
        self._slots = asyncio.Semaphore(max_inflight)
        self._open = asyncio.Event()  # cleared while a reconciliation runs
        self._open.set()
        self._idle = asyncio.Event()  # set while no submit is talking to the venue
        self._idle.set()
        self._submitting = 0
        self._submits: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._reconcile: asyncio.Task[Any] | None = None

    # --- submits ------------------------------------------------------------------------------

    def submit(
        self,
        order_id: str,
        market_id: str,
        *,
        begin: Callable[[], R | None],
        send: Callable[[R], Awaitable[None]],
        abandon: Callable[[str], None],
        settle: Callable[[], None],
    ) -> None:
        """Run one stored, acknowledged order's submit as its own task: wait for a free slot and
        for no reconciliation, then ``send(begin())`` unless ``begin()`` says None (the core
        dropped it: halt, kill switch, stopping); ``settle()`` runs last whatever happened. A
        submit interrupted at shutdown or raising is abandoned (``abandon(reason)``)."""

        async def run() -> None:
            try:
                async with self._slots:
                    await self._open.wait()
                    request = begin()
                    if request is None:
                        return
                    self._submitting += 1
                    self._idle.clear()
                    try:
                        await send(request)
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
        self.tasks.track(task)
        task.add_done_callback(lambda done: self._forget(order_id, done))

    def _forget(self, order_id: str, task: asyncio.Task[Any]) -> None:
        if self._submits.get(order_id, (None, task))[1] is task:
            del self._submits[order_id]

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
        tasks = self.current(market_id)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending

    def current(self, market_id: str | None = None) -> list[asyncio.Task[None]]:
        """The submit tasks (of one market, or all) started or queued now."""
        return [t for m, t in self._submits.values() if market_id in (None, m)]

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
        self.tasks.track(task)
        return task



class CancelScheduler:
    """When cancels run: after the submits they must wait for (so every target has its venue
    id). One market's cancels run in the background; the kill switch's are awaited."""

    def __init__(self, submits: SubmitScheduler) -> None:
        self._submits = submits

    def after_market_submits(self, market_id: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work()`` as a task once the submits of ``market_id`` in flight now finished."""
        before = self._submits.current(market_id)

        async def run() -> None:
            if before:
                await asyncio.wait(before)
            await work()

        self._submits.tasks.track(asyncio.get_running_loop().create_task(run()))

    async def after_all_submits(self, wait_s: float, work: Callable[[], Awaitable[None]]) -> None:
        """Wait up to ``wait_s`` s for every submit in flight now, then run ``work()``
        (the kill switch: queued submits are dropped by the core meanwhile)."""
        await self._submits.wait(wait_s)
        await work()
