"""The truth audit of a simulated run (issue 15): which intents rested on facts that were stale
or never true, and which finals were wrong or premature — judged against the world's timeline.

The world's truth is the scenario's match timelines (``sim.feeds.truth.MatchTimeline``, what
the simulator plays) placed on the run's clock by the simulator's ground-truth file
(``polyloly sim --ground-truth``: ``epoch_ms`` = wall ms of scenario time 0, ``speed``;
specs/12 §5). A wall time ``w`` is scenario time ``(w − epoch_ms) / 1000 · speed``.

Per fact an intent carries (``OrderIntent.truth.facts``: field, source, source time, value):

* **never true** — no true state of the match, from its start up to the intent's decision,
  had that value for that field (a liar's map winner, a score no map ever showed, a report
  of something before it happened);
* **stale** — the value was true once but the truth had moved on before the decision; its
  staleness is the scenario time from that change to the decision. An intent counts as
  stale when its stalest input is more than :data:`STALE_INPUT_MS` old.

Audited fields are the discrete ones: ``series``, ``game_number``, ``map_winner:N``, ``end``
and the counts ``N:rounds_a|b``, ``N:kills_a|b``, ``N:towers_a|b``. Gold and game clock are
sampled continuous values that no provider reports exactly; they are not audited.

A final (the shard's truth state FINAL for a match: ``TruthFinal`` in a replay, the first
``MarketStatus`` FINAL of the match in the engine's event log in a demo) is **wrong** when
its winner is not the match's true winner and **premature** when it came before the match's
true end (scenario time ``start_s`` + the timeline's ``match_end``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from polyloly.messages import FactRef, OrderIntent
from sim.feeds.truth import MatchState, MatchTimeline
from sim.scenario import Scenario, load_scenario

# an input more than half a second (scenario time) behind the truth counts as stale: the
# staleness issue 15 measured (22 of 167 intents) and below the 3 s sports hold
STALE_INPUT_MS = 500.0
_COUNTS = ("rounds_a", "rounds_b", "kills_a", "kills_b", "towers_a", "towers_b")


@dataclass(frozen=True, slots=True)
class Final:
    """One match final the run produced: the winner ("A"/"B") at a scenario time."""

    match_id: str
    winner: str
    t_s: float


@dataclass(slots=True)
class WorldTimeline:
    """The world's true match states on the run's clock."""

    epoch_ms: int
    speed: float
    matches: dict[str, MatchTimeline]
    start_s: dict[str, float]
    market_match: dict[str, str]
    _states: dict[str, list[tuple[float, MatchState]]] = field(default_factory=dict)

    def scenario_s(self, wall_ms: float) -> float:
        """Scenario seconds of a wall-clock time in ms."""
        return (wall_ms - self.epoch_ms) / 1000.0 * self.speed

    def states(self, match_id: str) -> list[tuple[float, MatchState]]:
        """(scenario time, state after it) of every true event of the match, in order."""
        if match_id not in self._states:
            timeline = self.matches[match_id]
            start = self.start_s[match_id]
            self._states[match_id] = [(start + event.t_s, timeline.state_after(index))
                                      for index, event in enumerate(timeline.events)]
        return self._states[match_id]

    def end_s(self, match_id: str) -> float:
        """Scenario time of the match's true end."""
        return self.start_s[match_id] + self.matches[match_id].end_s

    def winner(self, match_id: str) -> str | None:
        """The match's true winner "A"/"B" (None if the timeline names none)."""
        return self.states(match_id)[-1][1].series_winner


def world_timeline(ground_truth: dict[str, Any], scenario: Scenario | None = None
                   ) -> WorldTimeline:
    """The world of a ground-truth document (its scenario loaded by name unless given).
    ValueError when the document lacks the clock anchor (an older simulator wrote it)."""
    if ground_truth.get("epoch_ms") is None or not ground_truth.get("speed"):
        raise ValueError("ground truth has no epoch_ms/speed: written by an older simulator; "
                         "rerun the scenario to audit its truth")
    if scenario is None:
        scenario = load_scenario(str(ground_truth.get("scenario")))
    markets = {str(m["condition_id"]): str(m["match_id"])
               for m in ground_truth.get("markets") or []}
    return WorldTimeline(
        epoch_ms=int(ground_truth["epoch_ms"]), speed=float(ground_truth["speed"]),
        matches={m.match_id: MatchTimeline(m) for m in scenario.matches},
        start_s={m.match_id: m.start_s for m in scenario.matches}, market_match=markets)


