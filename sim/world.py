"""The simulated world around the local venue: scenario clock, esports feeds, agents.

``WorldCore`` is pure and deterministic: it advances the scenario in fixed steps of
``STEP_S`` and returns the actions due — push-feed messages, market-maker quote plans, taker
orders, market resolutions — from the scenario, a seed and an injected clock mapping
(``epoch_ms``, ``speed``). Same scenario + seed + epoch → the same action sequence, whatever
the shell's timing. ``start_world`` is the thin asyncio shell: it starts one aiohttp server per
provider on a free port, drives the core from the event loop and executes its actions on the
venue and the feed sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.agents.fair_value import live_series_probability, map_probability, series_win_probability
from sim.agents.market_maker import MarketMakerCore, QuotePlan, apply_quote_plan
from sim.agents.takers import InformedTakerCore, TakerCore, TakerOrder
from sim.agents.venue_protocol import VenueProtocol
from sim.feeds import grid, liquipedia, lolesports, opendota, pandascore, polymarket_sports
from sim.feeds.context import FeedContext
from sim.feeds.schedule import (
    ALL_CHANNELS,
    CLOSE,
    MESSAGE,
    OUTAGE_START,
    FeedMessage,
    push_schedule,
)
from sim.feeds.server import Broadcaster, FeedServer
from sim.feeds.truth import BETWEEN_MAPS, FINISHED, LIVE, MatchState
from sim.scenario import MAP_WINNER, MarketSpec, MatchSpec, NegRiskEvent, Scenario

log = logging.getLogger("sim.world")

STEP_S = 0.25


@dataclass(frozen=True, slots=True)
class ResolveAction:
    """Resolve ``condition_id`` in favour of ``winning_token_id`` at ``t_s``."""

    t_s: float
    condition_id: str
    winning_token_id: str | None


@dataclass(frozen=True, slots=True)
class FairValueChange:
    """The true fair value of a match changed (recorded for logs and tests). ``key`` names what
    changed when it is not the series: a map winner market's ``match#mapN`` or a neg-risk
    outcome's ``event#outcome`` (``MarketSpec.fair_key``); ``fair_a`` is then P(outcome 0) of
    that market."""

    t_s: float
    match_id: str
    fair_a: float
    event_kind: str
    key: str = ""

    @property
    def fair_key(self) -> str:
        return self.key or self.match_id


WorldAction = FeedMessage | QuotePlan | TakerOrder | ResolveAction | FairValueChange


def fair_value(match: MatchSpec, state: MatchState, match_t_s: float) -> float:
    """Return P(team A wins the series) for ``state`` with the ESPORTS §6 models."""
    needed = match.best_of // 2 + 1
    need_a, need_b = needed - state.wins_a, needed - state.wins_b
    prior = match.prior_map_prob
    if state.phase == FINISHED or need_a <= 0 or need_b <= 0:
        return 1.0 if (state.series_winner == "A" or need_a <= 0) else 0.0
    if state.phase == LIVE:
        minutes = state.game_seconds(match_t_s, match.game_clock_scale) / 60
        current = map_probability(match.game, prior_map_prob=prior, gold_lead=state.gold_diff,
                                  game_minutes=minutes, rounds_a=state.rounds_a,
                                  rounds_b=state.rounds_b)
        return live_series_probability(need_a, need_b, current, prior)
    if state.phase == BETWEEN_MAPS:
        return series_win_probability(need_a, need_b, prior)
    return series_win_probability(need_a, need_b, prior)


def map_fair_value(match: MatchSpec, state: MatchState, match_t_s: float,
                   map_number: int) -> float:
    """P(team A wins map ``map_number``): 1/0 once that map ended, the ESPORTS §6 map model
    while it is live, the pre-map prior before it, 0.5 when the series ended without it (the
    market resolves 50-50)."""
    if len(state.map_winners) >= map_number:
        return 1.0 if state.map_winners[map_number - 1] == "A" else 0.0
    if state.phase == FINISHED:
        return 0.5
    if state.phase == LIVE and state.map_number == map_number:
        minutes = state.game_seconds(match_t_s, match.game_clock_scale) / 60
        return map_probability(match.game, prior_map_prob=match.prior_map_prob,
                               gold_lead=state.gold_diff, game_minutes=minutes,
                               rounds_a=state.rounds_a, rounds_b=state.rounds_b)
    return match.prior_map_prob


def initial_fairs(scenario: Scenario) -> dict[str, float]:
    """Every fair key's value at t = 0 (``MarketSpec.fair_key``)."""
    out = {m.match_id: fair_value(m, MatchState(), 0.0) for m in scenario.matches}
    for market in scenario.markets:
        if market.market_type == MAP_WINNER:
            match = scenario.match(market.match_id)
            out[market.fair_key] = map_fair_value(match, MatchState(), 0.0, market.map_number)
    for event in scenario.neg_risk_events:
        for market, fair in zip(_event_markets(scenario, event), event.fairs(frozenset()),
                                strict=True):
            out[market.fair_key] = fair
    return out


