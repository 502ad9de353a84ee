"""polyloly.ports: OS-chosen ports held until released; one clear error for an occupied port."""

from __future__ import annotations

import errno
import socket

import pytest
import zmq

from polyloly import bus
from polyloly.httpserve import ObservabilityServer
from polyloly.ports import PortInUseError, reserve_ports


def _exclusive_bind_fails(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            assert exc.errno == errno.EADDRINUSE
            return True
        return False


def test_a_contiguous_block_is_held_until_released_and_our_servers_bind_it() -> None:
    with reserve_ports(3, contiguous=True) as held:
        base = held.port
        assert held.ports == (base, base + 1, base + 2)
        # another reservation, a port-0 bind or any exclusive bind cannot take them...
        assert all(_exclusive_bind_fails(port) for port in held.ports)
        with reserve_ports(50) as others:
            assert not set(others.ports) & set(held.ports)
        # ...while the process they are meant for binds and serves on them
        server = ObservabilityServer("127.0.0.1", base + 1, lambda: {"healthy": True}).start()
        try:
            assert server.port == base + 1
        finally:
            server.stop()
    assert not any(_exclusive_bind_fails(port) for port in held.ports)


def test_bad_count_is_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        reserve_ports(0)


def test_metrics_server_on_an_occupied_port_names_port_and_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError) as raised:
            ObservabilityServer("127.0.0.1", port, dict, setting="metrics.engine_port")
    message = str(raised.value)
    assert f"port {port} on 127.0.0.1 (metrics.engine_port) is already in use" in message
    assert "set metrics.engine_port to a free port" in message


def test_bus_bind_on_an_occupied_tcp_port_names_the_endpoint() -> None:
    ctx = zmq.Context()
    try:
        first = bus.bind(ctx, zmq.PUB, "tcp://127.0.0.1:*")
        endpoint = first.getsockopt_string(zmq.LAST_ENDPOINT)
        with pytest.raises(PortInUseError, match=f"bus endpoint {endpoint}"):
            bus.bind(ctx, zmq.PUB, endpoint)
        first.close(0)
    finally:
        ctx.term()
