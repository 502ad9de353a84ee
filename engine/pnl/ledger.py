"""Positions and fee-aware P&L from fills and settlements (pure; no I/O, no clock).

Accounting (average cost): a BUY adds ``size × price`` to the token's cost basis; a SELL
realizes ``size × (price − average cost)`` and removes that share of the basis; every fee is
realized as a loss when paid; a negative fee is a maker rebate credited with the fill (the paper
executor, as the simulator's venue; polyloly/fees.py), realized as a gain and counted apart from
fees (``rebates_usdc``); settlement pays 1.0 per winning share (0.5 per share of either
token on a 50-50 resolution) and realizes payout − basis. Hence, at any time::

    realized + unrealized(marks) == cash_flow + Σ shares × mark

where ``cash_flow = Σ sell proceeds + Σ payouts − Σ buy costs − Σ fees + Σ rebates`` — the
property test ``tests/property/test_pnl_ledger.py`` checks this identity on random fill sequences.
Units: prices USDC per share, sizes shares, money USDC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from polyloly.domain import Outcome, Side, Strategy

_DUST_SHARES = 1e-9


class LedgerError(ValueError):
    """A fill or settlement the ledger cannot apply (names what was wrong)."""


@dataclass(slots=True)
class Position:
    """Holdings of one outcome token."""

    market_id: str
    token_id: str
    outcome: Outcome
    shares: float = 0.0
    cost_usdc: float = 0.0  # cost basis of the shares held
    fees_usdc: float = 0.0  # fees paid on this token, ever
    rebates_usdc: float = 0.0  # maker rebates credited on this token's fills, ever

    @property
    def average_cost(self) -> float:
        """Average cost per share held (0 when flat)."""
        return self.cost_usdc / self.shares if self.shares > _DUST_SHARES else 0.0


@dataclass(frozen=True, slots=True)
class PnlSummary:
    """Totals in USDC."""

    realized_usdc: float
    unrealized_usdc: float
    fees_usdc: float
    exposure_usdc: float
    rebates_usdc: float = 0.0  # maker rebates received; inside realized_usdc, not in fees_usdc

    @property
    def total_usdc(self) -> float:
        return self.realized_usdc + self.unrealized_usdc


class Ledger:
    """All positions, realized P&L and its attribution per market and strategy."""

    def __init__(self) -> None:
        self._positions: dict[str, Position] = {}
        self._realized_usdc = 0.0
        self._fees_usdc = 0.0
        self._rebates_usdc = 0.0
        self._cash_flow_usdc = 0.0
        self._realized_by_market: defaultdict[str, float] = defaultdict(float)
        self._realized_by_strategy: defaultdict[str, float] = defaultdict(float)
        self._settled: dict[str, Outcome | None] = {}

    # --- updates ------------------------------------------------------------------------------

    def apply_fill(
        self,
        *,
        market_id: str,
        token_id: str,
        outcome: Outcome,
        side: Side,
        price: float,
        size: float,
        fee_usdc: float,
        strategy: Strategy,
    ) -> float:
        """Apply one fill; return the P&L it realized (USDC, fee or rebate included).

        ``fee_usdc`` ≥ 0 is a fee paid; < 0 a maker rebate received with the fill (booked apart
        from fees, in realized P&L)."""
        if not (0.0 < price < 1.0):
            raise LedgerError(f"fill price: expected a number in (0, 1), was {price!r}")
        if not size > 0.0:
            raise LedgerError(f"fill size: expected a positive number, was {size!r}")
        if not abs(fee_usdc) < size:  # NaN fails too; a fee or rebate is < 1 USDC per share
            raise LedgerError(
                f"fill fee: expected a fee (>= 0) or a rebate (< 0) smaller than 1 USDC per "
                f"share, was {fee_usdc!r} for {size!r} shares"
            )
        position = self._position(market_id, token_id, outcome)
        realized = -fee_usdc
        if side is Side.BUY:
            position.shares += size
            position.cost_usdc += size * price
            self._cash_flow_usdc -= size * price
        else:
            if size > position.shares + 1e-6:
                raise LedgerError(
                    f"sell of {size} shares of token {token_id} exceeds the {position.shares} held"
                )
            sold = min(size, position.shares)
            basis = position.average_cost * sold
            realized += sold * price - basis
            position.shares -= sold
            position.cost_usdc -= basis
            self._cash_flow_usdc += sold * price
            self._clean(position)
        if fee_usdc >= 0.0:
            position.fees_usdc += fee_usdc
            self._fees_usdc += fee_usdc
        else:
            position.rebates_usdc -= fee_usdc
            self._rebates_usdc -= fee_usdc
        self._cash_flow_usdc -= fee_usdc
        self._book_realized(market_id, strategy.value, realized)
        if market_id in self._settled:
            # A fill learnt after the market resolved (the venue matched it before; the report
            # came late): its shares are paid out at once, as they were at resolution.
            self._book_realized(
                market_id, "settlement", self._pay_out(market_id, self._settled[market_id])
            )
        return realized

    def set_position(
        self,
        *,
        market_id: str,
        token_id: str,
        outcome: Outcome,
        shares: float,
        price: float,
    ) -> float:
        """Set a token's holdings to ``shares`` (a reconciliation correction); return the P&L
        it realized (USDC).

        The difference is booked as a fee-free trade at ``price`` (USDC per share; the engine
        passes the current mid): missing shares are added at ``price`` (the shares we knew keep
        their average cost), surplus shares are removed as if sold at ``price`` against the
        average cost. The cash flow moves accordingly, so the accounting identity holds;
        realized P&L is attributed to ``"correction"``.
        """
        if not shares >= 0.0 or shares == float("inf"):
            raise LedgerError(f"corrected shares: expected a finite number >= 0, was {shares!r}")
        if not (0.0 <= price <= 1.0):
            raise LedgerError(f"correction price: expected a number in [0, 1], was {price!r}")
        position = self._position(market_id, token_id, outcome)
        delta = shares - position.shares
        realized = 0.0
        if delta > 0.0:
            position.shares = shares
            position.cost_usdc += delta * price
            self._cash_flow_usdc -= delta * price
        elif delta < 0.0:
            removed = -delta
            basis = position.average_cost * removed
            realized = removed * price - basis
            position.shares = shares
            position.cost_usdc -= basis
            self._cash_flow_usdc += removed * price
            self._clean(position)
        self._book_realized(market_id, "correction", realized)
        return realized

    def settle(self, market_id: str, winner: Outcome | None) -> float:
        """Settle a resolved market: winner shares pay 1.0, a 50-50 (None) pays 0.5 each.

        Return the P&L realized. Settling the same market twice changes nothing the second time.
        """
        if market_id in self._settled:
            return 0.0
        self._settled[market_id] = winner
        realized = self._pay_out(market_id, winner)
        self._book_realized(market_id, "settlement", realized)
        return realized

    def _pay_out(self, market_id: str, winner: Outcome | None) -> float:
        realized = 0.0
        for position in self._positions.values():
            if position.market_id != market_id or position.shares <= _DUST_SHARES:
                continue
            if winner is None:
                payout = 0.5 * position.shares
            else:
                payout = position.shares if position.outcome is winner else 0.0
            realized += payout - position.cost_usdc
            self._cash_flow_usdc += payout
            position.shares = 0.0
            position.cost_usdc = 0.0
        return realized

    # --- views --------------------------------------------------------------------------------

    def is_settled(self, market_id: str) -> bool:
        return market_id in self._settled

    def settlements(self) -> dict[str, Outcome | None]:
        """Every settled market → its winning outcome (None = 50-50), in settlement order."""
        return dict(self._settled)

    def position(self, token_id: str) -> Position | None:
        return self._positions.get(token_id)

    def positions(self) -> list[Position]:
        """Every position ever opened (flat ones included), in token order of first fill."""
        return list(self._positions.values())

    def market_cost_usdc(self, market_id: str) -> float:
        """Cost basis held in one market (USDC)."""
        return sum(p.cost_usdc for p in self._positions.values() if p.market_id == market_id)

    def leg_costs_usdc(self, market_id: str) -> dict[Outcome, float]:
        """Cost basis per outcome leg of one market."""
        legs = {Outcome.YES: 0.0, Outcome.NO: 0.0}
        for position in self._positions.values():
            if position.market_id == market_id:
                legs[position.outcome] += position.cost_usdc
        return legs

    def exposure_usdc(self) -> float:
        """Total cost basis held (USDC)."""
        return sum(p.cost_usdc for p in self._positions.values())

    @property
    def realized_usdc(self) -> float:
        return self._realized_usdc

    @property
    def fees_usdc(self) -> float:
        return self._fees_usdc

    @property
    def rebates_usdc(self) -> float:
        """Maker rebates received with fills (USDC, ≥ 0); part of :attr:`realized_usdc`."""
        return self._rebates_usdc

    @property
    def cash_flow_usdc(self) -> float:
        return self._cash_flow_usdc

    def unrealized_usdc(self, marks: Mapping[str, float]) -> float:
        """Mark-to-market gain on held shares; tokens without a mark count at cost (0 gain)."""
        total = 0.0
        for position in self._positions.values():
            if position.shares <= _DUST_SHARES:
                continue
            mark = marks.get(position.token_id)
            if mark is not None:
                total += position.shares * mark - position.cost_usdc
        return total

    def summary(self, marks: Mapping[str, float]) -> PnlSummary:
        return PnlSummary(
            realized_usdc=self._realized_usdc,
            unrealized_usdc=self.unrealized_usdc(marks),
            fees_usdc=self._fees_usdc,
            exposure_usdc=self.exposure_usdc(),
            rebates_usdc=self._rebates_usdc,
        )

    def realized_by_market(self) -> dict[str, float]:
        return dict(self._realized_by_market)

    def realized_by_strategy(self) -> dict[str, float]:
        """Realized P&L per strategy name; settlement P&L is under ``"settlement"``."""
        return dict(self._realized_by_strategy)

    # --- internals ----------------------------------------------------------------------------

    def _position(self, market_id: str, token_id: str, outcome: Outcome) -> Position:
        position = self._positions.get(token_id)
        if position is None:
            position = Position(market_id=market_id, token_id=token_id, outcome=outcome)
            self._positions[token_id] = position
        elif position.market_id != market_id or position.outcome is not outcome:
            raise LedgerError(
                f"token {token_id} belongs to {position.market_id}/{position.outcome.value}, "
                f"not {market_id}/{outcome.value}"
            )
        return position

    def _book_realized(self, market_id: str, attribution: str, amount: float) -> None:
        self._realized_usdc += amount
        self._realized_by_market[market_id] += amount
        self._realized_by_strategy[attribution] += amount

    @staticmethod
    def _clean(position: Position) -> None:
        if position.shares <= _DUST_SHARES:
            position.shares = 0.0
            position.cost_usdc = 0.0
