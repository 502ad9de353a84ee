"""Truth Engine (SPEC §4.1, §6.2): one match's state, from normalized esports events.

Pure: every method takes the event and the time (CLOCK_MONOTONIC ns) and returns messages
(:class:`TruthDelta`, :class:`TruthFinal`). The state machine is the table
:data:`TRUTH_TRANSITIONS`; see specs/02_TRUTH_ENGINE_SPEC.md for every rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from polyloly.config import TruthConfig
from polyloly.domain import MatchEventType, SourceTier, TruthStatus
from polyloly.fsm import StateMachine
from polyloly.messages import (
    MapEndedPayload,
    MatchEndedPayload,
    MatchEvent,
    MatchPayload,
    TruthDelta,
    TruthFinal,
)
from shards.truth_sources import (
    END,
    GAME,
    IN_MAP,
    MAP_WINNER,
    SERIES,
    TIER_RANK,
    Disagreement,
    Fact,
    FactValue,
    SourceView,
    disagreements,
    in_map_key,
    merged,
    overruled_ends,
)

_NS_PER_MS: Final = 1_000_000
_FACT_EVENTS: Final = frozenset({MatchEventType.GAME_STATE, MatchEventType.MAP_STARTED,
                                 MatchEventType.MAP_ENDED, MatchEventType.MATCH_ENDED})
_EPSILON: Final = 1e-9  # confidence sums such as 0.8 + 0.1 compare as reaching 0.9


class TruthTrigger(StrEnum):
    """What moves a match's Truth Engine state."""

    START = "start"  # MATCH_STARTED
    UPDATE = "update"  # GAME_STATE, MAP_STARTED, MAP_ENDED
    PAUSE = "pause"  # MATCH_PAUSED
    RESUME = "resume"  # MATCH_RESUMED, or any event after a silence pause
    SILENCE_TIMEOUT = "silence_timeout"  # LIVE and no event for truth.pause_timeout_ms
    END_REPORTED = "end_reported"  # first MATCH_ENDED from a tier A or B source
    CORROBORATE = "corroborate"  # a further consistent MATCH_ENDED, not yet final
    CONFIRM = "confirm"  # a confirmation rule holds
    CONFLICT = "conflict"  # sources disagree on a map winner, the series score or the end
    RETRACT = "retract"  # the end reports behind PENDING_CONFIRM were overruled (spec 02)


class PauseReason(StrEnum):
    """Why a match is PAUSED; decides what may take it out."""

    PROVIDER = "provider"  # MATCH_PAUSED: MATCH_RESUMED (or an end report) leaves
    SILENCE = "silence"  # no event for pause_timeout_ms: any new event leaves
    CONFLICT = "conflict"  # sources disagree: leaves only when the disagreement settles


class ConfirmRule(StrEnum):
    """SPEC §6.2 rules, plus the SPEC §4.1 confidence threshold."""

    TIER_A_SINGLE = "tier_a_single"
    TIER_B_CONSENSUS = "tier_b_consensus"
    CONFIRM_THRESHOLD = "confirm_threshold"
    TIMEOUT_FALLBACK = "timeout_fallback"
    DISPUTE_CONSENSUS = "dispute_consensus"  # a conflict after FINAL, settled by consensus


_PRE, _LIVE, _PAUSED, _PENDING, _FINAL = (
    TruthStatus.PRE_MATCH,
    TruthStatus.LIVE,
    TruthStatus.PAUSED,
    TruthStatus.PENDING_CONFIRM,
    TruthStatus.FINAL,
)
_T = TruthTrigger

TRUTH_TRANSITIONS: Final[dict[tuple[TruthStatus, TruthTrigger], TruthStatus]] = {
    (_PRE, _T.START): _LIVE,
    (_PRE, _T.UPDATE): _LIVE,  # a game state proves the match started
    (_PRE, _T.PAUSE): _PAUSED,
    (_PRE, _T.END_REPORTED): _PENDING,  # shard (re)started after the match
    (_PRE, _T.CONFLICT): _PAUSED,
    (_LIVE, _T.START): _LIVE,  # a second source's MATCH_STARTED
    (_LIVE, _T.UPDATE): _LIVE,
    (_LIVE, _T.PAUSE): _PAUSED,
    (_LIVE, _T.RESUME): _LIVE,  # a second source's MATCH_RESUMED
    (_LIVE, _T.SILENCE_TIMEOUT): _PAUSED,
    (_LIVE, _T.END_REPORTED): _PENDING,
    (_LIVE, _T.CONFLICT): _PAUSED,
    (_PAUSED, _T.PAUSE): _PAUSED,  # a second source's MATCH_PAUSED
    (_PAUSED, _T.UPDATE): _PAUSED,  # data recorded, still paused
    (_PAUSED, _T.RESUME): _LIVE,
    (_PAUSED, _T.END_REPORTED): _PENDING,
    (_PAUSED, _T.CONFLICT): _PAUSED,
    (_PENDING, _T.UPDATE): _PENDING,  # late game states of a slower source
    (_PENDING, _T.CORROBORATE): _PENDING,
    (_PENDING, _T.CONFIRM): _FINAL,
    (_PENDING, _T.CONFLICT): _PAUSED,
    (_PENDING, _T.RETRACT): _LIVE,  # a higher-tier source shows the match still running
}


