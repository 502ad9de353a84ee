"""The engine's event log survives a crash (issue 20 #8): every record reaches the OS as it is
written, a torn last line is dropped and counted (never fused with the next record), and
sequence numbers continue across restarts and rotations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from engine.journal import EventJournal, last_sequence, repair_tail
from polyloly.clock import ManualClock
from polyloly.eventlog import JsonlWriter, parse_envelope


def _journal(directory: Path, rotate_bytes: int = 64 << 20) -> EventJournal:
    return EventJournal(JsonlWriter(directory, "engine", rotate_bytes), ManualClock())


def _records(directory: Path) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for path in sorted(directory.glob("engine-*.jsonl")):
        lines += [json.loads(line) for line in path.read_bytes().splitlines() if line]
    return lines


def test_a_record_is_on_disk_before_the_next_call_without_close(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    journal.record_event("probe", {"n": 1}, None, "engine")
    # read by another handle, no flush/close: the writer's 64 KB buffer lost these before
    assert [r["sequence"] for r in _records(tmp_path)] == [1]
    journal.close()


def test_a_sigkilled_writer_loses_no_record(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from engine.journal import EventJournal\n"
        "from polyloly.clock import ManualClock\n"
        "from polyloly.eventlog import JsonlWriter\n"
        f"j = EventJournal(JsonlWriter({str(tmp_path)!r}, 'engine'), ManualClock())\n"
        "for n in range(50):\n"
        "    j.record_event('probe', {'n': n}, None, 'engine')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert [r["sequence"] for r in _records(tmp_path)] == list(range(1, 51))


def test_a_torn_tail_is_dropped_counted_and_never_fused(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    for n in range(3):
        journal.record_event("probe", {"n": n}, None, "engine")
    journal.close()
    path = next(tmp_path.glob("engine-*.jsonl"))
    whole = path.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(whole[: last_start + 17])  # the crash cut the third record mid-line
    reopened = _journal(tmp_path)
    assert reopened.torn_tails == 1
    assert reopened.sequence == 2  # the torn third one is gone: its number is reused
    reopened.record_event("probe", {"n": "after"}, None, "engine")
    reopened.close()
    lines = path.read_bytes().splitlines()
    envelopes = [parse_envelope(line, where="test") for line in lines]  # every line parses
    assert [e.sequence for e in envelopes] == [1, 2, 3]
    assert envelopes[-1].payload["n"] == "after"


def test_sequence_numbers_continue_across_restarts_and_rotation(tmp_path: Path) -> None:
    journal = _journal(tmp_path, rotate_bytes=300)
    for n in range(6):
        journal.record_event("probe", {"n": n}, None, "engine")
    journal.close()
    assert len(list(tmp_path.glob("engine-*.jsonl"))) > 1
    again = _journal(tmp_path, rotate_bytes=300)  # its current file may be empty: look back
    assert again.sequence == 6
    again.record_event("probe", {"n": 6}, None, "engine")
    again.close()
    assert [r["sequence"] for r in _records(tmp_path)] == list(range(1, 8))


def test_repair_and_last_sequence_on_edge_files(tmp_path: Path) -> None:
    empty = tmp_path / "engine-00000.jsonl"
    empty.write_bytes(b"")
    assert repair_tail(empty) == 0 and last_sequence(empty) is None
    assert repair_tail(tmp_path / "missing.jsonl") == 0
    only_torn = tmp_path / "engine-00001.jsonl"
    only_torn.write_bytes(b'{"event_type": "x", "seq')
    assert repair_tail(only_torn) == len(b'{"event_type": "x", "seq')
    assert only_torn.read_bytes() == b""
    assert os.path.getsize(only_torn) == 0
