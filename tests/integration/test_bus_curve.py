"""Issue 20 #11: ``bus.curve_enabled: true`` was accepted and ignored — over tcp a client
without keys had an intent accepted, in plaintext. Now every bus socket runs CURVE with keys
per process from ``bus.curve_keys_dir``, servers accept only the public keys found there, and
tcp:// without CURVE is refused (at process start and by ``config check``).

Two "hosts" on loopback: the engine's ROUTER on 127.0.0.1 in one ZeroMQ context, shards in
others (a second host's shard connects from 127.0.0.2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from ops.config_errors import bus_security_errors
from polyloly import bus, messages
from polyloly.bus import BusSecurityError, CurveIdentity, generate_curve_keys, load_curve
from polyloly.config import Config, deep_merge, load_raw, validate
from polyloly.domain import OrderType, Outcome, Side, Strategy
from tests.helpers.ports import held_port

PROCESSES = ["engine", "gateway", "shard-0", "shard-1"]


def _config(tmp: Path, keys: Path | None, port: int, **bus_keys: Any) -> Config:
    endpoints = {"engine_router": f"tcp://127.0.0.1:{port}",
                 "engine_pub": f"tcp://127.0.0.1:{held_port()}",
                 "gateway_pub": f"tcp://127.0.0.1:{held_port()}",
                 "user_updates": f"tcp://127.0.0.1:{held_port()}"}
    overlay: dict[str, Any] = {"run": {"run_dir": str(tmp / "run")},
                               "bus": {**endpoints, "curve_enabled": keys is not None,
                                       "curve_keys_dir": str(keys or ""), **bus_keys}}
    return validate(deep_merge(load_raw(None, environ={}), overlay))


def _intent(shard_id: int) -> messages.OrderIntent:
    now = time.monotonic_ns()
    return messages.OrderIntent(
        intent_id=f"i-{shard_id}", idempotency_key=f"k-{shard_id}", shard_id=shard_id,
        market_id="0x" + "ab" * 32, token_id="1", outcome=Outcome.YES, side=Side.BUY,
        price=0.5, size=5.0, order_type=OrderType.FAK, strategy=Strategy.TEMPORAL_ARB,
        t_origin_ns=now, t_decision_ns=now, t_sent_ns=now)


@pytest.fixture(autouse=True)
def _plaintext_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """init_security sets the process's keys: whatever a test does, later tests of this
    session start from no keys again."""
    monkeypatch.setattr(bus, "_identity", None)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    generate_curve_keys(directory, PROCESSES)
    assert (directory / "engine.key_secret").stat().st_mode & 0o777 == 0o600
    return directory


class Hosts:
    """ZeroMQ contexts standing for hosts, and every socket made on them; ``close`` closes the
    sockets then terms the contexts (the ZAP thread closes its own socket on ETERM: destroy()
    would close it under the thread's feet)."""

    def __init__(self) -> None:
        self.contexts: list[zmq.Context[zmq.Socket[bytes]]] = []
        self.sockets: list[zmq.Socket[bytes]] = []

    def host(self) -> zmq.Context[zmq.Socket[bytes]]:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.contexts.append(ctx)
        return ctx

    def keep(self, sock: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
        self.sockets.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        for ctx in self.contexts:
            ctx.term()


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    made = Hosts()
    yield made
    made.close()


def _received(router: zmq.Socket[bytes], timeout_ms: int) -> list[bytes] | None:
    return router.recv_multipart() if router.poll(timeout_ms) else None


def test_with_curve_an_intent_passes_and_clients_without_our_keys_are_refused(
        tmp_path: Path, keys: Path, hosts: Hosts) -> None:
    port = held_port()
    config = _config(tmp_path, keys, port)
    endpoint = config.endpoint("engine_router")
    host_a, host_b, outsider = hosts.host(), hosts.host(), hosts.host()
    router = hosts.keep(bus.bind(host_a, zmq.ROUTER, endpoint,
                                 security=load_curve(config, "engine")))

    # a shard of the second host, with its own keys: the intent passes
    shard = hosts.keep(bus.connect(host_b, zmq.DEALER, endpoint,
                                   identity=bus.shard_identity(1),
                                   security=load_curve(config, "shard-1")))
    bus.send(shard, _intent(1))
    frames = _received(router, 5000)
    assert frames is not None
    assert frames[0] == bus.shard_identity(1)
    decoded = messages.decode(frames[1])
    assert isinstance(decoded, messages.OrderIntent) and decoded.shard_id == 1

    # a client without keys (plaintext) is refused: nothing ever arrives
    plain = hosts.keep(bus.connect(outsider, zmq.DEALER, endpoint, identity=b"shard-9"))
    bus.send(plain, _intent(9))
    # a client with keys of its own, knowing the engine's public key: not in our keys dir
    rogue_dir = tmp_path / "rogue"
    generate_curve_keys(rogue_dir, ["shard-0"])
    public, secret = zmq.auth.load_certificate(rogue_dir / "shard-0.key_secret")
    assert secret is not None
    ours = load_curve(config, "shard-0")
    rogue = hosts.keep(bus.connect(
        outsider, zmq.DEALER, endpoint, identity=b"shard-0",
        security=CurveIdentity("shard-0", public, secret, ours.server_keys, {})))
    bus.send(rogue, _intent(0))
    assert _received(router, 1500) is None


def test_tcp_without_curve_is_refused_at_start_and_by_config_check(tmp_path: Path) -> None:
    config = _config(tmp_path, None, held_port())
    with pytest.raises(BusSecurityError, match="tcp:// needs CURVE"):
        bus.init_security(config, "engine")
    (line,) = bus_security_errors(config)
    assert "bus.curve_enabled is false" in line and line.startswith("bus.")


def test_curve_without_its_keys_is_refused(tmp_path: Path, keys: Path) -> None:
    (keys / "shard-1.key_secret").unlink()
    config = _config(tmp_path, keys, held_port())
    with pytest.raises(BusSecurityError, match="shard-1.key_secret"):
        bus.init_security(config, "shard-1")
    (keys / "gateway.key").unlink()
    assert any("gateway.key" in line for line in bus_security_errors(config))
    missing = _config(tmp_path, tmp_path / "nowhere", held_port())
    assert any("bus.curve_keys_dir" in line for line in bus_security_errors(missing))
    with pytest.raises(BusSecurityError, match="curve_keys_dir"):
        bus.init_security(missing, "engine")
    generate_curve_keys(keys, ["gateway"])
    assert bus.init_security(_config(tmp_path, keys, held_port()), "engine") is not None


def test_polyloly_config_check_refuses_tcp_without_curve(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ops.config_cli import main as config_main

    path = tmp_path / "two_hosts.yaml"
    path.write_text(f"run: {{run_dir: {tmp_path / 'run'}}}\n"
                    "bus: {engine_router: 'tcp://127.0.0.2:7101'}\n")
    assert config_main(["check", str(path)], environ={}) == 2
    err = capsys.readouterr().err
    assert "tcp:// but bus.curve_enabled is false" in err and "Traceback" not in err


@pytest.mark.parametrize(("module", "args", "process"), [
    ("gateway.main", [], "gateway"),
    ("engine.main", ["--new-state"], "engine"),
    ("shards.main", ["--shard", "1"], "shard-1"),
])
def test_each_process_refuses_to_start_without_its_keys_or_with_plaintext_tcp(
        tmp_path: Path, keys: Path, module: str, args: list[str], process: str) -> None:
    """Fail closed at the process level: one line on stderr, exit 2, nothing left behind."""
    import os
    import subprocess
    import sys

    import yaml

    (keys / f"{process}.key_secret").unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMARKET_", "POLYLOLY__"))}
    for curve, expected in ((True, f"{process}.key_secret"), (False, "tcp:// needs CURVE")):
        port = held_port()
        config = tmp_path / f"{process}-{curve}.yaml"
        config.write_text(yaml.safe_dump({
            "run": {"run_dir": str(tmp_path / f"run-{curve}"), "data_dir": str(tmp_path / "d")},
            "shm": {"segment_name": f"plbc_{port}"}, "metrics": {"enabled": False},
            "shards": {"count": 2}, "providers": {},
            "bus": {"engine_router": f"tcp://127.0.0.1:{port}", "curve_enabled": curve,
                    "curve_keys_dir": str(keys)}}))
        done = subprocess.run([sys.executable, "-m", module, "--config", str(config), *args],
                              capture_output=True, timeout=60, env=env)
        stderr = done.stderr.decode()
        assert done.returncode == 2, stderr
        assert expected in stderr and "Traceback" not in stderr
