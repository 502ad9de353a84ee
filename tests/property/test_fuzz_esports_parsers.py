"""Issue 20 #4 fuzz: ≥ 100k bad payloads per esports provider through its pure parser.

Before the fix one LoL Esports ``gameWins`` of 2**63 looped for ever (the parser counted up one
map at a time), and values like 3 or 1000 in a best-of-1 produced a false MATCH_ENDED: of 983
bad payloads 49 produced match events and 3 hung for more than 5 s. Now every parser bounds its
work: no exception but :class:`ParseError` (a dead letter) leaves a parser, no payload takes
more than a second, and no event carries a series score the match format cannot have.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from gateway.esports.events import EventStamp, ParseResult
from gateway.esports.grid import GridParser
from gateway.esports.ids import MatchDirectory
from gateway.esports.json_fields import ParseError
from gateway.esports.liquipedia import LiquipediaParser
from gateway.esports.lolesports import LolEsportsParser
from gateway.esports.opendota import OpenDotaParser
from gateway.esports.pandascore import PandaScoreParser
from gateway.esports.polymarket_sports import PolymarketSportsParser
from polyloly.domain import Game, MatchEventType
from tests.helpers.bad_json import bad_frame
from tests.unit.test_gateway_esports_common import fixture_bytes, market, stamp

FRAMES = 100_000
FRESH_EVERY = 200  # a new parser (and its match state) this often
MAX_PARSE_S = 1.0

Parse = Callable[[bytes, EventStamp], ParseResult]


def _lolesports() -> LolEsportsParser:
    games = ("110000000000000099", "110000000000000101", "110000000000000102")
    markets = (market("lck", Game.LOL, ("Team AAA", "Team BBB"), lolesports="110000000000000100",
                      lolesports_game_ids=games),
               market("bo1", Game.LOL, ("Team AAA", "Team BBB"), best_of=1, index=1,
                      lolesports="110000000000000100"))
    return LolEsportsParser(MatchDirectory(markets[:1], "lolesports"),
                            {"110000000000000100": games})


def _grid() -> GridParser:
    return GridParser(MatchDirectory((
        market("lol-aaa-bbb", Game.LOL, ("Team AAA", "Team BBB"), grid="2800001"),
        market("cs-ccc-ddd", Game.CS2, ("Team CCC", "Team DDD"), index=1, grid="2800002"),
    ), "grid"))


def _pandascore() -> PandaScoreParser:
    return PandaScoreParser(MatchDirectory((
        market("lol", Game.LOL, ("Team AAA", "Team BBB"), pandascore="1100001"),
        market("cs", Game.CS2, ("Team CCC", "Team DDD"), index=1, pandascore="1100002"),
        market("dota", Game.DOTA2, ("Rad", "Dir"), best_of=1, index=2, pandascore="1100003"),
    ), "pandascore"))


def _opendota() -> OpenDotaParser:
    return OpenDotaParser(MatchDirectory((
        market("live-bo3", Game.DOTA2, ("Team Spirit", "Gaimin Gladiators"),
               opendota="8591964706"),
        market("ti-bo1", Game.DOTA2, ("Newbee", "Planet Odd"), best_of=1, index=1,
               opendota="3254426673"),
    ), "opendota"))


def _liquipedia() -> LiquipediaParser:
    return LiquipediaParser(MatchDirectory((
        market("cs", Game.CS2, ("Team DDD", "Team CCC"), liquipedia="EXCUP25PO_R01-M001"),
    ), "liquipedia"))


def _sports() -> PolymarketSportsParser:
    return PolymarketSportsParser(MatchDirectory((
        market("cs", Game.CS2, ("Team CCC", "Team DDD"), polymarket_sports="1400001"),
    ), "polymarket_sports"))


# provider → (parser factory, [(parse method name, fixture)])
PROVIDERS: dict[str, tuple[Callable[[], Any], list[tuple[str, str]]]] = {
    "lolesports": (_lolesports, [
        ("parse_live", "lolesports/example_getLive.synthetic.json"),
        ("parse_window", "lolesports/example_window_in_game.synthetic.json"),
        ("parse_window", "lolesports/example_window_finished.synthetic.json")]),
    "grid": (_grid, [
        ("parse_events_message", "grid/example_series_events_message.synthetic.json"),
        ("parse_series_state", "grid/example_series_state_response.synthetic.json")]),
    "pandascore": (_pandascore, [
        ("parse_frame", "pandascore/example_lol_frame.synthetic.json"),
        ("parse_event", "pandascore/example_lol_event_kill_feed.synthetic.json"),
        ("parse_event", "pandascore/example_cs_event_round_end.synthetic.json")]),
    "opendota": (_opendota, [
        ("parse_live", "opendota/toplivegames_api.json"),
        ("parse_match", "opendota/3254426673_output.json")]),
    "liquipedia": (_liquipedia, [
        ("parse_answer", "liquipedia/example_lpdb_v3_match.synthetic.json")]),
    "polymarket_sports": (_sports, [
        ("parse_frame", "polymarket_sports_ws/example_cs2_sport_result.synthetic.json")]),
}


class _Hung(Exception):
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise _Hung inside the parser if it runs longer than ``seconds`` (a loop of 2**63)."""
    def expire(_signum: int, _frame: object) -> None:
        raise _Hung
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _field(payload: Any, name: str) -> Any:
    return payload.get(name) if isinstance(payload, dict) else getattr(payload, name, None)


