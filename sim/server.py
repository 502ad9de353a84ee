"""One simulator process: the local Polymarket venue plus the scenario's world (feeds, agents).

`SimServer` loads a scenario, builds the venue core on a (possibly accelerated) clock, serves
it with `VenueServer`, and — when `sim.world` is present — starts the world (esports feed
servers, market maker and takers trading through the venue's Python API). Its `endpoints`
merge the venue's URLs with the world's. The venue keeps one independent book per outcome token
when the scenario's `complementary_matching` is false or the caller forces it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sim.venue.app import VenueServer
from sim.venue.clock import SystemClock
from sim.venue.core import Venue

log = logging.getLogger(__name__)
HEARTBEAT_TIMEOUT_REAL_S = 10.0


class SimServer:
    """The venue and the world of one scenario, started and stopped together."""

    def __init__(
        self,
        scenario: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        seed: int | None = None,
        ws_batch: bool = False,
        complementary_matching: bool | None = None,
        ground_truth_path: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.host = host
        self.speed = speed
        self.seed = int(scenario.seed if seed is None else seed)
        self.clock = SystemClock(speed)
        # None = the scenario's choice (default True: the real venue's unified book)
        if complementary_matching is None:
            complementary_matching = bool(getattr(scenario, "complementary_matching", True))
        self.complementary_matching = complementary_matching
        if not complementary_matching:
            # test-only switch: say so in the run's output, every time
            print("polyloly sim: WARNING: independent books per token (complementary matching "
                  "off) — the real venue has one unified book per market; pair mispricings "
                  "that rest here cannot rest on Polymarket (test-only switch)", file=sys.stderr)
        self.ground_truth_path = ground_truth_path
        self.venue = Venue(
            scenario.markets,
            self.clock,
            seed=self.seed,
            default_collateral_usdc=float(scenario.default_collateral_usdc),
            matching_delay_s=float(scenario.matching_delay_s),
            # heartbeats are sent in real time by real clients: keep their timeout real
            heartbeat_timeout_s=HEARTBEAT_TIMEOUT_REAL_S * speed,
            complementary_matching=complementary_matching,
            maker_rebate_rate=float(getattr(scenario, "maker_rebate_rate", 0.25)),
        )
        self.venue_server = VenueServer(self.venue, host=host, port=port, ws_batch=ws_batch)
        self.world: Any = None

    @property
    def endpoints(self) -> dict[str, str]:
        """Every endpoint URL: venue (clob_rest, market_ws, user_ws, admin) and world feeds."""
        out = dict(self.venue_server.endpoints)
        if self.world is not None:
            out.update(dict(getattr(self.world, "endpoints", {}) or {}))
        return out

    async def start(self) -> None:
        """Serve the venue, then start the world if `sim.world` exists."""
        await self.venue_server.start()
        if importlib.util.find_spec("sim.world") is None:
            log.warning("sim.world not found: serving the venue without feeds or agents")
            return
        world_module = importlib.import_module("sim.world")
        try:
            self.world = await world_module.start_world(
                self.scenario, self.venue, self.host, self.speed, self.seed
            )
        except BaseException:
            await self.venue_server.stop()
            raise

    async def stop(self) -> None:
        """Stop the world (writing its ground truth when asked), then the venue."""
        if self.world is not None:
            try:
                await self.world.stop()
                if self.ground_truth_path is not None:
                    self.write_ground_truth(self.ground_truth_path)
            finally:
                self.world = None
        await self.venue_server.stop()

    def write_ground_truth(self, path: str) -> None:
        """Write the ground truth of what the world has played so far (specs/12)."""
        from sim.ground_truth import from_history, to_json

        core = self.world.core
        truth = from_history(self.scenario, core.history, self.seed,
                             unified_book=self.complementary_matching,
                             end_s=None if core.done else core.t_s)
        document = to_json(truth)
        # the wall clock of scenario time 0: maps the feeds' source times (specs/12 §5)
        document.update(epoch_ms=core.context.epoch_ms, speed=self.speed)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, separators=(",", ":")) + "\n")
        log.info("ground truth written to %s", path)

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def load(name_or_path: str) -> Any:
    """Load a scenario with `sim.scenario.load_scenario`."""
    from sim.scenario import load_scenario

    return load_scenario(name_or_path)
