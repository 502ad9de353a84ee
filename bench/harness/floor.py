"""The floor: the same processes, sockets and shm library as PolyLOL, with no logic at all.

``python -m bench.harness.floor ROLE --config FILE --out FILE [--shard K]``, ROLE one of:

* ``gateway`` — uvloop + the same websockets client (deflate off); per frame: stamp, decode the
  change with a two-field msgspec struct, one seqlock shm write (``BookWriter``), publish a
  32-byte tick (slot, t_recv, t_shm, trigger) on a PUB topic ``<market id>``;
* ``shard`` — blocking SUB on its markets' topics (as the real shard's ``block`` wait), stamp on
  wake, one consistent ``read_top`` of the slot, and for ask-side ticks (the load model's trigger
  frames) one DEALER send to the engine;
* ``engine`` — blocking ROUTER; stamps every arrival and writes them to ``--out`` on SIGTERM.

Each serves ``/health`` on ``--health-port`` once its sockets are up. The path measured is
frame received → shm written → shard woken → ZeroMQ hop → engine: everything a tick must cross,
nothing a decision adds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import struct
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

import msgspec
import zmq

from polyloly import bus
from polyloly.config import Config, load_config
from polyloly.httpserve import ObservabilityServer

_TICK: Final = struct.Struct("<qqqq")  # slot, t_recv_ns, t_shm_ns, trigger
_HOP: Final = struct.Struct("<qqqqqq")  # slot, t_recv_ns, t_shm_ns, trigger, t_woken, t_sent


class _Level(msgspec.Struct, frozen=True):
    price: float
    size: float


class _Book(msgspec.Struct, frozen=True, tag_field="event_type", tag="book"):
    asset_id: str
    bids: list[_Level]
    asks: list[_Level]


class _Entry(msgspec.Struct, frozen=True):
    asset_id: str
    price: float
    size: float
    side: str


class _Change(msgspec.Struct, frozen=True, tag_field="event_type", tag="price_change"):
    price_changes: list[_Entry]


_decoder = msgspec.json.Decoder(list[_Book] | _Book | _Change, strict=False)


def _endpoint(config: Config, name: str) -> str:
    return config.endpoint(name).replace(".sock", "-floor.sock")


def _segment(config: Config) -> str:
    return config.shm.segment_name + "_floor"


def _serve_health(port: int, ready: threading.Event) -> ObservabilityServer:
    def health() -> dict[str, Any]:
        return {"healthy": ready.is_set()}

    return ObservabilityServer("127.0.0.1", port, health, health).start()


async def _gateway(config: Config, url: str, ready: threading.Event) -> None:
    from websockets.asyncio.client import connect

    from shm import BookWriter

    token_market = {t: m.market_id for m in config.markets for t in m.token_ids}
    ctx = zmq.Context()
    pub = bus.bind(ctx, zmq.PUB, _endpoint(config, "gateway_pub"), config.bus.send_hwm)
    writer = BookWriter.create(_segment(config), list(token_market), levels=config.shm.levels,
                               tick_size=config.markets[0].tick_size)
    topics = {t: m.encode() for t, m in token_market.items()}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    subscribe = json.dumps({"assets_ids": list(token_market), "type": "market"})
    try:
        async with connect(url, compression=None, ping_interval=None, max_size=None) as ws:
            await ws.send(subscribe)
            ready.set()
            closer = asyncio.create_task(stop.wait())
            while not stop.is_set():
                receive = asyncio.create_task(ws.recv(decode=False))
                done, _ = await asyncio.wait({receive, closer},
                                             return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    break
                raw = receive.result()
                t_recv = time.monotonic_ns()
                event = _decoder.decode(raw)
                if isinstance(event, _Change):
                    entry = event.price_changes[0]
                    write = writer.apply_changes(entry.asset_id,
                                                 [(entry.side, entry.price, entry.size)],
                                                 t_recv_ns=t_recv, exchange_ts_ms=0)
                    trigger = int(entry.side == "SELL" and entry.size > 0)
                    pub.send_multipart((topics[entry.asset_id], _TICK.pack(
                        write.slot, t_recv, write.t_shm_ns, trigger)))
                else:
                    for book in event if isinstance(event, list) else [event]:
                        writer.apply_snapshot(book.asset_id,
                                              [(lv.price, lv.size) for lv in book.bids],
                                              [(lv.price, lv.size) for lv in book.asks],
                                              t_recv_ns=t_recv, exchange_ts_ms=0)
    finally:
        writer.close()
        pub.close(0)
        ctx.term()


def _shard(config: Config, shard_id: int, ready: threading.Event, stop: threading.Event) -> None:
    from shm import BookReader

    ctx = zmq.Context()
    sub = bus.connect(ctx, zmq.SUB, _endpoint(config, "gateway_pub"), config.bus.send_hwm)
    for market in config.markets_for_shard(shard_id):
        sub.setsockopt(zmq.SUBSCRIBE, market.market_id.encode())
    dealer = bus.connect(ctx, zmq.DEALER, _endpoint(config, "engine_router"),
                         config.bus.send_hwm, identity=bus.shard_identity(shard_id))
    reader = BookReader.attach(_segment(config), timeout_s=10.0)
    ready.set()
    try:
        while not stop.is_set():
            if not sub.poll(100):
                continue
            _, payload = sub.recv_multipart()
            t_woken = time.monotonic_ns()
            slot, t_recv, t_shm, trigger = _TICK.unpack(payload)
            reader.read_top(slot)
            if trigger:
                dealer.send(_HOP.pack(slot, t_recv, t_shm, trigger, t_woken,
                                      time.monotonic_ns()))
    finally:
        reader.close()
        sub.close(0)
        dealer.close(0)
        ctx.term()


def _engine(config: Config, out: str, ready: threading.Event, stop: threading.Event) -> None:
    ctx = zmq.Context()
    router = bus.bind(ctx, zmq.ROUTER, _endpoint(config, "engine_router"), config.bus.send_hwm)
    arrivals: list[list[int]] = []
    ready.set()
    try:
        while not stop.is_set():
            if not router.poll(100):
                continue
            _, payload = router.recv_multipart()
            t_engine = time.monotonic_ns()
            arrivals.append([*_HOP.unpack(payload), t_engine])
    finally:
        router.close(0)
        ctx.term()
        with open(out, "w", encoding="utf-8") as handle:
            json.dump({"fields": ["slot", "t_recv_ns", "t_shm_ns", "trigger", "t_woken_ns",
                                  "t_sent_ns", "t_engine_ns"], "arrivals": arrivals}, handle)


def floor_samples(path: str) -> dict[str, list[int]]:
    """Stage samples (ns) of a floor engine's output file."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    samples: dict[str, list[int]] = {
        "frame_received_to_shm_written": [], "shm_written_to_shard_woken": [],
        "shard_woken_to_intent_sent": [], "intent_sent_to_engine_received": [],
        "tick_to_intent": []}
    for _, t_recv, t_shm, _, t_woken, t_sent, t_engine in data["arrivals"]:
        samples["frame_received_to_shm_written"].append(t_shm - t_recv)
        samples["shm_written_to_shard_woken"].append(t_woken - t_shm)
        samples["shard_woken_to_intent_sent"].append(t_sent - t_woken)
        samples["intent_sent_to_engine_received"].append(t_engine - t_sent)
        samples["tick_to_intent"].append(t_engine - t_recv)
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    """Run one floor role until SIGINT/SIGTERM; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.harness.floor")
    parser.add_argument("role", choices=("gateway", "shard", "engine"), help="which floor process")
    parser.add_argument("--config", required=True, help="config file (YAML)")
    parser.add_argument("--health-port", type=int, required=True, help="/health port")
    parser.add_argument("--url", default="", help="market WS URL (gateway)")
    parser.add_argument("--shard", type=int, default=0, help="shard index (shard)")
    parser.add_argument("--out", default="", help="stamps file (engine)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    bus.ensure_run_dir(config)
    ready = threading.Event()
    server = _serve_health(args.health_port, ready)
    try:
        if args.role == "gateway":
            import uvloop

            uvloop.run(_gateway(config, args.url, ready))
            return 0
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        if args.role == "shard":
            _shard(config, args.shard, ready, stop)
        else:
            _engine(config, args.out, ready, stop)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