def _event_markets(scenario: Scenario, event: NegRiskEvent) -> list[MarketSpec]:
    by_id = {m.condition_id: m for m in scenario.markets}
    return [by_id[cid] for cid in event.condition_ids]


class WorldCore:
    """Pure, deterministic world: call ``advance(t_s)`` with non-decreasing scenario times."""

    def __init__(self, scenario: Scenario, seed: int | None = None, speed: float = 1.0,
                 epoch_ms: int = 1_767_225_600_000) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.context = FeedContext(scenario, speed, epoch_ms)
        self._feed = push_schedule(self.context, self.seed)
        self._feed_index = 0
        self.rng = random.Random(f"world:{self.seed}")
        initial = initial_fairs(scenario)
        # the legacy ``market_maker`` keeps its historical random stream ("mm:SEED")
        self.market_maker = MarketMakerCore(scenario.market_maker, scenario.markets, initial,
                                            random.Random(f"mm:{self.seed}"))
        self.market_makers = [self.market_maker] + [
            MarketMakerCore(settings, scenario.markets, initial,
                            random.Random(f"mm:{self.seed}:{settings.owner}"))
            for settings in scenario.market_makers]
        self._makers_by_owner = {m.settings.owner: m for m in self.market_makers}
        # noise takers price off a maker's view: the legacy maker, else the first other one
        enabled = [m for m in self.market_makers if m.settings.enabled]
        self.reference_maker = enabled[0] if enabled else self.market_maker
        self.takers = TakerCore(scenario.takers, self.reference_maker.settings, scenario.markets,
                                random.Random(f"takers:{self.seed}"))
        self.informed = InformedTakerCore(scenario.informed_takers, scenario.markets, self.seed,
                                          scenario.complementary_matching)
        # each maker's quotes resting per market, as the world placed them (fills ignored)
        self.resting: dict[tuple[str, str], QuotePlan] = {}
        # every non-feed action returned so far: the run's record for sim.ground_truth
        self.history: list[WorldAction] = []
        self._truth_cursor = {m.match_id: -1 for m in scenario.matches}
        self._map_markets = {m.match_id: [k for k in scenario.markets_for(m.match_id)
                                          if k.market_type == MAP_WINNER]
                             for m in scenario.matches}
        # neg-risk events: teams out so far, and whether the event is over
        self._eliminated = {e.event_id: frozenset[str]() for e in scenario.neg_risk_events}
        self._events_over: set[str] = set()
        self._resolved: set[str] = set()
        self._step = 0
        self.t_s = 0.0
        self.done = False

    def _truth_events(self, t_s: float) -> list[FairValueChange]:
        changes: list[FairValueChange] = []
        for match in self.scenario.matches:
            timeline = self.context.truth[match.match_id]
            cursor = self._truth_cursor[match.match_id]
            while cursor + 1 < len(timeline.events):
                event = timeline.events[cursor + 1]
                event_t = match.start_s + event.t_s
                if event_t > t_s:
                    break
                cursor += 1
                state = timeline.state_after(cursor)
                fair = fair_value(match, state, event.t_s)
                final = event.kind == "match_end"
                # one observation per event: the series, then every map winner market of it
                seen = [(match.match_id, fair, final)]
                by_market = {m.condition_id: fair for m in self.scenario.markets_for(
                    match.match_id) if m.market_type != MAP_WINNER}
                for market in self._map_markets[match.match_id]:
                    map_fair = map_fair_value(match, state, event.t_s, market.map_number)
                    over = final or len(state.map_winners) >= market.map_number
                    seen.append((market.fair_key, map_fair, over))
                    by_market[market.condition_id] = map_fair
                for maker in self.market_makers:
                    maker.observe_all(event_t, seen)
                self.informed.observe(event_t, by_market)
                changes.append(FairValueChange(event_t, match.match_id, fair, event.kind))
                changes += [FairValueChange(event_t, match.match_id, value, event.kind, key)
                            for key, value, _ in seen[1:]]
                if final:
                    changes += self._eliminate(event_t, match)
            self._truth_cursor[match.match_id] = cursor
        for group in self.scenario.neg_risk_events:
            if group.event_id not in self._events_over and group.resolve_s <= t_s:
                self._events_over.add(group.event_id)
                values = tuple(1.0 if o == group.winner else 0.0 for o in group.outcomes)
                changes += self._event_fairs(group.resolve_s, group, values, "event_end", True)
        return changes

    def _eliminate(self, t_s: float, match: MatchSpec) -> list[FairValueChange]:
        """A linked match ended: its loser is out of every neg-risk event it is linked to."""
        changes: list[FairValueChange] = []
        loser = match.teams[1 if match.winner == "A" else 0]
        for event in self.scenario.neg_risk_events:
            if match.match_id not in event.matches or event.event_id in self._events_over:
                continue
            out = self._eliminated[event.event_id] | {loser}
            self._eliminated[event.event_id] = out
            changes += self._event_fairs(t_s, event, event.fairs(out), "eliminated", False)
        return changes

    def _event_fairs(self, t_s: float, event: NegRiskEvent, values: tuple[float, ...],
                     kind: str, final: bool) -> list[FairValueChange]:
        markets = _event_markets(self.scenario, event)
        seen = [(m.fair_key, v, final) for m, v in zip(markets, values, strict=True)]
        for maker in self.market_makers:
            maker.observe_all(t_s, seen)
        self.informed.observe(t_s, {m.condition_id: v
                                    for m, v in zip(markets, values, strict=True)})
        return [FairValueChange(t_s, "", v, kind, m.fair_key)
                for m, v in zip(markets, values, strict=True)]

    def _resolutions(self, t_s: float) -> list[ResolveAction]:
        out = []
        for market in self.scenario.markets:
            if market.condition_id in self._resolved:
                continue
            due, winner = resolution_of(self.scenario, market)
            if due + self.scenario.resolution_delay_s <= t_s:
                self._resolved.add(market.condition_id)
                out.append(ResolveAction(due + self.scenario.resolution_delay_s,
                                         market.condition_id, winner))
        return out

    def _excluded(self, t_s: float) -> set[str]:
        excluded = set(self.reference_maker.finished)
        for match in self.scenario.matches:
            if self.reference_maker.active_mispricing(match.match_id, t_s) is not None:
                excluded.add(match.match_id)
        return excluded

    def on_fill(self, owner: str, token_id: str, side: str, shares: float) -> None:
        """A maker's quote was filled on the venue (drives its inventory skew)."""
        maker = self._makers_by_owner.get(owner)
        if maker is not None:
            maker.on_fill(token_id, side, shares)

    def advance(self, t_s: float) -> list[WorldAction]:
        """Run every step up to scenario time ``t_s``; return the actions, in order."""
        actions: list[WorldAction] = []
        end = self.scenario.duration_s
        while not self.done:
            step_t = round(self._step * STEP_S, 6)
            if step_t > t_s:
                break
            self._step += 1
            self.t_s = step_t
            while (self._feed_index < len(self._feed)
                   and self._feed[self._feed_index].t_s <= step_t):
                actions.append(self._feed[self._feed_index])
                self._feed_index += 1
            start = len(actions)
            actions.extend(self._truth_events(step_t))
            for maker in self.market_makers:
                for plan in maker.step(step_t):
                    self.resting[(plan.owner, plan.condition_id)] = plan
                    actions.append(plan)
            actions.extend(self.informed.step(step_t, self.resting))
            if step_t > 0:
                actions.extend(self.takers.step(step_t, STEP_S, self.reference_maker.believed,
                                                self._excluded(step_t)))
            actions.extend(self._resolutions(step_t))
            self.history.extend(actions[start:])
            if step_t >= end:
                actions.extend(self._feed[self._feed_index:])
                self._feed_index = len(self._feed)
                self.done = True
        return actions

    def run_all(self) -> list[WorldAction]:
        """Advance to the end of the scenario and return every action (tests, replays)."""
        return self.advance(self.scenario.duration_s)


