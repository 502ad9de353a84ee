"""What the engine's ``/status`` shows, as frozen msgspec structs (built by
:meth:`engine.core.EngineCore.status`, served as JSON, written to ``state_snapshot.json``)."""

from __future__ import annotations

from typing import Any

import msgspec


class KillSwitchView(msgspec.Struct, frozen=True, kw_only=True):
    engaged: bool
    reason: str


class PnlView(msgspec.Struct, frozen=True, kw_only=True):
    """USDC figures; ``by_market`` / ``by_strategy`` are realized P&L."""

    realized_usdc: float
    unrealized_usdc: float
    fees_usdc: float
    daily_usdc: float
    by_market: dict[str, float]
    by_strategy: dict[str, float]


class PositionStatus(msgspec.Struct, frozen=True, kw_only=True):
    market_id: str
    token_id: str
    outcome: str
    shares: float
    cost_usdc: float
    fees_usdc: float


class OpenOrderStatus(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    market_id: str
    token_id: str
    side: str
    price: float
    size: float
    filled_size: float
    status: str


class EngineStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Positions, P&L, open orders, halts and the kill switch at one moment."""

    ready: bool
    executor: str
    kill_switch: KillSwitchView
    halted_markets: dict[str, str]  # market id → halt reason
    pnl: PnlView
    exposure_usdc: float
    positions: tuple[PositionStatus, ...]
    open_orders: tuple[OpenOrderStatus, ...]
    # fills kept in memory whose durable write failed (intake refused until 0) and why
    unstored_fills: int = 0
    storage_error: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON-ready form (``/status``, ``state_snapshot.json``)."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result
