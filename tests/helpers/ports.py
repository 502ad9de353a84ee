"""Ports for tests that start servers: always from the OS, held until the test session ends.

The one reservation helper is :func:`polyloly.ports.reserve_ports` (also used by the bench
harness and the demo); this module only adds session-long holding for tests that pass a port
number into a config: the held socket keeps every other test, bench or reservation off the port,
while our servers (SO_REUSEADDR) bind it.
"""

from __future__ import annotations

import atexit

from polyloly.ports import PortReservation, reserve_ports

__all__ = ["held_port", "held_ports", "reserve_ports"]

_HELD: list[PortReservation] = []


def held_ports(count: int, *, contiguous: bool = False) -> tuple[int, ...]:
    """``count`` OS-chosen ports (``contiguous``: base .. base + count - 1), held until exit."""
    reservation = reserve_ports(count, contiguous=contiguous)
    _HELD.append(reservation)
    return reservation.ports


def held_port() -> int:
    """One OS-chosen port, held until the test process exits."""
    return held_ports(1)[0]


@atexit.register
def _release_all() -> None:
    for reservation in _HELD:
        reservation.release()
    _HELD.clear()
