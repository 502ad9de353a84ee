"""The gateway's market-data core: parsed Polymarket events in, book writes and messages out.

The keeper is the shm store's one writer (:class:`shm.BookWriter`) and remembers the top of
book each write published (:attr:`shm.BookWrite.best_bid`/``best_ask``), so checking the
venue's top costs no read of its own write back from shm.
No sockets and no clock: the shell passes receive/parse times (CLOCK_MONOTONIC ns) and the
keeper returns what to publish (:class:`BookTick`, :class:`TradePrint`), which tokens need a
REST ``/book`` resync, and the dead letters. The replay backtester drives the same class.

Book lifecycle of one token (flags are the shm slot flags):

* ``NO_BOOK`` until the first snapshot; level changes before it are dead letters.
* Connection lost → ``STALE | RESYNCING``. A fresh ``book`` (WS) clears ``RESYNCING``, and
  ``STALE`` too once the token's connection is up again.
* After a ``price_change`` whose venue top (``best_bid``/``best_ask``) disagrees with our
  published top, the book has diverged: ``RESYNCING`` is set and the token is asked for a
  REST resync. Changes that arrive meanwhile are applied *and* buffered; the REST snapshot is
  applied and the buffer replayed on top of it (sizes are absolute, so replaying a suffix of
  the stream that starts before the snapshot converges to the venue's book). A WS ``book``
  arriving meanwhile wins and the REST answer is then ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec

from gateway.polymarket.parse import (
    BookSnapshot,
    FrameError,
    LastTrade,
    LevelChanges,
    MarketResolved,
    MarketUpdate,
    ParsedFrame,
    TickSizeChange,
    TopOfBook,
)
from polyloly import messages
from polyloly.messages import BookTick, TradePrint
from shm import BookUpdateError, BookWrite, BookWriter, SlotFlags

MARKET_SOURCE: Final = "polymarket.market_ws"
REST_SOURCE: Final = "polymarket.rest_book"
MAX_BUFFERED_CHANGES: Final = 10_000  # per token while a resync is in flight
_PRICE_TOLERANCE: Final = 1e-9

_STALE: Final = int(SlotFlags.STALE)
_RESYNCING: Final = int(SlotFlags.RESYNCING)
_NO_BOOK: Final = int(SlotFlags.NO_BOOK)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be parsed or applied; the shell counts it and writes the DLQ."""

    source: str
    reason: str
    detail: str
    raw: bytes


class KeeperOutput(msgspec.Struct):
    """Everything one call produced, in order (a Struct: built once per frame, cheaply)."""

    messages: list[BookTick | TradePrint | messages.MarketResolved] = msgspec.field(
        default_factory=list)
    resync_tokens: list[str] = msgspec.field(default_factory=list)
    dead_letters: list[DeadLetter] = msgspec.field(default_factory=list)
    resolutions: list[MarketResolved] = msgspec.field(default_factory=list)


@dataclass(slots=True)
class TokenState:
    """The keeper's view of one token (what ``/status`` shows)."""

    market_id: str
    slot: int
    seq: int = 0
    flags: int = _NO_BOOK
    connected: bool = False
    last_update_ns: int = 0  # receive time of the last applied update
    last_exchange_ts_ms: int = 0
    resync_in_flight: bool = False
    resync_superseded: bool = False  # a WS book arrived while the REST resync was in flight
    buffered: list[LevelChanges] = field(default_factory=list)
    buffer_overflowed: bool = False
    divergences: int = 0
    resyncs: int = 0
    best_bid: float = math.nan  # the top the last write published (NaN: empty side)
    best_ask: float = math.nan


