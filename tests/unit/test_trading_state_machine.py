"""Trading Engine: the whole transition table and the allowed-actions table."""

from __future__ import annotations

import itertools

import pytest

from polyloly.domain import TradingAction, TradingState
from polyloly.fsm import InvalidTransition
from shards.trading import ALLOWED_ACTIONS, TRADING_TRANSITIONS, MarketTrading, TradingTrigger

S, G = TradingState, TradingTrigger
EXPECTED = {
    (S.IDLE, G.PAIR_OPPORTUNITY): S.BUILDING_PAIR,
    (S.IDLE, G.TEMPORAL_SIGNAL): S.TEMPORAL_ACTIVE,
    (S.IDLE, G.TRUTH_FINAL): S.FINALIZING,
    (S.BUILDING_PAIR, G.PAIR_LOCKED): S.LOCKED_PAIR,
    (S.BUILDING_PAIR, G.PAIR_ABANDONED): S.IDLE,
    (S.BUILDING_PAIR, G.TRUTH_FINAL): S.FINALIZING,
    (S.BUILDING_PAIR, G.TEMPORAL_SIGNAL): S.TEMPORAL_ACTIVE,
    (S.LOCKED_PAIR, G.PAIR_OPPORTUNITY): S.BUILDING_PAIR,
    (S.LOCKED_PAIR, G.TEMPORAL_SIGNAL): S.TEMPORAL_ACTIVE,
    (S.LOCKED_PAIR, G.TRUTH_FINAL): S.FINALIZING,
    (S.TEMPORAL_ACTIVE, G.SIGNAL_EXPIRED): S.LOCKED_PAIR,
    (S.TEMPORAL_ACTIVE, G.SIGNAL_EXPIRED_FLAT): S.IDLE,
    (S.TEMPORAL_ACTIVE, G.TRUTH_FINAL): S.FINALIZING,
    (S.HALT, G.RISK_RELEASE): S.IDLE,
    **{(state, G.RISK_HALT): S.HALT for state in TradingState if state is not S.RESOLVED},
    **{(state, G.VENUE_RESOLVED): S.RESOLVED for state in TradingState
       if state is not S.RESOLVED},
}

ACTIONS = {
    S.IDLE: {TradingAction.WATCH, TradingAction.QUOTE, TradingAction.REPLACE,
             TradingAction.CANCEL},
    S.BUILDING_PAIR: {TradingAction.BUY_YES, TradingAction.BUY_NO, TradingAction.CANCEL,
                      TradingAction.QUOTE, TradingAction.REPLACE},
    S.LOCKED_PAIR: {TradingAction.WATCH, TradingAction.QUOTE, TradingAction.REPLACE,
                    TradingAction.CANCEL},
    S.TEMPORAL_ACTIVE: {TradingAction.BUY_WINNER, TradingAction.CANCEL},
    S.FINALIZING: {TradingAction.CANCEL_ALL},
    S.RESOLVED: set(),
    S.HALT: {TradingAction.CANCEL_ALL},
}


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(S, G)))
def test_trading_table_every_state_and_trigger_pair(state: S, trigger: G) -> None:
    market = MarketTrading("m")
    market.restore(state)
    if (state, trigger) in EXPECTED:
        assert market.trigger(trigger) is EXPECTED[(state, trigger)]
    else:
        assert not market.can(trigger)
        with pytest.raises(InvalidTransition):
            market.trigger(trigger)
        assert market.state is state


def test_trading_table_is_exactly_the_specified_table() -> None:
    assert TRADING_TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("state", "action"), list(itertools.product(S, TradingAction)))
def test_trading_allowed_actions_every_state_and_action(state: S, action: TradingAction) -> None:
    market = MarketTrading("m")
    market.restore(state)
    assert market.allows(action) is (action in ACTIONS[state])
    assert ALLOWED_ACTIONS[state] == frozenset(ACTIONS[state])


def test_trading_every_state_is_reachable_from_idle() -> None:
    reached = {S.IDLE}
    frontier = [S.IDLE]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRADING_TRANSITIONS.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(S)
