"""The world's feed servers on loopback speak exactly like the provider fixtures.

Two worlds run concurrently once per module (``demo_short`` and
``cs2_bo3_outage_disagreement`` at 10x speed against the in-memory ``FakeVenue``) while clients
poll every REST endpoint and listen on every WebSocket; the tests then check what was seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from sim.agents.fake_venue import FakeVenue
from sim.feeds import pandascore
from sim.feeds.shapes import assert_same_shape
from sim.scenario import Scenario, load_scenario
from sim.world import World, start_world
from tests.helpers.fixtures import esports, load_json

SPEED = 10.0


def fixture(relative: str) -> Any:
    """Load one fixture file."""
    return load_json(esports(relative))


@dataclass
class Seen:
    """Everything the clients saw during one world run."""

    rest: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    ws: dict[str, list[Any]] = field(default_factory=dict)
    closes: dict[str, list[int | None]] = field(default_factory=dict)
    pings: int = 0

    def add_rest(self, key: str, status: int, body: Any) -> None:
        self.rest.setdefault(key, []).append((status, body))

    def bodies(self, key: str) -> list[Any]:
        return [body for status, body in self.rest.get(key, []) if status == 200]


async def _get(session: aiohttp.ClientSession, seen: Seen, key: str, url: str,
               **kwargs: Any) -> None:
    with contextlib.suppress(aiohttp.ClientError):
        async with session.get(url, **kwargs) as response:
            body = await response.json() if response.status == 200 else None
            seen.add_rest(key, response.status, body)


async def _listen(session: aiohttp.ClientSession, seen: Seen, key: str, url: str,
                  answer_ping: bool = False, reconnect_until: float = 0.0) -> None:
    """Collect every JSON frame of ``url``; reconnect (with replay for GRID) after drops."""
    last_sequence = 0
    while True:
        target = url if not last_sequence else f"{url}&fromSequenceNumber={last_sequence + 1}"
        try:
            async with session.ws_connect(target) as ws:
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    if message.data == "ping":
                        seen.pings += 1
                        if answer_ping:
                            await ws.send_str("pong")
                        continue
                    body = json.loads(message.data)
                    seen.ws.setdefault(key, []).append(body)
                    if isinstance(body, dict) and "sequenceNumber" in body:
                        last_sequence = body["sequenceNumber"]
                seen.closes.setdefault(key, []).append(ws.close_code)
        except aiohttp.ClientError:
            seen.closes.setdefault(key, []).append(None)
        if time.monotonic() >= reconnect_until:
            return
        await asyncio.sleep(0.1)


async def _poll_rest(world: World, seen: Seen, session: aiohttp.ClientSession) -> None:
    scenario = world.scenario
    urls = world.endpoints
    while not world.finished.is_set():
        tasks = [
            _get(session, seen, "opendota_live", f"{urls['opendota']}/api/live"),
            _get(session, seen, "liquipedia", f"{urls['liquipedia']}/api/v3/match",
                 params={"wiki": "counterstrike"}, headers={"Authorization": "Apikey test"}),
        ]
        for match in scenario.matches:
            if match.game == "dota2":
                tasks.append(_get(session, seen, "opendota_match",
                                  f"{urls['opendota']}/api/matches/"
                                  f"{match.provider_ids.opendota_match_id}"))
            if match.game == "lol":
                game = match.provider_ids.lolesports_game_ids[0]
                tasks.append(_get(session, seen, "lol_window",
                                  f"{urls['lolesports']}/livestats/v1/window/{game}"))
                tasks.append(_get(session, seen, "lol_get_live",
                                  f"{urls['lolesports']}/persisted/gw/getLive",
                                  params={"hl": "en-US"}, headers={"x-api-key": "k"}))
            tasks.append(_get_series_state(session, seen, urls["grid"],
                                           match.provider_ids.grid_series_id))
        await asyncio.gather(*tasks)
        await asyncio.sleep(0.15)


async def _get_series_state(session: aiohttp.ClientSession, seen: Seen, base: str,
                            series_id: str) -> None:
    with contextlib.suppress(aiohttp.ClientError):
        async with session.post(f"{base}/live-data-feed/series-state/graphql",
                                json={"query": "query($id: ID!) { seriesState(id: $id) { id } }",
                                      "variables": {"id": series_id}},
                                headers={"x-api-key": "k"}) as response:
            body = await response.json() if response.status == 200 else None
            seen.add_rest("grid_state", response.status, body)


async def _run_world(scenario: Scenario) -> tuple[Seen, World]:
    seen = Seen()
    venue = FakeVenue()
    world = await start_world(scenario, venue, speed=SPEED, seed=scenario.seed)
    try:
        deadline = time.monotonic() + scenario.duration_s / SPEED + 1.0
        async with aiohttp.ClientSession() as session:
            urls = world.endpoints
            listeners = [asyncio.ensure_future(_listen(
                session, seen, "sports", urls["polymarket_sports"],
                answer_ping=True))]
            for match in scenario.matches:
                ps_id = match.provider_ids.pandascore_match_id
                base = urls["pandascore"]
                if match.game != "valorant":
                    listeners.append(asyncio.ensure_future(_listen(
                        session, seen, f"ps_frames:{match.match_id}",
                        f"{base}/matches/{ps_id}?token=t")))
                    listeners.append(asyncio.ensure_future(_listen(
                        session, seen, f"ps_events:{match.match_id}",
                        f"{base}/matches/{ps_id}/events?token=t")))
                listeners.append(asyncio.ensure_future(_listen(
                    session, seen, f"grid:{match.match_id}",
                    urls["grid"].replace("http", "ws")
                    + f"/live-data-feed/series/{match.provider_ids.grid_series_id}?key=k",
                    reconnect_until=deadline)))
            listeners.append(asyncio.ensure_future(_listen(
                session, seen, "ps_no_token",
                urls["pandascore"]
                + f"/matches/{scenario.matches[0].provider_ids.pandascore_match_id}")))
            await asyncio.sleep(0.05)
            await _poll_rest(world, seen, session)
            await asyncio.sleep(0.3)
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
    finally:
        await world.stop()
    return seen, world


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[Seen, World]]:
    """Run both worlds concurrently and return what the clients saw."""
    async def main() -> dict[str, tuple[Seen, World]]:
        names = ("demo_short", "cs2_bo3_outage_disagreement")
        results = await asyncio.gather(*(_run_world(load_scenario(n)) for n in names))
        return dict(zip(names, results, strict=True))
    return asyncio.run(main())


def test_world_endpoints_cover_every_provider_on_loopback(runs: Any) -> None:
    _, world = runs["demo_short"]
    assert set(world.endpoints) == {"grid", "pandascore", "lolesports", "opendota",
                                    "liquipedia", "polymarket_sports"}
    assert world.endpoints["polymarket_sports"].startswith("ws://127.0.0.1:")
    assert world.endpoints["polymarket_sports"].endswith("/ws")
    assert world.endpoints["pandascore"].startswith("ws://127.0.0.1:")
    for name in ("grid", "lolesports", "opendota", "liquipedia"):
        assert world.endpoints[name].startswith("http://127.0.0.1:")


def test_opendota_live_and_match_have_fixture_shape(runs: Any) -> None:
    seen, _ = runs["demo_short"]
    live_fixture = fixture("opendota/toplivegames_api.json")["game_list"][0]
    entries = [entry for body in seen.bodies("opendota_live") for entry in body]
    assert entries, "no /api/live entry seen"
    for entry in entries:
        assert_same_shape(entry, live_fixture, "/api/live entry")
    statuses = [status for status, _ in seen.rest["opendota_match"]]
    assert statuses[0] == 404 and 200 in statuses  # only after the game has ended
    match_fixture = fixture("opendota/3254426673_output.json")
    for body in seen.bodies("opendota_match"):
        assert_same_shape(body, match_fixture, "/api/matches/{id}")
        assert body["radiant_win"] is False  # demo: Gaimin Gladiators (dire) win


def test_lolesports_window_and_get_live_have_fixture_shape(runs: Any) -> None:
    seen, _ = runs["demo_short"]
    statuses = [status for status, _ in seen.rest["lol_window"]]
    assert statuses[0] == 204 and 200 in statuses
    windows = seen.bodies("lol_window")
    in_game = fixture("lolesports/example_window_in_game.synthetic.json")
    finished = fixture("lolesports/example_window_finished.synthetic.json")
    for body in windows:
        assert_same_shape(body, in_game, "window")
    states = [frame["gameState"] for body in windows for frame in body["frames"]]
    assert "in_game" in states and states[-1] == "finished"
    assert_same_shape(windows[-1]["frames"][-1], finished["frames"][0], "finished frame")
    get_live = fixture("lolesports/example_getLive.synthetic.json")
    bodies = [b for b in seen.bodies("lol_get_live") if b["data"]["schedule"]["events"]]
    assert bodies
    for body in bodies:
        assert_same_shape(body, get_live, "getLive")
    last_teams = bodies[-1]["data"]["schedule"]["events"][0]["match"]["teams"]
    assert [t["result"]["outcome"] for t in last_teams] == ["win", "loss"]


def test_pandascore_frames_and_events_have_fixture_shape(runs: Any) -> None:
    seen, _ = runs["demo_short"]
    lol_frames = seen.ws["ps_frames:lol-demo"]
    assert lol_frames[0] == {"type": "hello", "payload": {}}
    frame_fixture = fixture("pandascore/example_lol_frame.synthetic.json")
    for body in lol_frames[1:]:
        assert_same_shape(body, frame_fixture, "LoL frame")
    assert lol_frames[-1]["game"]["finished"] is True
    assert seen.closes["ps_frames:lol-demo"][-1] == 1000
    kill_fixture = fixture("pandascore/example_lol_event_kill_feed.synthetic.json")
    lol_events = seen.ws["ps_events:lol-demo"][1:]
    assert {e["payload"]["type"] for e in lol_events} >= {"player_kill", "drake_kill"}
    for body in lol_events:
        assert_same_shape(body, kill_fixture, "kill_feed event")
    round_fixture = fixture("pandascore/example_cs_event_round_end.synthetic.json")
    cs_events = seen.ws["ps_events:cs2-demo"][1:]
    assert len(cs_events) >= 15
    for body in cs_events:
        assert_same_shape(body, round_fixture, "round_end event")
    assert seen.closes["ps_no_token"] == [4001]


def test_grid_events_and_series_state_have_fixture_shape(runs: Any) -> None:
    seen, _ = runs["demo_short"]
    message_fixture = fixture("grid/example_series_events_message.synthetic.json")
    for key in ("grid:lol-demo", "grid:dota-demo", "grid:cs2-demo"):
        messages = seen.ws[key]
        sequences = [m["sequenceNumber"] for m in messages]
        assert sequences == list(range(1, len(sequences) + 1))
        for message in messages:
            assert_same_shape(message, message_fixture, "series events message")
        types = [e["type"] for m in messages for e in m["events"]]
        assert types[0] == "series-started-game" and types[-1] == "team-won-series"
        assert "team-won-game" in types and "series-ended-game" in types
    state_fixture = fixture("grid/example_series_state_response.synthetic.json")
    bodies = [b for b in seen.bodies("grid_state") if b["data"]["seriesState"]["games"]]
    assert bodies
    for body in bodies:
        assert_same_shape(body, state_fixture, "series state")


def test_liquipedia_and_polymarket_sports_have_fixture_shape(runs: Any) -> None:
    seen, _ = runs["demo_short"]
    lpdb = fixture("liquipedia/example_lpdb_v3_match.synthetic.json")
    bodies = seen.bodies("liquipedia")
    for body in bodies:
        assert_same_shape(body, lpdb, "LPDB match")
    assert bodies[0]["result"][0]["finished"] == 0 and bodies[-1]["result"][0]["finished"] == 1
    sports = fixture("polymarket_sports_ws/example_cs2_sport_result.synthetic.json")
    messages = seen.ws["sports"]
    assert {m["leagueAbbreviation"] for m in messages} == {"lol", "dota2", "cs2", "val"}
    for body in messages:
        assert_same_shape([body], sports, "sport_result")  # the fixture lists two examples
    assert sum(1 for m in messages if m["ended"]) == len(load_scenario("demo_short").matches)
    assert seen.pings >= 1  # the server pings every 5 s (wall)


def test_grid_outage_drops_sockets_and_refuses_then_replays(runs: Any) -> None:
    seen, world = runs["cs2_bo3_outage_disagreement"]
    statuses = [status for status, _ in seen.rest["grid_state"]]
    assert 503 in statuses and statuses[-1] == 200
    closes = seen.closes["grid:cs2-bo3"]
    assert 1011 in closes or None in closes
    sequences = [m["sequenceNumber"] for m in seen.ws["grid:cs2-bo3"]]
    # After reconnecting with fromSequenceNumber nothing is missing or duplicated.
    assert sequences == list(range(1, len(sequences) + 1))
    types = [e["type"] for m in seen.ws["grid:cs2-bo3"] for e in m["events"]]
    assert types[-1] == "team-won-series"
    assert world.stats.resolutions == 1


def test_pandascore_and_grid_disagree_on_map_two_winner(runs: Any) -> None:
    seen, world = runs["cs2_bo3_outage_disagreement"]
    match = world.scenario.match("cs2-bo3")
    game_two = pandascore.game_id(match, 2)
    finished = [f for f in seen.ws["ps_frames:cs2-bo3"][1:]
                if f["game"]["id"] == game_two and f["game"]["finished"]]
    assert finished
    frame = finished[-1]
    teams = {frame[side]["id"]: frame[side]["name"]
             for side in ("counter_terrorists", "terrorists")}
    pandascore_winner = teams[frame["game"]["winner_id"]]
    grid_winner = [e["actor"]["state"]["name"] for m in seen.ws["grid:cs2-bo3"]
                   for e in m["events"] if e["type"] == "team-won-game"
                   and e["target"]["id"].endswith("game-2")]
    assert pandascore_winner == "Vitality" and grid_winner == ["FaZe"]
    # PandaScore believes the series ended 2-0 and closes its socket after map 2.
    assert seen.closes["ps_frames:cs2-bo3"][-1] == 1000
    assert max(f["game"]["id"] for f in seen.ws["ps_frames:cs2-bo3"][1:]) == game_two
