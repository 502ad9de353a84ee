"""Live intents against replayed intents, and why they may differ.

Why they can differ (specs/11, "Live equality"): a live shard handles a BookTick or a
MatchEvent some time after the gateway received it (its processing lag: microseconds idle, a
few milliseconds under load) and then reads the *newest* book in shared memory — books are
state, ticks only say "changed" (ARCHITECTURE §3). Frames that arrived during that lag are already
in the book it reads; the replay reads the book exactly as of the message being handled. So a
live decision can use a newer book than the replayed one, and the two intents differ in price,
size, or existence; after a market's first difference its positions and cooldowns differ too.

The second reason is timer phase: live timers run on their own phase (a shard's ``on_time``
every ``shards.time_interval_ms`` from its start; the engine's tick every 50 ms from its start,
and that tick decides when a delayed paper order matches — hence fill sizes, hence rebalances).
The recording does not hold those phases; the replay runs its timers from the first message.

The same holds for fills: a delayed paper order matches at the first engine tick after its
delay, against the book of that moment, so fill sizes can differ, and positions with them.

What must hold, and what :func:`compare_intents` checks: per market, the live and replayed
intent sequences are identical up to their first difference, and that first difference has
one of the two causes: ``book_race`` — a market-data frame for one of the market's tokens was
recorded inside the live lag window of the differing intent (``(t_origin, t_decision]`` of a
live intent; for an intent only the replay made, ``(t_origin, t_origin + max observed live
lag]``) — ``fill_timing`` — the market's fills before the difference differ — or
``timer_phase`` — a differing intent was not decided on a recorded input (live: its origin is
no recorded receive time; replay: its decision time is none).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from gateway.polymarket.parse import MarketResolved, parse_market_frame
from polyloly.eventlog import EnvelopeError, parse_envelope
from polyloly.messages import (
    ExecutionReport,
    Message,
    MessageDecodeError,
    OrderIntent,
    StateQuery,
    from_builtins,
)
from replay.outputs import intent_key
from replay.recording import MARKET_WS, REST_BOOK, RecordedMessage

MIN_LAG_WINDOW_NS = 1_000_000  # 1 ms: the smallest live lag window assumed for replay-only


def _journal(events_dir: str | Path, kind: bytes) -> list[Message]:
    found: list[Message] = []
    for path in sorted(Path(events_dir).glob("engine-*.jsonl")):
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if kind not in line:
                continue
            try:
                found.append(from_builtins(parse_envelope(line, where=f"{path}:{number}")
                                           .payload))
            except (EnvelopeError, MessageDecodeError, msgspec.ValidationError):
                continue  # a truncated tail
    return found


def load_live_intents(events_dir: str | Path) -> list[OrderIntent]:
    """Every OrderIntent the live engine journaled (``engine-*.jsonl``), in arrival order."""
    return [m for m in _journal(events_dir, b'"order_intent"') if isinstance(m, OrderIntent)]


def load_live_fills(events_dir: str | Path) -> list[ExecutionReport]:
    """Every ExecutionReport with a fill the live engine journaled, in order."""
    return [m for m in _journal(events_dir, b'"execution_report"')
            if isinstance(m, ExecutionReport) and m.last_fill_size > 0]


def live_shard_joins(events_dir: str | Path) -> dict[int, int]:
    """Shard → when it joined the live session: the ``t_sent_ns`` (CLOCK_MONOTONIC, the
    recording's clock) of its first StateQuery in the engine's journal."""
    joins: dict[int, int] = {}
    for message in _journal(events_dir, b'"state_query"'):
        if isinstance(message, StateQuery):
            joins.setdefault(message.shard_id, message.t_sent_ns)
    return joins


def token_frame_times(messages: Iterable[RecordedMessage]) -> dict[str, list[int]]:
    """Token id → sorted receive times (ns) of the market-data frames that touched it."""
    times: defaultdict[str, list[int]] = defaultdict(list)
    for message in messages:
        if message.event_type not in (MARKET_WS, REST_BOOK):
            continue
        if message.event_type == REST_BOOK:
            times["*rest*"].append(message.t_recv_ns)
            continue
        for event in parse_market_frame(message.raw).events:
            if not isinstance(event, MarketResolved):
                times[event.token_id].append(message.t_recv_ns)
    return {token: sorted(values) for token, values in times.items()}


def _frames_between(times: Sequence[int], start_ns: int, end_ns: int) -> int:
    return bisect.bisect_right(times, end_ns) - bisect.bisect_right(times, start_ns)


@dataclass(frozen=True, slots=True)
class MarketComparison:
    """One market's live and replayed intents, compared."""

    market_id: str
    live: int
    replayed: int
    equal_prefix: int  # intents identical, in order, before the first difference
    identical: bool
    first_difference: str = ""
    race_frames: int = 0  # frames of the market's tokens inside the lag window
    cause: str = ""  # "", "book_race", "fill_timing", "timer_phase" or "unexplained"

    @property
    def explained(self) -> bool:
        """Identical, or the first difference has a known structural cause."""
        return self.identical or self.cause in ("book_race", "fill_timing", "timer_phase")


@dataclass(slots=True)
class Comparison:
    """All markets; :attr:`holds` is the property of the module docstring."""

    markets: list[MarketComparison] = field(default_factory=list)
    max_live_lag_ns: int = 0

    @property
    def holds(self) -> bool:
        return all(m.explained for m in self.markets)

    @property
    def identical_intents(self) -> int:
        return sum(m.equal_prefix for m in self.markets)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (summary.json ``live_comparison``)."""
        return {
            "holds": self.holds,
            "identical_intents": self.identical_intents,
            "max_live_lag_ms": round(self.max_live_lag_ns / 1e6, 3),
            "markets": [{"market_id": m.market_id, "live": m.live, "replayed": m.replayed,
                         "equal_prefix": m.equal_prefix, "identical": m.identical,
                         "first_difference": m.first_difference,
                         "race_frames": m.race_frames, "cause": m.cause}
                        for m in self.markets],
        }


def compare_intents(live: Sequence[OrderIntent], replayed: Sequence[OrderIntent],
                    frame_times: dict[str, list[int]], input_times: set[int], *,
                    until_ns: int | None = None, live_fills: Sequence[ExecutionReport] = (),
                    replay_fills: Sequence[ExecutionReport] = ()) -> Comparison:
    """Compare per market (intents decided after ``until_ns`` are left out on both sides).

    ``frame_times``: :func:`token_frame_times` of the recording; ``input_times``: the receive
    times (ns) of every recorded message; ``live_fills``/``replay_fills``: reports with fills.
    """
    if until_ns is not None:
        live = [i for i in live if i.t_decision_ns <= until_ns]
        replayed = [i for i in replayed if i.t_decision_ns <= until_ns]
    max_lag = max((i.t_decision_ns - i.t_origin_ns for i in live), default=0)
    window = max(max_lag, MIN_LAG_WINDOW_NS)
    by_market_live: defaultdict[str, list[OrderIntent]] = defaultdict(list)
    by_market_replay: defaultdict[str, list[OrderIntent]] = defaultdict(list)
    for intent in live:
        by_market_live[intent.market_id].append(intent)
    for intent in replayed:
        by_market_replay[intent.market_id].append(intent)
    comparison = Comparison(max_live_lag_ns=max_lag)
    for market_id in sorted(set(by_market_live) | set(by_market_replay)):
        ours, theirs = by_market_replay[market_id], by_market_live[market_id]
        prefix = 0
        while (prefix < len(ours) and prefix < len(theirs)
               and intent_key(ours[prefix]) == intent_key(theirs[prefix])):
            prefix += 1
        if prefix == len(ours) == len(theirs):
            comparison.markets.append(MarketComparison(market_id, len(theirs), len(ours),
                                                       prefix, True))
            continue
        tokens = {i.token_id for i in (*ours, *theirs)}
        windows: list[tuple[int, int]] = []
        detail = []
        timer_driven = False
        cutoffs = []
        if prefix < len(theirs):
            first_live = theirs[prefix]
            windows.append((first_live.t_origin_ns, first_live.t_decision_ns))
            detail.append(f"live #{prefix}: {_describe(first_live)}")
            timer_driven |= first_live.t_origin_ns not in input_times
            cutoffs.append(first_live.t_decision_ns)
        if prefix < len(ours):
            first_ours = ours[prefix]
            windows.append((first_ours.t_origin_ns, first_ours.t_origin_ns + window))
            detail.append(f"replay #{prefix}: {_describe(first_ours)}")
            timer_driven |= first_ours.t_decision_ns not in input_times
            cutoffs.append(first_ours.t_decision_ns)
        races = sum(_frames_between(frame_times.get(token, []), start, end)
                    for token in tokens for start, end in windows)
        cutoff = min(cutoffs)
        fills_differ = (_fills(live_fills, market_id, cutoff)
                        != _fills(replay_fills, market_id, cutoff))
        cause = ("book_race" if races else "fill_timing" if fills_differ
                 else "timer_phase" if timer_driven else "unexplained")
        comparison.markets.append(MarketComparison(
            market_id, len(theirs), len(ours), prefix, False, "; ".join(detail), races, cause))
    return comparison


def _fills(reports: Sequence[ExecutionReport], market_id: str,
           until_ns: int) -> list[tuple[str, float, float]]:
    return [(r.idempotency_key, round(r.last_fill_size, 6), r.last_fill_price) for r in reports
            if r.market_id == market_id and r.t_ns <= until_ns and r.last_fill_size > 0]


def _describe(intent: OrderIntent) -> str:
    return (f"{intent.strategy.value} {intent.side.value} {intent.outcome.value} "
            f"{intent.size:g}@{intent.price:g} origin {intent.t_origin_ns} "
            f"decision {intent.t_decision_ns}")
