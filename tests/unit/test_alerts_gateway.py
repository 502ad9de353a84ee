"""The gateway's SPEC §14 alarms: WS reconnect streaks and stale esports sources."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.alerting import ReconnectAlarm, SourceStaleAlarm
from polyloly.alerts import Alert, Severity
from polyloly.domain import SourceTier
from polyloly.messages import SourceHealth

MS = 1_000_000  # ns


def _health(source: str, stale: bool, t_ms: int, age_ms: int, threshold_ms: int = 1000,
            detail: str = "") -> SourceHealth:
    return SourceHealth(source=source, tier=SourceTier.B, stale=stale, last_event_age_ms=age_ms,
                        stale_threshold_ms=threshold_ms, t_ns=t_ms * MS, detail=detail)


def test_the_third_failed_reconnect_raises_one_warning_and_success_resets_it() -> None:
    alarm = ReconnectAlarm("market-0", "polymarket_market")
    assert alarm.on_failed_connect("refused") is None
    assert alarm.on_failed_connect("refused") is None
    third = alarm.on_failed_connect("ConnectionRefusedError: refused")
    assert third is not None and third.severity is Severity.WARNING
    assert third.key == "ws_disconnect:market-0"
    assert "market-0" in third.text and "3 times" in third.text and "refused" in third.text
    assert alarm.on_failed_connect("refused") is None  # one alert per streak
    recovered = alarm.on_connected()
    assert recovered is not None and recovered.severity is Severity.INFO
    assert "4 failed reconnects" in recovered.text
    assert alarm.on_failed_connect("x") is None and alarm.on_failed_connect("x") is None
    assert alarm.on_connected() is None  # a streak below the threshold recovers silently


def test_a_reconnect_alarm_refuses_a_threshold_below_one() -> None:
    with pytest.raises(ValueError, match="threshold"):
        ReconnectAlarm("market-0", "polymarket_market", threshold=0)


@given(events=st.lists(st.booleans(), max_size=60), threshold=st.integers(1, 5))
def test_reconnect_alarm_warns_exactly_when_a_streak_reaches_the_threshold(
        events: list[bool], threshold: int) -> None:
    """``True`` = a failed connect, ``False`` = a successful one."""
    alarm = ReconnectAlarm("user", "polymarket_user", threshold)
    streak = 0
    alerted = False
    for failed in events:
        if failed:
            streak += 1
            alert = alarm.on_failed_connect("e")
            assert (alert is not None) == (streak == threshold)
            alerted = alerted or alert is not None
        else:
            alert = alarm.on_connected()
            assert (alert is not None) == alerted
            if alert is not None:
                assert alert.severity is Severity.INFO
            streak, alerted = 0, False
        assert alarm.consecutive_failures == streak


def test_a_source_flipping_to_stale_warns_at_once_and_its_recovery_informs() -> None:
    alarm = SourceStaleAlarm()
    assert alarm.on_health(_health("opendota", stale=False, t_ms=10, age_ms=0)) is None
    stale = alarm.on_health(_health("opendota", stale=True, t_ms=2000, age_ms=1001))
    assert stale is not None and stale.severity is Severity.WARNING
    assert stale.key == "source_stale:opendota" and "opendota" in stale.text
    assert "1.0 s" in stale.text
    assert alarm.due(10_000 * MS) == []  # already said
    recovered = alarm.on_health(_health("opendota", stale=False, t_ms=3000, age_ms=0))
    assert recovered is not None and recovered.severity is Severity.INFO
    assert recovered.key == "source_stale:opendota:recovered"


def test_a_source_silent_since_start_warns_only_after_its_threshold() -> None:
    alarm = SourceStaleAlarm()
    first = _health("grid", stale=True, t_ms=100, age_ms=0, threshold_ms=500,
                    detail="no data yet")
    assert alarm.on_health(first) is None  # not a flip: every source starts like this
    assert alarm.due(500 * MS) == []
    (late,) = alarm.due(700 * MS)
    assert late.severity is Severity.WARNING and "since start" in late.text
    assert alarm.due(900 * MS) == []
    assert alarm.on_health(_health("grid", stale=False, t_ms=1000, age_ms=0)) == Alert(
        Severity.INFO, "source_stale:grid:recovered",
        "esports feed recovered: grid is sending again")


def test_a_source_that_speaks_before_its_threshold_never_alerts() -> None:
    alarm = SourceStaleAlarm()
    alarm.on_health(_health("pandascore", stale=True, t_ms=0, age_ms=0, threshold_ms=500))
    assert alarm.on_health(_health("pandascore", stale=False, t_ms=200, age_ms=0)) is None
    assert alarm.due(10_000 * MS) == []


@given(flips=st.lists(st.booleans(), max_size=40))
def test_stale_alarm_warns_once_per_stale_episode_and_informs_once_per_recovery(
        flips: list[bool]) -> None:
    alarm = SourceStaleAlarm()
    alarm.on_health(_health("s", stale=False, t_ms=0, age_ms=0))
    current = False
    for n, stale in enumerate(flips, start=1):
        if stale == current:
            continue  # the tracker only reports changes
        alert = alarm.on_health(_health("s", stale=stale, t_ms=n * 2000, age_ms=1500))
        assert alert is not None
        assert alert.severity is (Severity.WARNING if stale else Severity.INFO)
        current = stale
