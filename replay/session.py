"""One replay: a recording through the gateway's, the shards' and the engine's own cores.

Wiring, all in one process and one thread, on a :class:`ReplayClock`:

* market-channel frames → :func:`parse_market_frame` → :class:`BookKeeper` writing a real
  in-process shm store (:class:`shm.BookWriter`) → BookTicks; REST ``/book`` answers →
  :meth:`BookKeeper.apply_rest_snapshot` (as the gateway's resync does);
* provider payloads → the esports adapters' parsers (:class:`EsportsReplayer`) → MatchEvents;
  source staleness → :class:`SourceHealthTracker` at the gateway's housekeeping cadence;
* every BookTick's token goes to the engine core's one book entry (``on_book_change``: the
  volatility sample and the paper executor's advance, as the live shm poll feeds it), then to the
  owning shard; every message to a shard goes through :meth:`ShardCore.handle`, the entry
  point the live shell calls, whose tick path reads the books from shm through the shell's
  own reader (:meth:`ShardShell.attach_reader`) exactly as live; MatchEvents go to every
  shard that follows the match;
* shard output → :class:`EngineCore` (acks and snapshots back to that shard; reports and risk
  states to the shard owning the market; risk states without a market to all shards).

Each recorded message moves the clock to its receive time; before it, the timers that were
due fire at their own times, in a fixed order (gateway housekeeping, engine tick, shards by
index): shard ``on_time`` every ``shards.time_interval_ms``, engine ``tick`` every 50 ms
(``resolve_pending`` every 2 s). Every message produced is delivered, first in first out,
before the next recorded message: zero bus latency. The same recording and config therefore
give the same intents, byte for byte.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from engine.books import ShmBookSource
from engine.core import EngineCore, Outbound
from engine.driver import EngineDriver
from engine.executors.paper import PaperExecutor
from engine.journal import EventJournal
from engine.persistence.sqlite import SqlitePersistence
from engine.store import EngineStore
from gateway.polymarket.book_keeper import BookKeeper, KeeperOutput
from gateway.polymarket.parse import parse_market_frame, parse_rest_book
from gateway.source_health import SourceHealthTracker, SourceRule
from polyloly import bus
from polyloly.config import Config, ConfigError
from polyloly.domain import Outcome, SourceTier
from polyloly.eventlog import JsonlWriter
from polyloly.messages import (
    BookTick,
    CancelIntent,
    ExecutionReport,
    IntentAck,
    MarketResolved,
    MarketStatus,
    MatchEvent,
    Message,
    OrderIntent,
    RiskState,
    SourceHealth,
    StateQuery,
    TruthDelta,
    TruthFinal,
)
from replay.clock import ReplayClock
from replay.esports import EsportsReplayer
from replay.recording import ESPORTS_PREFIX, MARKET_WS, REST_BOOK, USER_WS, RecordedMessage
from shards.main import ShardShell
from shm import BookReader, BookWriter

_NS_PER_MS: Final = 1_000_000
GATEWAY_HOUSEKEEPING_NS: Final = 50 * _NS_PER_MS  # gateway.main.HOUSEKEEPING_INTERVAL_S
ENGINE_TICK_NS: Final = 50 * _NS_PER_MS  # engine.main._TICK_INTERVAL_S
ENGINE_RESOLVE_NS: Final = 2_000 * _NS_PER_MS  # engine.main._RESOLVE_INTERVAL_S
SAMPLE_INTERVAL_NS: Final = 1_000 * _NS_PER_MS  # equity and price samples for the report
_segment_counter = itertools.count()


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """P&L at one replayed time (USDC); ``t_s`` is seconds since the first message."""

    t_s: float
    realized_usdc: float
    unrealized_usdc: float
    fees_usdc: float
    exposure_usdc: float

    @property
    def total_usdc(self) -> float:
        return self.realized_usdc + self.unrealized_usdc


@dataclass(slots=True)
class ReplayResult:
    """Everything one replay produced, in the order it happened."""

    intents: list[OrderIntent] = field(default_factory=list)
    cancels: list[CancelIntent] = field(default_factory=list)
    acks: list[IntentAck] = field(default_factory=list)
    reports: list[ExecutionReport] = field(default_factory=list)
    order_log: list[IntentAck | ExecutionReport] = field(default_factory=list)  # in order
    risk_states: list[RiskState] = field(default_factory=list)
    truth: list[TruthDelta | TruthFinal] = field(default_factory=list)
    equity: list[EquityPoint] = field(default_factory=list)
    prices: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # token → (t, mid)
    inputs: Counter[str] = field(default_factory=Counter)  # recorded messages by event type
    produced: Counter[str] = field(default_factory=Counter)  # messages by kind
    dead_letters: Counter[str] = field(default_factory=Counter)
    shard_refusals: Counter[str] = field(default_factory=Counter)
    resolutions: dict[str, Outcome | None] = field(default_factory=dict)  # venue resolutions
    truth_winners: dict[str, Outcome] = field(default_factory=dict)  # match → winner outcome
    first_t_ns: int = 0
    last_t_ns: int = 0
    final_realized_usdc: float = 0.0
    final_unrealized_usdc: float = 0.0
    final_fees_usdc: float = 0.0
    settled_usdc: float = 0.0  # P&L after settling held positions (see settle_at_end)
    settled_by: dict[str, str] = field(default_factory=dict)  # market → venue|truth|mark
    realized_by_market: dict[str, float] = field(default_factory=dict)
    settled_by_market: dict[str, float] = field(default_factory=dict)
    realized_by_strategy: dict[str, float] = field(default_factory=dict)


class ReplaySession:
    """Drive the cores with one recording; :meth:`run` returns a :class:`ReplayResult`."""

    def __init__(self, config: Config, *, journal_dir: str | Path | None = None,
                 tail_s: float | None = None,
                 shard_join_ns: Mapping[int, int] | None = None) -> None:
        """``journal_dir``: write the engine's event journal there (the live format).
        ``tail_s``: replayed seconds of timers after the last message (default: the venue's
        matching delay + 1 s, so delayed orders still match).
        ``shard_join_ns``: when each shard joined (CLOCK_MONOTONIC ns, e.g. from the live
        journal's first StateQuery): before it, the shard gets no message, as a live shard
        that was not yet subscribed; default: every shard joins at the first message."""
        self._tmp = tempfile.TemporaryDirectory(prefix="polyloly-replay-")
        segment = f"polyloly_replay_{os.getpid()}_{next(_segment_counter)}"
        config = msgspec.structs.replace(
            config,
            shm=msgspec.structs.replace(config.shm, segment_name=segment),
            run=msgspec.structs.replace(config.run, data_dir=self._tmp.name),
        )
        self.config = config
        self._journal_dir = Path(journal_dir) if journal_dir is not None else None
        self._tail_ns = int((config.polymarket.matching_delay_s + 1.0 if tail_s is None
                             else tail_s) * 1e9)
        self.result = ReplayResult()
        self._queue: deque[tuple[int | None, Message]] = deque()  # (shard or None=engine, msg)
        self._join_ns = dict(shard_join_ns or {})

    # ---- construction ----

    def _build(self, t0_ns: int, wall0_ms: int) -> None:
        config = self.config
        self.clock = ReplayClock(t0_ns, wall0_ms)
        token_markets = {t: m.market_id for m in config.markets for t in m.token_ids}
        if not token_markets:
            raise ConfigError(["markets: the config has no markets; nothing to replay"])
        self.store = BookWriter.create(config.shm.segment_name, list(token_markets),
                                       levels=config.shm.levels,
                                       tick_size=config.markets[0].tick_size)
        for market in config.markets:
            for token in market.token_ids:
                self.store.set_tick_size(token, market.tick_size)
        self.keeper = BookKeeper(self.store, token_markets)
        self.keeper.mark_connected(list(token_markets))
        self.token_markets = token_markets
        self.shells = {k: ShardShell(config, k) for k in range(config.shards.count)}
        self.shard_readers = [BookReader.attach(config.shm.segment_name, timeout_s=1.0)
                              for _ in self.shells]
        for shell, reader in zip(self.shells.values(), self.shard_readers, strict=True):
            shell.attach_reader(reader)  # the live shell's shm read of a tick's books
        self.shard_of_market = {m.market_id: config.shard_of(m) for m in config.markets}
        self.shards_of_match: dict[str, list[int]] = {}
        for k, shell in self.shells.items():
            for match_id in shell.core.truths:
                self.shards_of_match.setdefault(match_id, []).append(k)
        self.identities = {bus.shard_identity(k): k for k in self.shells}
        self.engine_reader = BookReader.attach(config.shm.segment_name, timeout_s=1.0)
        books = ShmBookSource(self.engine_reader)
        self.engine_store = EngineStore(config.data_path(config.storage.sqlite_file))
        self.executor = PaperExecutor(books, config.markets, self.clock,
                                      config.polymarket.matching_delay_s)
        self.journal = (EventJournal(JsonlWriter(self._journal_dir, "engine",
                                                 config.storage.rotate_bytes), self.clock)
                        if self._journal_dir is not None else None)
        self.engine = EngineCore(config, SqlitePersistence(self.engine_store, self.journal),
                                 self.executor, books, self.clock)
        # the same shell as the process: carries the core's effects out with the executor
        self.engine_driver = EngineDriver(self.engine, self.executor, self._from_engine,
                                          sleep=_no_sleep)
        self.engine.start()
        self.engine.mark_ready()
        rules = {name: SourceRule(SourceTier(p.tier), p.stale_threshold_ms)
                 for name, p in config.providers.items() if p.enabled}
        try:
            self.esports = EsportsReplayer(config, self.clock)
        except ValueError as exc:  # an enabled provider that cannot be built (no URL)
            raise ConfigError([str(exc)]) from None
        for name in self.esports.sources:
            rules.setdefault(name, SourceRule(SourceTier.B, 30_000))
        self.health = SourceHealthTracker(rules, t0_ns)
        self._next_housekeeping = t0_ns + GATEWAY_HOUSEKEEPING_NS
        self._next_engine_tick = t0_ns + ENGINE_TICK_NS
        self._next_resolve = t0_ns + ENGINE_RESOLVE_NS
        interval_ns = config.shards.time_interval_ms * _NS_PER_MS
        self._shard_interval_ns = interval_ns
        self._pending_joins = {k: max(t0_ns, self._join_ns.get(k, t0_ns)) for k in self.shells}
        self._joined: set[int] = set()
        self._next_shard_time: dict[int, int] = {}
        self._next_sample = t0_ns
        self.result.first_t_ns = t0_ns

    def close(self) -> None:
        """Release the shm segment, readers, SQLite and the journal."""
        for reader in getattr(self, "shard_readers", []):
            reader.close()
        if hasattr(self, "engine_reader"):
            self.engine_reader.close()
        if hasattr(self, "store"):
            self.store.close()
        journal = getattr(self, "journal", None)
        if journal is not None:
            journal.close()
        if hasattr(self, "engine_store"):
            self.engine_store.close()
        self._tmp.cleanup()

    # ---- running ----

    def run(self, messages: Iterable[RecordedMessage]) -> ReplayResult:
        """Replay every message, then the tail of timers; settle; return the result."""
        try:
            return asyncio.run(self._run(messages))
        finally:
            self.close()

    async def _run(self, messages: Iterable[RecordedMessage]) -> ReplayResult:
        started = False
        for message in messages:
            if not started:
                self._build(message.t_recv_ns, message.timestamp_ms)
                self._join_due(message.t_recv_ns)
                await self._drain()
                started = True
            await self._advance(message.t_recv_ns)
            self.clock.move_to(message.t_recv_ns, message.timestamp_ms)
            self.result.inputs[message.event_type] += 1
            self._feed(message)
            await self._drain()
            self.result.last_t_ns = self.clock.monotonic_ns()
        if not started:
            return self.result
        end = self.clock.monotonic_ns() + self._tail_ns
        await self._advance(end)
        self.clock.move_to(end)
        self._sample(force=True)
        self._finish()
        return self.result

    async def _advance(self, until_ns: int) -> None:
        while True:
            due = min(self._next_housekeeping, self._next_engine_tick, self._next_sample,
                      *self._next_shard_time.values(), *self._pending_joins.values())
            if due > until_ns:
                return
            self.clock.move_to(due)
            if self._next_housekeeping <= due:
                self._next_housekeeping = due + GATEWAY_HOUSEKEEPING_NS
                for change in self.health.check(due):
                    self._publish_gateway(change)
            if self._next_engine_tick <= due:
                self._next_engine_tick = due + ENGINE_TICK_NS
                resolve = self._next_resolve <= due
                if resolve:
                    self._next_resolve = due + ENGINE_RESOLVE_NS
                await self.engine_driver.tick(resolve_pending=resolve)
            for k, next_time in sorted(self._next_shard_time.items()):
                if next_time <= due:
                    self._next_shard_time[k] = due + self._shard_interval_ns
                    self._from_shard(k, self.shells[k].core.on_time(due))
            self._join_due(due)
            if self._next_sample <= due:
                self._next_sample = due + SAMPLE_INTERVAL_NS
                self._sample()
            await self._drain()

    def _join_due(self, now_ns: int) -> None:
        for k in sorted(self._pending_joins):
            if self._pending_joins[k] <= now_ns:
                del self._pending_joins[k]
                self._joined.add(k)
                self._next_shard_time[k] = now_ns + self._shard_interval_ns
                self._from_shard(k, self.shells[k].core.start(now_ns))

    # ---- inputs ----

    def _feed(self, message: RecordedMessage) -> None:
        t_ns = message.t_recv_ns
        if message.event_type == MARKET_WS:
            parsed = parse_market_frame(message.raw)
            if parsed.control is None:
                self._from_keeper(self.keeper.apply_frame(parsed, message.raw, t_ns, t_ns))
        elif message.event_type == REST_BOOK:
            try:
                snapshot = parse_rest_book(message.raw)
            except ValueError as exc:
                self.result.dead_letters[f"{REST_BOOK}:invalid_message:{exc}"[:120]] += 1
                return
            self._from_keeper(self.keeper.apply_rest_snapshot(snapshot, message.raw, t_ns, t_ns))
        elif message.event_type.startswith(ESPORTS_PREFIX):
            source = message.event_type[len(ESPORTS_PREFIX):]
            self.health.observe_payload(source, message.raw, t_ns)  # as the live gateway
            for event in self.esports.feed(source, message.raw):
                self.health.observe(event.source, event.t_recv_ns)
                self._publish_gateway(event)
        elif message.event_type == USER_WS:
            self.result.produced["user_ws_not_replayed"] += 1  # paper fills replace them

    def _from_keeper(self, out: KeeperOutput) -> None:
        now = self.clock.monotonic_ns()
        for message in out.messages:
            if type(message) is BookTick:
                # The shm writer stamps t_shm_ns from the live CLOCK_MONOTONIC; in a replay
                # the write happens at the replayed receive time (as t_parsed_ns does), so
                # no live clock reaches the intents (specs/11 §determinism).
                message = msgspec.structs.replace(message, t_shm_ns=now)
            self._publish_gateway(message)
        for dead in out.dead_letters:
            self.result.dead_letters[f"{dead.source}:{dead.reason}"] += 1
        for resolved in out.resolutions:
            market = self.config.market(resolved.market_id) if any(
                m.market_id == resolved.market_id for m in self.config.markets) else None
            if market is None:
                self.result.dead_letters["polymarket.market_ws:unknown_resolution"] += 1
                continue
            winner = (Outcome.YES if resolved.winning_token_id == market.token_ids[0]
                      else Outcome.NO if resolved.winning_token_id == market.token_ids[1]
                      else None)
            self.result.resolutions[resolved.market_id] = winner

    # ---- routing ----

    def _publish_gateway(self, message: Message) -> None:
        self.result.produced[type(message).__name__] += 1
        if isinstance(message, MarketResolved):
            self._queue.append((None, message))  # the engine settles the market
            shard = self.shard_of_market.get(message.market_id)
            if shard is not None:  # and the owning shard resolves it, as live
                self._queue.append((shard, message))
        elif isinstance(message, BookTick):
            self._queue.append((None, message))
            shard = self.shard_of_market.get(message.market_id)
            if shard is not None:
                self._queue.append((shard, message))
        elif isinstance(message, MatchEvent):
            for shard in self.shards_of_match.get(message.match_id, []):
                self._queue.append((shard, message))
        elif isinstance(message, SourceHealth):
            for shard in self.shells:
                self._queue.append((shard, message))

    def _from_shard(self, shard: int, out: list[Message]) -> None:
        for message in out:
            if isinstance(message, OrderIntent):
                self.result.intents.append(message)
                self._queue.append((-1 - shard, message))
            elif isinstance(message, CancelIntent):
                self.result.cancels.append(message)
                self._queue.append((-1 - shard, message))
            elif isinstance(message, StateQuery | MarketStatus):
                self._queue.append((-1 - shard, message))
            elif isinstance(message, TruthDelta | TruthFinal):
                self.result.truth.append(message)
                if isinstance(message, TruthFinal) and message.winner in ("A", "B"):
                    self.result.truth_winners[message.match_id] = (
                        Outcome.YES if message.winner == "A" else Outcome.NO)
            self.result.produced[type(message).__name__] += 1

    def _from_engine(self, outbound: Outbound) -> None:
        message = outbound.message
        self.result.produced[type(message).__name__] += 1
        if outbound.identity is not None:
            shard = self.identities.get(outbound.identity)
            if isinstance(message, IntentAck):
                self.result.acks.append(message)
                self.result.order_log.append(message)
            if shard is not None:
                self._queue.append((shard, message))
            return
        if isinstance(message, ExecutionReport):
            self.result.reports.append(message)
            self.result.order_log.append(message)
            shard = self.shard_of_market.get(message.market_id)
            if shard is not None:
                self._queue.append((shard, message))
        elif isinstance(message, RiskState):
            self.result.risk_states.append(message)
            if message.market_id is None:
                targets = list(self.shells)
            else:
                owner = self.shard_of_market.get(message.market_id)
                targets = [] if owner is None else [owner]
            for shard in targets:
                self._queue.append((shard, message))

    async def _drain(self) -> None:
        now = self.clock.monotonic_ns()
        while self._queue:
            target, message = self._queue.popleft()
            if target is None and isinstance(message, BookTick):
                await self.engine_driver.on_book_change((message.token_id,))
            elif target is None:
                await self.engine_driver.handle(None, message)
            elif target < 0:
                shard = -1 - target
                await self.engine_driver.handle(bus.shard_identity(shard), message)
            elif target in self._joined:
                self._from_shard(target, self._to_shard(target, message, now))
            else:
                self.result.produced["not_delivered_before_join"] += 1

    def _to_shard(self, shard: int, message: Message, now: int) -> list[Message]:
        # The live shell's own entry point: every decision is reached as live.
        return self.shells[shard].core.handle(message, now)

    # ---- P&L ----

    def _sample(self, force: bool = False) -> None:
        now = self.clock.monotonic_ns()
        t_s = (now - self.result.first_t_ns) / 1e9
        summary = self.engine.ledger.summary(self.engine.marks())
        point = EquityPoint(round(t_s, 3), summary.realized_usdc, summary.unrealized_usdc,
                            summary.fees_usdc, summary.exposure_usdc)
        if force or not self.result.equity or self.result.equity[-1] != point:
            self.result.equity.append(point)
        for token in self.token_markets:
            mid = self.engine_reader.mid(self.engine_reader.slot_of(token))
            if mid is not None:
                series = self.result.prices.setdefault(token, [])
                if not series or series[-1][1] != mid or force:
                    series.append((round(t_s, 3), mid))

    def _finish(self) -> None:
        result = self.result
        ledger = self.engine.ledger
        marks = self.engine.marks()
        summary = ledger.summary(marks)
        result.final_realized_usdc = summary.realized_usdc
        result.final_unrealized_usdc = summary.unrealized_usdc
        result.final_fees_usdc = summary.fees_usdc
        result.realized_by_market = dict(sorted(ledger.realized_by_market().items()))
        result.realized_by_strategy = dict(sorted(ledger.realized_by_strategy().items()))
        # Markets the venue resolved were settled by the engine itself (MarketResolved).
        # Settle what is still held by the Truth Engine's final winner, else mark it at the
        # last mid. Done after the last message, so it changes no decision.
        for market_id in result.resolutions:
            if ledger.is_settled(market_id):
                result.settled_by[market_id] = "venue"
        markets_held = sorted({p.market_id for p in ledger.positions()
                               if p.shares > 0 and not ledger.is_settled(p.market_id)})
        for market_id in markets_held:
            market = self.config.market(market_id)
            if market.match_id in result.truth_winners:
                ledger.settle(market_id, result.truth_winners[market.match_id])
                result.settled_by[market_id] = "truth"
            else:
                result.settled_by[market_id] = "mark"
        settled = ledger.summary(self.engine.marks())
        result.settled_usdc = settled.realized_usdc + settled.unrealized_usdc
        by_market = ledger.realized_by_market()
        for position in ledger.positions():
            if position.shares > 0:
                mark = marks.get(position.token_id)
                if mark is not None:
                    by_market[position.market_id] = by_market.get(position.market_id, 0.0) + (
                        position.shares * mark - position.cost_usdc)
        result.settled_by_market = dict(sorted(by_market.items()))
        for shell in self.shells.values():
            result.shard_refusals.update(shell.core.refusals)
        for key, count in self.esports.dead_letters.items():
            result.dead_letters[f"esports.{key}"] += count


async def _no_sleep(seconds: float) -> None:
    return None

