"""Issue 20 #12: under ``polyloly demo``/``run`` the private key was in the environment of the
gateway, both shards and the simulator. Only the engine signs: it alone keeps the key; the
gateway keeps the L2 API credentials for its user channel; shards and the simulator get
neither. Checked on the real children through ``/proc/<pid>/environ``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ops.demo import start_simulator
from ops.supervisor import Child, Supervisor, SupervisorPolicy
from polyloly.bus import ensure_private_dir, private_umask
from polyloly.config import API_CREDENTIAL_ENV, PRIVATE_KEY_ENV, validate

KEY = "0x" + "5e" * 32
CUSTOM_KEY_ENV = "MY_SIGNING_KEY"  # execution.private_key_env may name another variable


def _environ(pid: int) -> dict[str, str]:
    deadline = time.monotonic() + 10
    while True:  # /proc/<pid>/environ is the exec'd image's: wait until python runs
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        entries = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
        if "PYTHONPATH" in entries or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_only_the_engine_child_holds_the_private_key(tmp_path: Path) -> None:
    config = validate({"run": {"run_dir": str(tmp_path)},
                       "execution": {"private_key_env": CUSTOM_KEY_ENV}})
    module = "tests.unit.test_supervisor_restarts"
    children = [Child(name, module, ["sleep"], 0)
                for name in ("engine", "gateway", "shard-0", "shard-1")]
    env = {"PYTHONPATH": str(Path.cwd()), PRIVATE_KEY_ENV: KEY, CUSTOM_KEY_ENV: KEY,
           **{name: f"value-{name}" for name in API_CREDENTIAL_ENV}}
    supervisor = Supervisor(config, children, env, SupervisorPolicy(stop_timeout_s=5.0))
    try:
        for child in children:
            supervisor._spawn(child)
        seen = {child.name: _environ(child.process.pid)  # type: ignore[union-attr]
                for child in children}
    finally:
        supervisor.stop()
    assert seen["engine"][PRIVATE_KEY_ENV] == KEY and seen["engine"][CUSTOM_KEY_ENV] == KEY
    for name in ("gateway", "shard-0", "shard-1"):
        assert KEY not in "\0".join(seen[name].values()), name
    assert all(seen["gateway"][n] == f"value-{n}" for n in API_CREDENTIAL_ENV)
    for name in ("shard-0", "shard-1"):
        assert not set(API_CREDENTIAL_ENV) & set(seen[name]), name


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_the_demo_simulator_never_sees_the_key_or_the_api_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRIVATE_KEY_ENV, KEY)
    for name in API_CREDENTIAL_ENV:
        monkeypatch.setenv(name, f"value-{name}")
    process, _endpoints = start_simulator("demo_short", 1.0, 1, tmp_path / "sim.log")
    try:
        seen = _environ(process.pid)
    finally:
        process.terminate()
        process.wait(10)
    assert PRIVATE_KEY_ENV not in seen and KEY not in "\0".join(seen.values())
    assert not set(API_CREDENTIAL_ENV) & set(seen)
    assert os.environ[PRIVATE_KEY_ENV] == KEY  # ours is untouched


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_children_of_polyloly_run_inherit_the_private_umask(tmp_path: Path) -> None:
    """Issue 20 #13: ``polyloly run``/``demo`` apply umask 077 before starting children, so
    the engine's SQLite, logs and every child's files are 0600 in 0700 dirs."""
    config = validate({"run": {"run_dir": str(tmp_path)}})
    child = Child("shard-0", "tests.unit.test_supervisor_restarts", ["sleep"], 0)
    supervisor = Supervisor(config, [child], {"PYTHONPATH": str(Path.cwd())},
                            SupervisorPolicy(stop_timeout_s=5.0))
    previous = os.umask(0o022)
    try:
        private_umask()  # what ops.supervisor.main and ops.demo.run_demo do first
        supervisor._spawn(child)
        status = Path(f"/proc/{child.process.pid}/status").read_text()  # type: ignore[union-attr]
        made = ensure_private_dir(tmp_path / "data")
        (made / "file").write_text("x")
    finally:
        os.umask(previous)
        supervisor.stop()
    assert "Umask:\t0077" in status
    assert made.stat().st_mode & 0o777 == 0o700
    assert (made / "file").stat().st_mode & 0o777 == 0o600
