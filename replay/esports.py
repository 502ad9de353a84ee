"""Recorded esports payloads back into MatchEvents, through the adapters' own pure parsers.

The recording keeps each provider payload as received (``esports.<provider>``) but not which
request or socket it answered; every provider's answers have distinct shapes, so the parser
is chosen from the shape (the table is in ``specs/11_REPLAY_SPEC.md``). The adapters are built
by :func:`gateway.esports.build_adapters` on the replay clock, and each payload goes through
:meth:`AdapterBase.handle` exactly as live: same parser state, same stamps, same lead tracker.
MatchEvent ``seq`` numbers are assigned per source from 1, as the gateway shell does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from gateway.esports import build_adapters
from gateway.esports.events import ParseResult
from gateway.esports.transport import AdapterBase, AdapterIO, ParseFn
from polyloly import metrics
from polyloly.clock import Clock
from polyloly.config import Config
from polyloly.messages import MatchEvent


def _peek(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _opendota(parser: Any, raw: bytes) -> ParseFn:
    body = _peek(raw)
    if isinstance(body, dict) and "match_id" in body:
        return parser.parse_match
    return parser.parse_live


def _grid(parser: Any, raw: bytes) -> ParseFn:
    body = _peek(raw)
    if isinstance(body, dict) and ("data" in body or "errors" in body):
        return parser.parse_series_state
    return parser.parse_events_message


def _pandascore(parser: Any, raw: bytes) -> ParseFn:
    body = _peek(raw)
    if isinstance(body, dict) and "payload" in body and body.get("type") != "hello":
        return parser.parse_event
    return parser.parse_frame


def _lolesports(parser: Any, raw: bytes) -> ParseFn:
    body = _peek(raw)
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict) and "event" in data:
        return parser.parse_event_details
    if isinstance(data, dict):
        return parser.parse_live
    return parser.parse_window


def _liquipedia(parser: Any, raw: bytes) -> ParseFn:
    return parser.parse_answer


def _polymarket_sports(parser: Any, raw: bytes) -> ParseFn:
    return parser.parse_frame


PARSER_CHOICE: dict[str, Callable[[Any, bytes], ParseFn]] = {
    "opendota": _opendota,
    "grid": _grid,
    "pandascore": _pandascore,
    "lolesports": _lolesports,
    "liquipedia": _liquipedia,
    "polymarket_sports": _polymarket_sports,
}
"""Provider → function choosing the parser of one payload from its shape."""


class EsportsReplayer:
    """Feed recorded provider payloads to the configured adapters' parsers."""

    def __init__(self, config: Config, clock: Clock) -> None:
        adapters = build_adapters(config, clock)
        self._adapters: dict[str, AdapterBase] = {
            a.name: a for a in adapters if isinstance(a, AdapterBase)}
        self._seq: Counter[str] = Counter()
        self._pending: list[MatchEvent] = []
        self.dead_letters: Counter[str] = Counter()
        self.unknown_sources: Counter[str] = Counter()
        self._io = AdapterIO(self._emit, self._record, self._dead_letter)

    @property
    def sources(self) -> list[str]:
        """Names of the providers that can be replayed."""
        return list(self._adapters)

    def _emit(self, event: MatchEvent) -> None:
        self._seq[event.source] += 1
        self._pending.append(msgspec.structs.replace(event, seq=self._seq[event.source]))

    def _record(self, source: str, raw: bytes, t_recv_ns: int) -> None:
        return None  # the payload is already in the recording being replayed

    def _dead_letter(self, source: str, raw: bytes, reason: str, error: str) -> None:
        self.dead_letters[f"{source}:{reason}"] += 1
        metrics.dead_letters.labels(source=f"esports.{source}", reason=reason).inc()

    def feed(self, source: str, raw: bytes) -> list[MatchEvent]:
        """Parse one payload of ``source`` (at the clock's current time); return its events.

        A source with no configured adapter is counted in :attr:`unknown_sources` and yields
        nothing (reported by the replay as skipped).
        """
        adapter = self._adapters.get(source)
        choose = PARSER_CHOICE.get(source)
        if adapter is None or choose is None:
            self.unknown_sources[source] += 1
            return []
        parser = getattr(adapter, "parser", None)
        parse: ParseFn = choose(parser, raw)
        self._pending = []
        result: ParseResult = adapter.handle(raw, parse, self._io)
        del result
        events, self._pending = self._pending, []
        return events
