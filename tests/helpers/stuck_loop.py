"""A process whose event loop gets stuck, for the loop-lag and SIGTERM tests (issue 20).

``python -m tests.helpers.stuck_loop BLOCK_AFTER_S HARD_STOP_S MAX_LAG_S``: serves ``/health``
on 127.0.0.1 (port printed as ``{"port": N}``) exactly as the processes do (ObservabilityServer
+ Readiness beating a LoopWatch, signals through guard_stop_signals, under uvloop), then after
BLOCK_AFTER_S blocks its loop in pure Python for ever.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
import uvloop

from polyloly.httpserve import LoopWatch, ObservabilityServer
from polyloly.sdnotify import Readiness, SdNotify, guard_stop_signals


async def _main(block_after_s: float, hard_stop_s: float, max_lag_s: float) -> None:
    watch = LoopWatch(max_lag_s=max_lag_s)
    server = ObservabilityServer("127.0.0.1", 0, lambda: {"healthy": True},
                                 loop_watch=watch).start()
    stop = asyncio.Event()
    guard_stop_signals(asyncio.get_running_loop(), stop.set, bound_s=hard_stop_s)
    readiness = asyncio.create_task(
        Readiness("stuck", lambda: {"healthy": True}, SdNotify(None), loop_watch=watch)
        .run(stop, period_s=0.02))
    sys.stdout.write(orjson.dumps({"port": server.port}).decode() + "\n")
    sys.stdout.flush()
    try:
        await asyncio.wait_for(stop.wait(), block_after_s)
        return  # stopped before blocking: the graceful path
    except TimeoutError:
        pass
    while True:  # the stuck loop: pure Python, never yields
        time.monotonic()
    await readiness


if __name__ == "__main__":
    block, hard, lag = (float(a) for a in sys.argv[1:4])
    uvloop.run(_main(block, hard, lag))