@dataclass(frozen=True, slots=True)
class EndReport:
    """One source's MATCH_ENDED: who won, and when we received it (monotonic ns)."""

    source: str
    tier: SourceTier
    winner: str
    t_ns: int


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The confirmation verdict over a match's end reports at one instant."""

    confidence: float  # 0.0 while no tier A/B source reported
    rule: ConfirmRule | None  # None: not final (yet)
    first_t_ns: int | None  # arrival of the first tier A/B report
    sources: tuple[str, ...]


def evaluate_confirmation(
    reports: Sequence[EndReport], now_ns: int, params: TruthConfig,
    fallback_blocked: bool = False,
) -> Confirmation:
    """Apply SPEC §4.1 confidence accumulation and the §6.2 rules to consistent reports.

    The first tier A/B report gives ``initial_confidence``; another tier A/B source whose
    report arrived within ``consensus_window_ms`` of it (inclusive, either side) adds
    ``consensus_bonus``; any tier-A reporter adds ``tier_a_bonus``. Rules, in order:
    tier_a_single (any tier-A report), tier_b_consensus (``required_sources_for_final`` tier A/B
    sources within the window), confirm_threshold (confidence >= ``confirm_threshold``),
    timeout_fallback (``max_wait_ms`` since the first report, inclusive, and not
    ``fallback_blocked``: a higher-tier source of the match has not confirmed). Tier C reports
    only corroborate: they are listed in the sources but add no confidence and count for no
    rule (a tier-B and a tier-C report are not a consensus). The caller guarantees the reports
    agree on the winner.
    """
    signals = [r for r in reports if r.tier is not SourceTier.C]
    if not signals:
        return Confirmation(0.0, None, None, tuple(sorted({r.source for r in reports})))
    first = min(signals, key=lambda r: r.t_ns)
    window_ns = params.consensus_window_ms * _NS_PER_MS
    agreeing = {
        r.source for r in signals
        if r.source != first.source and abs(r.t_ns - first.t_ns) <= window_ns
    }
    tier_a = any(r.tier is SourceTier.A for r in reports)
    confidence = params.initial_confidence
    if agreeing:
        confidence += params.consensus_bonus
    if tier_a:
        confidence += params.tier_a_bonus
    confidence = min(1.0, confidence)
    rule: ConfirmRule | None = None
    if tier_a:
        rule = ConfirmRule.TIER_A_SINGLE
    elif 1 + len(agreeing) >= params.required_sources_for_final:
        rule = ConfirmRule.TIER_B_CONSENSUS
    elif confidence + _EPSILON >= params.confirm_threshold:
        rule = ConfirmRule.CONFIRM_THRESHOLD
    elif (not fallback_blocked
          and now_ns - first.t_ns >= params.max_wait_ms * _NS_PER_MS):
        rule = ConfirmRule.TIMEOUT_FALLBACK
    sources = (first.source, *sorted({r.source for r in reports} - {first.source}))
    return Confirmation(round(confidence, 6), rule, first.t_ns, sources)