def resolution_of(scenario: Scenario, market: MarketSpec) -> tuple[float, str | None]:
    """When (scenario time, before ``resolution_delay_s``) and to which token ``market``
    resolves (None: 50-50). Series: at the match end, to its winner. Map winner: at the end of
    its map, to that map's winner; 50-50 at the match end when the series ended without it.
    Neg-risk outcome: at the event's ``resolve_s``, Yes for the winner, No for the others."""
    if market.event_id:
        event = scenario.event(market.event_id)
        won = market.group_item_title == event.winner
        return event.resolve_s, market.token_ids[0 if won else 1]
    match = scenario.match(market.match_id)
    if market.market_type == MAP_WINNER:
        ends = [e for e in match.timeline if e.kind == "map_end"]
        if len(ends) >= market.map_number:
            end = ends[market.map_number - 1]
            return match.start_s + end.t_s, market.token_ids[0 if end.team == "A" else 1]
        return match.end_s, None
    return match.end_s, market.token_ids[0 if match.winner == "A" else 1]


def action_record(action: WorldAction) -> tuple[Any, ...]:
    """Return a comparable, printable record of an action (for logs and determinism tests)."""
    if isinstance(action, FeedMessage):
        return ("feed", action.t_s, action.provider, action.channel, action.kind,
                repr(action.payload))
    if isinstance(action, QuotePlan):
        return ("quotes", action.t_s, action.condition_id, action.reason,
                round(action.fair_a, 9), action.quotes, action.owner)
    if isinstance(action, TakerOrder):
        return ("taker", action.t_s, action.owner, action.token_id, action.side,
                action.price, action.size)
    if isinstance(action, ResolveAction):
        return ("resolve", action.t_s, action.condition_id, action.winning_token_id)
    return ("fair", action.t_s, action.fair_key, round(action.fair_a, 9), action.event_kind)


