"""What the sans-I/O engine core asks of its shell, and what the shell tells it back.

The core (:mod:`engine.core`) never awaits: it takes messages, book changes, the kill file's
content and time, and answers with messages (through the caller's ``send``) and the effects
below (:meth:`engine.core.EngineCore.take_effects`). The shell (:mod:`engine.driver`, used by
the process, the replay, the bench and the tests) carries each effect out with the executor
and feeds the venue's answers back as the result messages below. specs/07 "The core's inputs,
outputs and effects" lists them with the test proving each rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.executors.base import CancelResult, ExecutorEvent, SubmitResult
from engine.kill_switch import EngageKillFile

# --- effects: core → shell --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Send the stored, acknowledged order ``order_id`` to the venue when a submit slot is
    free and no reconciliation runs; the shell then asks :meth:`EngineCore.begin_submit` for
    the request (the core may drop it: halt, kill switch, stopping) and answers with
    :class:`SubmitAnswer` after every attempt."""

    order_id: str
    market_id: str


@dataclass(frozen=True, slots=True)
class CancelOrders:
    """Cancel open orders once the submits in flight now have finished (so every target has its
    venue id). ``market_id`` None is the kill switch: every market, the wait bounded by
    ``wait_s`` and carried out before the shell goes on; otherwise one market's orders named in
    ``order_ids``, in the background. The shell takes the targets then
    (:meth:`EngineCore.begin_cancel`) and answers with :class:`CancelAnswer` per order."""

    reason: str
    market_id: str | None = None
    order_ids: frozenset[str] | None = None
    wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Ask the venue to cancel every order of ours (shutdown with
    ``execution.cancel_on_shutdown``); the answer goes to
    :meth:`EngineCore.on_cancel_all_answer`."""

    reason: str


@dataclass(frozen=True, slots=True)
class ResolvePending:
    """Ask the venue about these orders (UNKNOWN, or SUBMITTED and old): ``order_status`` by
    venue id, else the open-order listing; the answers go to
    :meth:`EngineCore.on_order_status` / :meth:`EngineCore.on_open_orders_listing`."""

    order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Run one periodic reconciliation (``Reconciler.periodically``): new submits paused, those
    in flight awaited up to ``wait_s`` seconds first (skipped when they do not finish)."""

    wait_s: float


@dataclass(frozen=True, slots=True)
class ConfirmResolution:
    """Ask the venue's REST whether ``market_id`` really resolved (and who won) before it is
    settled: a ``market_resolved`` frame is only a claim (issue 20 #2). The answer goes to
    :meth:`EngineCore.on_resolution_answer`."""

    market_id: str


Effect = (SubmitOrder | CancelOrders | CancelAll | ResolvePending | Reconcile | EngageKillFile
          | ConfirmResolution)
"""Everything the core may ask of the shell."""

# --- results: shell → core --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitAnswer:
    """The venue's answer to one submit attempt, with the attempt's wall latency (s)."""

    order_id: str
    result: SubmitResult
    latency_s: float


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """The venue's answer to cancelling one order (``result`` None: the call failed)."""

    order_id: str
    venue_order_id: str
    result: CancelResult | None
    reason: str


@dataclass(frozen=True, slots=True)
class ResolutionAnswer:
    """The venue's REST view of one market: ``resolved`` and the winning token (None: a
    50-50 resolution). ``source`` says who answered ("venue REST", or "unconfirmable" for an
    executor with no REST, e.g. paper, where the gateway's word is all there is)."""

    resolved: bool
    winning_token_id: str | None
    source: str


@dataclass(frozen=True, slots=True)
class ExecutorEvents:
    """Fills and order updates the executor reported since the shell last drained it."""

    events: tuple[ExecutorEvent, ...]


__all__ = [
    "CancelAll", "CancelAnswer", "CancelOrders", "ConfirmResolution", "Effect", "EngageKillFile",
    "ExecutorEvents", "Reconcile", "ResolutionAnswer", "ResolvePending", "SubmitAnswer",
    "SubmitOrder",
]
