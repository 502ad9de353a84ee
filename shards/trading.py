"""Trading Engine (SPEC §4.2): one market's execution state and the actions it allows.

The state machine is the table :data:`TRADING_TRANSITIONS`; :data:`ALLOWED_ACTIONS` is the
SPEC §4.2 allowed-actions table. :meth:`MarketTrading.allows` is checked by the core before any
intent is built: an action the current state does not allow is refused there and never sent.
See specs/03_TRADING_STATE_MACHINE_SPEC.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from polyloly.domain import TradingAction, TradingState
from polyloly.fsm import StateMachine


class TradingTrigger(StrEnum):
    """What moves a market's Trading Engine state."""

    PAIR_OPPORTUNITY = "pair_opportunity"  # profitable pair found: start (or add to) a pair
    PAIR_LOCKED = "pair_locked"  # pair orders done, legs balanced, both held
    PAIR_ABANDONED = "pair_abandoned"  # pair orders done, nothing held
    TEMPORAL_SIGNAL = "temporal_signal"  # a temporal edge to trade
    SIGNAL_EXPIRED = "signal_expired"  # temporal orders done, edge gone; a position is held
    SIGNAL_EXPIRED_FLAT = "signal_expired_flat"  # same, nothing held
    TRUTH_FINAL = "truth_final"  # truth FINAL and no temporal window open
    VENUE_RESOLVED = "venue_resolved"  # the venue resolved the market (MarketResolved)
    RISK_HALT = "risk_halt"  # engine halted the market / kill switch / truth conflict
    RISK_RELEASE = "risk_release"  # the engine released the halt


_I, _B, _L, _T, _F, _R, _H = (
    TradingState.IDLE,
    TradingState.BUILDING_PAIR,
    TradingState.LOCKED_PAIR,
    TradingState.TEMPORAL_ACTIVE,
    TradingState.FINALIZING,
    TradingState.RESOLVED,
    TradingState.HALT,
)
_G = TradingTrigger

TRADING_TRANSITIONS: Final[dict[tuple[TradingState, TradingTrigger], TradingState]] = {
    (_I, _G.PAIR_OPPORTUNITY): _B,
    (_I, _G.TEMPORAL_SIGNAL): _T,
    (_I, _G.TRUTH_FINAL): _F,
    (_B, _G.PAIR_LOCKED): _L,
    (_B, _G.PAIR_ABANDONED): _I,
    (_B, _G.TRUTH_FINAL): _F,
    (_B, _G.TEMPORAL_SIGNAL): _T,  # a truth edge outranks a pair being built (issue 17)
    (_L, _G.PAIR_OPPORTUNITY): _B,  # add a further pair, within max_position_usdc
    (_L, _G.TEMPORAL_SIGNAL): _T,
    (_L, _G.TRUTH_FINAL): _F,
    (_T, _G.SIGNAL_EXPIRED): _L,
    (_T, _G.SIGNAL_EXPIRED_FLAT): _I,
    (_T, _G.TRUTH_FINAL): _F,
    # any state but RESOLVED → HALT on a risk trigger (SPEC §4.2), including HALT itself
    **{(state, _G.RISK_HALT): _H for state in TradingState if state is not _R},
    (_H, _G.RISK_RELEASE): _I,
    # the venue's resolution ends trading from every state: RESOLVED is terminal
    **{(state, _G.VENUE_RESOLVED): _R for state in TradingState if state is not _R},
}

_A = TradingAction
# Maker quoting (issue 17) posts, replaces and cancels its post-only quotes while no taker
# strategy owns the market: IDLE, BUILDING_PAIR (its resting bids are quotes) and LOCKED_PAIR.
# TEMPORAL_ACTIVE cancels quotes but posts none (a truth edge moved fair value); FINALIZING and
# HALT only cancel everything.
ALLOWED_ACTIONS: Final[dict[TradingState, frozenset[TradingAction]]] = {
    _I: frozenset({_A.WATCH, _A.QUOTE, _A.REPLACE, _A.CANCEL}),
    _B: frozenset({_A.BUY_YES, _A.BUY_NO, _A.CANCEL, _A.QUOTE, _A.REPLACE}),
    _L: frozenset({_A.WATCH, _A.QUOTE, _A.REPLACE, _A.CANCEL}),
    _T: frozenset({TradingAction.BUY_WINNER, TradingAction.CANCEL}),
    _F: frozenset({TradingAction.CANCEL_ALL}),
    _R: frozenset(),
    _H: frozenset({TradingAction.CANCEL_ALL}),
}


class MarketTrading:
    """The Trading Engine of one market."""

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        self._machine: StateMachine[TradingState, TradingTrigger] = StateMachine(
            f"trading[{market_id}]", TRADING_TRANSITIONS, TradingState.IDLE
        )

    @property
    def state(self) -> TradingState:
        """Current Trading Engine state."""
        return self._machine.state

    def can(self, trigger: TradingTrigger) -> bool:
        """True when ``trigger`` is allowed now."""
        return self._machine.can(trigger)

    def trigger(self, trigger: TradingTrigger) -> TradingState:
        """Apply ``trigger`` or raise :class:`polyloly.fsm.InvalidTransition`."""
        return self._machine.trigger(trigger)

    def allows(self, action: TradingAction) -> bool:
        """True when the current state's allowed-actions row contains ``action``."""
        return action in ALLOWED_ACTIONS[self._machine.state]

    def restore(self, state: TradingState) -> None:
        """Set the state from rebuilt engine state (shard restart)."""
        self._machine.restore(state)
