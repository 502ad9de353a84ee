"""The demo reports a failed run as failed (issue 20 #6: the engine could not store its fills,
crash-looped until given up on, and the demo exited 0 with a wrong summary)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ops.demo_summary import run_failures


@dataclass
class _Child:
    name: str
    given_up: bool = False


@dataclass
class _Supervisor:
    children: list[_Child] = field(default_factory=list)


def test_a_healthy_run_has_no_failures() -> None:
    status = {"engine": {"ready": True, "unstored_fills": 0, "storage_error": ""}}
    assert run_failures(status, _Supervisor([_Child("engine"), _Child("shard-0")])) == []


def test_unstored_fills_a_silent_engine_and_given_up_processes_fail_the_run() -> None:
    status = {"engine": {"ready": True, "unstored_fills": 2,
                         "storage_error": "database or disk is full"}}
    (failure,) = run_failures(status, None)
    assert "2 fill(s) not stored" in failure and "disk is full" in failure
    assert "did not answer" in run_failures({"engine": {}}, None)[0]
    failures = run_failures({"engine": {"ready": True}},
                            _Supervisor([_Child("engine", given_up=True)]))
    assert failures == ["engine crashed too often and was given up on"]
