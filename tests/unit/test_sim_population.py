"""The agent population on the real venue core: a fast maker cancels its stale quotes within its
reaction time, during the 3 s sports hold, so an informed taker's held order then meets only its
new quotes; a slow maker's stale quotes are taken. Bad agent keys are refused at load."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sim.agents.market_maker import QuotePlan, apply_quote_plan
from sim.agents.takers import TakerOrder
from sim.scenario import (
    InformedTakerSettings,
    MarketMakerSettings,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from sim.venue.clock import ManualClock
from sim.venue.core import Venue
from sim.world import STEP_S, FairValueChange, WorldCore

INFORMED = "sim-informed-0"


def _scenario(maker: MarketMakerSettings) -> Scenario:
    base = load_scenario("demo_short")
    match = next(m for m in base.matches if m.match_id == "lol-demo")
    return replace(
        base, matches=(match,), markets=base.markets_for("lol-demo"),
        duration_s=match.end_s + base.resolution_delay_s + 1,
        market_maker=replace(base.market_maker, enabled=False),
        market_makers=(maker,),
        takers=replace(base.takers, enabled=False),
        informed_takers=(InformedTakerSettings(INFORMED, (0.25, 0.25), min_edge=0.01,
                                               max_size=100.0),))


def _play(scenario: Scenario, accepted: list[str] | None = None
          ) -> tuple[WorldCore, Venue, list[Any]]:
    """Run the pure world against the real venue core on a manual clock (speed 1)."""
    clock = ManualClock(start_wall_ms=1_767_225_600_000)
    venue = Venue(scenario.markets, clock, seed=1, default_collateral_usdc=1000,
                  matching_delay_s=scenario.matching_delay_s)
    trades: list[Any] = []
    venue.add_trade_listener(trades.append)
    core = WorldCore(scenario, seed=3, epoch_ms=0)
    now = 0.0
    while not core.done:
        now += STEP_S
        clock.advance(STEP_S)
        venue.poll()
        for action in core.advance(now):
            if isinstance(action, QuotePlan):
                apply_quote_plan(venue, action.owner, action)
            elif isinstance(action, TakerOrder):
                try:
                    order_id = venue.place_internal(action.owner, action.token_id, action.side,
                                                    action.price, action.size, action.order_type)
                except Exception:  # noqa: BLE001 - a FAK with nothing to cross is refused
                    continue
                if accepted is not None and action.owner == INFORMED:
                    accepted.append(order_id)
    return core, venue, trades


def _reprice_delays(core: WorldCore, owner: str) -> list[float]:
    events = [a for a in core.history if isinstance(a, FairValueChange)
              and a.event_kind != "match_end"]
    plans = [a for a in core.history if isinstance(a, QuotePlan) and a.owner == owner
             and a.reason == "reprice"]
    delays = []
    # an event that leaves the fair value unchanged cannot be told apart from the one before
    events = [e for k, e in enumerate(events) if k == 0 or e.fair_a != events[k - 1].fair_a]
    for event in events:  # noise 0: the plan pricing this event quotes exactly its fair value
        priced = [p.t_s for p in plans if p.t_s >= event.t_s
                  and abs(p.fair_a - event.fair_a) < 1e-12]
        if priced and 0.02 < event.fair_a < 0.98:
            delays.append(min(priced) - event.t_s)
    return delays


def test_fast_maker_cancels_within_its_reaction_and_the_held_taker_meets_its_new_quotes(
) -> None:
    fast = MarketMakerSettings(owner="mm-fast", reaction_s=(0.3, 1.5), levels=3,
                               level_size=60.0, half_spread=0.02, noise=0.0, refresh_s=3.0)
    accepted: list[str] = []
    core, venue, trades = _play(_scenario(fast), accepted)
    delays = _reprice_delays(core, "mm-fast")
    assert delays and max(delays) <= 1.5 + STEP_S  # reaction + one world step of granularity
    assert min(delays) >= 0.3
    # the informed taker's orders crossed the stale quotes when sent (accepted: held 3 s) ...
    assert accepted, "the informed taker saw stale quotes and the venue held its orders"
    for order_id in accepted:
        order = venue.order(order_id)
        assert order is not None
        # ... but at the match the fast maker had replaced them with quotes at the new fair
        # value, which its limit (fair − min_edge) does not reach: nothing filled
        assert order.size_matched_u == 0 and order.status.startswith("CANCELED")
    assert not [t for t in trades if t.owner == venue.agent_api_key(INFORMED)]
    # and the maker's quotes at that point are the new ones (posted after the last event)
    last_plan = max(a.t_s for a in core.history if isinstance(a, QuotePlan)
                    and a.owner == "mm-fast")
    assert last_plan > max(a.t_s for a in core.history if isinstance(a, TakerOrder))


def test_slow_maker_leaves_stale_quotes_the_informed_taker_takes() -> None:
    slow = MarketMakerSettings(owner="mm-slow", reaction_s=(6.0, 8.0), levels=3,
                               level_size=60.0, half_spread=0.02, noise=0.0, refresh_s=3.0)
    core, venue, trades = _play(_scenario(slow))
    assert min(_reprice_delays(core, "mm-slow")) >= 6.0
    taken = [t for t in trades if t.owner == venue.agent_api_key(INFORMED)]
    assert taken, "a 6-8 s maker's quotes are still there when the held order matches"


def test_a_refresh_never_reposts_over_an_event_the_maker_has_not_priced() -> None:
    slow = MarketMakerSettings(owner="mm-slow", reaction_s=(6.0, 6.0), refresh_s=1.0,
                               noise=0.0)
    core = WorldCore(_scenario(slow), seed=3, epoch_ms=0)
    core.run_all()
    events = [a.t_s for a in core.history if isinstance(a, FairValueChange)]
    refreshes = [a.t_s for a in core.history if isinstance(a, QuotePlan)
                 and a.reason == "refresh"]
    assert refreshes
    for t in refreshes:
        assert not any(e <= t < e + 6.0 for e in events), t


@pytest.mark.parametrize(("patch", "message"), [
    ({"market_makers": [{"owner": "x", "reaction_s": [0.0, 1.0]}]},
     "market_makers[0].reaction_s: an agent cannot react at or before the event"),
    ({"market_makers": [{"owner": "x", "reaction_s": [2.0, 1.0]}]},
     "market_makers[0].reaction_s: expected low <= high"),
    ({"market_makers": [{"owner": "x", "spread": 0.1}]},
     "market_makers[0].spread: unknown key"),
    ({"market_makers": [{"owner": "sim-market-maker"}]},
     "market_makers[0].owner: expected a unique agent name"),
    ({"informed_takers": [{"owner": "i", "reaction_s": [-1, 2]}]},
     "informed_takers[0].reaction_s: an agent cannot react at or before the event"),
    ({"informed_takers": [{"owner": "i"}]},
     "informed_takers[0].reaction_s: required key is missing"),
    ({"informed_takers": [{"owner": "sim-taker-0", "reaction_s": [1, 2]}]},
     "informed_takers[0].owner: expected a unique agent name"),
])
def test_bad_agent_keys_are_refused_with_their_key_path(patch: dict[str, Any],
                                                        message: str) -> None:
    import yaml

    from sim.scenario import scenario_path

    data = yaml.safe_load(scenario_path("demo_short").read_text())
    data.pop("market_makers", None)
    data.pop("informed_takers", None)
    data.update(patch)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(data)


def test_inventory_skew_moves_the_quotes_against_the_position() -> None:
    skewed = MarketMakerSettings(owner="mm", noise=0.0, inventory_skew=0.001)
    core = WorldCore(_scenario(skewed), seed=3, epoch_ms=0)
    first = core.advance(0.0)
    plan = next(a for a in first if isinstance(a, QuotePlan))
    core.on_fill("mm", plan.token_ids[0], "BUY", 20.0)  # the maker bought 20 team-A shares
    maker = core.market_makers[1]
    later = maker._plan(1.0, core.scenario.markets[0], "refresh")
    assert later.fair_a == pytest.approx(plan.fair_a - 0.02)
