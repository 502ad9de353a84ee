"""TCP ports from the OS, held until the process that serves on them has bound them.

``free_port()``-style helpers (bind port 0, read it, close, hand the number on) race: between
the close and the child's bind another process can take the port, and "port + 1" was never
checked at all. :func:`reserve_ports` instead keeps every port it hands out **bound** (not
listening) for as long as the :class:`PortReservation` lives:

* each port is first bound *exclusively* (no ``SO_REUSEADDR``), so a port anybody else has bound,
  listens on or holds in a reservation is refused; a contiguous block (shard K serves on
  ``metrics.shard_base_port + K``) is verified port by port;
* then ``SO_REUSEADDR`` is set on the held socket. On Linux a socket that is bound but not
  listening does not conflict with a later ``SO_REUSEADDR`` bind, so our own servers
  (``ThreadingHTTPServer`` and ZeroMQ set it) bind and listen on the held port, while the
  kernel's port-0 auto-bind and every other exclusive bind (another reservation) still skip it.

Release the reservation (``with`` block or :meth:`PortReservation.release`) once the processes
using the ports are gone. :class:`PortInUseError` is the one error every bind site raises for an
occupied port: its message names the port, the setting and the fix.
"""

from __future__ import annotations

import errno
import socket
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
_MAX_PORT = 65535


class PortInUseError(Exception):
    """A server could not bind its port because another process holds it."""

    def __init__(self, port: int, setting: str, host: str = LOOPBACK) -> None:
        super().__init__(
            f"port {port} on {host} ({setting}) is already in use by another process; stop "
            f"that process (`ss -ltnp 'sport = :{port}'` shows it) or set {setting} to a free "
            "port")
        self.port = port
        self.setting = setting
        self.host = host


def is_addr_in_use(exc: BaseException) -> bool:
    """True when ``exc`` is the OS's EADDRINUSE (from ``socket.bind`` or ZeroMQ)."""
    return getattr(exc, "errno", None) == errno.EADDRINUSE


class PortReservation:
    """Ports held bound (not listening) until :meth:`release`; see the module docstring."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        self._sockets = sockets
        self.ports: tuple[int, ...] = tuple(int(s.getsockname()[1]) for s in sockets)

    @property
    def port(self) -> int:
        """The first (for a block: the base) port."""
        return self.ports[0]

    def release(self) -> None:
        """Close the held sockets (idempotent); the ports become ordinary free ports."""
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _hold(host: str, port: int) -> socket.socket:
    """Bind ``port`` exclusively (raise OSError when anybody holds it), then allow re-binds."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError:
        sock.close()
        raise
    return sock


def reserve_ports(count: int = 1, *, contiguous: bool = False, host: str = LOOPBACK,
                  attempts: int = 200) -> PortReservation:
    """Hold ``count`` ports chosen by the OS (``contiguous``: ``base .. base + count - 1``)."""
    if count < 1:
        raise ValueError(f"count: expected a positive integer, was {count!r}")
    if not contiguous:
        held: list[socket.socket] = []
        try:
            for _ in range(count):
                held.append(_hold(host, 0))
        except OSError:
            for sock in held:
                sock.close()
            raise
        return PortReservation(held)
    for _ in range(attempts):
        first = _hold(host, 0)
        base = int(first.getsockname()[1])
        block = [first]
        try:
            if base + count - 1 > _MAX_PORT:
                raise OSError(errno.EADDRNOTAVAIL, "block would pass port 65535")
            for offset in range(1, count):
                block.append(_hold(host, base + offset))
        except OSError:
            for sock in block:
                sock.close()
            continue
        return PortReservation(block)
    raise RuntimeError(f"no block of {count} free ports found on {host} in {attempts} attempts")
