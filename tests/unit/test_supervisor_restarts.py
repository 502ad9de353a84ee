"""The supervisor restarts a dead child with exponential backoff and gives up on a crash loop,
with an alert; the other children are never touched."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import orjson
import pytest

from ops.supervisor import Child, Supervisor, SupervisorPolicy
from polyloly.config import validate


def _wait(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_a_crash_loop_is_restarted_with_backoff_then_given_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = validate({"run": {"run_dir": str(tmp_path)}})
    crasher = Child("shard-0", "tests.unit.test_supervisor_restarts", ["crash"], 0)
    sleeper = Child("shard-1", "tests.unit.test_supervisor_restarts", ["sleep"], 0)
    policy = SupervisorPolicy(backoff_base_s=0.05, backoff_max_s=0.2, give_up_after=3,
                              give_up_window_s=30.0, stop_timeout_s=5.0)
    supervisor = Supervisor(config, [crasher, sleeper], {"PYTHONPATH": str(Path.cwd())}, policy)
    try:
        for child in (crasher, sleeper):
            supervisor._spawn(child)
        sleeper_pid = sleeper.process.pid  # type: ignore[union-attr]
        starts: list[float] = []

        def step() -> bool:
            before = crasher.restarts
            supervisor.watch_once(time.monotonic())
            if crasher.restarts > before:
                starts.append(time.monotonic())
            return crasher.given_up

        _wait(step, 15.0)
        assert crasher.restarts == 3
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert all(gap >= 0.05 for gap in gaps)  # backoff between restarts
        assert sleeper.alive and sleeper.process.pid == sleeper_pid  # type: ignore[union-attr]
        assert sleeper.restarts == 0
        assert any("not restarting it" in r.getMessage() for r in caplog.records)
        assert (tmp_path / "supervisor.json").exists()
    finally:
        supervisor.stop()
    assert not sleeper.alive


def test_under_systemd_the_supervisor_notifies_and_its_children_do_not_inherit_the_socket(
    tmp_path: Path,
) -> None:
    """`polyloly run` as a Type=notify service: READY=1 once every child runs, STOPPING=1 on
    stop; the children get no NOTIFY_SOCKET (systemd would reject their datagrams)."""
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(5.0)
    config = validate({"run": {"run_dir": str(tmp_path)}})
    child = Child("shard-0", "tests.unit.test_supervisor_restarts", ["env", str(tmp_path)], 0)
    env = {"PYTHONPATH": str(Path.cwd()), "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}
    supervisor = Supervisor(config, [child], env, SupervisorPolicy(stop_timeout_s=5.0))
    try:
        supervisor._spawn(child)
        _wait(lambda: (tmp_path / "child-env.json").exists())
        inherited = orjson.loads((tmp_path / "child-env.json").read_bytes())
        assert not {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} & set(inherited)
        supervisor.run_until_stopped(time.monotonic() + 0.3)
        assert "STATUS=supervisor healthy" in _datagram_with(listener, "READY=1")
        supervisor.stop()
        assert "STOPPING=1" in _datagram_with(listener, "STOPPING=1")
    finally:
        supervisor.stop()
        listener.close()


def _datagram_with(listener: socket.socket, field: str) -> str:
    """The first datagram carrying ``field`` (the socket's timeout bounds the wait)."""
    while True:
        datagram = listener.recv(4096).decode()
        if field in datagram.splitlines():
            return datagram


def main(argv: list[str]) -> int:
    """Child entry point used by the tests: ``crash`` exits 3 at once, ``env DIR`` writes its
    environment to DIR/child-env.json then waits, ``sleep`` waits."""
    if argv and argv[0] == "crash":
        return 3
    if argv and argv[0] == "env":
        partial = Path(argv[1], "child-env.json.part")  # renamed: the test never reads half
        partial.write_bytes(orjson.dumps(dict(os.environ)))
        os.replace(partial, Path(argv[1], "child-env.json"))
    time.sleep(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
