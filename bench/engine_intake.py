"""``python -m bench.engine_intake``: the engine's intake cost, in one process, no sockets.

A synthetic driver feeds a real :class:`~engine.core.EngineCore` (paper executor over a real
shm store, SQLite in a temporary directory, the JSONL event journal) with what its ROUTER and
SUB sockets would hand it:

* **pairs**: the two legs of a pair-arb (YES then NO BUY FAK, both marketable) arriving
  together. Per intent: µs from the frames being received to its ``IntentAck`` sent
  (``ack_us``) and to its venue submit done (``submit_us``); the first and second leg apart.
  The engine is driven the way the shell drives it (:class:`~engine.driver.EngineDriver`):
  ``handle_frames`` with every ready frame when it has it, else ``handle_frame`` one frame at a
  time (older engines).
* **ticks**: µs of engine CPU per book tick at full rate, 20 ticks per drain: the one book
  entry (``EngineCore.on_book_change`` with the drain's changed tokens, as the live shm seq
  poll feeds it) when the core has it, else one ``handle_frame`` decode per tick.

Figures are medians over ``--repeats`` runs of each run's median (and p99). Output: one JSON
object on stdout (``--json OUT`` also writes it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.books import ShmBookSource
from engine.core import EngineCore, Outbound
from engine.driver import EngineDriver
from engine.executors.base import OrderRequest, SubmitResult
from engine.executors.paper import PaperExecutor
from engine.journal import EventJournal
from engine.persistence.sqlite import SqlitePersistence
from engine.store import EngineStore
from polyloly.clock import SystemClock
from polyloly.config import Config, load_raw, validate
from polyloly.domain import OrderType, Outcome, Side, Strategy
from polyloly.eventlog import JsonlWriter
from polyloly.messages import BookTick, IntentAck, OrderIntent, encode, topic
from shm.reader import BookReader
from shm.writer import BookWriter

_MARKETS = 20
_TICKS_PER_DRAIN = 20


def _config(data_dir: Path) -> Config:
    raw = load_raw(environ={})
    raw["run"] = {**raw.get("run", {}), "data_dir": str(data_dir / "data"),
                  "run_dir": str(data_dir / "run")}
    raw["markets"] = [
        {"market_id": _market(k), "token_ids": [_token(k, 0), _token(k, 1)],
         "match_id": f"m{k}", "game": "lol", "correlation_group": f"g{k}",
         "tick_size": 0.01, "min_order_size": 5}
        for k in range(_MARKETS)
    ]
    raw["polymarket"] = {**raw.get("polymarket", {}), "matching_delay_s": 0.0}
    raw["risk"] = {**raw.get("risk", {}), "max_total_exposure_usdc": 1e9,
                   "max_market_exposure_usdc": 1e9, "max_exposure_per_group_usdc": 1e9,
                   "max_daily_loss_usdc": 1e9, "max_leg_imbalance_usdc": 1e9}
    return validate(raw)


def _market(k: int) -> str:
    return "0x" + f"{k:064x}"


def _token(k: int, leg: int) -> str:
    return str(10_000 + 2 * k + leg)


class _Probe:
    """Stamps (perf_counter_ns) of acks sent and submits done, by intent / client order id."""

    def __init__(self) -> None:
        self.acks: dict[str, int] = {}
        self.accepted: dict[str, str] = {}
        self.submits: dict[str, int] = {}

    def send(self, outbound: Outbound) -> None:
        message = outbound.message
        if isinstance(message, IntentAck):
            self.acks[message.intent_id] = time.perf_counter_ns()
            if message.order_id is not None and message.accepted:
                self.accepted[message.intent_id] = message.order_id


class _StampedPaper(PaperExecutor):
    probe: _Probe

    async def submit(self, order: OrderRequest) -> SubmitResult:
        result = await super().submit(order)
        self.probe.submits[order.client_order_id] = time.perf_counter_ns()
        return result


def _intent(k: int, leg: int, n: int) -> OrderIntent:
    return OrderIntent(
        intent_id=f"i-{n}-{leg}", idempotency_key=f"k-{n}-{leg}", shard_id=0,
        market_id=_market(k), token_id=_token(k, leg),
        outcome=Outcome.YES if leg == 0 else Outcome.NO, side=Side.BUY, price=0.50,
        size=10.0, order_type=OrderType.FAK, strategy=Strategy.PAIR_ARB, t_origin_ns=1,
        t_decision_ns=2, t_sent_ns=3,
    )


async def _run_once(pairs: int, ticks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="plbei") as tmp:
        config = _config(Path(tmp))
        name = f"plbei{os.getpid()}_{time.monotonic_ns() % 1_000_000}"
        tokens = [_token(k, leg) for k in range(_MARKETS) for leg in (0, 1)]
        writer = BookWriter.create(name, tokens)
        try:
            for token in tokens:
                writer.apply_snapshot(token, [(0.48, 1e6)], [(0.50, 1e6)], t_recv_ns=1,
                                      exchange_ts_ms=1)
            reader = BookReader.attach(name, timeout_s=1.0)
            books = ShmBookSource(reader)
            clock = SystemClock()
            probe = _Probe()
            executor = _StampedPaper(books, config.markets, clock, 0.0)
            executor.probe = probe
            store = EngineStore(config.data_path(config.storage.sqlite_file))
            journal = EventJournal(JsonlWriter(config.data_path(config.storage.events_dir),
                                               "engine", config.storage.rotate_bytes), clock)
            core = EngineCore(config, SqlitePersistence(store, journal), executor, books, clock)
            driver = EngineDriver(core, executor, probe.send, sleep=asyncio.sleep)
            core.start()
            core.mark_ready()
            try:
                result = await _drive(driver, writer, probe, pairs, ticks)
            finally:
                await driver.drain(2.0)
                journal.close()
                store.close()
                books.close()
        finally:
            writer.close()
    return result


async def _drive(driver: EngineDriver, writer: BookWriter, probe: _Probe, pairs: int,
                 ticks: int) -> dict[str, Any]:
    batched = hasattr(driver, "handle_frames")
    first_ack: list[float] = []  # µs from frame to IntentAck, first leg of each pair
    second_ack: list[float] = []
    first_sub: list[float] = []  # µs from frame to venue submit
    second_sub: list[float] = []
    identity = b"shard-0"
    for n in range(pairs):
        k = n % _MARKETS
        legs = [_intent(k, leg, n) for leg in (0, 1)]
        frames = [(identity, encode(intent)) for intent in legs]
        t0 = time.perf_counter_ns()
        if batched:
            await driver.handle_frames(frames)
        else:
            for ident, payload in frames:
                await driver.handle_frame(ident, payload)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for leg, acks, subs in ((0, first_ack, first_sub), (1, second_ack, second_sub)):
            intent_id = legs[leg].intent_id
            acks.append((probe.acks[intent_id] - t0) / 1000)
            order_id = probe.accepted.get(intent_id)
            if order_id is not None and order_id in probe.submits:
                subs.append((probe.submits[order_id] - t0) / 1000)
    tick_us = await _drive_ticks(driver, writer, probe, ticks)
    return {"first_ack_us": _summary(first_ack), "second_ack_us": _summary(second_ack),
            "first_submit_us": _summary(first_sub), "second_submit_us": _summary(second_sub),
            "tick_us": tick_us, "batched": batched}


async def _drive_ticks(driver: EngineDriver, writer: BookWriter, probe: _Probe,
                       ticks: int) -> float:
    """Engine CPU (µs) per book tick, ``_TICKS_PER_DRAIN`` ticks per socket drain."""
    coalesced = hasattr(driver, "on_book_change")
    spent = 0
    sent = 0
    while sent < ticks:
        drain: list[tuple[bytes, bytes]] = []
        changed: set[str] = set()  # what the live shm seq poll would find moved
        for j in range(_TICKS_PER_DRAIN):
            k = (sent + j) % _MARKETS
            token = _token(k, j % 2)
            write = writer.apply_changes(token, [(Side.BUY, 0.47, float(sent + j + 1))],
                                         t_recv_ns=1, exchange_ts_ms=1)
            tick = BookTick(market_id=_market(k), token_id=token, slot=writer.slot_of(token),
                            seq=write.seq, t_exchange_ms=1, t_recv_ns=1, t_parsed_ns=1,
                            t_shm_ns=1)
            drain.append((topic(tick), encode(tick)))
            changed.add(token)
        t0 = time.perf_counter_ns()
        if coalesced:
            await driver.on_book_change(changed)
        else:
            for _, payload in drain:
                await driver.handle_frame(None, payload)
        spent += time.perf_counter_ns() - t0
        sent += len(drain)
    return spent / sent / 1000


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "n": 0}
    ordered = sorted(values)
    return {"p50": statistics.median(ordered),
            "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], "n": len(ordered)}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print one JSON object (µs figures, medians over repeats)."""
    parser = argparse.ArgumentParser(prog="bench.engine_intake", description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=300, help="intent pairs per run")
    parser.add_argument("--ticks", type=int, default=4000, help="book ticks per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs (medians are reported)")
    parser.add_argument("--json", default=None, help="also write the JSON here")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    runs = [asyncio.run(_run_once(args.pairs, args.ticks)) for _ in range(args.repeats)]
    out: dict[str, Any] = {"pairs": args.pairs, "ticks": args.ticks, "repeats": args.repeats,
                           "batched": runs[0]["batched"]}
    for key in ("first_ack_us", "second_ack_us", "first_submit_us", "second_submit_us"):
        out[key] = {q: round(statistics.median(r[key][q] for r in runs), 1)
                    for q in ("p50", "p99")}
    out["tick_us"] = round(statistics.median(r["tick_us"] for r in runs), 2)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
