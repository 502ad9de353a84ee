"""The adapter step shared by all providers: record, dead-letter, count, emit; and the registry."""

from __future__ import annotations

import asyncio

import pytest

from gateway.esports import build_adapters
from gateway.esports.grid import GridAdapter
from gateway.esports.transport import AdapterIO, RateLimiter
from gateway.feeds import FeedAdapter
from polyloly import metrics
from polyloly.clock import ManualClock
from polyloly.config import ProviderConfig, load_config
from polyloly.domain import Game, SourceTier
from polyloly.messages import MatchEvent
from tests.unit.test_gateway_esports_common import fixture_bytes, market


class Sink:
    """Collects what an adapter hands the shell."""

    def __init__(self) -> None:
        self.events: list[MatchEvent] = []
        self.recorded: list[tuple[str, bytes, int]] = []
        self.dead: list[tuple[str, bytes, str, str]] = []

    def io(self) -> AdapterIO:
        return AdapterIO(
            self.events.append,
            lambda source, raw, t_ns: self.recorded.append((source, raw, t_ns)),
            lambda source, raw, reason, error: self.dead.append((source, raw, reason, error)),
        )


def grid_adapter(clock: ManualClock) -> GridAdapter:
    markets = (market("m", Game.LOL, ("Team AAA", "Team BBB"), grid="2800001"),)
    provider = ProviderConfig(url="http://127.0.0.1:1", tier="A")
    return GridAdapter(provider, markets, clock)


def test_adapter_records_every_payload_and_emits_stamped_events() -> None:
    clock = ManualClock(monotonic_ns=7_000)
    adapter = grid_adapter(clock)
    sink = Sink()
    raw = fixture_bytes("grid/example_series_events_message.synthetic.json")
    adapter.handle(raw, adapter.parser.parse_events_message, sink.io())
    assert sink.recorded == [("grid", raw, 7_000)]
    assert [e.event_type.value for e in sink.events] == ["MATCH_STARTED", "MAP_ENDED",
                                                         "MATCH_ENDED"]
    assert {(e.source, e.tier, e.t_recv_ns, e.t_recv_ms) for e in sink.events} == {
        ("grid", SourceTier.A, 7_000, clock.wall_ms())
    }


@pytest.mark.parametrize("raw", [b"", b"\x00\x01", b"[]", b'{"seriesId": "2800001"}', b"null" * 3])
def test_adapter_dead_letters_garbage_and_never_raises(raw: bytes) -> None:
    adapter = grid_adapter(ManualClock())
    sink = Sink()
    adapter.handle(raw, adapter.parser.parse_events_message, sink.io())
    assert sink.events == [] and len(sink.dead) == 1 and sink.dead[0][1] == raw
    assert sink.recorded[0][1] == raw


def test_adapter_turns_a_parser_bug_into_a_dead_letter() -> None:
    adapter = grid_adapter(ManualClock())
    sink = Sink()

    def broken(raw: bytes, stamp: object) -> object:
        raise ZeroDivisionError("bug")

    adapter.handle(b"{}", broken, sink.io())  # type: ignore[arg-type]
    assert [d[2] for d in sink.dead] == ["parser_error"]


def test_adapter_counts_unknown_ids_as_bad_input_and_drops_them() -> None:
    adapter = grid_adapter(ManualClock())
    sink = Sink()
    counter = metrics.bad_input.labels(component="gateway.esports.grid",
                                       reason="unknown_provider_id")
    before = counter._value.get()
    raw = fixture_bytes("grid/example_series_events_message.synthetic.json").replace(
        b'"seriesId": "2800001"', b'"seriesId": "31337"')
    adapter.handle(raw, adapter.parser.parse_events_message, sink.io())
    assert counter._value.get() == before + 1
    assert sink.events == [] and sink.dead == []


def test_build_adapters_makes_one_conforming_adapter_per_enabled_provider() -> None:
    environ = {
        f"POLYLOLY__PROVIDERS__{name.upper()}__{key}": value
        for name in ("grid", "lolesports", "pandascore", "opendota", "liquipedia",
                     "polymarket_sports")
        for key, value in (("ENABLED", "true"), ("URL", "http://127.0.0.1:9"))
    }
    config = load_config(environ=environ)
    adapters = build_adapters(config, ManualClock())
    assert sorted(a.name for a in adapters) == [
        "grid", "liquipedia", "lolesports", "opendota", "pandascore", "polymarket_sports",
    ]
    assert all(isinstance(a, FeedAdapter) for a in adapters)
    assert {a.name: a.tier.value for a in adapters}["liquipedia"] == "C"
    assert build_adapters(load_config(environ={}), ManualClock()) == []


def test_an_adapter_without_matches_returns_promptly_on_stop() -> None:
    adapter = build_adapters(
        load_config(environ={"POLYLOLY__PROVIDERS__OPENDOTA__ENABLED": "true",
                             "POLYLOLY__PROVIDERS__OPENDOTA__URL": "http://127.0.0.1:9"}),
        ManualClock(),
    )[0]
    sink = Sink()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(sink.events.append, lambda *a: None,
                                               lambda *a: None, stop))
        await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 2.0)

    asyncio.run(scenario())


def test_rate_limiter_spaces_requests() -> None:
    clock = ManualClock()
    limiter = RateLimiter(2, clock)
    assert limiter.wait_s() == 0.0
    limiter.take()
    assert limiter.wait_s() == 30.0
    clock.advance(s=29)
    assert limiter.wait_s() == pytest.approx(1.0)
    clock.advance(s=1)
    assert limiter.wait_s() == 0.0
    with pytest.raises(ValueError):
        RateLimiter(0, clock)