@pytest.mark.slow  # ~10-25 s per provider on a busy 2-core machine
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_bad_payloads_are_dead_letters_bounded_in_time_and_never_impossible_events(
        provider: str) -> None:
    factory, inputs = PROVIDERS[provider]
    fixtures = [(name, fixture_bytes(path)) for name, path in inputs]
    rng = random.Random(f"issue20-{provider}")
    escaped: list[str] = []
    impossible: list[str] = []
    dead = 0
    parser = factory()
    for n in range(FRAMES):
        if n % FRESH_EVERY == 0:
            parser = factory()
        method, raw_good = fixtures[rng.randrange(len(fixtures))]
        parse: Parse = getattr(parser, method)
        raw = bad_frame(rng, lambda _rng, good=raw_good: orjson.loads(good))
        started = time.monotonic()
        try:
            with _deadline(MAX_PARSE_S):
                result = parse(raw, stamp(provider))
        except ParseError:
            dead += 1
            continue
        except _Hung:
            escaped.append(f"hung > {MAX_PARSE_S} s on {raw[:300]!r}")
            continue
        except Exception as exc:  # noqa: BLE001 - what escapes is the finding
            escaped.append(f"{type(exc).__name__}: {str(exc)[:200]} on {raw[:300]!r}")
            continue
        assert time.monotonic() - started < MAX_PARSE_S * 2
        dead += len(result.rejections)
        formats = {m.match_id: m.best_of for m in parser.directory.matches()}
        for event in result.events:
            best_of = formats[event.match_id]
            majority = best_of // 2 + 1
            maps = (_field(event.payload, "maps_a"), _field(event.payload, "maps_b"))
            if event.event_type in (MatchEventType.MAP_ENDED, MatchEventType.MATCH_ENDED) \
                    and any(m is not None and not 0 <= m <= majority for m in maps):
                impossible.append(f"{event.event_type} {maps} in bo{best_of} from {raw[:300]!r}")
    assert escaped == [], f"{len(escaped)} escaped, first: {escaped[0]}"
    assert impossible == [], f"{len(impossible)} impossible, first: {impossible[0]}"
    assert dead > FRAMES // 2


def test_lolesports_game_wins_of_2_63_is_a_dead_letter_not_a_hang() -> None:
    """The reproduction of #4: gameWins 2**63 after a first snapshot looped for ever."""
    parser = _lolesports()
    live = orjson.loads(fixture_bytes("lolesports/example_getLive.synthetic.json"))
    parser.parse_live(orjson.dumps(live), stamp("lolesports"))
    teams = live["data"]["schedule"]["events"][0]["match"]["teams"]
    for wins in (2**63, 1000, 3):
        teams[0]["result"]["gameWins"] = wins
        raw = orjson.dumps(live)
        started = time.monotonic()
        with _deadline(2.0), pytest.raises(ParseError, match="out_of_range"):
            parser.parse_live(raw, stamp("lolesports"))
        assert time.monotonic() - started < 1.0


def test_a_best_of_1_with_3_game_wins_never_ends_the_match() -> None:
    match = "110000000000000100"
    parser = LolEsportsParser(MatchDirectory(
        (market("bo1", Game.LOL, ("Team AAA", "Team BBB"), best_of=1, lolesports=match),),
        "lolesports"), {match: ("g1",)})
    live = orjson.loads(fixture_bytes("lolesports/example_getLive.synthetic.json"))
    for team in live["data"]["schedule"]["events"][0]["match"]["teams"]:
        team["result"]["gameWins"] = 0
        team["result"].pop("outcome", None)
    parser.parse_live(orjson.dumps(live), stamp("lolesports"))
    live["data"]["schedule"]["events"][0]["match"]["teams"][0]["result"]["gameWins"] = 3
    with pytest.raises(ParseError, match="out_of_range"):
        parser.parse_live(orjson.dumps(live), stamp("lolesports"))
    live["data"]["schedule"]["events"][0]["match"]["teams"][0]["result"]["gameWins"] = 1
    ended = parser.parse_live(orjson.dumps(live), stamp("lolesports"))  # the real result
    assert [e.event_type for e in ended.events][-1] is MatchEventType.MATCH_ENDED
