"""A finite-state machine driven by a transition table (NautilusTrader ``core/fsm`` style).

The table maps ``(state, trigger)`` to the next state; :meth:`StateMachine.trigger` is the only
way to move, and it refuses any pair the table does not list. Tests enumerate the table, so every
transition, allowed or forbidden, is covered by construction. Shared vocabulary: the shards'
Truth Engine and Trading state machine and the engine's order lifecycle
(:mod:`engine.order_record`) all use it, so a forbidden transition raises everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Generic, TypeVar

StateT = TypeVar("StateT", bound=Enum)
TriggerT = TypeVar("TriggerT", bound=Enum)


class InvalidTransition(ValueError):
    """A trigger that the table does not allow in the current state."""

    def __init__(self, machine: str, state: Enum, trigger: Enum) -> None:
        super().__init__(
            f"{machine}: trigger {trigger.value!r} is not allowed in state {state.value!r}"
        )
        self.machine = machine
        self.state = state
        self.trigger = trigger


class StateMachine(Generic[StateT, TriggerT]):
    """One machine instance: a current state and the (shared, immutable) transition table."""

    __slots__ = ("_name", "_state", "_table")

    def __init__(
        self, name: str, table: Mapping[tuple[StateT, TriggerT], StateT], initial: StateT
    ) -> None:
        self._name = name
        self._table = table
        self._state = initial

    @property
    def state(self) -> StateT:
        """The current state."""
        return self._state

    def can(self, trigger: TriggerT) -> bool:
        """Return True when ``trigger`` is allowed in the current state."""
        return (self._state, trigger) in self._table

    def trigger(self, trigger: TriggerT) -> StateT:
        """Apply ``trigger``; return the new state or raise :class:`InvalidTransition`."""
        try:
            self._state = self._table[(self._state, trigger)]
        except KeyError:
            raise InvalidTransition(self._name, self._state, trigger) from None
        return self._state

    def restore(self, state: StateT) -> None:
        """Set the state directly: only for rebuilding a machine from persisted state."""
        self._state = state
