"""Pure parsing of Polymarket WebSocket frames into normalized gateway events.

No I/O, no clock: the functions take the raw frame bytes and return values, so the live gateway
and the replay backtester turn a recorded frame into exactly the same events.

A frame is one JSON object or an array of objects of mixed ``event_type``. The whole frame is
decoded in one typed pass; when that fails, every element is decoded on its own so that one bad
or unknown element becomes a :class:`FrameError` (a dead letter) and the others still apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from gateway.polymarket import schemas as S
from polyloly.domain import Side
from polyloly.messages import MakerFill, UserOrderUpdate, UserTradeUpdate

CONTROL_TEXTS: Final = frozenset({"PONG", "NO NEW ASSETS", "INVALID OPERATION", "PING"})
"""Plain-text server frames that are not JSON events."""

EMPTY_BID_SENTINEL: Final = 0.0
EMPTY_ASK_SENTINEL: Final = 1.0
_NAN: Final = float("nan")
_SECONDS_CUTOFF_MS: Final = 100_000_000_000  # below: a seconds timestamp (before 5138 AD in ms)
_INT64_LIMIT: Final = 1 << 63
MAX_FRAME_BYTES: Final = 16 << 20  # a bigger frame is one dead letter, never parsed
MAX_ELEMENTS: Final = 50_000  # array elements of one frame parsed one by one (after a failure)
MAX_ERRORS_PER_FRAME: Final = 20  # dead letters kept per frame; the rest are only counted


# --- normalized market events -----------------------------------------------------------------


class BookSnapshot(msgspec.Struct, frozen=True, gc=False):
    """Replace one token's book. Levels best-first; prices and sizes as floats."""

    token_id: str
    market_id: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    exchange_ts_ms: int
    book_hash: str


class LevelChanges(msgspec.Struct, frozen=True, gc=False):
    """Set the total size of levels of one token (0 removes), in order.

    ``expected_best_bid``/``expected_best_ask`` are the venue's top after the changes (current
    ``price_change`` shape only; ``None`` when the venue did not say). The venue's empty-side
    sentinels (bid 0, ask 1) are turned into ``nan``.
    """

    token_id: str
    market_id: str
    changes: tuple[tuple[Side, float, float], ...]  # (side, price, new total size)
    exchange_ts_ms: int
    book_hash: str
    expected_best_bid: float | None = None
    expected_best_ask: float | None = None


class TickSizeChange(msgspec.Struct, frozen=True, gc=False):
    token_id: str
    market_id: str
    tick_size: float
    exchange_ts_ms: int


class LastTrade(msgspec.Struct, frozen=True, gc=False):
    """A trade on the public tape; ``side`` is the taker side (``None`` when not sent)."""

    token_id: str
    market_id: str
    price: float
    size: float
    side: Side | None
    exchange_ts_ms: int


class TopOfBook(msgspec.Struct, frozen=True, gc=False):
    """``best_bid_ask`` custom-feature event (informational: the book is the truth)."""

    token_id: str
    market_id: str
    best_bid: float
    best_ask: float
    exchange_ts_ms: int


class MarketResolved(msgspec.Struct, frozen=True, gc=False):
    market_id: str
    winning_token_id: str
    winning_outcome: str
    exchange_ts_ms: int


MarketUpdate = BookSnapshot | LevelChanges | TickSizeChange | LastTrade | TopOfBook | MarketResolved


class FrameError(msgspec.Struct, frozen=True, gc=False):
    """One element (or the whole frame) that could not be parsed: a dead letter."""

    reason: str  # malformed_json, unknown_event_type, invalid_message, not_an_object
    detail: str
    raw: bytes


class ParsedFrame(msgspec.Struct):
    """What one frame held: events in frame order, errors, or a control text.

    At most :data:`MAX_ERRORS_PER_FRAME` errors are kept; ``errors_dropped`` counts the rest
    (issue 20 #7: one 10 MB frame of small bad events made 390k dead-letter lines)."""

    events: list[MarketUpdate] = msgspec.field(default_factory=list)
    errors: list[FrameError] = msgspec.field(default_factory=list)
    control: str | None = None
    errors_dropped: int = 0


# --- market channel ---------------------------------------------------------------------------


