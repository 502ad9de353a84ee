"""Recording reader: every bad-input rule of specs/11 (skip, refuse, report with file:line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyloly.eventlog import EventEnvelope
from replay.clock import ReplayClock
from replay.recording import (
    IssueKind,
    IssueLog,
    RecordingRefused,
    find_config,
    read_recording,
    upgrade,
)
from tests.helpers.fixtures import replay


def _line(sequence: int, t_ns: int, event_type: str = "polymarket.market_ws",
          version: str = "1.0", raw: str = "[]") -> str:
    return json.dumps({"event_type": event_type, "timestamp_ms": 1_700_000_000_000 + t_ns // 10**6,
                       "sequence": sequence, "market_id": None, "payload": {"raw": raw},
                       "schema_version": version, "t_recv_ns": t_ns, "source": "market-0"})


def _write(tmp_path: Path, lines: list[str], name: str = "raw-00000.jsonl",
           newline_at_end: bool = True) -> Path:
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    (tmp_path / name).write_text(text)
    return tmp_path


def _read(directory: Path) -> tuple[list[int], IssueLog]:
    issues = IssueLog()
    return [m.sequence for m in read_recording(directory, issues)], issues


def test_a_clean_recording_yields_every_line_in_order_and_is_complete(tmp_path: Path) -> None:
    sequences, issues = _read(_write(tmp_path, [_line(n, n * 1000) for n in range(1, 6)]))
    assert sequences == [1, 2, 3, 4, 5]
    assert issues.complete and not issues.counts


def test_a_truncated_last_line_is_skipped_and_reported_with_file_and_line(tmp_path: Path) -> None:
    lines = [_line(1, 1000), _line(2, 2000), _line(3, 3000)[:40]]
    sequences, issues = _read(_write(tmp_path, lines, newline_at_end=False))
    assert sequences == [1, 2]
    (issue,) = issues.kept
    assert issue.kind is IssueKind.TRUNCATED_LINE and issue.line == 3
    assert issue.file.endswith("raw-00000.jsonl")
    assert not issues.complete


def test_a_corrupt_line_in_the_middle_refuses_the_recording_naming_file_and_line(
        tmp_path: Path) -> None:
    lines = [_line(1, 1000), "{not json", _line(3, 3000)]
    with pytest.raises(RecordingRefused, match=r"raw-00000\.jsonl:2"):
        _read(_write(tmp_path, lines))


def test_an_unknown_schema_version_is_refused_even_on_the_last_line(tmp_path: Path) -> None:
    lines = [_line(1, 1000), _line(2, 2000, version="7.0")]
    with pytest.raises(RecordingRefused, match=r":2: unknown schema version '7.0'"):
        _read(_write(tmp_path, lines, newline_at_end=False))


def test_an_unknown_event_type_is_skipped_and_counted(tmp_path: Path) -> None:
    lines = [_line(1, 1000), _line(2, 2000, event_type="weather.radar"), _line(3, 3000)]
    sequences, issues = _read(_write(tmp_path, lines))
    assert sequences == [1, 3]
    assert issues.counts[IssueKind.UNKNOWN_EVENT_TYPE] == 1
    assert "weather.radar" in issues.kept[0].detail
    assert issues.complete  # nothing lost: the type was never replayable


def test_a_sequence_gap_is_reported_and_marks_the_result_incomplete(tmp_path: Path) -> None:
    sequences, issues = _read(_write(tmp_path, [_line(1, 1000), _line(2, 2000),
                                                _line(5, 5000)]))
    assert sequences == [1, 2, 5]
    (issue,) = issues.kept
    assert issue.kind is IssueKind.SEQUENCE_GAP and issue.line == 3
    assert "2 line(s) missing" in issue.detail
    assert not issues.complete


def test_a_sequence_back_to_one_is_a_recorder_restart_and_is_replayed(tmp_path: Path) -> None:
    sequences, issues = _read(_write(tmp_path, [_line(1, 1000), _line(2, 2000),
                                                _line(1, 3000), _line(2, 4000)]))
    assert sequences == [1, 2, 1, 2]
    assert issues.counts[IssueKind.SEQUENCE_RESTART] == 1 and issues.complete


def test_a_repeated_sequence_is_a_duplicate_and_is_skipped(tmp_path: Path) -> None:
    sequences, issues = _read(_write(tmp_path, [_line(1, 1000), _line(2, 2000),
                                                _line(2, 2000), _line(3, 3000)]))
    assert sequences == [1, 2, 3]
    assert issues.counts[IssueKind.DUPLICATE_SEQUENCE] == 1


def test_a_receive_time_going_backward_is_replayed_at_the_previous_time(tmp_path: Path) -> None:
    issues = IssueLog()
    lines = [_line(1, 5000), _line(2, 4000), _line(3, 6000)]
    times = [m.t_recv_ns for m in read_recording(_write(tmp_path, lines), issues)]
    assert times == [5000, 5000, 6000]
    assert issues.counts[IssueKind.TIME_WENT_BACKWARD] == 1


def test_a_payload_without_raw_bytes_is_skipped_and_reported(tmp_path: Path) -> None:
    bad = json.loads(_line(2, 2000))
    bad["payload"] = {"text": "nope"}
    sequences, issues = _read(_write(tmp_path, [_line(1, 1000), json.dumps(bad)]))
    assert sequences == [1]
    assert issues.counts[IssueKind.BAD_PAYLOAD] == 1 and not issues.complete


def test_files_are_read_in_rotation_order_across_files(tmp_path: Path) -> None:
    _write(tmp_path, [_line(3, 3000)], name="raw-00001.jsonl")
    _write(tmp_path, [_line(1, 1000), _line(2, 2000)], name="raw-00000.jsonl")
    assert _read(tmp_path)[0] == [1, 2, 3]


def test_a_directory_without_recording_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordingRefused, match="no raw-"):
        _read(tmp_path)


def test_schema_0_9_is_upgraded_receive_time_from_wall_clock_and_prefixed_names() -> None:
    old = EventEnvelope(event_type="market_ws", timestamp_ms=1_700_000_000_123, sequence=4,
                        market_id=None, payload={"raw": "[]"}, schema_version="0.9")
    new = upgrade(old)
    assert new.schema_version == "1.0"
    assert new.event_type == "polymarket.market_ws" and new.source == "market_ws"
    assert new.t_recv_ns == 1_700_000_000_123 * 1_000_000


def test_the_0_9_fixture_is_read_whole_with_one_upgrade_notice() -> None:
    issues = IssueLog()
    messages = list(read_recording(replay("demo_short_v09"), issues))
    assert len(messages) == 420
    assert issues.counts == {IssueKind.UPGRADED_SCHEMA.value: 1}
    assert {m.event_type for m in messages} >= {"polymarket.market_ws", "esports.grid"}


def test_the_recording_config_is_found_in_the_directory_or_its_parent(tmp_path: Path) -> None:
    assert find_config(replay("demo_short_v1")) == replay("demo_short_v1", "config.yaml")
    (tmp_path / "config.yaml").write_text("{}")
    (tmp_path / "recording").mkdir()
    assert find_config(tmp_path / "recording") == tmp_path / "config.yaml"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=30))
def test_any_sequence_pattern_yields_each_line_once_or_reports_why_not(
        sequences: list[int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        _write(directory, [_line(s, i * 1000) for i, s in enumerate(sequences)])
        yielded, issues = _read(directory)
    skipped = issues.counts[IssueKind.DUPLICATE_SEQUENCE]
    assert len(yielded) + skipped == len(sequences)
    last, gaps, duplicates = 0, 0, 0
    for sequence in sequences:  # the rule of specs/11, stated independently
        if sequence > last + 1:
            gaps += 1
        elif last and sequence <= last and sequence != 1:
            duplicates += 1
            continue
        last = sequence
    assert issues.counts[IssueKind.SEQUENCE_GAP] == gaps
    assert skipped == duplicates


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 10**12), st.one_of(st.none(),
                                                           st.integers(0, 2 * 10**6))),
                max_size=40))
def test_the_replay_clock_never_moves_backward(moves: list[tuple[int, int | None]]) -> None:
    clock = ReplayClock(10**9, 1_700_000_000_000)
    last_ns, last_ms = clock.monotonic_ns(), clock.wall_ms()
    for t_ns, wall_ms in moves:
        clock.move_to(t_ns, None if wall_ms is None else 1_700_000_000_000 + wall_ms)
        assert clock.monotonic_ns() >= last_ns and clock.wall_ms() >= last_ms
        last_ns, last_ms = clock.monotonic_ns(), clock.wall_ms()
