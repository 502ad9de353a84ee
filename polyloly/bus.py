"""ZeroMQ plumbing shared by every process (ARCHITECTURE §4): socket factories and framing.

Frames: PUB/SUB messages are ``[topic, payload]`` with ``topic = messages.topic(msg)``
(``b"<kind>|<market or match id>|"``), so a SUB filters by prefix; DEALER/ROUTER and PUSH/PULL
carry ``[payload]`` (the ROUTER side prepends the peer identity). ``payload`` is always
``messages.encode(msg)``.

Security (issue 20 #11, specs/04 §1.1): with ``bus.curve_enabled`` every bus socket runs
CURVE with per-process keys from ``bus.curve_keys_dir`` (``zmq.auth`` certificate files
``<process>.key_secret`` for our own pair, ``<name>.key`` public keys of every process). Servers
(the binding side) accept only clients whose public key is in that directory (a ZAP handler per
context); a client without keys, or with unknown ones, is refused — it never gets a message
through. Each process calls :func:`init_security` once; over ``tcp://`` without CURVE it raises.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import zmq
import zmq.auth
from zmq.utils import z85

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


class BusSecurityError(RuntimeError):
    """The bus cannot be secured as configured (missing key file, tcp:// without CURVE)."""


# Which process binds (is the CURVE server of) each endpoint: clients need its public key.
SERVER_OF: Final = {"gateway_pub": "gateway", "engine_router": "engine",
                    "engine_pub": "engine", "user_updates": "engine"}
ZAP_DOMAIN: Final = b"polyloly"
KEYS_HOWTO: Final = "create them with docs/RUNBOOK.md 'CURVE keys'"


@dataclass(frozen=True)
class CurveIdentity:
    """One process's CURVE keys (z85) and what it needs to talk to the others."""

    process: str
    public: bytes
    secret: bytes
    server_keys: dict[str, bytes]  # endpoint → public key of the process that binds it
    allowed: dict[bytes, str]  # client public key → process name (the ZAP allow-list)


def load_curve(config: Config, process: str) -> CurveIdentity:
    """Load ``process``'s key pair and every public key from ``bus.curve_keys_dir``."""
    keys_dir = Path(config.bus.curve_keys_dir)
    if not config.bus.curve_keys_dir or not keys_dir.is_dir():
        raise BusSecurityError(f"bus.curve_keys_dir {config.bus.curve_keys_dir!r} is not a "
                               f"directory of CURVE keys: {KEYS_HOWTO}")
    secret_file = keys_dir / f"{process}.key_secret"
    if not secret_file.is_file():
        raise BusSecurityError(f"bus.curve_enabled: no key pair {secret_file} for {process}: "
                               f"{KEYS_HOWTO}")
    public, secret = zmq.auth.load_certificate(secret_file)
    if secret is None:
        raise BusSecurityError(f"{secret_file} holds no secret key: {KEYS_HOWTO}")
    server_keys: dict[str, bytes] = {}
    for name, server in SERVER_OF.items():
        key_file = keys_dir / f"{server}.key"
        if not key_file.is_file():
            raise BusSecurityError(f"bus.curve_enabled: no public key {key_file} of the {server} "
                                   f"(server of bus.{name}): {KEYS_HOWTO}")
        server_keys[config.endpoint(name)] = zmq.auth.load_certificate(key_file)[0]
    allowed = {zmq.auth.load_certificate(path)[0]: path.stem
               for path in sorted(keys_dir.glob("*.key"))}
    return CurveIdentity(process, public, secret, server_keys, allowed)


_identity: CurveIdentity | None = None


def init_security(config: Config, process: str) -> CurveIdentity | None:
    """Set this process's bus security from ``config`` (call once, before any socket).

    Raises :class:`BusSecurityError` for a ``tcp://`` endpoint without ``bus.curve_enabled``
    (plaintext to another host: fail closed) and for missing keys when it is enabled."""
    global _identity
    if not config.bus.curve_enabled:
        for name in SERVER_OF:
            if config.endpoint(name).startswith("tcp://"):
                raise BusSecurityError(
                    f"bus.{name} is {config.endpoint(name)} but bus.curve_enabled is false: "
                    "tcp:// needs CURVE (set bus.curve_enabled: true and bus.curve_keys_dir)")
        _identity = None
        return None
    _identity = load_curve(config, process)
    return _identity


def secure(sock: ZmqSocket, endpoint: str, *, server: bool,
           security: CurveIdentity | None = None) -> None:
    """Apply CURVE to ``sock`` before it binds (``server``) or connects to ``endpoint``;
    nothing when neither ``security`` nor the process's :func:`init_security` set keys."""
    identity = security or _identity
    if identity is None:
        return
    sock.setsockopt(zmq.CURVE_PUBLICKEY, identity.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, identity.secret)
    if server:
        _ensure_zap(sock.context, identity.allowed)
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        return
    server_key = identity.server_keys.get(endpoint)
    if server_key is None:
        raise BusSecurityError(f"no CURVE server key for {endpoint} (not a bus endpoint of "
                               "this config)")
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)


