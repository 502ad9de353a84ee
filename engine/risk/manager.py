"""The risk manager: every layer of SPEC §9 in one pure ``check`` (specs/08_RISK_SPEC.md).

Order of the checks (the first refusal wins):

0. validation — known market and token, size > 0, price in (0, 1) on tick, size >= minimum;
1. kill switch (manual or daily-loss) → ``KILL_SWITCH``; daily loss → ``DAILY_LOSS_LIMIT``;
2. per-market circuit breaker halt → ``MARKET_HALTED``;
3. time rules: weekend toggle, open/close buffers → ``TIME_RULE``;
4. sizing: drawdown × volatility × peak-hours factors (BUYs only), rounded down to 0.01 share;
   below the market's minimum → ``BELOW_MIN_SIZE``;
5. pre-trade: book missing/stale/crossed → ``BOOK_STALE``; slippage of a marketable order
   vs mid → ``SLIPPAGE`` (none for a post-only order: it never takes); order notional →
   ``ORDER_SIZE_LIMIT``; market exposure →
   ``MARKET_EXPOSURE_LIMIT``; pair leg imbalance → ``LEG_IMBALANCE``; correlation group →
   ``CORRELATION_LIMIT``; SELL beyond shares held → ``INSUFFICIENT_BALANCE``;
6. global exposure → ``TOTAL_EXPOSURE_LIMIT``.
"""

from __future__ import annotations

import math

from engine.kill_switch import KillSwitch
from engine.risk.circuit import CircuitBreakers
from engine.risk.decision import Decision, ExposureView
from engine.risk.sizing import VolatilitySizer, drawdown_factor
from engine.risk.time_rules import buffer_blocked, peak_factor, weekend_blocked
from engine.risk.validation import validate_intent
from polyloly.config import Config, MarketConfig
from polyloly.domain import RejectReason, Side, Strategy
from polyloly.messages import OrderIntent
from shm.depth import walk_levels
from shm.reader import BookSnapshot

_SIZE_STEP = 0.01  # shares
_EPSILON = 1e-9