def load_world(path: Path, scenario: Scenario | None = None) -> WorldTimeline:
    """Read the simulator's ground-truth file; ValueError naming the file when unreadable."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the simulator's ground truth: {exc}") from None
    return world_timeline(data, scenario)


def true_value(state: MatchState, name: str) -> str | None:
    """The state's value of fact ``name`` in ``FactRef.value`` form; None when the field is
    not audited or has no value in that state (a map not finished, another map's counts)."""
    if name == "series":
        return f"{state.wins_a}-{state.wins_b}"
    if name == "game_number":
        return str(state.map_number) if state.map_number else None
    if name == "end":
        return state.series_winner if state.phase == "finished" else None
    if name.startswith("map_winner:"):
        number = int(name.split(":", 1)[1])
        return state.map_winners[number - 1] if len(state.map_winners) >= number else None
    game, _, count = name.partition(":")
    if count in _COUNTS and game.isdigit() and state.map_number == int(game):
        return str(getattr(state, count))
    return None


def audited(name: str) -> bool:
    """Whether the audit judges fact ``name`` (the discrete fields: module doc)."""
    if name in ("series", "game_number", "end") or name.startswith("map_winner:"):
        return True
    game, _, count = name.partition(":")
    return game.isdigit() and count in _COUNTS


def judge_fact(fact: FactRef, states: list[tuple[float, MatchState]], decision_s: float
               ) -> tuple[bool, float]:
    """(never true, staleness ms) of one fact at a decision: staleness is 0 while the fact
    still holds, else the scenario ms since the truth last stopped having its value."""
    ever = False
    since: float | None = None  # when the truth stopped having the value (None: it still has)
    for t_s, state in states:
        if t_s > decision_s:
            break
        if true_value(state, fact.field) == fact.value:
            ever, since = True, None
        elif ever and since is None:
            since = t_s
    if not ever:
        return True, 0.0
    return False, 0.0 if since is None else (decision_s - since) * 1000.0


@dataclass(slots=True)
class AuditCounts:
    """The audit of one run (summary.json's ``truth_audit``)."""

    intents: int = 0
    audited: int = 0  # intents carrying at least one audited fact
    never_true: int = 0
    stale: int = 0
    staleness_ms: list[float] = field(default_factory=list)  # of the stale intents
    never_true_examples: list[str] = field(default_factory=list)
    finals: int = 0
    wrong_finals: int = 0
    premature_finals: int = 0
    final_details: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts (staleness in scenario ms, rounded)."""
        stale = sorted(self.staleness_ms)
        return {
            "stale_threshold_ms": STALE_INPUT_MS,
            "intents": self.intents, "audited": self.audited,
            "never_true_intents": self.never_true, "stale_input_intents": self.stale,
            "staleness_ms": {"max": round(stale[-1], 1) if stale else None,
                             "p50": round(stale[len(stale) // 2], 1) if stale else None},
            "never_true_examples": self.never_true_examples[:5],
            "finals": self.finals, "wrong_finals": self.wrong_finals,
            "premature_finals": self.premature_finals, "final_details": self.final_details,
        }


def audit(intents: list[tuple[OrderIntent, float]], finals: list[Final],
          world: WorldTimeline) -> AuditCounts:
    """Count the run's intents (each with its decision's scenario time) and finals."""
    counts = AuditCounts()
    for intent, decision_s in intents:
        counts.intents += 1
        match_id = world.market_match.get(intent.market_id)
        facts = [f for f in (intent.truth.facts if intent.truth else ())
                 if audited(f.field) and f.value]
        if match_id not in world.matches or not facts:
            continue
        counts.audited += 1
        states = world.states(match_id)
        judged = [(f, *judge_fact(f, states, decision_s)) for f in facts]
        false = [f for f, never, _ in judged if never]
        if false:
            counts.never_true += 1
            counts.never_true_examples.append(
                f"{intent.intent_id}: " + ", ".join(f"{f.field}={f.value} ({f.source})"
                                                    for f in false))
            continue
        worst = max(staleness for _, _, staleness in judged)
        if worst > STALE_INPUT_MS:
            counts.stale += 1
            counts.staleness_ms.append(worst)
    first: dict[str, Final] = {}
    for final in sorted(finals, key=lambda f: f.t_s):
        first.setdefault(final.match_id, final)  # a match finalizes once; repeats restate it
    for final in first.values():
        if final.match_id not in world.matches:
            continue
        counts.finals += 1
        true_winner = world.winner(final.match_id)
        wrong = final.winner != true_winner
        early_s = world.end_s(final.match_id) - final.t_s
        counts.wrong_finals += wrong
        counts.premature_finals += early_s > 0
        counts.final_details.append({"match_id": final.match_id, "winner": final.winner,
                                     "true_winner": true_winner, "t_s": round(final.t_s, 3),
                                     "true_end_s": round(world.end_s(final.match_id), 3)})
    return counts


GROUND_TRUTH_FILE = "ground_truth.json"  # beside a recording (demo and evaluate runs)


@functools.lru_cache(maxsize=8)
def _recording_epoch_ns(truth_path: str, recording: str, speed: float, _mtime_ns: int) -> int:
    """CLOCK_MONOTONIC (recording host) of scenario time 0, anchored on the recording's
    market resolutions (ops/evaluation_truth.py); cached: a sweep summarizes one recording
    many times."""
    from ops.evaluation_truth import load
    from replay.recording import IssueLog, read_recording

    truth = load(Path(truth_path), speed)
    truth.anchor(read_recording(recording, IssueLog()))
    assert truth.epoch_ns is not None  # anchor() sets it or raises
    return truth.epoch_ns


def replay_audit(intents: list[OrderIntent], finals: list[tuple[str, str, int]],
                 recording: str | Path) -> dict[str, Any] | None:
    """The audit of a replay (``finals``: TruthFinal match, winner, t_ns) when the simulator's
    ground truth sits beside the recording; None when it does not, ``{"error": …}`` when it
    cannot be used. Recording-clock times map to scenario time through the resolutions."""
    path = Path(recording).parent / GROUND_TRUTH_FILE
    if not path.exists():
        return None
    try:
        world = load_world(path)
        epoch_ns = _recording_epoch_ns(str(path), str(recording), world.speed,
                                       path.stat().st_mtime_ns)
    except ValueError as exc:
        return {"error": str(exc)}

    def scenario_s(t_ns: int) -> float:
        return (t_ns - epoch_ns) / 1e9 * world.speed

    timed = [(intent, scenario_s(intent.t_decision_ns)) for intent in intents]
    placed = [Final(match, winner, scenario_s(t_ns)) for match, winner, t_ns in finals]
    return audit(timed, placed, world).as_dict()
