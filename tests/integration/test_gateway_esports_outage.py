"""Esports adapters survive their provider's outage and come back (issue 5).

One simulated world (12x speed, about 9 s of wall time) plays a CS2 Bo3 and a Dota 2 Bo1
while GRID (WebSocket + Series State) and OpenDota (REST polling) each have two outages: an
``error`` one (HTTP 503, sockets closed with 1011, GRID messages held back until the end) and
a ``silent`` one (sockets quiet, REST answering the snapshot frozen at the outage start). The
adapters built by ``build_adapters`` run against it with a ``SourceHealthTracker`` fed the way
the gateway feeds it (every recorded payload and every emitted event), checked every 50 ms
like the gateway's housekeeping. The module's tests check what that one run reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from gateway.esports import build_adapters
from gateway.source_health import SourceHealthTracker, SourceRule
from polyloly import metrics
from polyloly.clock import SystemClock
from polyloly.config import Config, validate
from polyloly.domain import MatchEventType, SourceTier
from polyloly.messages import MatchEvent, SourceHealth
from sim.agents.fake_venue import FakeVenue
from sim.scenario import Outage, Scenario, parse_scenario
from sim.world import World, start_world

SPEED = 12.0
STALE_MS = 500  # stale_threshold_ms of both sources (wall ms)
POLL_MS = 100  # poll_interval_ms of both sources (wall ms)
CHECK_S = 0.05  # how often the tracker is checked (wall s)
SOURCES = ("grid", "opendota")
pytestmark = pytest.mark.timeout(40)

OUTAGES: dict[str, tuple[Outage, ...]] = {  # scenario seconds
    "grid": (Outage(24.0, 42.0, "error"), Outage(72.0, 90.0, "silent")),
    "opendota": (Outage(20.0, 38.0, "error"), Outage(66.0, 84.0, "silent")),
}


def _outages(source: str) -> list[dict[str, Any]]:
    return [{"start_s": o.start_s, "end_s": o.end_s, "mode": o.mode} for o in OUTAGES[source]]


SCENARIO: dict[str, Any] = {
    "name": "esports_outage",
    "seed": 5,
    "duration_s": 104,
    "resolution_delay_s": 2,
    "market_maker": {"enabled": False},
    "takers": {"enabled": False},
    "providers": {
        "grid": {"delay_s": 0.2, "jitter_s": 0.0, "outages": _outages("grid")},
        "opendota": {"delay_s": 2.0, "cadence_s": 2.0, "outages": _outages("opendota")},
        "pandascore": {"enabled": False},
        "lolesports": {"enabled": False},
        "liquipedia": {"enabled": False},
        "polymarket_sports": {"enabled": False},
    },
    "matches": [
        {   # map 1 ends inside GRID's error outage, map 2 inside its silent one
            "match_id": "cs2-out", "game": "cs2", "teams": ["Vitality", "FaZe"],
            "best_of": 3, "start_s": 1,
            "timeline": [
                {"t": 0, "kind": "map_start"},
                {"t": 1, "kind": "rounds", "winners": "AABABAAABAAA", "every_s": 2.0},
                {"t": 29, "kind": "map_end", "team": "A"},
                {"t": 33, "kind": "map_start"},
                {"t": 34, "kind": "rounds", "winners": "BBABBBABBABBBABB", "every_s": 2.0},
                {"t": 76, "kind": "map_end", "team": "B"},
                {"t": 80, "kind": "map_start"},
                {"t": 81, "kind": "rounds", "winners": "AAABABAA", "every_s": 2.0},
                {"t": 98, "kind": "map_end", "team": "A"},
            ],
        },
        {
            "match_id": "dota-out", "game": "dota2", "teams": ["Team Spirit", "Tundra"],
            "best_of": 1, "start_s": 1, "game_clock_scale": 30,
            "timeline": [
                {"t": 0, "kind": "map_start"},
                {"t": 5, "kind": "kill", "team": "A", "count": 2},
                {"t": 10, "kind": "gold", "gold_diff": 2000},
                {"t": 30, "kind": "kill", "team": "B", "count": 3},
                {"t": 45, "kind": "gold", "gold_diff": -1000},
                {"t": 55, "kind": "roshan", "team": "A"},
                {"t": 60, "kind": "gold", "gold_diff": 4000},
                {"t": 88, "kind": "tower", "team": "A", "count": 2},
                {"t": 90, "kind": "gold", "gold_diff": 9000},
                {"t": 95, "kind": "map_end", "team": "A"},
            ],
        },
    ],
}


def config_for(scenario: Scenario, endpoints: dict[str, str]) -> Config:
    """Config following both matches on GRID and OpenDota, with small staleness thresholds."""
    markets = []
    for spec in scenario.markets:
        match = scenario.match(spec.match_id)
        ids = match.provider_ids
        markets.append({
            "market_id": spec.condition_id, "token_ids": list(spec.token_ids),
            "match_id": match.match_id, "game": match.game, "teams": list(match.teams),
            "best_of": match.best_of,
            "provider_ids": {"grid": ids.grid_series_id, "opendota": str(ids.opendota_match_id)},
        })
    common = {"enabled": True, "poll_interval_ms": POLL_MS, "max_requests_per_minute": 6000,
              "stale_threshold_ms": STALE_MS}
    providers = {
        "grid": {**common, "tier": "A", "url": endpoints["grid"]},
        "opendota": {**common, "tier": "B", "url": endpoints["opendota"]},
    }
    return validate({"markets": markets, "providers": providers})


@dataclass
class Run:
    """What one run saw; times ``*_s`` are scenario seconds (world clock)."""

    scenario: Scenario
    events: list[tuple[float, MatchEvent]] = field(default_factory=list)
    payloads: list[tuple[float, str, bytes]] = field(default_factory=list)
    health: list[tuple[float, SourceHealth]] = field(default_factory=list)
    alive_ns: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SOURCES})
    dead: list[tuple[str, str, str]] = field(default_factory=list)
    published: dict[str, int] = field(default_factory=dict)  # GRID series → messages sent
    reconnects: float = 0.0
    stop_s: float = 0.0
    crashed: list[BaseException] = field(default_factory=list)

    def by(self, source: str, match_id: str, kind: MatchEventType) -> list[MatchEvent]:
        return [e for _, e in self.events
                if e.source == source and e.match_id == match_id and e.event_type is kind]

    def reports(self, source: str) -> list[tuple[float, SourceHealth]]:
        return [(t, h) for t, h in self.health if h.source == source]


def _grid_reconnects() -> float:
    return metrics.ws_reconnects.labels(feed="grid")._value.get()


async def _play(scenario: Scenario) -> Run:
    run = Run(scenario)
    world: World = await start_world(scenario, FakeVenue(), speed=SPEED, seed=scenario.seed)
    reconnects_before = _grid_reconnects()
    try:
        config = config_for(scenario, world.endpoints)
        adapters = build_adapters(config, SystemClock())
        assert sorted(a.name for a in adapters) == sorted(SOURCES)
        rules = {name: SourceRule(SourceTier(p.tier), p.stale_threshold_ms)
                 for name, p in config.providers.items()}
        tracker = SourceHealthTracker(rules, time.monotonic_ns())
        stop = asyncio.Event()
        ended: dict[tuple[str, str], asyncio.Event] = {
            (s, m.match_id): asyncio.Event() for s in SOURCES for m in scenario.matches
            if s == "grid" or m.game == "dota2"}

        def record(source: str, raw: bytes, t_ns: int) -> None:
            run.payloads.append((world.now_s(), source, raw))
            if tracker.observe_payload(source, raw, t_ns):
                run.alive_ns[source].append(t_ns)

        def dead_letter(source: str, raw: bytes, reason: str, error: str) -> None:
            run.dead.append((source, reason, error))

        def emit(event: MatchEvent) -> None:
            run.events.append((world.now_s(), event))
            tracker.observe(event.source, event.t_recv_ns)
            run.alive_ns[event.source].append(event.t_recv_ns)
            final = ended.get((event.source, event.match_id))
            if final is not None and event.event_type is MatchEventType.MATCH_ENDED:
                final.set()

        async def check_health() -> None:
            while not stop.is_set():
                for change in tracker.check(time.monotonic_ns()):
                    run.health.append((world.now_s(), change))
                await asyncio.sleep(CHECK_S)

        tasks = [asyncio.create_task(a.run(emit, record, dead_letter, stop)) for a in adapters]
        checker = asyncio.create_task(check_health())
        await world.wait_finished(scenario.duration_s / SPEED + 10)
        # OpenDota publishes a result only once /api/matches has it: wait for the finals
        # (bounded), not a fixed time.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(e.wait() for e in ended.values())), 5.0)
        stop.set()
        started = time.monotonic()
        results = await asyncio.wait_for(
            asyncio.gather(*tasks, checker, return_exceptions=True), 5.0)
        run.stop_s = time.monotonic() - started
        run.crashed = [r for r in results if isinstance(r, BaseException)]
        run.published = {series: len(messages)
                         for series, messages in world.history.messages.items()}
        run.reconnects = _grid_reconnects() - reconnects_before
    finally:
        await world.stop()
    return run


@pytest.fixture(scope="module")
def outage_run() -> Run:
    return asyncio.run(_play(parse_scenario(SCENARIO)))


CASES = [(source, index) for source in SOURCES for index in range(len(OUTAGES[source]))]


def _stale_report(run: Run, source: str, outage: Outage) -> tuple[float, SourceHealth]:
    stale = [(t, h) for t, h in run.reports(source)
             if h.stale and outage.start_s <= t < outage.end_s]
    assert stale, (source, outage, [(round(t, 1), h.stale) for t, h in run.reports(source)])
    return stale[0]


@pytest.mark.parametrize(("source", "index"), CASES)
def test_a_source_in_outage_is_reported_stale_within_its_threshold(
    outage_run: Run, source: str, index: int
) -> None:
    outage = OUTAGES[source][index]
    t_s, report = _stale_report(outage_run, source, outage)
    assert report.stale_threshold_ms == STALE_MS and report.last_event_age_ms > STALE_MS
    # the report comes one threshold (plus one check) after the last sign of life ...
    last_alive = max(t for t in outage_run.alive_ns[source] if t < report.t_ns)
    late_ms = (report.t_ns - last_alive) / 1e6
    assert STALE_MS < late_ms <= STALE_MS + 6 * CHECK_S * 1000, late_ms
    # ... and that sign of life was the provider's last one before the outage (plus a poll)
    assert t_s - outage.start_s <= (STALE_MS + POLL_MS + 6 * CHECK_S * 1000) / 1000 * SPEED


@pytest.mark.parametrize(("source", "index"), CASES)
def test_a_source_back_from_outage_is_reported_healthy_and_sends_again(
    outage_run: Run, source: str, index: int
) -> None:
    outages = OUTAGES[source]
    outage = outages[index]
    stale_t, _ = _stale_report(outage_run, source, outage)
    next_start = outages[index + 1].start_s if index + 1 < len(outages) else float("inf")
    fresh = [t for t, h in outage_run.reports(source)
             if not h.stale and stale_t < t < next_start]
    assert fresh, (source, outage, [(round(t, 1), h.stale) for t, h in outage_run.reports(source)])
    # healthy again only once the provider is back (a small margin: one world step)
    assert fresh[0] >= outage.end_s - 0.5, (fresh[0], outage)
    after = [e for t, e in outage_run.events if e.source == source and outage.end_s < t]
    assert after, f"{source}: no event after the outage {outage}"


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_reports_each_result_exactly_once_despite_the_outages(
    outage_run: Run, source: str
) -> None:
    for match in outage_run.scenario.matches:
        if source == "opendota" and match.game != "dota2":
            continue
        ended = outage_run.by(source, match.match_id, MatchEventType.MATCH_ENDED)
        where = (source, match.match_id)
        assert [getattr(e.payload, "winner", None) for e in ended] == [match.winner], where
        maps = outage_run.by(source, match.match_id, MatchEventType.MAP_ENDED)
        true_maps = [e.team for e in match.timeline if e.kind == "map_end"]
        assert [getattr(m.payload, "winner", None) for m in maps] == true_maps, where
        numbers = [getattr(m.payload, "game_number", None) for m in maps]
        assert numbers == list(range(1, len(true_maps) + 1))


def test_grid_resumes_from_its_last_sequence_number_without_gaps_or_duplicates(
    outage_run: Run,
) -> None:
    assert outage_run.reconnects >= 1  # the 1011 close was followed by a reconnect
    sequences: dict[str, list[int]] = {}
    for _, source, raw in outage_run.payloads:
        if source != "grid":
            continue
        body = orjson.loads(raw)
        if "sequenceNumber" in body:  # a Series Events message (not a Series State answer)
            sequences.setdefault(body["seriesId"], []).append(body["sequenceNumber"])
    assert set(sequences) == set(outage_run.published)
    for series, seen in sequences.items():
        assert seen == list(range(1, outage_run.published[series] + 1)), series
    # map 1 of the CS2 series ended inside the error outage: its result came by the replay
    cs2_map1 = outage_run.by("grid", "cs2-out", MatchEventType.MAP_ENDED)[0]
    received_s = next(t for t, e in outage_run.events if e is cs2_map1)
    assert received_s >= OUTAGES["grid"][0].end_s


def test_no_crash_nothing_dead_lettered_and_a_prompt_stop(outage_run: Run) -> None:
    assert outage_run.crashed == []
    assert outage_run.dead == []
    assert outage_run.stop_s < 2.5