_zap_lock = threading.Lock()
_zap_contexts: dict[int, threading.Thread] = {}


def _ensure_zap(ctx: ZmqContext, allowed: dict[bytes, str]) -> None:
    """One ZAP handler per context, bound before any CURVE server accepts a peer."""
    with _zap_lock:
        if id(ctx) in _zap_contexts and _zap_contexts[id(ctx)].is_alive():
            return
        handler = ctx.socket(zmq.REP)
        handler.setsockopt(zmq.LINGER, 0)
        handler.bind("inproc://zeromq.zap.01")
        thread = threading.Thread(target=_zap_loop, args=(handler, dict(allowed)),
                                  name="zap", daemon=True)
        thread.start()
        _zap_contexts[id(ctx)] = thread


def _zap_loop(handler: ZmqSocket, allowed: dict[bytes, str]) -> None:
    """Answer ZAP requests: CURVE clients whose public key is in ``allowed`` get 200 with
    their process name as user id, everyone else 400. Ends when the context terminates."""
    try:
        while True:
            request = handler.recv_multipart()
            version, request_id, mechanism = request[0], request[1], request[5]
            name = None
            if mechanism == b"CURVE" and len(request) > 6 and len(request[6]) == 32:
                name = allowed.get(z85.encode(request[6]))
            if name is None:
                handler.send_multipart([version, request_id, b"400", b"unknown key", b"", b""])
            else:
                handler.send_multipart([version, request_id, b"200", b"OK", name.encode(), b""])
    except zmq.ZMQError:  # ContextTerminated (ETERM) or closed: the context is going away
        pass
    finally:
        handler.close(linger=0)


def generate_curve_keys(directory: str | Path, processes: list[str]) -> list[Path]:
    """Create a key pair per process in ``directory`` (0700; secrets 0600). Copy to each
    host the secrets of its processes and every public ``.key`` file."""
    path = ensure_private_dir(directory)
    made = []
    for process in processes:
        public, secret = zmq.auth.create_certificates(str(path), process)
        os.chmod(secret, stat.S_IRUSR | stat.S_IWUSR)
        made += [Path(public), Path(secret)]
    return made


def _prepare(sock: ZmqSocket, hwm: int) -> ZmqSocket:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    return sock


def bind(ctx: ZmqContext, kind: int, endpoint: str, hwm: int = 100_000,
         setting: str = "bus endpoint", security: CurveIdentity | None = None) -> ZmqSocket:
    """Bind a new socket to ``endpoint`` (CURVE server when security is set); a TCP port
    already taken raises PortInUseError."""
    sock = _prepare(ctx.socket(kind), hwm)
    secure(sock, endpoint, server=True, security=security)
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
    ctx: ZmqContext, kind: int, endpoint: str, hwm: int = 100_000, identity: bytes | None = None,
    security: CurveIdentity | None = None,
) -> ZmqSocket:
    """Connect a new socket to ``endpoint`` (CURVE client when security is set)."""
    sock = _prepare(ctx.socket(kind), hwm)
    secure(sock, endpoint, server=False, security=security)
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
