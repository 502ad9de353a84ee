"""The baseline: the v1 design of SPEC §1 — one asyncio process, dict books, asyncio queues.

``python -m bench.baseline --config FILE --url WS_URL --out FILE --health-port PORT``

One uvloop process holds everything: the same websockets client as the gateway, the same frame
parser (:func:`gateway.polymarket.parse.parse_market_frame`), a partitioned event bus (SPEC
§5.1: one ``asyncio.Queue`` per market, one consumer task each), books as ``dict`` price → size,
the shard's own pure strategy (:func:`shards.pair_arb.plan_pair` with the config's pair
parameters and cooldown) over snapshots built from those dicts, and an intent queue read by a
risk task. Only the architecture differs from PolyLOL: no shm, no processes, no ZeroMQ.

Stamps (CLOCK_MONOTONIC ns): frame received, parsed, consumer woken, intent queued, intent
received by the risk task; written to ``--out`` as JSON on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.polymarket.parse import BookSnapshot as WsBook
from gateway.polymarket.parse import LevelChanges, parse_market_frame
from polyloly.config import Config, MarketConfig, load_config
from polyloly.domain import Side
from polyloly.httpserve import ObservabilityServer
from shards.pair_arb import PairPlan, PairPosition, plan_pair
from shm import BookSnapshot, SlotFlags

BASELINE_STAGES = ("frame_received_to_parsed", "parsed_to_consumer_woken",
                   "consumer_woken_to_intent_queued", "intent_queued_to_risk_received",
                   "tick_to_intent")


@dataclass(slots=True)
class DictBook:
    """One token's book as two dicts (price → size), as the v1 design kept it."""

    token_id: str
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    seq: int = 0
    t_recv_ns: int = 0

    def snapshot(self, levels: int, tick_size: float) -> BookSnapshot:
        """A :class:`shm.BookSnapshot` of the top ``levels`` (so the shard's strategy runs)."""
        bids = sorted(self.bids.items(), reverse=True)[:levels]
        asks = sorted(self.asks.items())[:levels]
        best_bid = bids[0][0] if bids else None
        best_ask = asks[0][0] if asks else None
        crossed = best_bid is not None and best_ask is not None and best_bid >= best_ask
        return BookSnapshot(
            slot=0, token_id=self.token_id, seq=self.seq, t_recv_ns=self.t_recv_ns,
            exchange_ts_ms=0, tick_size=tick_size, best_bid=best_bid, best_ask=best_ask,
            flags=int(SlotFlags.CROSSED) if crossed else 0, book_hash="",
            bid_prices=tuple(p for p, _ in bids), bid_sizes=tuple(s for _, s in bids),
            ask_prices=tuple(p for p, _ in asks), ask_sizes=tuple(s for _, s in asks),
            bid_levels_total=len(self.bids), ask_levels_total=len(self.asks))


@dataclass(frozen=True, slots=True)
class _Event:
    change: LevelChanges | WsBook
    t_recv_ns: int
    t_parsed_ns: int


@dataclass(frozen=True, slots=True)
class _Intent:
    plan: PairPlan
    t_recv_ns: int
    t_parsed_ns: int
    t_woken_ns: int
    t_queued_ns: int


