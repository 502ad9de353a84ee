"""The aiohttp shell shared by every feed: run an app on a free port, broadcast to sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import WSCloseCode, web

NowFn = Callable[[], float]


@dataclass
class Subscriber:
    """One connected WebSocket client of a channel."""

    socket: web.WebSocketResponse
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(4096))


class Broadcaster:
    """Channels of WebSocket subscribers; ``publish`` never blocks the world loop."""

    def __init__(self) -> None:
        self.channels: dict[str, list[Subscriber]] = {}

    def add(self, channel: str, subscriber: Subscriber) -> None:
        """Register ``subscriber`` on ``channel``."""
        self.channels.setdefault(channel, []).append(subscriber)

    def remove(self, channel: str, subscriber: Subscriber) -> None:
        """Unregister ``subscriber``."""
        with contextlib.suppress(KeyError, ValueError):
            self.channels[channel].remove(subscriber)

    def publish(self, channel: str, payload: object) -> int:
        """Queue ``payload`` (JSON-encoded once) for every subscriber; return how many."""
        subscribers = self.channels.get(channel, ())
        if not subscribers:
            return 0
        data = orjson.dumps(payload)
        for subscriber in subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(data)
        return len(subscribers)

    def close_channel(self, channel: str) -> None:
        """Ask every subscriber of ``channel`` to close (normal closure)."""
        for subscriber in self.channels.get(channel, ()):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(None)

    async def drop_all(self, code: int = WSCloseCode.INTERNAL_ERROR) -> None:
        """Close every socket now (an ``error`` outage)."""
        for subscribers in list(self.channels.values()):
            for subscriber in list(subscribers):
                await subscriber.socket.close(code=code, message=b"provider outage")

    async def pump(self, subscriber: Subscriber, close_code: int = WSCloseCode.OK) -> None:
        """Send queued payloads to ``subscriber`` until closed."""
        try:
            while not subscriber.socket.closed:
                data = await subscriber.queue.get()
                if data is None:
                    await subscriber.socket.close(code=close_code)
                    return
                await subscriber.socket.send_str(data.decode())
        except (ConnectionError, RuntimeError):
            return  # the client went away; its handler unregisters it

    async def serve(self, channel: str, subscriber: Subscriber) -> None:
        """Register ``subscriber`` on ``channel``, pump payloads to it until the client closes
        its socket, then unregister it."""
        self.add(channel, subscriber)
        pump = asyncio.ensure_future(self.pump(subscriber))
        try:
            await read_until_closed(subscriber.socket)
        finally:
            self.remove(channel, subscriber)
            pump.cancel()


async def read_until_closed(socket: web.WebSocketResponse) -> None:
    """Drain client messages (ignored) until the socket closes."""
    async for _ in socket:
        pass


def json_response(payload: object, status: int = 200) -> web.Response:
    """Return a JSON response encoded with orjson."""
    return web.Response(body=orjson.dumps(payload), status=status,
                        content_type="application/json")


class FeedServer:
    """Run one aiohttp application on ``host``, port 0 (a free port)."""

    def __init__(self, name: str, app: web.Application, host: str = "127.0.0.1") -> None:
        self.name = name
        self.app = app
        self.host = host
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base http URL of the server."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        """Start listening and return the base URL."""
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.url

    async def stop(self) -> None:
        """Stop the server and close its connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