def parse_market_frame(raw: bytes | str) -> ParsedFrame:
    """Parse one market-channel frame (object, array, or plain-text control message)."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        return _parse_market_frame(data)
    except RecursionError:  # msgspec's nesting limit: deep nesting is a dead letter too
        return ParsedFrame(errors=[_too_deep(data)])


def _too_deep(data: bytes) -> FrameError:
    return FrameError("too_deeply_nested", "JSON nested deeper than the decoder allows",
                      data[:MAX_RAW_KEPT])


def _parse_market_frame(data: bytes) -> ParsedFrame:
    result = ParsedFrame()
    control = _control_text(data)
    if control is not None:
        result.control = control
        return result
    if _too_large(data, result):
        return result
    try:
        decoded = S.market_frame_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        _parse_elements(data, S.market_event_decoder, result, _normalize_market)
        _cap_errors(result)
        return result
    for event in decoded if isinstance(decoded, list) else (decoded,):
        _normalize_market(event, result, data)
    _cap_errors(result)
    return result


def _too_large(data: bytes, result: ParsedFrame) -> bool:
    if len(data) <= MAX_FRAME_BYTES:
        return False
    result.errors.append(FrameError(
        "frame_too_large", f"{len(data)} bytes > {MAX_FRAME_BYTES}", data[:MAX_RAW_KEPT]))
    return True


MAX_RAW_KEPT: Final = 64 << 10  # bytes of an oversized frame kept in its dead letter


def _cap_errors(result: ParsedFrame) -> None:
    extra = len(result.errors) - MAX_ERRORS_PER_FRAME
    if extra > 0:
        del result.errors[MAX_ERRORS_PER_FRAME:]
        result.errors_dropped += extra


def _control_text(data: bytes) -> str | None:
    if data[:1] in _JSON_STARTS:  # the common case, without copying the frame
        return None
    stripped = data.strip()
    if not stripped or stripped[:1] in (b"{", b"["):
        return None
    try:
        text = stripped.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text in CONTROL_TEXTS else None


_JSON_STARTS: Final = (b"{", b"[")
_LEADING_DOT = re.compile(rb'"(-?)\.(\d)')


def _parse_elements(data: bytes, decoder: msgspec.json.Decoder[Any], result: ParsedFrame,
                    normalize: object) -> None:
    if data.lstrip()[:1] == b"[":
        try:
            elements = S.elements_decoder.decode(data)
        except msgspec.DecodeError as exc:
            result.errors.append(FrameError("malformed_json", str(exc)[:500],
                                            data[:MAX_RAW_KEPT]))
            return
        if len(elements) > MAX_ELEMENTS:  # bounded work: not parsed one by one
            result.errors.append(FrameError(
                "frame_too_many_elements", f"{len(elements)} elements > {MAX_ELEMENTS}",
                data[:MAX_RAW_KEPT]))
            return
        items = [bytes(item) for item in elements]
    else:
        items = [data]
    for element in items:
        event = _decode_element(element, decoder, result)
        if event is not None:
            normalize(event, result, element)  # type: ignore[operator]


def _decode_element(element: bytes, decoder: msgspec.json.Decoder[Any],
                    result: ParsedFrame) -> object | None:
    if not element.lstrip().startswith(b"{"):
        result.errors.append(FrameError("not_an_object", "array element is not an object",
                                        element))
        return None
    try:
        event: object = decoder.decode(element)
        return event
    except msgspec.DecodeError as exc:  # ValidationError is a subclass: check it first
        if not isinstance(exc, msgspec.ValidationError):
            result.errors.append(FrameError("malformed_json", str(exc), element))
            return None
        first_error = exc
    # The docs spell some prices ".48"; repair that one quirk and try once more.
    repaired = _LEADING_DOT.sub(rb'"\g<1>0.\g<2>', element)
    if repaired != element:
        try:
            repaired_event: object = decoder.decode(repaired)
            return repaired_event
        except msgspec.ValidationError:
            pass
    text = str(first_error)
    reason = "unknown_event_type" if "tag" in text or "event_type" in text else "invalid_message"
    result.errors.append(FrameError(reason, text, element))
    return None


def _user_ts(value: int) -> int:
    # user-channel times are ms in 2024 frames and seconds in late-2025 frames
    return value * 1000 if 0 < value < _SECONDS_CUTOFF_MS else value


def _normalize_market(event: object, result: ParsedFrame, raw: bytes) -> None:
    out = result.events
    if isinstance(event, S.WsPriceChange):
        _normalize_price_change(event, result, raw)
    elif isinstance(event, S.WsBook):
        out.append(BookSnapshot(
            token_id=event.asset_id,
            market_id=event.market,
            bids=tuple((lv.price, lv.size) for lv in reversed(event.bids)),
            asks=tuple((lv.price, lv.size) for lv in reversed(event.asks)),
            exchange_ts_ms=event.timestamp,
            book_hash=event.hash,
        ))
    elif isinstance(event, S.WsTickSizeChange):
        out.append(TickSizeChange(event.asset_id, event.market, event.new_tick_size,
                                  event.timestamp))
    elif isinstance(event, S.WsLastTradePrice):
        out.append(LastTrade(event.asset_id, event.market, event.price, event.size, event.side,
                             event.timestamp))
    elif isinstance(event, S.WsBestBidAsk):
        out.append(TopOfBook(event.asset_id, event.market, event.best_bid, event.best_ask,
                             event.timestamp))
    elif isinstance(event, S.WsMarketResolved):
        out.append(MarketResolved(event.market, event.winning_asset_id, event.winning_outcome,
                                  event.timestamp))
    # WsNewMarket: valid, nothing to do for a configured set of markets.


def _normalize_price_change(event: S.WsPriceChange, result: ParsedFrame, raw: bytes) -> None:
    ts = event.timestamp
    entries = event.price_changes
    if entries is not None:
        if not entries:
            return
        # Group entries by token in first-appearance order; the top after the last entry of a
        # token is the venue's top after all of that token's changes. Most frames name one
        # token: no grouping needed then.
        token_id = entries[0].asset_id
        if len(entries) == 1 or all(entry.asset_id == token_id for entry in entries):
            groups: dict[str, list[S.WsPriceChangeEntry]] = {token_id: entries}
        else:
            groups = {}
            for entry in entries:
                groups.setdefault(entry.asset_id, []).append(entry)
        append = result.events.append
        for token_id, group in groups.items():
            last = group[-1]
            bid, ask = last.best_bid, last.best_ask
            append(LevelChanges(
                token_id,
                event.market,
                tuple([(e.side, e.price, e.size) for e in group]),
                ts,
                last.hash,
                None if bid is None else _NAN if bid == EMPTY_BID_SENTINEL else bid,
                None if ask is None else _NAN if ask == EMPTY_ASK_SENTINEL else ask,
            ))
        return
    if event.asset_id is None:
        result.errors.append(FrameError("invalid_message",
                                        "price_change without price_changes or asset_id", raw))
        return
    if event.changes is not None:
        changes = tuple((c.side, c.price, c.size) for c in event.changes)
    elif event.price is not None and event.size is not None and event.side is not None:
        changes = ((event.side, event.price, event.size),)
    else:
        result.errors.append(FrameError("invalid_message",
                                        "price_change without changes or price/size/side", raw))
        return
    result.events.append(LevelChanges(event.asset_id, event.market, changes, ts, event.hash))


# --- user channel -----------------------------------------------------------------------------


@dataclass(slots=True)
class ParsedUserFrame:
    updates: list[UserOrderUpdate | UserTradeUpdate] = field(default_factory=list)
    errors: list[FrameError] = field(default_factory=list)
    control: str | None = None
    errors_dropped: int = 0  # beyond MAX_ERRORS_PER_FRAME: counted, not kept


def parse_user_frame(raw: bytes | str, t_recv_ns: int) -> ParsedUserFrame:
    """Parse one user-channel frame into engine-bound updates stamped with ``t_recv_ns``."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        return _parse_user_frame(data, t_recv_ns)
    except RecursionError:  # msgspec's nesting limit: deep nesting is a dead letter too
        return ParsedUserFrame(errors=[_too_deep(data)])


