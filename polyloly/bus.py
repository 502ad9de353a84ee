"""ZeroMQ plumbing shared by every process (ARCHITECTURE §4): socket factories and framing.

Frames: PUB/SUB messages are ``[topic, payload]`` with ``topic = messages.topic(msg)``
(``b"<kind>|<market or match id>|"``), so a SUB filters by prefix; DEALER/ROUTER and PUSH/PULL
carry ``[payload]`` (the ROUTER side prepends the peer identity). ``payload`` is always
``messages.encode(msg)``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import zmq

from polyloly import messages
from polyloly.config import Config
from polyloly.messages import Message
from polyloly.ports import PortInUseError, is_addr_in_use

ZmqSocket = zmq.Socket[bytes]
"""A ZeroMQ socket sending and receiving ``bytes`` frames (every socket here)."""
ZmqContext = zmq.Context[ZmqSocket]
"""A ZeroMQ context making :data:`ZmqSocket` sockets."""


PRIVATE_UMASK = 0o077
"""Our processes' umask (issue 20 #13: data, SQLite, logs and config were readable by every
local user): new directories 0700, new files 0600. systemd units set ``UMask=0077``; ``polyloly
run``/``demo`` and the gateway set it themselves (children inherit it)."""


def private_umask() -> None:
    """Apply :data:`PRIVATE_UMASK` to this process (and every child it starts after)."""
    os.umask(PRIVATE_UMASK)


def ensure_run_dir(config: Config) -> Path:
    """Create the ipc run dir with mode 0700 (nobody else may reach our sockets)."""
    return ensure_private_dir(config.run.run_dir)


def ensure_private_dir(directory: str | Path) -> Path:
    """Create ``directory`` (and parents) and make it 0700 even if it existed with wider
    bits (a data dir made before the umask was applied)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, stat.S_IRWXU)
    return path


def _prepare(sock: ZmqSocket, hwm: int) -> ZmqSocket:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    return sock


def bind(ctx: ZmqContext, kind: int, endpoint: str, hwm: int = 100_000,
         setting: str = "bus endpoint") -> ZmqSocket:
    """Bind a new socket to ``endpoint``; a TCP port already taken raises PortInUseError."""
    sock = _prepare(ctx.socket(kind), hwm)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        if is_addr_in_use(exc):
            host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
            raise PortInUseError(int(port) if port.isdigit() else 0, f"{setting} {endpoint}",
                                 host or "?") from None
        raise
    return sock


def connect(
    ctx: ZmqContext, kind: int, endpoint: str, hwm: int = 100_000, identity: bytes | None = None
) -> ZmqSocket:
    sock = _prepare(ctx.socket(kind), hwm)
    if identity is not None:
        sock.setsockopt(zmq.IDENTITY, identity)
    sock.connect(endpoint)
    return sock


def subscribe(sock: ZmqSocket, kind: str, key: str = "") -> None:
    """Subscribe a SUB socket to one kind, optionally for one market/match id only."""
    prefix = f"{kind}|{key}|" if key else f"{kind}|"
    sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())


def publish(sock: ZmqSocket, message: Message, flags: int = 0) -> None:
    sock.send_multipart((messages.topic(message), messages.encode(message)), flags=flags)


def send(sock: ZmqSocket, message: Message, flags: int = 0) -> None:
    sock.send(messages.encode(message), flags=flags)


def shard_identity(shard_id: int) -> bytes:
    return f"shard-{shard_id}".encode()
