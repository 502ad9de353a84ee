"""A minimal Polymarket market-channel WebSocket server that sends frames at a set rate.

Clients connect to ``ws://127.0.0.1:PORT/ws/market`` and send the venue's subscription
message (``{"assets_ids": [...], "type": "market", ...}``); the server answers with ``book``
snapshots of those tokens, answers text ``PING`` with ``PONG``, and from then on receives
every frame of :meth:`FeedServer.run_load` that names one of its tokens. One frame is one
WebSocket message (one per read on the client); permessage-deflate is off.

Pacing: frame *i* is due at ``start + i / rate``; the sender wakes about every millisecond and
sends every frame that is due, so at 10k/s about ten frames leave per wake-up. The achieved
rate and the worst lag behind the schedule are reported, so a saturated sender is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve

from bench.harness.load import FrameKind, LoadModel


@dataclass(slots=True)
class LoadResult:
    """What one :meth:`FeedServer.run_load` sent, and how well it kept the schedule."""

    frames: int
    seconds: float
    by_kind: dict[str, int]
    delivered: int  # frame copies handed to client connections
    max_lag_ms: float  # worst lateness of a frame behind its schedule
    skipped_triggers: int

    @property
    def achieved_rate(self) -> float:
        """Frames per second actually sent."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass(slots=True)
class _Client:
    connection: ServerConnection
    tokens: set[str] = field(default_factory=set)


class FeedServer:
    """The server; use ``async with FeedServer(model) as server`` inside a running loop."""

    def __init__(self, model: LoadModel) -> None:
        self.model = model
        self._server: Server | None = None
        self._clients: list[_Client] = []
        self._subscribed = asyncio.Event()
        self.port = 0

    async def __aenter__(self) -> FeedServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None,
                                   max_size=None, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 3.0)

    @property
    def url(self) -> str:
        """The market-channel URL to give clients."""
        return f"ws://127.0.0.1:{self.port}/ws/market"

    @property
    def http_url(self) -> str:
        """A base URL for REST (not served: a gateway's REST resync fails fast and is counted)."""
        return f"http://127.0.0.1:{self.port}"

    def subscribed_tokens(self) -> int:
        """Distinct tokens subscribed over all live connections."""
        return len(set().union(*(c.tokens for c in self._clients))) if self._clients else 0

    async def wait_subscribed(self, tokens: int, timeout_s: float) -> bool:
        """Wait until at least ``tokens`` distinct tokens are subscribed; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.subscribed_tokens() < tokens:
            if time.monotonic() >= deadline:
                return False
            self._subscribed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), 0.1)
        return True

    async def _handle(self, connection: ServerConnection) -> None:
        client = _Client(connection)
        self._clients.append(client)
        try:
            async for message in connection:
                text = message if isinstance(message, str) else message.decode()
                if text == "PING":
                    await connection.send("PONG")
                    continue
                try:
                    request = orjson.loads(text)
                except orjson.JSONDecodeError:
                    await connection.send("INVALID OPERATION")
                    continue
                assets = [str(a) for a in request.get("assets_ids", [])]
                client.tokens.update(assets)
                for frame in self.model.book_frames(assets, int(time.time() * 1000)):
                    await connection.send(frame)
                self._subscribed.set()
        except Exception:  # a client going away mid-send ends only its own handler
            pass
        finally:
            self._clients.remove(client)

    async def run_load(self, rate: float, seconds: float, batch: int = 1) -> LoadResult:
        """Send ``rate`` messages/s for ``seconds`` to the clients subscribed to each message.

        ``batch`` > 1 sends messages ``batch`` at a time as one JSON-array frame (to clients
        subscribed to the first message's token); counts stay in messages.
        """
        if batch > 1:
            return await self._run_batched(rate, seconds, batch)
        if rate <= 0 or seconds <= 0:
            raise ValueError(f"rate and seconds must be positive, were {rate}, {seconds}")
        model = self.model
        before = dict(model.sent)
        skipped_before = model.skipped_triggers
        interval_ns = int(1e9 / rate)
        total = int(rate * seconds)
        start = time.monotonic_ns()
        sent = delivered = 0
        max_lag_ns = 0
        while sent < total:
            now = time.monotonic_ns()
            due = min(total, (now - start) // interval_ns + 1)
            if sent < due:
                max_lag_ns = max(max_lag_ns, now - (start + sent * interval_ns))
            wall_ms = int(time.time() * 1000)
            while sent < due:
                frame = model.next_frame(start + sent * interval_ns, wall_ms)
                for client in self._clients:
                    if frame.token_id in client.tokens:
                        # send() on an open connection writes without waiting for the peer.
                        await client.connection.send(frame.payload)
                        delivered += 1
                sent += 1
            next_due = start + sent * interval_ns
            await asyncio.sleep(max(0.0, (next_due - time.monotonic_ns()) / 1e9))
        elapsed = (time.monotonic_ns() - start) / 1e9
        by_kind = {k.value: model.sent[k] - before[k] for k in FrameKind}
        return LoadResult(sent, elapsed, by_kind, delivered, max_lag_ns / 1e6,
                          model.skipped_triggers - skipped_before)

    async def _run_batched(self, rate: float, seconds: float, batch: int) -> LoadResult:
        model = self.model
        before = dict(model.sent)
        interval_ns = int(1e9 * batch / rate)
        total = int(rate * seconds) // batch
        start = time.monotonic_ns()
        sent = delivered = 0
        max_lag_ns = 0
        while sent < total:
            now = time.monotonic_ns()
            due = min(total, (now - start) // interval_ns + 1)
            if sent < due:
                max_lag_ns = max(max_lag_ns, now - (start + sent * interval_ns))
            wall_ms = int(time.time() * 1000)
            while sent < due:
                frames = [model.next_frame(start + sent * interval_ns, wall_ms)
                          for _ in range(batch)]
                payload = b"[" + b",".join(f.payload for f in frames) + b"]"
                for client in self._clients:
                    if frames[0].token_id in client.tokens:
                        await client.connection.send(payload)
                        delivered += batch
                sent += 1
            await asyncio.sleep(max(0.0, (start + sent * interval_ns - time.monotonic_ns()) / 1e9))
        elapsed = (time.monotonic_ns() - start) / 1e9
        by_kind = {k.value: model.sent[k] - before[k] for k in FrameKind}
        return LoadResult(sent * batch, elapsed, by_kind, delivered, max_lag_ns / 1e6, 0)
