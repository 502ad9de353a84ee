"""Truth Engine (SPEC §4.1, §6.2): one match's state, from normalized esports events.

Pure: every method takes the event and the time (CLOCK_MONOTONIC ns) and returns messages
(:class:`TruthDelta`, :class:`TruthFinal`). The state machine is the table
:data:`TRUTH_TRANSITIONS`; see specs/02_TRUTH_ENGINE_SPEC.md for every rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from polyloly.config import TruthConfig
from polyloly.domain import MatchEventType, SourceTier, TruthStatus
from polyloly.fsm import StateMachine
from polyloly.messages import MatchEvent, TruthDelta, TruthFinal

_NS_PER_MS: Final = 1_000_000
_EPSILON: Final = 1e-9  # confidence sums such as 0.8 + 0.1 compare as reaching 0.9
WINNERS: Final = ("A", "B")


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
    CONFLICT = "conflict"  # two MATCH_ENDED reports name different winners


class PauseReason(StrEnum):
    """Why a match is PAUSED; decides what may take it out."""

    PROVIDER = "provider"  # MATCH_PAUSED: MATCH_RESUMED (or an end report) leaves
    SILENCE = "silence"  # no event for pause_timeout_ms: any new event leaves
    CONFLICT = "conflict"  # sources disagree on the winner: never leaves, never finalizes


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
    reports: Sequence[EndReport], now_ns: int, params: TruthConfig
) -> Confirmation:
    """Apply SPEC §4.1 confidence accumulation and the §6.2 rules to consistent reports.

    The first tier A/B report gives ``initial_confidence``; another source whose report arrived
    within ``consensus_window_ms`` of it (inclusive, either side) adds ``consensus_bonus``; any
    tier-A reporter adds ``tier_a_bonus``. Rules, in order: tier_a_single (any tier-A report),
    tier_b_consensus (``required_sources_for_final`` sources within the window),
    confirm_threshold (confidence >= ``confirm_threshold``), timeout_fallback (``max_wait_ms``
    since the first report, inclusive). Tier C reports only confirm: alone they give nothing.
    The caller guarantees the reports agree on the winner.
    """
    signals = [r for r in reports if r.tier is not SourceTier.C]
    if not signals:
        return Confirmation(0.0, None, None, tuple(sorted({r.source for r in reports})))
    first = min(signals, key=lambda r: r.t_ns)
    window_ns = params.consensus_window_ms * _NS_PER_MS
    agreeing = {
        r.source for r in reports
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
    elif now_ns - first.t_ns >= params.max_wait_ms * _NS_PER_MS:
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
    """When the latest information-bearing event happened, for the temporal edge window."""

    signal_id: int
    t_recv_ns: int  # gateway receive time (monotonic)
    provider_delay_ms: int  # how late the provider delivered it (t_recv_ms - t_event_ms, >= 0)

    def age_ms(self, now_ns: int) -> float:
        """Age of the underlying game event at ``now_ns``, in ms."""
        return (now_ns - self.t_recv_ns) / _NS_PER_MS + self.provider_delay_ms


class BadEventError(ValueError):
    """A match event whose payload is not usable; ``reason`` is the metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


_INT_FIELDS: Final = (
    "game_number", "maps_a", "maps_b", "rounds_a", "rounds_b",
    "kills_a", "kills_b", "towers_a", "towers_b",
)
_FLOAT_FIELDS: Final = ("gold_diff_a", "game_time_s")


def parse_score_fields(payload: dict[str, Any]) -> dict[str, int | float]:
    """Validate the numeric payload fields we use; raise :class:`BadEventError` naming the key.

    Counts must be integers >= 0, ``gold_diff_a`` a finite number, ``game_time_s`` >= 0.
    Unknown keys are ignored.
    """
    values: dict[str, int | float] = {}
    for key in _INT_FIELDS:
        if key not in payload:
            continue
        value = payload[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadEventError("bad_payload", f"{key}: expected an integer >= 0, was {value!r}")
        values[key] = value
    for key in _FLOAT_FIELDS:
        if key not in payload:
            continue
        value = payload[key]
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or (key == "game_time_s" and value < 0)):
            raise BadEventError("bad_payload", f"{key}: expected a finite number, was {value!r}")
        values[key] = float(value)
    return values


def parse_backfill(payload: dict[str, Any]) -> bool:
    """The ``backfill`` flag of a payload (spec 09): True marks a result that was already over
    when the adapter first looked, a fact that is never a fresh trading signal."""
    value = payload.get("backfill", False)
    if not isinstance(value, bool):
        raise BadEventError("bad_payload", f"backfill: expected true or false, was {value!r}")
    return value