@dataclass
class WorldStats:
    """Counters of what the world did (for logs and tests)."""

    feed_messages: int = 0
    quote_plans: int = 0
    orders_placed: int = 0
    orders_refused: int = 0
    taker_orders: int = 0
    resolutions: int = 0
    trades: int = 0
    by_provider: dict[str, int] = field(default_factory=dict)


class World:
    """The running world: feed servers plus the task driving the core."""

    def __init__(self, core: WorldCore, venue: VenueProtocol, servers: dict[str, FeedServer],
                 hubs: dict[str, Broadcaster], history: grid.GridHistory, speed: float,
                 origin: float) -> None:
        self.core = core
        self.venue = venue
        self.servers = servers
        self.hubs = hubs
        self.history = history
        self.speed = speed
        self.origin = origin
        self.endpoints: dict[str, str] = {}
        self.stats = WorldStats()
        self.listeners: list[Callable[[WorldAction], None]] = []
        self._orders: dict[str, list[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()
        self._warned_crossed = False

    @property
    def scenario(self) -> Scenario:
        """The scenario being played."""
        return self.core.scenario

    def now_s(self) -> float:
        """Return the current scenario time."""
        return (time.monotonic() - self.origin) * self.speed

    def is_down(self, provider: str) -> Callable[[MatchSpec | None], bool]:
        """Return a predicate: is ``provider`` in an error outage now (for a match)?"""
        def check(match: MatchSpec | None) -> bool:
            outage = self.core.context.outage(provider, match, self.now_s())
            return outage is not None and outage.mode == "error"
        return check

    async def _run(self) -> None:
        try:
            while not self.core.done:
                for action in self.core.advance(self.now_s()):
                    try:
                        await self._execute(action)
                    except Exception:  # one failed action must not stop the world
                        log.exception("world action failed: %s", action_record(action)[:3])
                await asyncio.sleep(STEP_S / self.speed / 2)
        finally:
            self.finished.set()

    async def _execute(self, action: WorldAction) -> None:
        for listener in self.listeners:
            listener(action)
        if isinstance(action, FeedMessage):
            await self._feed(action)
        elif isinstance(action, QuotePlan):
            self._apply_plan(action)
        elif isinstance(action, TakerOrder):
            self.stats.taker_orders += 1
            self._place(action.owner, action.token_id, action.side, action.price, action.size,
                        action.order_type)
        elif isinstance(action, ResolveAction):
            self.stats.resolutions += 1
            try:
                self.venue.resolve_market(action.condition_id, action.winning_token_id)
            except Exception as exc:  # the venue refuses: log, keep the world running
                log.warning("resolve_market %s failed: %s", action.condition_id, exc)

    def _place(self, owner: str, token_id: str, side: str, price: float, size: float,
               order_type: str = "GTC") -> str | None:
        try:
            order_id = self.venue.place_internal(owner, token_id, side, price, size, order_type)
        except Exception as exc:  # refused orders are part of life on a venue
            self.stats.orders_refused += 1
            log.debug("order refused (%s %s %s@%s): %s", owner, side, size, price, exc)
            return None
        self.stats.orders_placed += 1
        return order_id

    def _apply_plan(self, plan: QuotePlan) -> None:
        self.stats.quote_plans += 1
        placed, refused = apply_quote_plan(self.venue, plan.owner, plan)
        self.stats.orders_placed += placed
        self.stats.orders_refused += refused
        if plan.reason == "mispricing" and not self._warned_crossed:
            self._check_mispricing(plan)

    def _check_mispricing(self, plan: QuotePlan) -> None:
        try:
            asks = [self.venue.book(token_id)[1] for token_id in plan.token_ids]
        except Exception:
            return
        if all(asks) and asks[0][0][0] + asks[1][0][0] >= 1.0:
            self._warned_crossed = True
            log.warning("the venue matches complementary orders (one book per market), so "
                        "the pair mispricing on %s cannot rest: best asks sum to %.3f",
                        plan.condition_id, asks[0][0][0] + asks[1][0][0])

    async def _feed(self, message: FeedMessage) -> None:
        self.stats.feed_messages += 1
        hub = self.hubs.get(message.provider)
        self.stats.by_provider[message.provider] = (
            self.stats.by_provider.get(message.provider, 0) + 1)
        if message.kind == MESSAGE:
            if message.provider == grid.PROVIDER:
                self.history.add(message.channel, message.sequence, message.payload)
            if hub is not None:
                hub.publish(message.channel, message.payload)
        elif message.kind == CLOSE and hub is not None:
            hub.close_channel(message.channel)
        elif (message.kind == OUTAGE_START and hub is not None
              and message.payload["mode"] == "error"):
            await self._drop(message.provider, hub, message.channel)

    async def _drop(self, provider: str, hub: Broadcaster, scope: str) -> None:
        if scope == ALL_CHANNELS:
            await hub.drop_all()
            return
        match = self.scenario.match(scope)
        channels = {grid.PROVIDER: [match.provider_ids.grid_series_id],
                    pandascore.PROVIDER: [pandascore.frames_channel(match),
                                          pandascore.events_channel(match)]}.get(provider, [])
        for channel in channels:
            for subscriber in list(hub.channels.get(channel, ())):
                await subscriber.socket.close(code=1011, message=b"provider outage")

    def _on_trade(self, trade: Any) -> None:
        self.stats.trades += 1
        for fill in getattr(trade, "maker_orders", ()):
            self.core.on_fill(fill.owner, fill.asset_id, fill.side, fill.matched_amount_u / 1e6)

    async def wait_finished(self, timeout_s: float | None = None) -> None:
        """Wait until the scenario has played to its end."""
        await asyncio.wait_for(self.finished.wait(), timeout_s)

    async def stop(self) -> None:
        """Stop the driving task and every feed server."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for hub in self.hubs.values():
            await hub.drop_all(code=1001)
        for server in self.servers.values():
            await server.stop()


def market_of(scenario: Scenario, token_id: str) -> MarketSpec | None:
    """Return the market listing ``token_id``."""
    for market in scenario.markets:
        if token_id in market.token_ids:
            return market
    return None


async def start_world(scenario: Scenario, venue: VenueProtocol, host: str = "127.0.0.1",
                      speed: float = 1.0, seed: int | None = None) -> World:
    """Start the feed servers and the world loop; return the running ``World``.

    ``World.endpoints`` maps provider names to URLs: ``http://host:port`` bases for grid,
    lolesports, opendota and liquipedia; ``ws://host:port`` for pandascore (socket base,
    ``/lives`` is on the same port over http); ``ws://host:port/ws`` for polymarket_sports.
    Call ``await world.stop()`` when done.
    """
    epoch_ms = time.time_ns() // 1_000_000
    origin = time.monotonic()
    core = WorldCore(scenario, seed=seed, speed=speed, epoch_ms=epoch_ms)
    hubs = {name: Broadcaster() for name in
            (grid.PROVIDER, pandascore.PROVIDER, polymarket_sports.PROVIDER)}
    history = grid.GridHistory()
    world = World(core, venue, {}, hubs, history, speed, origin)
    ctx = core.context
    now = world.now_s
    apps = {
        opendota.PROVIDER: opendota.create_app(ctx, now),
        lolesports.PROVIDER: lolesports.create_app(ctx, now),
        liquipedia.PROVIDER: liquipedia.create_app(ctx, now),
        pandascore.PROVIDER: pandascore.create_app(ctx, now, hubs[pandascore.PROVIDER],
                                                   world.is_down(pandascore.PROVIDER)),
        grid.PROVIDER: grid.create_app(ctx, now, hubs[grid.PROVIDER], history,
                                       world.is_down(grid.PROVIDER)),
        polymarket_sports.PROVIDER: polymarket_sports.create_app(
            hubs[polymarket_sports.PROVIDER], world.is_down(polymarket_sports.PROVIDER)),
    }
    try:
        for name, app in apps.items():
            server = FeedServer(name, app, host)
            world.servers[name] = server
            world.endpoints[name] = await server.start()
        # WebSocket-only providers are given as socket URLs, like their real hosts
        # (wss://sports-api.polymarket.com/ws, wss://live.pandascore.co).
        world.endpoints[polymarket_sports.PROVIDER] = (
            world.servers[polymarket_sports.PROVIDER].url.replace("http://", "ws://") + "/ws")
        world.endpoints[pandascore.PROVIDER] = (
            world.servers[pandascore.PROVIDER].url.replace("http://", "ws://"))
    except BaseException:
        await world.stop()
        raise
    with contextlib.suppress(Exception):
        venue.add_trade_listener(world._on_trade)
    world._task = asyncio.ensure_future(world._run())
    log.info("world started: scenario=%s speed=%s endpoints=%s", scenario.name, speed,
             world.endpoints)
    return world
