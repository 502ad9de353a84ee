"""Ground truth for ``polyloly evaluate``: each market's true fair value over time, the
resolutions and the scenario's available edge — read from the simulator's ground-truth file
(``polyloly sim --ground-truth OUT.json``, ``specs/12_SIM_GROUND_TRUTH_SPEC.md``).

The evaluation's own simulator writes that file when it stops, so the truth is the run's own
(exact even for makers whose quotes depend on their fills); :func:`from_scenario` rebuilds it
from the pure world core (:func:`sim.ground_truth.from_scenario`) when no file is at hand.
Fair values are per market (P(outcome 0)), piecewise constant between the true match events;
available edge per kind (taker, maker, pair) is the spec's (§4): upper bounds.

Clock: the file is in scenario seconds since the world started; the recording is in
CLOCK_MONOTONIC ns of the recording host. The world's start is not in the recording, so the
mapping is anchored on the market resolutions: the venue publishes ``market_resolved`` when
the world executes its ResolveAction, at the first world step (``STEP_S`` grid) at or after
``resolved_s``. ``epoch_ns = median(recv_ns − step_t / speed)`` over the resolved markets; the
error is the world's step jitter (≤ STEP_S / 2 / speed real seconds) plus the WebSocket
latency — well under the 1 s adverse-selection horizon.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from replay.recording import MARKET_WS, RecordedMessage

STEP_S = 0.25  # sim.world.STEP_S: the world acts on this grid of scenario seconds
SCHEMA = "polyloly.sim.ground_truth/1"


@dataclass(slots=True)
class MarketTruth:
    """One market's true fair value of outcome 0 as a step function of scenario time."""

    market_id: str
    times_s: list[float]
    fair: list[float]

    def at(self, t_s: float) -> float:
        """Fair value of outcome 0 at scenario time ``t_s`` (the last change at or before)."""
        index = bisect.bisect_right(self.times_s, t_s) - 1
        return self.fair[max(index, 0)]

    def values_between(self, start_s: float, end_s: float) -> list[float]:
        """Every fair value in force at some moment of ``[start_s, end_s)``."""
        first = max(bisect.bisect_right(self.times_s, start_s) - 1, 0)
        last = bisect.bisect_left(self.times_s, end_s)
        return self.fair[first:max(last, first + 1)]


@dataclass(slots=True)
class GroundTruth:
    """Everything the scorer needs from the world of one scenario × seed."""

    scenario: str
    seed: int
    speed: float
    hold_s: float
    source: str
    markets: dict[str, MarketTruth]
    token_market: dict[str, tuple[str, int]]  # token → (market, outcome index)
    resolved_s: dict[str, float]  # market → scenario time of its ResolveAction
    winning_token: dict[str, str | None]  # resolved markets only (None: 50-50)
    available_edge: dict[str, float] = field(default_factory=dict)
    epoch_ns: int | None = None  # recording CLOCK_MONOTONIC of scenario time 0

    def fair_token(self, token_id: str, t_s: float) -> float:
        """True fair value of one outcome token at scenario time ``t_s``."""
        market, index = self.token_market[token_id]
        fair = self.markets[market].at(t_s)
        return fair if index == 0 else 1.0 - fair

    def past_token_values(self, token_id: str, start_s: float, end_s: float) -> list[float]:
        """The token's true values in force at some moment of ``[start_s, end_s)``."""
        market, index = self.token_market[token_id]
        values = self.markets[market].values_between(start_s, end_s)
        return values if index == 0 else [1.0 - v for v in values]

    def scenario_s(self, t_ns: int) -> float:
        """Scenario seconds of a recording-clock time (needs :meth:`anchor` first)."""
        if self.epoch_ns is None:
            raise ValueError("ground truth is not anchored to the recording clock")
        return (t_ns - self.epoch_ns) / 1e9 * self.speed

    def anchor(self, messages: Iterable[RecordedMessage]) -> int:
        """Fix :attr:`epoch_ns` from the recording's ``market_resolved`` frames; return how
        many resolutions anchored it. Raises ValueError when none is in the recording."""
        offsets: list[float] = []
        for message in messages:
            if message.event_type != MARKET_WS or b"market_resolved" not in message.raw:
                continue
            for frame in _frames(message.raw):
                market = frame.get("market")
                if frame.get("event_type") == "market_resolved" and market in self.resolved_s:
                    step_s = _step_at_or_after(self.resolved_s[market], STEP_S)
                    offsets.append(message.t_recv_ns - step_s / self.speed * 1e9)
        if not offsets:
            raise ValueError("the recording has no market_resolved frame of the scenario's "
                             "markets; record until the matches resolve")
        self.epoch_ns = int(statistics.median(offsets))
        return len(offsets)

    def as_dict(self) -> dict[str, Any]:
        """The JSON-able summary written beside the evaluation."""
        return {"source": self.source, "hold_s": self.hold_s,
                "available_edge_usdc": {k: round(v, 6) for k, v in
                                        self.available_edge.items()},
                "markets": {m.market_id: {"changes": len(m.times_s),
                                          "winning_token": self.winning_token.get(m.market_id)}
                            for m in self.markets.values()}}


def _frames(raw: bytes) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    items = data if isinstance(data, list) else [data]
    return [item for item in items if isinstance(item, dict)]


def _step_at_or_after(t_s: float, step_s: float) -> float:
    steps = -(-round(t_s * 1e6) // round(step_s * 1e6))  # ceil on a µs grid, no float drift
    return round(steps * step_s, 6)


def from_json(data: dict[str, Any], speed: float, source: str) -> GroundTruth:
    """Build the scorer's truth from a ``specs/12`` §5 document; ValueError on another schema
    or a document without markets."""
    if data.get("schema") != SCHEMA:
        raise ValueError(f"ground truth schema {data.get('schema')!r}: expected {SCHEMA!r}")
    markets: dict[str, MarketTruth] = {}
    token_market: dict[str, tuple[str, int]] = {}
    resolved: dict[str, float] = {}
    winning: dict[str, str | None] = {}
    for market in data.get("markets") or []:
        market_id = str(market["condition_id"])
        pairs = market["fair"]
        markets[market_id] = MarketTruth(market_id, [float(t) for t, _ in pairs],
                                         [float(f) for _, f in pairs])
        for index, token in enumerate(market["token_ids"]):
            token_market[str(token)] = (market_id, index)
        if market.get("resolved_s") is not None:
            resolved[market_id] = float(market["resolved_s"])
            winning[market_id] = market.get("winning_token_id")
    if not markets:
        raise ValueError("ground truth has no markets")
    edge = {str(k): float(v) for k, v in (data.get("available_edge_usdc") or {}).items()}
    return GroundTruth(scenario=str(data.get("scenario")), seed=int(data.get("seed") or 0),
                       speed=speed, hold_s=float(data.get("hold_s") or 0.0), source=source,
                       markets=markets, token_market=token_market, resolved_s=resolved,
                       winning_token=winning, available_edge=edge)


def load(path: Path, speed: float) -> GroundTruth:
    """Read the simulator's ground-truth file (``polyloly sim --ground-truth``)."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the simulator's ground truth: {exc}") from None
    return from_json(data, speed, f"simulator run ({path.name})")


def from_scenario(scenario: Any, seed: int, speed: float) -> GroundTruth:
    """The truth rebuilt from the pure world core (same scenario + seed → the same run,
    except makers with inventory skew: see specs/12 §1)."""
    from sim.ground_truth import from_scenario as build
    from sim.ground_truth import to_json

    return from_json(to_json(build(scenario, seed)), speed, "sim.ground_truth.from_scenario")