class BookKeeper:
    """Apply Polymarket market events to the shm books and say what to publish."""

    def __init__(self, store: BookWriter, token_markets: Mapping[str, str]) -> None:
        """``token_markets`` maps every subscribed token id to its market (condition) id."""
        self._store = store
        self._tokens: dict[str, TokenState] = {
            token: TokenState(market_id=market, slot=store.slot_of(token))
            for token, market in token_markets.items()
        }

    # ---- queries ----

    @property
    def tokens(self) -> Mapping[str, TokenState]:
        return self._tokens

    def unhealthy_count(self) -> int:
        """Books flagged STALE, RESYNCING or NO_BOOK."""
        mask = _STALE | _RESYNCING | _NO_BOOK
        return sum(1 for state in self._tokens.values() if state.flags & mask)

    def status(self, now_ns: int) -> dict[str, dict[str, object]]:
        """Per-token seq, flags (names), last update age (s) and resync counters."""
        return {
            token: {
                "market_id": s.market_id,
                "slot": s.slot,
                "seq": s.seq,
                "flags": _flag_names(s.flags),
                "connected": s.connected,
                "last_update_age_s": round((now_ns - s.last_update_ns) / 1e9, 3)
                if s.last_update_ns else None,
                "divergences": s.divergences,
                "resyncs": s.resyncs,
            }
            for token, s in self._tokens.items()
        }

    # ---- market WebSocket ----

    def apply_frame(self, parsed: ParsedFrame, raw: bytes, t_recv_ns: int,
                    t_parsed_ns: int) -> KeeperOutput:
        """Apply every event of one parsed frame; parse errors become dead letters."""
        out = KeeperOutput()
        for error in parsed.errors:
            out.dead_letters.append(_dead(MARKET_SOURCE, error))
        for event in parsed.events:
            self.apply(event, raw, t_recv_ns, t_parsed_ns, out)
        return out

    def apply(self, event: MarketUpdate, raw: bytes, t_recv_ns: int, t_parsed_ns: int,
              out: KeeperOutput) -> None:
        """Apply one event; a refused event becomes a dead letter and changes nothing."""
        if isinstance(event, MarketResolved):
            # An unauthenticated claim (issue 20 #2): published only for a market we trade and
            # a winner that is one of its tokens, and only as a hint — the engine settles after
            # the venue's REST confirms it (specs/04 §market_resolved).
            problem = self._resolution_problem(event)
            if problem is not None:
                out.dead_letters.append(DeadLetter(MARKET_SOURCE, "resolution_refused",
                                                   problem, raw))
                return
            out.resolutions.append(event)
            out.messages.append(messages.MarketResolved(
                market_id=event.market_id, t_exchange_ms=event.exchange_ts_ms,
                t_recv_ns=t_recv_ns, winning_token_id=event.winning_token_id or None))
            return
        state = self._tokens.get(event.token_id)
        if state is None:
            out.dead_letters.append(DeadLetter(
                MARKET_SOURCE, "unknown_token",
                f"{type(event).__name__} for token {event.token_id!r} not subscribed", raw))
            return
        try:
            if isinstance(event, LevelChanges):
                self._apply_changes(state, event, t_recv_ns, t_parsed_ns, out)
            elif isinstance(event, BookSnapshot):
                self._apply_ws_snapshot(state, event, t_recv_ns, t_parsed_ns, out)
            elif isinstance(event, LastTrade):
                self._apply_trade(state, event, raw, t_recv_ns, out)
            elif isinstance(event, TickSizeChange):
                self._apply_tick_size(state, event, t_recv_ns, t_parsed_ns, out)
            elif isinstance(event, TopOfBook):
                pass  # the book itself is checked on every price_change
        except BookUpdateError as exc:
            out.dead_letters.append(
                DeadLetter(MARKET_SOURCE, f"book_{exc.reason.value.lower()}", str(exc), raw))

    def _resolution_problem(self, event: MarketResolved) -> str | None:
        tokens = [t for t, s in self._tokens.items() if s.market_id == event.market_id]
        if not tokens:
            return f"market_resolved for market {event.market_id!r} we do not subscribe"
        if event.winning_token_id and event.winning_token_id not in tokens:
            return (f"market_resolved names winner {event.winning_token_id!r}, not a token of "
                    f"market {event.market_id!r}")
        return None

    def _apply_changes(self, state: TokenState, event: LevelChanges, t_recv_ns: int,
                       t_parsed_ns: int, out: KeeperOutput) -> None:
        write = _wrote(state, self._store.apply_changes(
            event.token_id, event.changes, t_recv_ns=t_recv_ns,
            exchange_ts_ms=event.exchange_ts_ms, book_hash=event.book_hash))
        state.last_update_ns = t_recv_ns
        state.last_exchange_ts_ms = event.exchange_ts_ms
        if state.resync_in_flight:
            if len(state.buffered) < MAX_BUFFERED_CHANGES:
                state.buffered.append(event)
            else:
                state.buffer_overflowed = True
        self._tick(state, event.token_id, write, event.exchange_ts_ms, t_recv_ns, t_parsed_ns,
                   out)
        if not _top_agrees(state, event):
            state.divergences += 1
            self._request_resync(state, event.token_id, t_recv_ns, t_parsed_ns, out)

    def _apply_ws_snapshot(self, state: TokenState, event: BookSnapshot, t_recv_ns: int,
                           t_parsed_ns: int, out: KeeperOutput) -> None:
        self._snapshot(state, event, t_recv_ns)
        if state.resync_in_flight:
            state.resync_superseded = True
            state.buffered.clear()
            state.buffer_overflowed = False
        write = self._clear_stale_if_connected(state, event.token_id)
        self._tick(state, event.token_id, write, event.exchange_ts_ms, t_recv_ns, t_parsed_ns,
                   out)

    def _apply_trade(self, state: TokenState, event: LastTrade, raw: bytes, t_recv_ns: int,
                     out: KeeperOutput) -> None:
        if event.side is None:
            out.dead_letters.append(DeadLetter(MARKET_SOURCE, "trade_without_side",
                                               "last_trade_price without a side", raw))
            return
        if not (0.0 < event.price < 1.0) or not (event.size >= 0.0) or math.isinf(event.size):
            out.dead_letters.append(DeadLetter(
                MARKET_SOURCE, "trade_bad_value",
                f"last_trade_price price {event.price!r} size {event.size!r}", raw))
            return
        out.messages.append(TradePrint(
            market_id=state.market_id, token_id=event.token_id, price=event.price,
            size=event.size, side=event.side, t_exchange_ms=event.exchange_ts_ms,
            t_recv_ns=t_recv_ns))

    def _apply_tick_size(self, state: TokenState, event: TickSizeChange, t_recv_ns: int,
                         t_parsed_ns: int, out: KeeperOutput) -> None:
        write = _wrote(state, self._store.set_tick_size(event.token_id, event.tick_size))
        self._tick(state, event.token_id, write, event.exchange_ts_ms, t_recv_ns, t_parsed_ns,
                   out)
        if write.flags & _RESYNCING:  # levels of the old tick epoch: rebuild from a snapshot
            self._request_resync(state, event.token_id, t_recv_ns, t_parsed_ns, out)

    # ---- connection state ----

    def mark_disconnected(self, token_ids: Iterable[str], t_ns: int) -> KeeperOutput:
        """The connection carrying these tokens dropped: flag them STALE and RESYNCING."""
        out = KeeperOutput()
        for token in token_ids:
            state = self._tokens.get(token)
            if state is None:
                continue
            state.connected = False
            try:
                _wrote(state, self._store.mark_stale(token, True))
                write = _wrote(state, self._store.mark_resyncing(token, True))
            except BookUpdateError as exc:  # one token's trouble never spares the others
                out.dead_letters.append(DeadLetter(
                    MARKET_SOURCE, f"book_{exc.reason.value.lower()}", str(exc), b""))
                continue
            self._tick(state, token, write, state.last_exchange_ts_ms, t_ns, t_ns, out)
        return out

    def mark_connected(self, token_ids: Iterable[str]) -> None:
        """The connection is up and subscribed; STALE clears with each token's next snapshot."""
        for token in token_ids:
            state = self._tokens.get(token)
            if state is not None:
                state.connected = True

    def tokens_without_fresh_book(self, token_ids: Iterable[str]) -> list[str]:
        """Tokens (of a connection) still STALE/RESYNCING/NO_BOOK and not being resynced."""
        mask = _STALE | _RESYNCING | _NO_BOOK
        return [token for token in token_ids
                if (state := self._tokens.get(token)) is not None
                and state.flags & mask and not state.resync_in_flight]

    # ---- REST resync ----

    def request_resync(self, token_id: str, t_ns: int) -> KeeperOutput:
        """Ask for a REST resync of ``token_id`` (the shell calls this for silent tokens)."""
        out = KeeperOutput()
        state = self._tokens.get(token_id)
        if state is not None:
            self._request_resync(state, token_id, t_ns, t_ns, out)
        return out

    def apply_rest_snapshot(self, snapshot: BookSnapshot, raw: bytes, t_recv_ns: int,
                            t_parsed_ns: int) -> KeeperOutput:
        """Apply a REST ``/book`` answer for a requested resync, then replay buffered changes."""
        out = KeeperOutput()
        state = self._tokens.get(snapshot.token_id)
        if state is None or not state.resync_in_flight:
            out.dead_letters.append(DeadLetter(
                REST_SOURCE, "unrequested_book",
                f"REST book for token {snapshot.token_id!r} without a resync in flight", raw))
            return out
        token = snapshot.token_id
        buffered, overflowed = state.buffered, state.buffer_overflowed
        superseded = state.resync_superseded
        state.buffered, state.buffer_overflowed = [], False
        state.resync_in_flight = state.resync_superseded = False
        if superseded:
            return out  # a WS book arrived meanwhile and is newer than what we asked for
        try:
            self._snapshot(state, snapshot, t_recv_ns)
            for change in buffered:
                _wrote(state, self._store.apply_changes(
                    token, change.changes, t_recv_ns=t_recv_ns,
                    exchange_ts_ms=change.exchange_ts_ms, book_hash=change.book_hash))
        except BookUpdateError as exc:
            out.dead_letters.append(
                DeadLetter(REST_SOURCE, f"book_{exc.reason.value.lower()}", str(exc), raw))
            self._request_resync(state, token, t_recv_ns, t_parsed_ns, out)
            return out
        state.resyncs += 1
        write = self._clear_stale_if_connected(state, token)
        self._tick(state, token, write, snapshot.exchange_ts_ms, t_recv_ns, t_parsed_ns, out)
        if overflowed or (buffered and not _top_agrees(state, buffered[-1])):
            self._request_resync(state, token, t_recv_ns, t_parsed_ns, out)
        return out

    def resync_failed(self, token_id: str) -> None:
        """The REST fetch failed; the token stays RESYNCING and may be requested again."""
        state = self._tokens.get(token_id)
        if state is not None:
            state.resync_in_flight = state.resync_superseded = False
            state.buffered, state.buffer_overflowed = [], False

    # ---- helpers ----

    def _request_resync(self, state: TokenState, token: str, t_recv_ns: int, t_parsed_ns: int,
                        out: KeeperOutput) -> None:
        if state.resync_in_flight:
            return
        state.resync_in_flight = True
        state.resync_superseded = False
        state.buffered, state.buffer_overflowed = [], False
        if not state.flags & _RESYNCING:
            write = _wrote(state, self._store.mark_resyncing(token, True))
            self._tick(state, token, write, state.last_exchange_ts_ms, t_recv_ns, t_parsed_ns,
                       out)
        out.resync_tokens.append(token)

    def _snapshot(self, state: TokenState, event: BookSnapshot, t_recv_ns: int) -> None:
        _wrote(state, self._store.apply_snapshot(
            event.token_id, event.bids, event.asks, t_recv_ns=t_recv_ns,
            exchange_ts_ms=event.exchange_ts_ms, book_hash=event.book_hash))
        state.last_update_ns = t_recv_ns
        state.last_exchange_ts_ms = event.exchange_ts_ms

    def _clear_stale_if_connected(self, state: TokenState, token: str) -> BookWrite:
        # One more header write, so the tick carries the final flags.
        return _wrote(state, self._store.mark_stale(token, not state.connected))

    def _tick(self, state: TokenState, token: str, write: BookWrite, exchange_ts_ms: int,
              t_recv_ns: int, t_parsed_ns: int, out: KeeperOutput) -> None:
        state.seq = write.seq
        state.flags = write.flags
        out.messages.append(BookTick(
            market_id=state.market_id, token_id=token, slot=write.slot, seq=write.seq,
            t_exchange_ms=exchange_ts_ms, t_recv_ns=t_recv_ns, t_parsed_ns=t_parsed_ns,
            t_shm_ns=write.t_shm_ns, flags=write.flags))


def _wrote(state: TokenState, write: BookWrite) -> BookWrite:
    """Remember the top ``write`` published: it is exactly what shm readers now see."""
    state.best_bid = write.best_bid
    state.best_ask = write.best_ask
    return write


def _top_agrees(state: TokenState, event: LevelChanges) -> bool:
    return (_same(state.best_bid, event.expected_best_bid)
            and _same(state.best_ask, event.expected_best_ask))


def _same(ours: float, venue: float | None) -> bool:
    """``ours`` is NaN for an empty side, ``venue`` NaN when the venue says it is empty."""
    if venue is None:
        return True
    if math.isnan(venue):
        return math.isnan(ours)
    return not math.isnan(ours) and abs(ours - venue) <= _PRICE_TOLERANCE


def _dead(source: str, error: FrameError) -> DeadLetter:
    return DeadLetter(source, error.reason, error.detail, error.raw)


def _flag_names(flags: int) -> list[str]:
    return [flag.name for flag in SlotFlags if flag and flags & flag and flag.name]