@dataclass(frozen=True, slots=True)
class GameScore:
    """What we know of the series and the map in progress (team A = YES = token 0)."""

    maps_a: int = 0
    maps_b: int = 0
    game_number: int = 0
    gold_diff_a: float | None = None  # team A minus team B, gold
    game_time_s: float | None = None
    rounds_a: int | None = None
    rounds_b: int | None = None
    kills_a: int | None = None
    kills_b: int | None = None
    towers_a: int | None = None
    towers_b: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The known fields, for TruthDelta data."""
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}


@dataclass(frozen=True, slots=True)
class SignalTime:
    """When the latest new fact happened, for the temporal edge window: the FIRST report of
    that fact from any source (earliest source time); repeats never restart it."""

    signal_id: int
    t_recv_ns: int  # gateway receive time (monotonic) of the earliest report
    provider_delay_ms: int  # how late that source delivered it (t_recv_ms - t_event_ms, >= 0)
    fact: str = ""  # the fact's name (specs/02 "Per-source state")
    source: str = ""  # the source of the earliest report
    t_source_ms: int = 0  # when that source says it happened

    @property
    def origin_ns(self) -> int:
        """The fact's time on our monotonic clock (receive time minus the source's delay)."""
        return self.t_recv_ns - self.provider_delay_ms * _NS_PER_MS

    def age_ms(self, now_ns: int) -> float:
        """Age of the underlying game event at ``now_ns``, in ms."""
        return (now_ns - self.t_recv_ns) / _NS_PER_MS + self.provider_delay_ms


_INT_FIELDS: Final = (
    "game_number", "maps_a", "maps_b", "rounds_a", "rounds_b",
    "kills_a", "kills_b", "towers_a", "towers_b",
)
_FLOAT_FIELDS: Final = ("gold_diff_a", "game_time_s")


def score_fields(payload: MatchPayload) -> dict[str, int | float]:
    """The numeric fields of a payload the Truth Engine uses, those the source reported.

    The gateway built the payload struct and validated it (integers >= 0, finite numbers):
    nothing is checked again here.
    """
    values: dict[str, int | float] = {}
    for key in _INT_FIELDS:
        value = getattr(payload, key, None)
        if value is not None:
            values[key] = int(value)
    for key in _FLOAT_FIELDS:
        value = getattr(payload, key, None)
        if value is not None:
            values[key] = float(value)
    return values


def winner_of(payload: MatchPayload) -> str | None:
    """The ``winner`` ("A"/"B") of a MAP_ENDED/MATCH_ENDED payload, else None."""
    if isinstance(payload, MapEndedPayload | MatchEndedPayload):
        return payload.winner
    return None


def is_backfill(payload: MatchPayload) -> bool:
    """True for a result that was already over when the adapter first looked (spec 09): a
    fact that is never a fresh trading signal."""
    return isinstance(payload, MapEndedPayload | MatchEndedPayload) and payload.backfill


@dataclass(frozen=True, slots=True)
class BadFact:
    """A fact refused as impossible (specs/02 "Bad facts"): dead-lettered, never applied."""

    source: str
    reason: str
    detail: str
    seq: int


@dataclass(slots=True)
class TruthResult:
    """What one input did: messages to emit, and the refusal reason if it was not applied."""

    messages: list[TruthDelta | TruthFinal] = field(default_factory=list)
    refusal: str | None = None
    conflict_after_final: bool = False  # a FINAL match became disputed (the core halts)
    dispute_resolved: bool = False  # a disputed match re-finalized by consensus (core releases)
    bad_fact: BadFact | None = None  # the dead letter of an impossible fact


_INFO_FIELDS: Final = frozenset({SERIES, END, *(f for f in IN_MAP if f != "game_time_s")})


def _informative(name: str) -> bool:
    """Does a new value of fact ``name`` carry news the market may not have priced yet?"""
    if name.startswith(MAP_WINNER) or name in _INFO_FIELDS:
        return True
    return ":" in name and name.split(":", 1)[1] in _INFO_FIELDS


class MatchTruth:
    """The Truth Engine of one match, over per-source facts (shards/truth_sources.py)."""

    def __init__(self, match_id: str, params: TruthConfig) -> None:
        self.match_id = match_id
        self._params = params
        self._machine: StateMachine[TruthStatus, TruthTrigger] = StateMachine(
            f"truth[{match_id}]", TRUTH_TRANSITIONS, TruthStatus.PRE_MATCH
        )
        self.pause_reason: PauseReason | None = None
        self.score = GameScore()
        self.reports: list[EndReport] = []  # end reports counted for confirmation now
        self.confidence = 0.0
        self.winner: str | None = None
        self.rule: ConfirmRule | None = None
        self.sources_seen: set[str] = set()
        self.signal: SignalTime | None = None
        self.score_known = False  # the merged view holds the series score (maps_a, maps_b)
        self.disputed = False  # FINAL, then a source named another winner (spec 02 "Dispute")
        self.latest_reports: dict[str, EndReport] = {}  # each source's newest MATCH_ENDED
        self.views: dict[str, SourceView] = {}  # per source: its facts (truth_sources.py)
        self.facts: dict[str, Fact] = {}  # the merged view
        self.conflicts: list[Disagreement] = []
        self.fastest_delay_ms: int | None = None  # smallest source delay seen on the match
        self._first: dict[tuple[str, object], SignalTime] = {}  # fact → its first report
        self._signal_count = 0
        self._last_event_ns: int | None = None
        self._last_seq: dict[str, int] = {}
        self._last_event_ms: dict[str, int] = {}

    @property
    def status(self) -> TruthStatus:
        """Current Truth Engine state."""
        return self._machine.state

    @property
    def in_conflict(self) -> bool:
        """True while sources disagree: PAUSED for conflict (until the disagreement settles), or
        FINAL and disputed (until a consensus re-finalizes it)."""
        return self.pause_reason is PauseReason.CONFLICT or self.disputed

    @property
    def final_by_fallback(self) -> bool:
        """FINAL on the timeout fallback: one source, traded (if at all) with smaller limits."""
        return self.status is TruthStatus.FINAL and self.rule is ConfirmRule.TIMEOUT_FALLBACK

    # ---- inputs ----

    def on_event(self, event: MatchEvent, now_ns: int) -> TruthResult:
        """Apply one match event; never raises for bad input (see ``TruthResult.refusal``)."""
        result = TruthResult()
        fields = score_fields(event.payload)
        winner = winner_of(event.payload)
        order_problem = self._check_order(event)
        if order_problem:
            result.refusal = order_problem
            return result
        view = self._view(event)
        if view.unhealthy:
            result.refusal = "source_unhealthy"
            return result
        problem = self._impossible(event, view, fields, winner)
        if problem is not None:
            self._bad_fact(event, problem[0], problem[1], now_ns, result)
            return result
        if self.status is TruthStatus.FINAL:
            self._record(event, view, fields, winner)
            return self._after_final(event, winner, now_ns, result)
        before = dict(self.facts)
        new = self._record(event, view, fields, winner)
        self._remember(event, now_ns)
        if self._settle_conflicts(now_ns, result):
            return result
        if self.in_conflict:
            result.refusal = "match_in_conflict"
            return result
        kind = event.event_type
        if not new and kind in _FACT_EVENTS:
            result.refusal = "duplicate_fact"  # identified, not counted (spec 02)
            return result
        self._dispatch(event, winner, before, now_ns, result)
        return result

    def on_time(self, now_ns: int) -> TruthResult:
        """Fire time-based transitions: the silence pause and the timeout fallback."""
        result = TruthResult()
        status = self.status
        if (status is TruthStatus.LIVE and self._last_event_ns is not None
                and now_ns - self._last_event_ns >= self._params.pause_timeout_ms * _NS_PER_MS):
            self._machine.trigger(TruthTrigger.SILENCE_TIMEOUT)
            self.pause_reason = PauseReason.SILENCE
            result.messages.append(self._delta("silence_timeout", now_ns))
        elif status is TruthStatus.PENDING_CONFIRM:
            self._evaluate(now_ns, result)
        return result

    def set_stale(self, source: str, stale: bool, now_ns: int) -> TruthResult:
        """The gateway's SourceHealth for ``source`` on this match: a stale source's facts
        yield to fresh sources' in the merge, and it blocks the timeout fallback."""
        result = TruthResult()
        view = self.views.get(source)
        if view is None or view.stale == stale:
            return result
        view.stale = stale
        self.facts = merged(self.views.values())
        if self.status is TruthStatus.PENDING_CONFIRM:
            self._evaluate(now_ns, result)
        return result

    # ---- facts ----

    def _view(self, event: MatchEvent) -> SourceView:
        view = self.views.get(event.source)
        if view is None:
            view = self.views[event.source] = SourceView(event.source, event.tier)
        return view

    def _impossible(
        self, event: MatchEvent, view: SourceView, fields: dict[str, int | float],
        winner: str | None,
    ) -> tuple[str, str] | None:
        """Why this event states something impossible (specs/02 "Bad facts"), or None."""
        ahead = event.t_event_ms - event.t_recv_ms
        if ahead > self._params.future_tolerance_ms:
            return "fact_from_future", f"source time {ahead} ms ahead of our receive time"
        number = fields.get("game_number")
        # a source changing its mind on a result restates the score: not "backwards"
        own_end = view.facts.get(END)
        own_map = view.facts.get(f"{MAP_WINNER}{int(number)}") if number is not None else None
        correction = ((event.event_type is MatchEventType.MAP_ENDED and own_map is not None
                       and own_map.value != winner)
                      or (event.event_type is MatchEventType.MATCH_ENDED and own_end is not None
                          and own_end.value != winner))
        own_series = view.facts.get(SERIES)
        if ("maps_a" in fields and "maps_b" in fields and own_series is not None
                and isinstance(own_series.value, tuple) and not correction
                and own_series.t_source_ms <= event.t_event_ms):
            old_a, old_b = own_series.value
            if fields["maps_a"] < old_a or fields["maps_b"] < old_b:
                return "score_backwards", (f"maps {old_a}-{old_b} then "
                                           f"{int(fields['maps_a'])}-{int(fields['maps_b'])}")
        own_game = view.facts.get(GAME)
        if (number is not None and own_game is not None and isinstance(own_game.value, int)
                and number < own_game.value and own_game.t_source_ms <= event.t_event_ms):
            return "score_backwards", f"game {own_game.value} then {int(number)}"
        if number is not None and event.event_type is MatchEventType.GAME_STATE:
            for name in ("rounds_a", "rounds_b", "towers_a", "towers_b"):
                own = view.facts.get(in_map_key(int(number), name))
                if (name in fields and own is not None and isinstance(own.value, int | float)
                        and fields[name] < own.value and own.t_source_ms <= event.t_event_ms):
                    return "score_backwards", f"{name} {own.value} then {fields[name]}"
        if (event.event_type is MatchEventType.MAP_ENDED and number is not None
                and not is_backfill(event.payload)):
            started = self._maps_started()
            if started is not None and number > started:
                return "map_not_started", f"winner of game {int(number)}, latest is {started}"
        return None

    def _maps_started(self) -> int | None:
        """The highest game number any usable source showed started (None: nothing known,
        e.g. a restarted shard, which cannot judge)."""
        numbers = []
        for view in self.views.values():
            if not view.usable:
                continue
            game = view.facts.get(GAME)
            if game is not None and isinstance(game.value, int):
                numbers.append(game.value)
            series = view.facts.get(SERIES)
            if series is not None and isinstance(series.value, tuple):
                numbers.append(sum(series.value) + (view.facts.get(END) is None))
        return max(numbers) if numbers else None

    def _bad_fact(
        self, event: MatchEvent, reason: str, detail: str, now_ns: int, result: TruthResult
    ) -> None:
        view = self._view(event)
        view.bad_facts += 1
        result.refusal = reason
        result.bad_fact = BadFact(event.source, reason, detail, event.seq)
        result.messages.append(self._delta("bad_fact", now_ns, {
            "source": event.source, "reason": reason, "detail": detail, "seq": event.seq,
            "event_type": event.event_type.value}))
        if not view.unhealthy and view.bad_facts >= self._params.bad_facts_unhealthy:
            view.unhealthy = True
            self.facts = merged(self.views.values())
            self.score = self._merged_score()
            result.messages.append(self._delta("source_unhealthy", now_ns, {
                "source": event.source, "bad_facts": view.bad_facts}))
            if self.status is not TruthStatus.FINAL:
                self._settle_conflicts(now_ns, result)

    def _record(
        self, event: MatchEvent, view: SourceView, fields: dict[str, int | float],
        winner: str | None,
    ) -> list[Fact]:
        """Put the event's facts into its source's view; return those that were new."""
        delay = max(0, event.t_recv_ms - event.t_event_ms)

        def fact(name: str, value: FactValue) -> Fact:
            return Fact(name, value, event.source, event.tier, event.t_event_ms,
                        event.t_recv_ns, delay)

        facts: list[Fact] = []
        kind = event.event_type
        number = fields.get("game_number")
        if "maps_a" in fields and "maps_b" in fields:
            facts.append(fact(SERIES, (int(fields["maps_a"]), int(fields["maps_b"]))))
        elif kind is MatchEventType.MAP_ENDED and winner is not None:
            maps_a, maps_b = self.score.maps_a, self.score.maps_b
            facts.append(fact(SERIES, (maps_a + (winner == "A"), maps_b + (winner == "B"))))
        if number is not None:
            facts.append(fact(GAME, int(number)))
        if kind is MatchEventType.MAP_ENDED and winner is not None:
            game = int(number) if number is not None else max(self.score.game_number, 1)
            facts.append(fact(f"{MAP_WINNER}{game}", winner))
        elif kind is MatchEventType.MATCH_ENDED and winner is not None:
            facts.append(fact(END, winner))
            self.latest_reports[event.source] = EndReport(event.source, event.tier, winner,
                                                          event.t_recv_ns)
        elif kind is MatchEventType.GAME_STATE:
            game = int(number) if number is not None else self.score.game_number
            facts += [fact(in_map_key(game, name), fields[name])
                      for name in IN_MAP if name in fields]
        new = [f for f in facts if view.put(f)]
        view.last_recv_ns = event.t_recv_ns
        if self.fastest_delay_ms is None or delay < self.fastest_delay_ms:
            self.fastest_delay_ms = delay  # the fastest feed: a reaction cannot beat it
        if new:
            self.facts = merged(self.views.values())
        return new

    def _merged_score(self) -> GameScore:
        facts = self.facts
        series = facts.get(SERIES)
        maps_a, maps_b = (series.value if series is not None and isinstance(series.value, tuple)
                          else (self.score.maps_a, self.score.maps_b))
        game_fact = facts.get(GAME)
        game = game_fact.value if game_fact is not None and isinstance(game_fact.value, int) else 0
        values: dict[str, Any] = {}
        if f"{MAP_WINNER}{game}" not in facts:  # a finished map's in-map state is history
            for name in IN_MAP:
                found = facts.get(in_map_key(game, name))
                if found is not None and isinstance(found.value, int | float):
                    values[name] = (float(found.value) if name in _FLOAT_FIELDS
                                    else int(found.value))
        return GameScore(maps_a=maps_a, maps_b=maps_b, game_number=game, **values)

    def _first_report(self, fact: Fact) -> SignalTime | None:
        """Remember the earliest report of ``fact``'s (name, value); None if it was known."""
        key = (fact.name, fact.value)
        known = self._first.get(key)
        origin = fact.t_recv_ns - fact.delay_ms * _NS_PER_MS
        if known is not None:
            if origin < known.origin_ns:  # a report with an earlier source time: the clock
                earlier = replace(known, t_recv_ns=fact.t_recv_ns, provider_delay_ms=fact.delay_ms,
                                  source=fact.source, t_source_ms=fact.t_source_ms)
                self._first[key] = earlier  # starts at the earliest, same signal id
                if self.signal is not None and self.signal.signal_id == known.signal_id:
                    self.signal = earlier
            return None
        self._signal_count += 1
        first = SignalTime(self._signal_count, fact.t_recv_ns, fact.delay_ms, fact.name,
                           fact.source, fact.t_source_ms)
        self._first[key] = first
        return first

    def _new_signal(self, event: MatchEvent, before: dict[str, Fact]) -> None:
        if is_backfill(event.payload):
            # the market already knows a backfilled fact, and it supersedes every older signal
            self.signal = None
            for fact in self.facts.values():
                self._first.setdefault((fact.name, fact.value), SignalTime(0, 0, 0))
            return
        for name, fact in sorted(self.facts.items()):
            if not _informative(name) or before.get(name) == fact:
                continue
            first = self._first_report(fact)
            if first is not None:
                self.signal = first

    # ---- state machine ----

    def _settle_conflicts(self, now_ns: int, result: TruthResult) -> bool:
        """Enter or leave PAUSED(conflict) as the sources' disagreements stand; True if the
        state changed."""
        found = disagreements(self.views.values(), self._params.required_sources_for_final)
        self.conflicts = found
        conflict = self.pause_reason is PauseReason.CONFLICT
        if found and not conflict:
            if not self._machine.can(TruthTrigger.CONFLICT):
                return False
            self._machine.trigger(TruthTrigger.CONFLICT)
            self.pause_reason = PauseReason.CONFLICT
            self.confidence = 0.0
            self.winner = None
            self.signal = None
            result.messages.append(self._delta("conflict", now_ns, {
                d.name: d.by_source for d in found}))
            return True
        if conflict and not found:
            self._machine.trigger(TruthTrigger.RESUME)
            self.pause_reason = None
            self.score = self._merged_score()
            self._note_score()
            result.messages.append(self._delta("conflict_resolved", now_ns,
                                               self.score.as_dict()))
            self._reconsider_end(now_ns, result)
            return True
        if not conflict and self.status is TruthStatus.PENDING_CONFIRM:
            self._reconsider_end(now_ns, result)
        return False

    def _end_reports(self) -> list[EndReport]:
        """Each usable source's current end report, minus those a settled disagreement
        overruled."""
        overruled = overruled_ends(self.views.values(), self._params.required_sources_for_final)
        reports = []
        for view in self.views.values():
            end = view.facts.get(END)
            if view.usable and end is not None and view.source not in overruled:
                reports.append(EndReport(view.source, view.tier, str(end.value), end.t_recv_ns))
        return sorted(reports, key=lambda r: (r.t_ns, r.source))

    def _reconsider_end(self, now_ns: int, result: TruthResult) -> None:
        """After the facts changed: retract an overruled PENDING_CONFIRM, or (re)enter it."""
        self.reports = self._end_reports()
        signalling = [r for r in self.reports if r.tier is not SourceTier.C]
        status = self.status
        if status is TruthStatus.PENDING_CONFIRM and not signalling:
            self._machine.trigger(TruthTrigger.RETRACT)
            self.winner = None
            self.confidence = 0.0
            self.signal = None
            result.messages.append(self._delta("end_retracted", now_ns, self.score.as_dict()))
        elif (status in (TruthStatus.LIVE, TruthStatus.PAUSED, TruthStatus.PRE_MATCH)
              and signalling):
            self._machine.trigger(TruthTrigger.END_REPORTED)
            self.pause_reason = None
            self.winner = signalling[0].winner
            result.messages.append(self._delta("end_reported", now_ns, {
                "winner": self.winner, "source": signalling[0].source}))
            self._evaluate(now_ns, result)
        elif status is TruthStatus.PENDING_CONFIRM:
            self._evaluate(now_ns, result)

    def _check_order(self, event: MatchEvent) -> str | None:
        if event.seq > 0:
            last = self._last_seq.get(event.source, 0)
            if event.seq <= last:
                return "duplicate_or_out_of_order"
        elif event.t_event_ms < self._last_event_ms.get(event.source, -1):
            return "out_of_order"
        return None

    def _remember(self, event: MatchEvent, now_ns: int) -> None:
        if event.seq > 0:
            self._last_seq[event.source] = event.seq
        previous = self._last_event_ms.get(event.source, event.t_event_ms)
        self._last_event_ms[event.source] = max(previous, event.t_event_ms)
        self._last_event_ns = now_ns
        self.sources_seen.add(event.source)

    def _dispatch(
        self, event: MatchEvent, winner: str | None, before: dict[str, Fact], now_ns: int,
        result: TruthResult,
    ) -> None:
        kind = event.event_type
        if self.pause_reason is PauseReason.SILENCE and kind is not MatchEventType.MATCH_PAUSED:
            self._machine.trigger(TruthTrigger.RESUME)
            self.pause_reason = None
            result.messages.append(self._delta("resumed_after_silence", now_ns))
        if kind is MatchEventType.MATCH_ENDED:
            assert winner is not None
            self._on_end(event, winner, before, now_ns, result)
            return
        trigger = {
            MatchEventType.MATCH_STARTED: TruthTrigger.START,
            MatchEventType.MATCH_PAUSED: TruthTrigger.PAUSE,
            MatchEventType.MATCH_RESUMED: TruthTrigger.RESUME,
        }.get(kind, TruthTrigger.UPDATE)
        if not self._machine.can(trigger):
            result.refusal = f"{kind.value.lower()}_not_allowed_in_{self.status.value.lower()}"
            return
        self._machine.trigger(trigger)
        if trigger is TruthTrigger.PAUSE:
            self.pause_reason = PauseReason.PROVIDER
        elif trigger is TruthTrigger.RESUME:
            self.pause_reason = None
        elif trigger is TruthTrigger.UPDATE:
            self.score = self._merged_score()
            self._note_score()
            self._new_signal(event, before)
        result.messages.append(self._delta(trigger.value, now_ns, self.score.as_dict()))
        if self.status is TruthStatus.PENDING_CONFIRM:
            self._reconsider_end(now_ns, result)

    def _on_end(
        self, event: MatchEvent, winner: str, before: dict[str, Fact], now_ns: int,
        result: TruthResult,
    ) -> None:
        self.score = self._merged_score()
        self._note_score()
        reports = self._end_reports()
        if not any(r.source == event.source for r in reports):
            self.reports = reports
            result.refusal = "end_overruled"  # a higher-tier source shows the match running
            result.messages.append(self._delta("end_overruled", now_ns, {
                "winner": winner, "source": event.source}))
            return
        self.reports = reports
        signal = event.tier is not SourceTier.C
        if self.status is TruthStatus.PENDING_CONFIRM:
            trigger: TruthTrigger | None = TruthTrigger.CORROBORATE
        elif signal:
            trigger = TruthTrigger.END_REPORTED
        else:
            trigger = None  # tier C before any signal: recorded as a corroboration only
        if trigger is not None and not self._machine.can(trigger):
            result.refusal = f"match_ended_not_allowed_in_{self.status.value.lower()}"
            return
        if trigger is None:
            result.messages.append(self._delta("tier_c_report", now_ns, {"winner": winner}))
            return
        self._machine.trigger(trigger)
        if trigger is TruthTrigger.END_REPORTED:
            self.pause_reason = None
            self.winner = winner
        self._new_signal(event, before)
        result.messages.append(
            self._delta(trigger.value, now_ns, {"winner": winner, "source": event.source})
        )
        self._evaluate(now_ns, result)

    def _fallback_blocked(self) -> bool:
        """The timeout fallback waits for every usable source of a higher tier than the
        reporters (stale, silent or saying the match runs: had it seen the end, it would
        have said so and tier_a_single would hold)."""
        reporters = [r for r in self.reports if r.tier is not SourceTier.C]
        if not reporters:
            return True
        best = max(TIER_RANK[r.tier] for r in reporters)
        return any(view.usable and TIER_RANK[view.tier] > best for view in self.views.values())

    def _evaluate(self, now_ns: int, result: TruthResult) -> None:
        verdict = evaluate_confirmation(self.reports, now_ns, self._params,
                                        self._fallback_blocked())
        self.confidence = verdict.confidence
        self._finalize_if(verdict, now_ns, result)

    def _finalize_if(self, verdict: Confirmation, now_ns: int, result: TruthResult) -> None:
        if verdict.rule is None:
            return
        self._machine.trigger(TruthTrigger.CONFIRM)
        self.rule = verdict.rule
        assert self.winner is not None
        result.messages.append(self._delta("final", now_ns, {"winner": self.winner,
                                                             "rule": verdict.rule.value}))
        result.messages.append(TruthFinal(
            match_id=self.match_id, winner=self.winner, confidence=self.confidence,
            sources=verdict.sources, rule=verdict.rule.value, t_ns=now_ns,
        ))

    def _after_final(
        self, event: MatchEvent, winner: str | None, now_ns: int, result: TruthResult
    ) -> TruthResult:
        if event.event_type is not MatchEventType.MATCH_ENDED or winner is None:
            result.refusal = "after_final"
            return result
        self._remember(event, now_ns)
        self.latest_reports[event.source] = EndReport(event.source, event.tier, winner,
                                                      event.t_recv_ns)
        if not self.disputed:
            if winner == self.winner:
                result.refusal = "after_final"
                return result
            self.disputed = True
            result.refusal = "conflict_after_final"
            result.conflict_after_final = True
            result.messages.append(self._delta(
                "conflict_after_final", now_ns,
                {"final_winner": self.winner, "source": event.source, "winner": winner},
            ))
            return result
        consensus = self._dispute_consensus()
        if consensus is None:
            result.refusal = "match_disputed"
            result.messages.append(self._delta(
                "dispute_report", now_ns, {"source": event.source, "winner": winner}))
            return result
        self._resolve_dispute(consensus, now_ns, result)
        return result

    def _dispute_consensus(self) -> str | None:
        latest = list(self.latest_reports.values())
        winners = {r.winner for r in latest}
        signalling = sum(1 for r in latest if r.tier is not SourceTier.C)
        if len(winners) != 1 or signalling < self._params.required_sources_for_final:
            return None
        return winners.pop()

    def _resolve_dispute(self, winner: str, now_ns: int, result: TruthResult) -> None:
        reports = list(self.latest_reports.values())
        self.disputed = False
        self.winner = winner
        self.rule = ConfirmRule.DISPUTE_CONSENSUS
        self.signal = None  # the market had all the time of the dispute: no temporal signal
        self.confidence = evaluate_confirmation(reports, now_ns, self._params).confidence
        sources = tuple(sorted(r.source for r in reports))
        result.dispute_resolved = True
        result.messages.append(self._delta(
            "dispute_resolved", now_ns, {"winner": winner, "sources": list(sources)}))
        result.messages.append(TruthFinal(
            match_id=self.match_id, winner=winner, confidence=self.confidence,
            sources=sources, rule=ConfirmRule.DISPUTE_CONSENSUS.value, t_ns=now_ns,
        ))

    def _note_score(self) -> None:
        if SERIES in self.facts:
            self.score_known = True

    def _delta(self, change: str, now_ns: int, data: dict[str, Any] | None = None) -> TruthDelta:
        return TruthDelta(
            match_id=self.match_id, status=self.status, confidence=self.confidence,
            change=change, t_ns=now_ns, data=data or {},
        )