class RiskManager:
    """Pure risk core: state changes only through its methods; no I/O, no clock of its own."""

    def __init__(self, config: Config, kill_switch: KillSwitch | None = None) -> None:
        """``kill_switch`` is the engine's global switch (:class:`engine.kill_switch.KillSwitch`,
        owned by the core); this only reads it. A fresh released one when not given."""
        self._config = config
        self._risk = config.risk
        self._markets = {m.market_id: m for m in config.markets}
        self.breakers = CircuitBreakers(config.risk.circuit)
        self.volatility = VolatilitySizer(config.risk.volatility_lookback_ticks)
        self.kill_switch = kill_switch if kill_switch is not None else KillSwitch()
        self.daily_pnl_usdc = 0.0
        self.drawdown_usdc = 0.0
        self._open_ms: dict[str, int] = {}
        self._close_ms: dict[str, int] = {}

    # --- inputs -------------------------------------------------------------------------------

    def market(self, market_id: str) -> MarketConfig | None:
        return self._markets.get(market_id)

    def set_pnl(self, daily_pnl_usdc: float, drawdown_usdc: float) -> bool:
        """Update the day's P&L; return True when this engages the kill switch (daily loss)."""
        self.daily_pnl_usdc = daily_pnl_usdc
        self.drawdown_usdc = drawdown_usdc
        limit = self._risk.max_daily_loss_usdc
        return not self.kill_switch.engaged and daily_pnl_usdc <= -limit

    def set_market_open(self, market_id: str, open_ms: int) -> None:
        """Record when a market's match went live (for the open buffer); first call wins."""
        self._open_ms.setdefault(market_id, open_ms)

    def set_market_close(self, market_id: str, close_ms: int) -> None:
        """Record when a market is scheduled to close (for the close buffer)."""
        self._close_ms[market_id] = close_ms

    # --- the check ----------------------------------------------------------------------------

    def check(
        self,
        intent: OrderIntent,
        book: BookSnapshot | None,
        exposure: ExposureView,
        now_ms: int,
    ) -> Decision:
        """Decide whether ``intent`` may become an order, and with what size (shares)."""
        market = self._markets.get(intent.market_id)
        invalid = validate_intent(intent, market)
        if invalid is not None or market is None:
            return invalid or Decision.refuse(RejectReason.UNKNOWN_MARKET, intent.market_id)
        if self.kill_switch.engaged:
            return Decision.refuse(RejectReason.KILL_SWITCH,
                                   f"kill switch: {self.kill_switch.reason}")
        if self.daily_pnl_usdc <= -self._risk.max_daily_loss_usdc:
            return Decision.refuse(
                RejectReason.DAILY_LOSS_LIMIT,
                f"daily P&L {self.daily_pnl_usdc:.2f} USDC is at or below "
                f"-{self._risk.max_daily_loss_usdc}",
            )
        halt = self.breakers.halted(intent.market_id)
        if halt is not None:
            return Decision.refuse(RejectReason.MARKET_HALTED, f"market halted: {halt.reason}")
        time_refusal = self._time_rules(intent, now_ms)
        if time_refusal is not None:
            return time_refusal
        size = self._sized(intent, now_ms)
        if size < market.min_order_size:
            return Decision.refuse(
                RejectReason.BELOW_MIN_SIZE,
                f"size {intent.size} reduced to {size} by risk sizing, below the minimum "
                f"{market.min_order_size}",
            )
        return self._pre_trade(intent, market, size, book, exposure)

    # --- layers -------------------------------------------------------------------------------

    def _time_rules(self, intent: OrderIntent, now_ms: int) -> Decision | None:
        rules = self._risk.time_rules
        if weekend_blocked(rules, now_ms):
            return Decision.refuse(RejectReason.TIME_RULE, "weekend trading is off")
        why = buffer_blocked(
            rules, now_ms, self._open_ms.get(intent.market_id), self._close_ms.get(intent.market_id)
        )
        if why is not None:
            return Decision.refuse(RejectReason.TIME_RULE, why)
        return None

    def _sized(self, intent: OrderIntent, now_ms: int) -> float:
        if intent.side is Side.SELL:
            return intent.size
        factor = drawdown_factor(
            self.drawdown_usdc,
            self._risk.drawdown_sizing_start_usdc,
            self._risk.max_daily_loss_usdc,
            self._risk.min_size_factor,
        )
        factor *= self.volatility.factor(intent.token_id)
        factor *= peak_factor(self._risk.time_rules, now_ms)
        sized = intent.size * min(1.0, factor)
        return math.floor(sized / _SIZE_STEP + _EPSILON) * _SIZE_STEP

    def _pre_trade(
        self,
        intent: OrderIntent,
        market: MarketConfig,
        size: float,
        book: BookSnapshot | None,
        exposure: ExposureView,
    ) -> Decision:
        if book is None or not book.tradable:
            state = "missing" if book is None else f"flags={book.flags}"
            return Decision.refuse(RejectReason.BOOK_STALE, f"book of {intent.token_id}: {state}")
        # a post-only order never matches on arrival (the venue refuses it if it would): no
        # slippage to measure; every other layer applies to it as to any order
        slippage = 0.0 if intent.post_only else _slippage_bps(intent, size, book)
        if slippage > self._risk.max_slippage_bps:
            return Decision.refuse(
                RejectReason.SLIPPAGE,
                f"slippage {slippage:.1f} bps exceeds {self._risk.max_slippage_bps} bps; "
                "reduce size or use a limit order",
            )
        if intent.side is Side.SELL:
            held = exposure.shares_held.get(intent.token_id, 0.0)
            if size > held + _EPSILON:
                return Decision.refuse(
                    RejectReason.INSUFFICIENT_BALANCE,
                    f"sell of {size} shares exceeds the {held} held",
                )
            return Decision(allowed=True, adjusted_size=size, slippage_bps=slippage)
        notional = size * intent.price
        risk = self._risk
        if notional > risk.max_order_size_usdc + _EPSILON:
            return Decision.refuse(
                RejectReason.ORDER_SIZE_LIMIT,
                f"order notional {notional:.2f} USDC exceeds {risk.max_order_size_usdc}",
            )
        market_after = exposure.by_market.get(intent.market_id, 0.0) + notional
        if market_after > risk.max_market_exposure_usdc + _EPSILON:
            return Decision.refuse(
                RejectReason.MARKET_EXPOSURE_LIMIT,
                f"market exposure would be {market_after:.2f} USDC, limit "
                f"{risk.max_market_exposure_usdc}",
            )
        if intent.strategy in (Strategy.PAIR_ARB, Strategy.REBALANCE):
            leg = exposure.legs.get((intent.market_id, intent.outcome), 0.0)
            other = exposure.legs.get((intent.market_id, intent.outcome.other), 0.0)
            before, after = abs(leg - other), abs(leg + notional - other)
            if after > risk.max_leg_imbalance_usdc + _EPSILON and after > before:
                return Decision.refuse(
                    RejectReason.LEG_IMBALANCE,
                    f"leg imbalance would be {after:.2f} USDC, limit "
                    f"{risk.max_leg_imbalance_usdc}",
                )
        group_after = exposure.by_group.get(market.correlation_group, 0.0) + notional
        if group_after > risk.max_exposure_per_group_usdc + _EPSILON:
            return Decision.refuse(
                RejectReason.CORRELATION_LIMIT,
                f"group {market.correlation_group!r} exposure would be {group_after:.2f} USDC, "
                f"limit {risk.max_exposure_per_group_usdc}",
            )
        total_after = exposure.total_usdc + notional
        if total_after > risk.max_total_exposure_usdc + _EPSILON:
            return Decision.refuse(
                RejectReason.TOTAL_EXPOSURE_LIMIT,
                f"total exposure would be {total_after:.2f} USDC, limit "
                f"{risk.max_total_exposure_usdc}",
            )
        return Decision(allowed=True, adjusted_size=size, slippage_bps=slippage)


def _slippage_bps(intent: OrderIntent, size: float, book: BookSnapshot) -> float:
    """Slippage (bps of mid) of the part of the order that would match now; 0 if none would."""
    if intent.side is Side.BUY:
        prices, sizes = book.ask_prices, book.ask_sizes
        usable = sum(1 for p in prices if p <= intent.price + _EPSILON)
    else:
        prices, sizes = book.bid_prices, book.bid_sizes
        usable = sum(1 for p in prices if p >= intent.price - _EPSILON)
    if usable == 0:
        return 0.0
    estimate = walk_levels(prices[:usable], sizes[:usable], intent.side, size)
    reference = book.mid if book.mid is not None else prices[0]
    if estimate.average_price is None or reference <= 0.0:
        return 0.0
    return abs(estimate.average_price - reference) / reference * 10_000.0
