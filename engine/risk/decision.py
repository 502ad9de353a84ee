"""The risk verdict on one intent and the exposure figures the checks read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from polyloly.domain import Outcome, RejectReason


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed`` with the size to send (shares, maybe reduced), or a refusal with a reason."""

    allowed: bool
    reason: RejectReason | None = None
    adjusted_size: float = 0.0
    detail: str = ""
    slippage_bps: float = 0.0

    @staticmethod
    def refuse(reason: RejectReason, detail: str) -> Decision:
        return Decision(allowed=False, reason=reason, detail=detail)


@dataclass(frozen=True, slots=True)
class ExposureView:
    """Exposure at cost (USDC): positions' cost basis plus open BUY orders' remaining notional.

    ``legs`` maps (market id, outcome) to that leg's exposure; ``shares_held`` maps token id to
    shares held (a SELL may not exceed it).
    """

    total_usdc: float = 0.0
    by_market: Mapping[str, float] = field(default_factory=dict)
    by_group: Mapping[str, float] = field(default_factory=dict)
    legs: Mapping[tuple[str, Outcome], float] = field(default_factory=dict)
    shares_held: Mapping[str, float] = field(default_factory=dict)
