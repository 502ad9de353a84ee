"""Issue 20 #7: one 10 MB frame of small unknown events wrote 146k–390k dead-letter lines and
stalled the gateway. Now a frame keeps at most MAX_ERRORS_PER_FRAME dead letters (the rest are
counted), oversized frames are one dead letter, and the DLQ file is rate-limited with every
dead letter still counted."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gateway.dead_letters import MAX_RAW_BYTES, DeadLetterQueue, raw_bytes
from gateway.polymarket.parse import (
    MAX_ERRORS_PER_FRAME,
    MAX_FRAME_BYTES,
    parse_market_frame,
    parse_user_frame,
)
from polyloly import metrics
from polyloly.clock import ManualClock


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_a_10mb_frame_of_small_unknown_events_is_a_few_dead_letters_and_a_count() -> None:
    raw = b"[" + b",".join([b'{"event_type":"zzz","x":1}'] * 400_000) + b"]"  # 10 MB
    started = time.monotonic()
    parsed = parse_market_frame(raw)
    assert len(parsed.errors) == 1 and parsed.errors[0].reason == "frame_too_many_elements"
    small = b"[" + b",".join([b'{"event_type":"zzz"}'] * 5_000) + b"]"
    parsed = parse_market_frame(small)
    assert len(parsed.errors) == MAX_ERRORS_PER_FRAME
    assert parsed.errors_dropped == 5_000 - MAX_ERRORS_PER_FRAME
    user = parse_user_frame(small, 1)
    assert len(user.errors) == MAX_ERRORS_PER_FRAME
    assert user.errors_dropped == 5_000 - MAX_ERRORS_PER_FRAME
    huge = b'{"event_type":"book","pad":"' + b"x" * MAX_FRAME_BYTES + b'"}'
    parsed = parse_market_frame(huge)
    assert [e.reason for e in parsed.errors] == ["frame_too_large"]
    assert len(parsed.errors[0].raw) < 100_000
    assert time.monotonic() - started < 5.0


def test_the_dlq_is_rate_limited_size_capped_and_counts_everything(tmp_path: Path) -> None:
    path = tmp_path / "dlq.jsonl"
    dlq = DeadLetterQueue(path, ManualClock(), burst=10, rate_per_s=0.001)
    counter = metrics.dead_letters.labels(source="test.src", reason="bad")
    before = counter._value.get()
    big = b"y" * (MAX_RAW_BYTES * 4)
    for _ in range(10_000):
        dlq.put("test.src", "bad", "detail", big)
    dlq.count_only("test.src", "bad", 5)
    assert counter._value.get() == before + 10_005 and dlq.count == 10_005
    assert dlq.suppressed == 10_005 - 10
    lines = _lines(path)
    assert len(lines) == 10  # the burst, nothing more at this rate
    payload = lines[0]["payload"]
    assert isinstance(payload, dict) and payload["raw_bytes"] == len(big)
    assert raw_bytes(payload) == big[:MAX_RAW_BYTES]
    dlq._tokens = 1.0  # the bucket refilled: the next line says how many are missing
    dlq.put("test.src", "bad", "detail", b"z")
    dlq.close()
    last = _lines(path)[-1]["payload"]
    assert isinstance(last, dict) and last["suppressed_before"] == 10_005 - 10
    assert path.stat().st_size < 11 * (MAX_RAW_BYTES + 2_000)
