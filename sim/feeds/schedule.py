"""The push feeds' message schedule: every WebSocket message of a scenario, with its time.

Pure and deterministic: jitter comes from ``random.Random`` seeded per (seed, provider,
match), so the schedule of one feed does not depend on the others or on the agents.
Outages: a push message due inside a ``silent`` or ``error`` outage is dropped (PandaScore,
Polymarket sports: the next snapshot carries the state) or held until the outage ends (GRID,
whose sequence numbers let clients detect and replay gaps). ``outage_start``/``outage_end``
control entries tell the shell when to drop sockets and refuse connections.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sim.feeds import grid, pandascore, polymarket_sports
from sim.feeds.context import FeedContext
from sim.scenario import MatchSpec, Outage

MESSAGE = "message"
CLOSE = "close"
OUTAGE_START = "outage_start"
OUTAGE_END = "outage_end"
ALL_CHANNELS = "*"


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One push-feed action at scenario time ``t_s`` on ``provider``/``channel``."""

    t_s: float
    provider: str
    channel: str
    kind: str
    payload: Any = None
    match_id: str = ""
    sequence: int = 0


def _rng(seed: int, provider: str, match: MatchSpec) -> random.Random:
    return random.Random(f"{seed}:{provider}:{match.match_id}")


def _jitter(rng: random.Random, jitter_s: float) -> float:
    return rng.uniform(0.0, jitter_s) if jitter_s > 0 else 0.0


def _grid(ctx: FeedContext, match: MatchSpec, seed: int) -> list[FeedMessage]:
    settings = match.provider(grid.PROVIDER)
    timeline = ctx.timelines[grid.PROVIDER][match.match_id]
    rng = _rng(seed, grid.PROVIDER, match)
    out: list[FeedMessage] = []
    sequence = 0
    last_published = 0.0
    for index, event in enumerate(timeline.events):
        events = grid.events_for(ctx, match, event, timeline.state_after(index), index)
        jitter = _jitter(rng, settings.jitter_s)
        if not events:
            continue
        sequence += 1
        occurred = match.start_s + event.t_s
        # Sequence numbers follow publication order: jitter never reorders a series.
        published = max(occurred + settings.delay_s + jitter, last_published)
        outage = settings.outage_at(published)
        if outage is not None:
            published = outage.end_s
        last_published = published
        payload = grid.envelope(ctx, match, events, sequence, occurred, published)
        out.append(FeedMessage(published, grid.PROVIDER, match.provider_ids.grid_series_id,
                               MESSAGE, payload, match.match_id, sequence))
    return out


def _pandascore(ctx: FeedContext, match: MatchSpec, seed: int) -> list[FeedMessage]:
    settings = match.provider(pandascore.PROVIDER)
    timeline = ctx.timelines[pandascore.PROVIDER][match.match_id]
    rng = _rng(seed, pandascore.PROVIDER, match)
    out: list[FeedMessage] = []
    frames = pandascore.frames_channel(match)
    cadence = settings.cadence_s or 2.0
    k = 0
    while True:
        t = match.start_s + k * cadence
        k += 1
        view_t = t - settings.delay_s - match.start_s
        state = timeline.state_at(view_t)
        if state.map_number == 0:
            if view_t > timeline.end_s:
                break
            continue
        if settings.outage_at(t) is None:
            out.append(FeedMessage(t, pandascore.PROVIDER, frames, MESSAGE,
                                   pandascore.frame(ctx, match, state, view_t), match.match_id))
        if pandascore.is_finished(state):
            out.append(FeedMessage(t, pandascore.PROVIDER, frames, CLOSE, None,
                                   match.match_id))
            break
    events = pandascore.events_channel(match)
    last_t = match.start_s
    for index, event in enumerate(timeline.events):
        jitter = _jitter(rng, settings.jitter_s)
        t = match.start_s + event.t_s + settings.delay_s + jitter
        last_t = max(last_t, t)
        if settings.outage_at(t) is not None:
            continue
        wall = ctx.wall_ms(match.start_s + event.t_s)
        payload = pandascore.event(ctx, match, event, timeline.state_after(index), wall, index)
        if payload is not None:
            out.append(FeedMessage(t, pandascore.PROVIDER, events, MESSAGE, payload,
                                   match.match_id))
    out.append(FeedMessage(last_t, pandascore.PROVIDER, events, CLOSE, None, match.match_id))
    return out


_SPORTS_KINDS = ("map_start", "round_end", "map_end", "match_end")


def _polymarket_sports(ctx: FeedContext, match: MatchSpec, seed: int) -> list[FeedMessage]:
    provider = polymarket_sports.PROVIDER
    settings = match.provider(provider)
    timeline = ctx.timelines[provider][match.match_id]
    rng = _rng(seed, provider, match)
    out: list[FeedMessage] = []
    for index, event in enumerate(timeline.events):
        jitter = _jitter(rng, settings.jitter_s)
        if event.kind not in _SPORTS_KINDS:
            continue
        t = match.start_s + event.t_s + settings.delay_s + jitter
        if settings.outage_at(t) is not None:
            continue
        payload = polymarket_sports.sport_result(ctx, match, timeline.state_after(index), t)
        out.append(FeedMessage(t, provider, polymarket_sports.CHANNEL, MESSAGE, payload,
                               match.match_id))
    return out


def _outage_controls(ctx: FeedContext) -> list[FeedMessage]:
    out: list[FeedMessage] = []
    seen: set[tuple[str, str, Outage]] = set()
    for provider in ctx.timelines:
        for outage in ctx.scenario.providers[provider].outages:
            seen.add((provider, ALL_CHANNELS, outage))
        for match in ctx.matches_for(provider):
            for outage in match.provider(provider).outages:
                if (provider, ALL_CHANNELS, outage) not in seen:
                    seen.add((provider, match.match_id, outage))
    for provider, scope, outage in sorted(seen, key=lambda x: (x[2].start_s, x[0], x[1])):
        info = {"mode": outage.mode, "start_s": outage.start_s, "end_s": outage.end_s}
        out.append(FeedMessage(outage.start_s, provider, scope, OUTAGE_START, info, scope))
        out.append(FeedMessage(outage.end_s, provider, scope, OUTAGE_END, info, scope))
    return out


def push_schedule(ctx: FeedContext, seed: int) -> list[FeedMessage]:
    """Return every push-feed action of the scenario, sorted by time (stable)."""
    out: list[FeedMessage] = []
    builders = ((grid.PROVIDER, _grid), (pandascore.PROVIDER, _pandascore),
                (polymarket_sports.PROVIDER, _polymarket_sports))
    for provider, build in builders:
        for match in ctx.matches_for(provider):
            out.extend(build(ctx, match, seed))
    out.extend(_outage_controls(ctx))
    order = {name: i for i, name in enumerate(ctx.timelines)}
    out.sort(key=lambda m: (m.t_s, order[m.provider]))
    return out
