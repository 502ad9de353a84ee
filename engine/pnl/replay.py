"""Rebuild the P&L ledger from what SQLite stored: fills, position corrections, settlements.

Order (deterministic): fills by storage ``seq``; a position correction right after the fill
it followed (``after_fill_seq``); a settlement right before the first fill or correction of
its market stamped later than the settlement (wall ms), and every remaining settlement at the
end. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.pnl.ledger import Ledger
from engine.store import StoredCorrection, StoredFill
from polyloly.domain import Outcome


def replay_ledger(
    ledger: Ledger,
    fills: Sequence[StoredFill],
    corrections: Sequence[StoredCorrection],
    settlements: Sequence[tuple[str, Outcome | None, int]],
) -> None:
    """Apply the stored history to ``ledger`` (a fresh one, at start)."""
    pending = {market_id: (winner, t_ms) for market_id, winner, t_ms in settlements}
    timeline: list[tuple[int, int, int, StoredFill | StoredCorrection]] = []
    for index, fill in enumerate(fills):
        timeline.append((fill.seq, 0, index, fill))
    for index, correction in enumerate(corrections):
        timeline.append((correction.after_fill_seq, 1, index, correction))
    timeline.sort(key=lambda item: item[:3])
    for _, _, _, item in timeline:
        market_id = item.market_id
        t_ms = item.fill.t_ms if isinstance(item, StoredFill) else item.t_ms
        settlement = pending.get(market_id)
        if settlement is not None and t_ms > settlement[1]:
            ledger.settle(market_id, settlement[0])
            del pending[market_id]
        if isinstance(item, StoredFill):
            ledger.apply_fill(
                market_id=market_id, token_id=item.fill.token_id, outcome=item.outcome,
                side=item.fill.side, price=item.fill.price, size=item.fill.size,
                fee_usdc=item.fill.fee_usdc, strategy=item.strategy,
            )
        else:
            ledger.set_position(
                market_id=market_id, token_id=item.token_id, outcome=item.outcome,
                shares=item.venue_shares, price=item.price,
            )
    for market_id, (winner, _) in pending.items():
        ledger.settle(market_id, winner)
