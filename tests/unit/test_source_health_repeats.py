"""A frozen snapshot answered again and again is no sign of life (gateway.source_health)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.source_health import REPEAT_WINDOW, SourceHealthTracker, SourceRule
from polyloly.domain import SourceTier

MS = 1_000_000
RULE = SourceRule(SourceTier.B, stale_threshold_ms=500)


def _tracker() -> SourceHealthTracker:
    return SourceHealthTracker({"od": RULE}, start_ns=0)


def test_a_repeated_payload_lets_the_source_go_stale_and_a_new_one_makes_it_fresh() -> None:
    tracker = _tracker()
    assert tracker.observe_payload("od", b'{"game_time": 1}', 100 * MS)
    assert [h.stale for h in tracker.check(200 * MS)] == [False]
    for t_ms in range(300, 1000, 100):  # the same frozen answer every 100 ms
        assert not tracker.observe_payload("od", b'{"game_time": 1}', t_ms * MS)
    [report] = tracker.check(1000 * MS)
    assert report.stale and report.last_event_age_ms == 900
    assert tracker.observe_payload("od", b'{"game_time": 2}', 1100 * MS)
    assert [h.stale for h in tracker.check(1100 * MS)] == [False]


def test_unknown_sources_are_refused() -> None:
    assert not _tracker().observe_payload("nope", b"x", MS)


@given(st.lists(st.binary(max_size=4), min_size=1, max_size=60))
def test_a_payload_counts_exactly_when_not_among_the_last_window(payloads: list[bytes]) -> None:
    tracker = _tracker()
    counted: list[bytes] = []
    for i, raw in enumerate(payloads):
        expected = raw not in counted[-REPEAT_WINDOW:]
        assert tracker.observe_payload("od", raw, (i + 1) * MS) is expected
        if expected:
            counted.append(raw)