def parse_winner(payload: dict[str, Any]) -> str:
    """The ``winner`` of a MAP_ENDED/MATCH_ENDED payload: "A" or "B"."""
    winner = payload.get("winner")
    if winner not in WINNERS:
        raise BadEventError("bad_payload", f"winner: expected 'A' or 'B', was {winner!r}")
    return str(winner)


@dataclass(slots=True)
class TruthResult:
    """What one input did: messages to emit, and the refusal reason if it was not applied."""

    messages: list[TruthDelta | TruthFinal] = field(default_factory=list)
    refusal: str | None = None
    conflict_after_final: bool = False  # a FINAL match became disputed (the core halts)
    dispute_resolved: bool = False  # a disputed match re-finalized by consensus (core releases)


class MatchTruth:
    """The Truth Engine of one match."""

    def __init__(self, match_id: str, params: TruthConfig) -> None:
        self.match_id = match_id
        self._params = params
        self._machine: StateMachine[TruthStatus, TruthTrigger] = StateMachine(
            f"truth[{match_id}]", TRUTH_TRANSITIONS, TruthStatus.PRE_MATCH
        )
        self.pause_reason: PauseReason | None = None
        self.score = GameScore()
        self.reports: list[EndReport] = []
        self.confidence = 0.0
        self.winner: str | None = None
        self.rule: ConfirmRule | None = None
        self.sources_seen: set[str] = set()
        self.signal: SignalTime | None = None
        self.score_known = False  # an accepted event carried the series score (maps_a, maps_b)
        self.disputed = False  # FINAL, then a source named another winner (spec 02 "Dispute")
        self.latest_reports: dict[str, EndReport] = {}  # each source's newest MATCH_ENDED
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
        """True while sources disagree on the winner: PAUSED for conflict (never finalizes), or
        FINAL and disputed (until a consensus re-finalizes it)."""
        return self.pause_reason is PauseReason.CONFLICT or self.disputed

    # ---- inputs ----

    def on_event(self, event: MatchEvent, now_ns: int) -> TruthResult:
        """Apply one match event; never raises for bad input (see ``TruthResult.refusal``)."""
        result = TruthResult()
        try:
            fields = parse_score_fields(event.payload)
            parse_backfill(event.payload)
            winner = (parse_winner(event.payload) if event.event_type in
                      (MatchEventType.MAP_ENDED, MatchEventType.MATCH_ENDED) else None)
        except BadEventError as exc:
            result.refusal = exc.reason
            return result
        order_problem = self._check_order(event)
        if order_problem:
            result.refusal = order_problem
            return result
        if self.status is TruthStatus.FINAL:
            return self._after_final(event, winner, now_ns, result)
        if self.in_conflict:
            result.refusal = "match_in_conflict"
            return result
        if not self._dispatch(event, fields, winner, now_ns, result):
            return result
        self._remember(event, now_ns)
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

    # ---- internals ----

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

    def _new_signal(self, event: MatchEvent) -> None:
        if event.payload.get("backfill") is True:
            # the market already knows a backfilled fact, and it supersedes every older signal
            self.signal = None
            return
        self._signal_count += 1
        delay_ms = max(0, event.t_recv_ms - event.t_event_ms)
        self.signal = SignalTime(self._signal_count, event.t_recv_ns, delay_ms)

    def _dispatch(
        self,
        event: MatchEvent,
        fields: dict[str, int | float],
        winner: str | None,
        now_ns: int,
        result: TruthResult,
    ) -> bool:
        kind = event.event_type
        if self.pause_reason is PauseReason.SILENCE and kind is not MatchEventType.MATCH_PAUSED:
            self._machine.trigger(TruthTrigger.RESUME)
            self.pause_reason = None
            result.messages.append(self._delta("resumed_after_silence", now_ns))
        if kind is MatchEventType.MATCH_ENDED:
            assert winner is not None
            return self._on_end(event, fields, winner, now_ns, result)
        trigger = {
            MatchEventType.MATCH_STARTED: TruthTrigger.START,
            MatchEventType.MATCH_PAUSED: TruthTrigger.PAUSE,
            MatchEventType.MATCH_RESUMED: TruthTrigger.RESUME,
        }.get(kind, TruthTrigger.UPDATE)
        if not self._machine.can(trigger):
            result.refusal = f"{kind.value.lower()}_not_allowed_in_{self.status.value.lower()}"
            return False
        self._machine.trigger(trigger)
        if trigger is TruthTrigger.PAUSE:
            self.pause_reason = PauseReason.PROVIDER
        elif trigger is TruthTrigger.RESUME:
            self.pause_reason = None
        elif trigger is TruthTrigger.UPDATE:
            self._apply_score(kind, fields, winner)
            self._note_score(fields)
            self._new_signal(event)
        result.messages.append(self._delta(trigger.value, now_ns, self.score.as_dict()))
        return True

    def _apply_score(
        self, kind: MatchEventType, fields: dict[str, int | float], winner: str | None
    ) -> None:
        score = self.score
        if kind is MatchEventType.MAP_ENDED:
            maps_a = score.maps_a + (winner == "A")
            maps_b = score.maps_b + (winner == "B")
            score = GameScore(  # the map is over: in-map state resets
                maps_a=int(fields.get("maps_a", maps_a)),
                maps_b=int(fields.get("maps_b", maps_b)),
                game_number=int(fields.get("game_number", score.game_number)),
            )
        elif kind is MatchEventType.MAP_STARTED:
            score = GameScore(
                maps_a=int(fields.get("maps_a", score.maps_a)),
                maps_b=int(fields.get("maps_b", score.maps_b)),
                game_number=int(fields.get("game_number", score.game_number + 1)),
            )
        else:
            number = int(fields.get("game_number", score.game_number))
            if number != score.game_number:  # a new map began without MAP_STARTED
                score = GameScore(maps_a=score.maps_a, maps_b=score.maps_b, game_number=number)
            score = replace(score, **fields)  # type: ignore[arg-type]
        self.score = score

    def _on_end(
        self,
        event: MatchEvent,
        fields: dict[str, int | float],
        winner: str,
        now_ns: int,
        result: TruthResult,
    ) -> bool:
        if any(r.source == event.source and r.winner == winner for r in self.reports):
            result.refusal = "duplicate_end_report"
            return False
        report = EndReport(event.source, event.tier, winner, event.t_recv_ns)
        if any(r.winner != winner for r in self.reports):
            self._machine.trigger(TruthTrigger.CONFLICT)
            self.pause_reason = PauseReason.CONFLICT
            self.reports.append(report)
            self.latest_reports[report.source] = report
            self.confidence = 0.0
            self.winner = None
            by_source = {r.source: r.winner for r in self.reports}
            result.messages.append(self._delta("conflict", now_ns, {"winners": by_source}))
            return True
        signal = event.tier is not SourceTier.C
        if self.status is TruthStatus.PENDING_CONFIRM:
            trigger: TruthTrigger | None = TruthTrigger.CORROBORATE
        elif signal:
            trigger = TruthTrigger.END_REPORTED
        else:
            trigger = None  # tier C before any signal: recorded as a confirmation only
        if trigger is not None and not self._machine.can(trigger):
            result.refusal = f"match_ended_not_allowed_in_{self.status.value.lower()}"
            return False
        self.reports.append(report)
        self.latest_reports[report.source] = report
        self._note_score(fields)
        self.score = replace(
            self.score,
            maps_a=int(fields.get("maps_a", self.score.maps_a)),
            maps_b=int(fields.get("maps_b", self.score.maps_b)),
        )
        if trigger is None:
            result.messages.append(self._delta("tier_c_report", now_ns, {"winner": winner}))
            return True
        self._machine.trigger(trigger)
        if trigger is TruthTrigger.END_REPORTED:
            self.pause_reason = None
            self.winner = winner
            self._new_signal(event)
        verdict = evaluate_confirmation(self.reports, now_ns, self._params)
        self.confidence = verdict.confidence
        result.messages.append(
            self._delta(trigger.value, now_ns, {"winner": winner, "source": event.source})
        )
        self._finalize_if(verdict, now_ns, result)
        return True

    def _evaluate(self, now_ns: int, result: TruthResult) -> None:
        verdict = evaluate_confirmation(self.reports, now_ns, self._params)
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

    def _note_score(self, fields: dict[str, int | float]) -> None:
        if "maps_a" in fields and "maps_b" in fields:
            self.score_known = True

    def _delta(self, change: str, now_ns: int, data: dict[str, Any] | None = None) -> TruthDelta:
        return TruthDelta(
            match_id=self.match_id, status=self.status, confidence=self.confidence,
            change=change, t_ns=now_ns, data=data or {},
        )