class Baseline:
    """The whole v1 pipeline in one event loop."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.markets: dict[str, MarketConfig] = {m.market_id: m for m in config.markets}
        self.books: dict[str, DictBook] = {t: DictBook(t) for m in config.markets
                                           for t in m.token_ids}
        self.queues: dict[str, asyncio.Queue[_Event]] = {m: asyncio.Queue(maxsize=1000)
                                                         for m in self.markets}
        self.intents: asyncio.Queue[_Intent] = asyncio.Queue()
        self.last_pair_ns: dict[str, int] = {}
        self.samples: dict[str, list[int]] = {name: [] for name in BASELINE_STAGES}
        self.bad_frames = 0

    def on_frame(self, raw: bytes, t_recv_ns: int) -> None:
        """Parse one frame and publish its book events to their market partitions."""
        parsed = parse_market_frame(raw)
        t_parsed_ns = time.monotonic_ns()
        self.bad_frames += len(parsed.errors)
        for event in parsed.events:
            if isinstance(event, LevelChanges | WsBook) and event.market_id in self.queues:
                queue = self.queues[event.market_id]
                if queue.full():  # SPEC §5.1 "coalesce"/"drop": count it, keep the newest
                    queue.get_nowait()
                    self.bad_frames += 1
                queue.put_nowait(_Event(event, t_recv_ns, t_parsed_ns))

    async def consume(self, market_id: str) -> None:
        """Apply book events of one market and run the pair strategy on each."""
        queue = self.queues[market_id]
        market = self.markets[market_id]
        params = self.config.pair_arb
        levels = self.config.shm.levels
        cooldown_ns = params.cooldown_ms * 1_000_000
        while True:
            event = await queue.get()
            t_woken = time.monotonic_ns()
            self._apply(event)
            last = self.last_pair_ns.get(market_id)
            if last is not None and t_woken - last < cooldown_ns:
                continue
            yes = self.books[market.token_ids[0]]
            no = self.books[market.token_ids[1]]
            if not yes.asks or not no.asks:
                continue
            plan = plan_pair(yes.snapshot(levels, market.tick_size),
                             no.snapshot(levels, market.tick_size), params,
                             market.taker_fee_rate, market.min_order_size, PairPosition())
            if isinstance(plan, str):
                continue
            self.last_pair_ns[market_id] = t_woken
            for _ in (plan.yes, plan.no):  # one intent per leg, as the shard sends
                self.intents.put_nowait(_Intent(plan, event.t_recv_ns, event.t_parsed_ns,
                                                t_woken, time.monotonic_ns()))

    def _apply(self, event: _Event) -> None:
        change = event.change
        book = self.books[change.token_id]
        if isinstance(change, WsBook):
            book.bids = dict(change.bids)
            book.asks = dict(change.asks)
        else:
            for side, price, size in change.changes:
                levels = book.bids if side is Side.BUY else book.asks
                if size > 0:
                    levels[price] = size
                else:
                    levels.pop(price, None)
        book.seq += 1
        book.t_recv_ns = event.t_recv_ns

    async def risk(self) -> None:
        """The intent consumer: stamp each intent's arrival (where risk checks would start)."""
        while True:
            intent = await self.intents.get()
            t_risk = time.monotonic_ns()
            s = self.samples
            s["frame_received_to_parsed"].append(intent.t_parsed_ns - intent.t_recv_ns)
            s["parsed_to_consumer_woken"].append(intent.t_woken_ns - intent.t_parsed_ns)
            s["consumer_woken_to_intent_queued"].append(intent.t_queued_ns - intent.t_woken_ns)
            s["intent_queued_to_risk_received"].append(t_risk - intent.t_queued_ns)
            s["tick_to_intent"].append(t_risk - intent.t_recv_ns)


async def _run(config: Config, url: str, ready: threading.Event) -> Baseline:
    from websockets.asyncio.client import connect

    baseline = Baseline(config)
    tasks = [asyncio.create_task(baseline.consume(m)) for m in baseline.markets]
    tasks.append(asyncio.create_task(baseline.risk()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tokens = list(baseline.books)
    async with connect(url, compression=None, ping_interval=None, max_size=None) as ws:
        await ws.send(json.dumps({"assets_ids": tokens, "type": "market"}))
        ready.set()

        async def pump() -> None:
            while True:
                raw = await ws.recv(decode=False)
                baseline.on_frame(raw, time.monotonic_ns())

        pumper = asyncio.create_task(pump())
        await stop.wait()
        pumper.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(pumper, *tasks, return_exceptions=True)
    return baseline


def main(argv: Sequence[str] | None = None) -> int:
    """Run the baseline until SIGINT/SIGTERM, then write its stage samples; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--config", required=True, help="config file (YAML)")
    parser.add_argument("--url", required=True, help="market-channel WebSocket URL")
    parser.add_argument("--out", required=True, help="JSON file for the stage samples")
    parser.add_argument("--health-port", type=int, required=True, help="/health port")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    ready = threading.Event()

    def health() -> dict[str, Any]:
        return {"healthy": ready.is_set()}

    server = ObservabilityServer("127.0.0.1", args.health_port, health, health).start()
    try:
        import uvloop

        baseline = uvloop.run(_run(config, args.url, ready))
    finally:
        server.stop()
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump({"samples": baseline.samples, "bad_frames": baseline.bad_frames}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