def _parse_user_frame(data: bytes, t_recv_ns: int) -> ParsedUserFrame:
    result = ParsedUserFrame()
    control = _control_text(data)
    if control is not None:
        result.control = control
        return result
    shim = ParsedFrame()
    if _too_large(data, shim):
        result.errors.extend(shim.errors)
        return result
    try:
        decoded = S.user_frame_decoder.decode(data)
        items: list[object] = list(decoded) if isinstance(decoded, list) else [decoded]
        raws = [data] * len(items)
    except (msgspec.DecodeError, msgspec.ValidationError):
        items, raws = [], []

        def collect(event: object, _result: ParsedFrame, element: bytes) -> None:
            items.append(event)
            raws.append(element)

        _parse_elements(data, S.user_event_decoder, shim, collect)
    result.errors.extend(shim.errors)
    for event, element in zip(items, raws, strict=True):
        try:
            if isinstance(event, S.WsOrder):
                result.updates.append(_order_update(event, t_recv_ns))
            elif isinstance(event, S.WsTrade):
                result.updates.append(_trade_update(event, t_recv_ns))
        except ValueError as exc:
            result.errors.append(FrameError("invalid_message", str(exc), element))
    extra = len(result.errors) - MAX_ERRORS_PER_FRAME
    if extra > 0:
        del result.errors[MAX_ERRORS_PER_FRAME:]
        result.errors_dropped += extra
    return result


