"""Replay is deterministic: no live clock reaches its outputs (specs/11 §determinism).

The older byte-identity test (test_replay_session.py) compared two replays of the
``demo_short_v1`` fixture, whose intents all come from match events, so no intent carried a
book tick's stamps: the shm writer's live ``t_shm_ns`` went unseen. Here the fixture gets a
mispriced book appended (a pair intent decided on a book tick), and the two replays run
under live clocks a day apart: any stamp taken from a live clock makes them differ.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from polyloly.config import load_config
from polyloly.domain import Strategy
from replay.outputs import build_summary, jsonl_bytes
from replay.recording import IssueLog, read_recording
from replay.session import ReplayResult, ReplaySession
from tests.helpers.fixtures import replay

V1 = replay("demo_short_v1")
DOTA = "0xd02f3e0278f42288f5dfd46b1a76822a7726e2f7932b2cc8bc2d441031920171"
DOTA_YES = "24044221305920686242374144930621881078401054103090308793107014855127645445607"
DOTA_NO = "13034136166092882168210913808554188800469309958856248696487098008827797431511"
_DAY_NS = 86_400 * 10**9


def _book_frame(token: str, ask: float, bid: float, stamp_ms: int) -> dict[str, object]:
    return {"market": DOTA, "asset_id": token, "event_type": "book", "hash": f"h{token[:6]}",
            "timestamp": str(stamp_ms), "last_trade_price": "",
            "bids": [{"price": f"{bid:.3f}", "size": "500"}],
            "asks": [{"price": f"{ask:.3f}", "size": "500"}]}


def _recording_with_a_mispriced_pair(tmp_path: Path) -> Path:
    """demo_short_v1 plus one market-channel frame pricing YES + NO at 0.85."""
    recording = tmp_path / "rec"
    shutil.copytree(V1, recording)
    raw = recording / "raw-00000.jsonl"
    last = json.loads(raw.read_text().splitlines()[-1])
    stamp_ms = last["timestamp_ms"] + 50
    frame = [_book_frame(DOTA_YES, 0.400, 0.390, stamp_ms),
             _book_frame(DOTA_NO, 0.450, 0.440, stamp_ms)]
    envelope = dict(last, timestamp_ms=stamp_ms, sequence=last["sequence"] + 1,
                    t_recv_ns=last["t_recv_ns"] + 50_000_000,
                    payload={"raw": json.dumps(frame, separators=(",", ":"))})
    with raw.open("a") as out:
        out.write(json.dumps(envelope, separators=(",", ":")) + "\n")
    return recording


def _replay(recording: Path) -> ReplayResult:
    config = load_config(recording / "config.yaml", {})
    return ReplaySession(config, tail_s=None).run(read_recording(recording, IssueLog()))


def _shift_live_clocks(monkeypatch: pytest.MonkeyPatch, offset_ns: int) -> None:
    """Move every live clock of this process ``offset_ns`` ahead (still monotonic)."""
    monotonic_ns, time_ns, perf_ns = time.monotonic_ns, time.time_ns, time.perf_counter_ns
    monkeypatch.setattr(time, "monotonic_ns", lambda: monotonic_ns() + offset_ns)
    monkeypatch.setattr(time, "time_ns", lambda: time_ns() + offset_ns)
    monkeypatch.setattr(time, "perf_counter_ns", lambda: perf_ns() + offset_ns)


def test_two_replays_under_different_live_clocks_give_byte_identical_outputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recording = _recording_with_a_mispriced_pair(tmp_path)
    first = _replay(recording)
    _shift_live_clocks(monkeypatch, _DAY_NS)
    second = _replay(recording)
    tick_driven = [i for i in first.intents
                   if i.strategy is Strategy.PAIR_ARB and i.t_shm_ns > 0]
    assert tick_driven, "the appended book must drive a pair intent carrying the tick's stamps"
    assert jsonl_bytes(first.intents) == jsonl_bytes(second.intents)
    assert jsonl_bytes(first.order_log) == jsonl_bytes(second.order_log)
    fills = [jsonl_bytes([r for r in result.reports if r.last_fill_size > 0])
             for result in (first, second)]
    assert fills[0] == fills[1] and fills[0], "the pair legs filled"
    digests = [build_summary(r, IssueLog(), recording="r")["intents_sha256"]
               for r in (first, second)]
    assert digests[0] == digests[1]


def test_every_intent_stamp_lies_on_the_replayed_timeline(tmp_path: Path) -> None:
    result = _replay(_recording_with_a_mispriced_pair(tmp_path))
    end = result.last_t_ns + 10 * 10**9  # the tail of timers after the last message
    for intent in result.intents:
        for name in ("t_origin_ns", "t_decision_ns", "t_sent_ns", "t_parsed_ns", "t_shm_ns"):
            stamp = getattr(intent, name)
            assert stamp == 0 or result.first_t_ns <= stamp <= end, (name, stamp)
