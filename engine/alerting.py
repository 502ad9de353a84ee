"""The engine's rows of the SPEC §14 failure table: which conditions alert, and what they say.

| condition | detected in | alert |
|---|---|---|
| order rejection burst (``consecutive_rejects`` breaker) | :mod:`engine.orders` | WARNING |
| cancel failures breaker (market halted until released) | :mod:`engine.orders` | WARNING |
| chain congestion (``order_latency`` breaker) | :mod:`engine.orders` | log only |
| position mismatch (reconciler halts the market) | :mod:`engine.reconciler` | CRITICAL |
| daily loss exceeded (kill switch pulled by the engine) | :mod:`engine.core` | CRITICAL |
| kill switch pulled by hand / released | :mod:`engine.core` | CRITICAL / INFO |
| API rate limit (429, retried), partial fills | :mod:`engine.orders` | log only |
| venue report the order lifecycle forbids (dead-lettered) | :mod:`engine.core` | WARNING |
| fill not storable (disk full, read-only): intake stopped | :mod:`engine.orders` | CRITICAL |

The builders are pure; the cores hand what they build to an injected :data:`AlertFn`
(``Alerter.send`` in ``engine.main``, :func:`no_alert` by default, so replays never alert).
"""

from __future__ import annotations

from collections.abc import Callable

from polyloly.alerts import Alert, Severity

AlertFn = Callable[[Alert], object]
"""Where alerts go: ``Alerter.send`` in the engine process, a list's ``append`` in tests."""

_HALT_TEXT = {
    "consecutive_rejects": "order rejection burst: consecutive venue rejects",
    "cancel_failures": "repeated cancel failures",
}


def no_alert(alert: Alert) -> None:
    """The default :data:`AlertFn`: drop the alert (the condition is still logged)."""
    del alert


def market_halt_alert(market_id: str, reason: str) -> Alert | None:
    """The WARNING for a circuit-breaker halt; None for halts that are log-only
    (``order_latency``: chain congestion)."""
    what = _HALT_TEXT.get(reason)
    if what is None:
        return None
    return Alert(
        Severity.WARNING, f"market_halted:{market_id}:{reason}",
        f"market {market_id} halted ({what}); release by hand with "
        f"`polyloly kill --release --market {market_id} --reason ...`",
    )


def position_mismatch_alert(market_id: str, detail: str) -> Alert:
    """The CRITICAL for a market the reconciler halted because our state differs from the
    venue's."""
    return Alert(
        Severity.CRITICAL, f"position_mismatch:{market_id}",
        f"position mismatch: market {market_id} halted, state rebuilt from the venue: {detail}",
    )


def daily_loss_alert(daily_pnl_usdc: float, limit_usdc: float) -> Alert:
    """The CRITICAL for the kill switch pulled by the daily loss limit (amounts in USDC)."""
    return Alert(
        Severity.CRITICAL, "kill_switch:daily_loss",
        f"daily loss exceeded: daily P&L {daily_pnl_usdc:.2f} USDC <= -{limit_usdc:.2f} USDC; "
        "global kill switch pulled, open orders cancelled",
    )


def manual_kill_alert(reason: str, by: str) -> Alert:
    """The CRITICAL for a kill switch pulled outside the engine (``polyloly kill``)."""
    who = f" by {by}" if by else ""
    return Alert(
        Severity.CRITICAL, "kill_switch:manual",
        f"kill switch pulled{who}: {reason or 'no reason given'}; open orders cancelled",
    )


def kill_release_alert(reason: str, by: str) -> Alert:
    """The INFO for a released kill switch."""
    who = f" by {by}" if by else ""
    return Alert(
        Severity.INFO, "kill_switch:released",
        f"kill switch released{who}: {reason or 'no reason given'}; trading may resume",
    )


def invalid_transition_alert(order_id: str, status: str, reported: str) -> Alert:
    """The WARNING for a venue report the order lifecycle table forbids (dead-lettered in the
    journal, the order left as it was): one per (status, report) pair, deduplicated."""
    return Alert(
        Severity.WARNING, f"invalid_transition:{status}:{reported}",
        f"order {order_id}: venue reported {reported} while {status}; report dead-lettered "
        "(engine journal, event dead_letter), order kept as it was; check the venue's state",
    )


def storage_failure_alert(error: str, unstored: int) -> Alert:
    """The CRITICAL for fills the engine could not store: it keeps them in memory, refuses new
    intents and retries the writes every tick until they succeed (issue 20 #6)."""
    return Alert(
        Severity.CRITICAL, "storage_failure",
        f"engine storage failing, new intents refused: {unstored} fill(s) not stored yet "
        f"({error}); free the disk / make the data dir writable, the engine retries each tick",
    )