def _number(text: str, name: str) -> float:
    if text == "":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: expected a number, was {text!r}") from None
    # a size or fee rate: finite, not negative, bounded (NaN fails this test too)
    if not 0.0 <= value <= S.MAX_SIZE:
        raise ValueError(f"{name}: {text!r} is outside [0, {S.MAX_SIZE:g}]")
    return value


def _time_ms(text: str, name: str) -> int:
    if text == "":
        return 0
    try:
        value = _user_ts(int(text))
    except ValueError:
        raise ValueError(f"{name}: expected an integer timestamp, was {text!r}") from None
    if not 0 <= value < _INT64_LIMIT:  # messages carry times as int64
        raise ValueError(f"{name}: {text!r} is outside [0, 2**63)")
    return value


def _order_update(event: S.WsOrder, t_recv_ns: int) -> UserOrderUpdate:
    return UserOrderUpdate(
        venue_order_id=event.id,
        market_id=event.market,
        token_id=event.asset_id,
        side=event.side,
        price=event.price,
        original_size=_number(event.original_size, "original_size"),
        size_matched=_number(event.size_matched, "size_matched"),
        status=event.status,
        update_type=event.type,
        t_exchange_ms=_time_ms(event.timestamp, "timestamp"),
        t_recv_ns=t_recv_ns,
    )


def _maker_fills(orders: list[S.WsMakerOrder]) -> tuple[MakerFill, ...]:
    return tuple(
        MakerFill(venue_order_id=m.order_id, token_id=m.asset_id, price=m.price,
                  matched_size=m.matched_amount, side=m.side, owner=m.owner)
        for m in orders
    )


def _trade_update(event: S.WsTrade, t_recv_ns: int) -> UserTradeUpdate:
    stamp = event.timestamp or event.match_time
    return UserTradeUpdate(
        trade_id=event.id,
        market_id=event.market,
        token_id=event.asset_id,
        side=event.side,
        price=event.price,
        size=event.size,
        status=event.status,
        trader_side=event.trader_side,
        taker_order_id=event.taker_order_id,
        maker_orders=_maker_fills(event.maker_orders),
        t_exchange_ms=_time_ms(stamp, "timestamp"),
        t_recv_ns=t_recv_ns,
        fee_rate_bps=_number(event.fee_rate_bps, "fee_rate_bps"),
    )


def parse_rest_trade(raw: bytes | str, t_recv_ns: int = 0) -> UserTradeUpdate:
    """Parse one REST ``/data/trades`` trade object; raise ``ValueError`` naming the problem."""
    try:
        trade = S.rest_trade_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise ValueError(f"REST trade: {exc}") from None
    return UserTradeUpdate(
        trade_id=trade.id,
        market_id=trade.market,
        token_id=trade.asset_id,
        side=trade.side,
        price=trade.price,
        size=trade.size,
        status=trade.status,
        trader_side=trade.trader_side,
        taker_order_id=trade.taker_order_id,
        maker_orders=_maker_fills(trade.maker_orders),
        t_exchange_ms=_time_ms(trade.match_time, "match_time"),
        t_recv_ns=t_recv_ns,
        fee_rate_bps=_number(trade.fee_rate_bps, "fee_rate_bps"),
    )


def parse_rest_book(raw: bytes | str) -> BookSnapshot:
    """Parse a REST ``GET /book`` body; raise ``ValueError`` naming the problem."""
    try:
        book = S.rest_book_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise ValueError(f"REST book: {exc}") from None
    return BookSnapshot(
        token_id=book.asset_id,
        market_id=book.market,
        bids=tuple((lv.price, lv.size) for lv in reversed(book.bids)),
        asks=tuple((lv.price, lv.size) for lv in reversed(book.asks)),
        exchange_ts_ms=book.timestamp,
        book_hash=book.hash,
    )
