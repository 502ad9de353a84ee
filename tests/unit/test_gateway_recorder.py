"""Recording: raw bytes come back exactly, in order; replaying a recording through the pure
parser and the keeper rebuilds exactly the same books."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson

from gateway.polymarket.book_keeper import BookKeeper
from gateway.polymarket.parse import parse_market_frame
from gateway.recorder import Recorder, read_recording
from polyloly.clock import ManualClock
from shm import BookWriter

TOKENS = ("2001", "2002")


def _frames() -> list[bytes]:
    book = orjson.dumps([{"event_type": "book", "asset_id": t, "market": "0xm",
                          "timestamp": "10", "hash": "h",
                          "bids": [{"price": "0.40", "size": "5"}, {"price": "0.41", "size": "7"}],
                          "asks": [{"price": "0.60", "size": "3"}]} for t in TOKENS])
    changes = [orjson.dumps({"event_type": "price_change", "market": "0xm",
                             "timestamp": str(20 + i),
                             "price_changes": [{"asset_id": TOKENS[i % 2],
                                                "price": f"0.{42 + i % 5}",
                                                "size": str(i % 4), "side": "BUY"}]})
               for i in range(30)]
    return [book, *changes, b"PONG", b"\xff\xfenot utf8"]


def _replay(frames: list[bytes]) -> dict[str, object]:
    store = BookWriter.create(f"plgr_{uuid.uuid4().hex[:10]}", TOKENS, levels=8,
                              tick_size=0.01)
    try:
        keeper = BookKeeper(store, dict.fromkeys(TOKENS, "0xm"))
        keeper.mark_connected(TOKENS)
        dead = 0
        for raw in frames:
            dead += len(keeper.apply_frame(parse_market_frame(raw), raw, 1, 2).dead_letters)
        return {t: store.full_book(t) for t in TOKENS} | {"dead": dead}
    finally:
        store.close()


def test_recording_round_trips_raw_bytes_in_order_with_rotation(tmp_path: Path) -> None:
    frames = _frames()
    recorder = Recorder(tmp_path, ManualClock(), rotate_bytes=600)
    for index, raw in enumerate(frames):
        recorder.record("polymarket.market_ws", raw, 1000 + index, source="market-0")
    recorder.close()
    assert len(list(tmp_path.glob("raw-*.jsonl"))) > 1  # rotated
    read = list(read_recording(tmp_path))
    assert [raw for _env, raw in read] == frames
    assert [env.sequence for env, _raw in read] == list(range(1, len(frames) + 1))
    assert [env.t_recv_ns for env, _raw in read] == [1000 + i for i in range(len(frames))]
    assert all(env.event_type == "polymarket.market_ws" for env, _raw in read)


def test_replaying_a_recording_rebuilds_the_same_books(tmp_path: Path) -> None:
    frames = _frames()
    recorder = Recorder(tmp_path, ManualClock())
    for raw in frames:
        recorder.record("polymarket.market_ws", raw, 1)
    recorder.close()
    live = _replay(frames)
    replayed = _replay([raw for _env, raw in read_recording(tmp_path)])
    assert replayed == live
    assert live["dead"] == 1  # the non-UTF-8 frame
