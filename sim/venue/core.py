"""Pure matching core of the simulated Polymarket CLOB: books, matching, accounts, settlement.

No I/O and no wall-clock reads: time comes from the injected clock, identifiers from a seeded
counter, so the same inputs always produce the same events. The aiohttp shell
(`sim.venue.rest`, `sim.venue.ws`) turns requests into calls here and events into JSON.

One order book per market is kept in outcome-0 ("YES") terms: a BUY of outcome 0 at p and a
SELL of outcome 1 at 1-p are both bids at p; a SELL of outcome 0 and a BUY of outcome 1 are
asks. A crossing pair therefore settles as a transfer (same token), a mint (BUY + BUY: both
pay, a new share pair is created) or a merge (SELL + SELL: both receive collateral). Each
token's public book is this book (outcome 0) or its mirror (outcome 1), as on Polymarket.

With `complementary_matching=False` (a simulator option, not the real venue) each token gets
its own independent book, kept in that token's own terms: no mirroring, no mint/merge, so a
BUY of a token only matches SELLs of the same token and a pair mispricing can rest.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from eth_utils import to_checksum_address

from sim.venue.clock import Clock
from sim.venue.models import (
    FOK_KILLED_STATUS,
    MICRO,
    BookEvent,
    LastTradeEvent,
    LevelChange,
    MakerFill,
    MarketInfo,
    Order,
    OrderEvent,
    OrderRequest,
    OrderSnapshot,
    OrderStatus,
    OrderType,
    ResolvedEvent,
    Side,
    SubmitResult,
    TickSizeEvent,
    Trade,
    TradeEvent,
    TradeStatus,
    VenueError,
    VenueEvent,
    fmt_units,
    to_units,
)

NO_ORDERBOOK = "No orderbook exists for the requested token id"
ALREADY_DONE = "already canceled or matched"
UNLIMITED_U = 10**30


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _notional_u(size_u: int, price_u: int) -> int:
    return (size_u * price_u + MICRO // 2) // MICRO


def taker_fee_u(size_u: int, price_u: int, rate: float) -> int:
    """Return the taker fee `shares × rate × p × (1 − p)` in micro pUSD, rounded to 5 decimals."""
    if rate <= 0 or size_u <= 0:
        return 0
    p = price_u / MICRO
    fee = (size_u / MICRO) * rate * p * (1.0 - p)
    return int(round(fee * 100_000)) * 10


@dataclass(slots=True)
class Account:
    """Balances of one address; agents (`is_agent`) are never refused for lack of funds."""

    address: str
    is_agent: bool
    collateral_u: int
    allowance_u: int
    reserved_u: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    reserved_positions: dict[str, int] = field(default_factory=dict)
    heartbeat_deadline: float | None = None
    heartbeat_id: str = ""

    def available_u(self) -> int:
        """Collateral not locked by open BUY orders."""
        return self.collateral_u - self.reserved_u

    def available_position_u(self, token_id: str) -> int:
        """Shares of `token_id` not locked by open SELL orders."""
        return self.positions.get(token_id, 0) - self.reserved_positions.get(token_id, 0)


@dataclass(slots=True)
class _MarketState:
    """One order book in the terms of `token_ids[0]`; `token_ids[1]`, if any, is its mirror.

    The market-level fields (tick size, resolution) are kept equal across the books of a
    market by `set_tick_size` and `resolve_market`.
    """

    info: MarketInfo
    tick_size_u: int
    token_ids: tuple[str, ...]
    bids: dict[int, deque[Order]] = field(default_factory=dict)
    asks: dict[int, deque[Order]] = field(default_factory=dict)
    bid_prices: list[int] = field(default_factory=list)
    ask_prices: list[int] = field(default_factory=list)
    resolved: bool = False
    winning_token_id: str | None = None
    last_trade: dict[str, tuple[int, str]] = field(default_factory=dict)
    dirty: set[tuple[bool, int]] = field(default_factory=set)


class Venue:
    """The venue core: accounts, order books, matching, fees, delays, settlement."""

    def __init__(
        self,
        markets: Iterable[Any],
        clock: Clock,
        seed: int = 0,
        default_collateral_usdc: float = 1000.0,
        matching_delay_s: float = 3.0,
        heartbeat_timeout_s: float = 10.0,
        trade_mined_after_s: float = 1.0,
        trade_confirmed_after_s: float = 2.0,
        default_allowance_usdc: float = 1_000_000_000.0,
        complementary_matching: bool = True,
        maker_rebate_rate: float = 0.25,
    ) -> None:
        self.clock = clock
        # VENUE §5: makers get this fraction of the taker fee of each fill they provided
        self.maker_rebate_rate = maker_rebate_rate
        # (maker address, condition id, UTC date) -> rebated micro pUSD, for /rebates/current
        self._rebates: dict[tuple[str, str, str], int] = {}
        self.complementary_matching = complementary_matching
        self.seed = seed
        self.default_collateral_u = to_units(default_collateral_usdc)
        self.default_allowance_u = to_units(default_allowance_usdc)
        self.matching_delay_s = matching_delay_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.trade_mined_after_s = trade_mined_after_s
        self.trade_confirmed_after_s = trade_confirmed_after_s
        self._markets: dict[str, _MarketState] = {}
        self._books: list[_MarketState] = []
        # token id -> (its book, the token's index in that book's terms: 1 = mirrored view)
        self._token_market: dict[str, tuple[_MarketState, int]] = {}
        for spec in markets:
            self.add_market(spec)
        self._accounts: dict[str, Account] = {}
        self._orders: dict[str, Order] = {}
        self._delayed: list[Order] = []
        self._open: dict[str, dict[str, Order]] = {}
        self._gtd: dict[str, Order] = {}
        self._trades: dict[str, Trade] = {}
        self._trade_order: list[str] = []
        self._trade_progress: list[tuple[float, int, str, TradeStatus]] = []
        self._counter = 0
        self._seq = 0
        self._event_listeners: list[Callable[[VenueEvent], None]] = []
        self._trade_listeners: list[Callable[[Trade], None]] = []
        self._pending: list[VenueEvent] = []

    # ----------------------------------------------------------------- setup & identity
    def add_market(self, spec: Any) -> MarketInfo:
        """Register a market (any object with the `MarketSpec` attributes)."""
        info = (
            spec
            if isinstance(spec, MarketInfo)
            else MarketInfo.from_spec(spec, self.matching_delay_s)
        )
        if self.complementary_matching:
            state = _MarketState(info, info.tick_size_u, info.token_ids)
            self._books.append(state)
            for index, token_id in enumerate(info.token_ids):
                self._token_market[token_id] = (state, index)
        else:
            for token_id in info.token_ids:
                own = _MarketState(info, info.tick_size_u, (token_id,))
                self._books.append(own)
                self._token_market[token_id] = (own, 0)
            state = self._token_market[info.token_ids[0]][0]
        self._markets[info.condition_id] = state
        return info

    def add_event_listener(self, callback: Callable[[VenueEvent], None]) -> None:
        """Call `callback(event)` for every venue event, in order, synchronously."""
        self._event_listeners.append(callback)

    def add_trade_listener(self, callback: Callable[[Trade], None]) -> None:
        """Call `callback(trade)` once for every new trade (status MATCHED)."""
        self._trade_listeners.append(callback)

    def next_id(self, kind: str) -> str:
        """Return a deterministic 64-hex identifier (seeded counter, never wall time)."""
        self._counter += 1
        return hashlib.sha256(f"{self.seed}:{kind}:{self._counter}".encode()).hexdigest()

    def next_uuid(self, kind: str) -> str:
        """Return a deterministic UUID-formatted identifier."""
        h = self.next_id(kind)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    @staticmethod
    def agent_address(owner: str) -> str:
        """Return the synthetic (checksummed) address of an internal agent."""
        return str(
            to_checksum_address("0x" + hashlib.sha256(f"agent:{owner}".encode()).hexdigest()[:40])
        )

    @staticmethod
    def agent_api_key(owner: str) -> str:
        """Return the UUID-shaped API key reported as `owner` on an agent's orders."""
        h = hashlib.sha256(f"agent-key:{owner}".encode()).hexdigest()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    # ----------------------------------------------------------------------- queries
    def markets(self) -> list[MarketInfo]:
        """Return all markets in registration order."""
        return [m.info for m in self._markets.values()]

    def market(self, condition_id: str) -> MarketInfo | None:
        """Return a market by condition id."""
        state = self._markets.get(condition_id)
        return state.info if state else None

    def market_of_token(self, token_id: str) -> MarketInfo | None:
        """Return the market a token belongs to."""
        entry = self._token_market.get(token_id)
        return entry[0].info if entry else None

    def tick_size_u(self, token_id: str) -> int:
        """Return the current tick size of a token's market (micro units)."""
        return self._state_of(token_id)[0].tick_size_u

    def is_resolved(self, condition_id: str) -> tuple[bool, str | None]:
        """Return (resolved, winning token id or None for 50-50)."""
        state = self._markets[condition_id]
        return state.resolved, state.winning_token_id

    def account(self, address: str, is_agent: bool = False) -> Account:
        """Return the account of `address`, creating it with the scenario's starting balance."""
        acct = self._accounts.get(address)
        if acct is None:
            acct = Account(
                address=address,
                is_agent=is_agent,
                collateral_u=0 if is_agent else self.default_collateral_u,
                allowance_u=UNLIMITED_U if is_agent else self.default_allowance_u,
            )
            self._accounts[address] = acct
        return acct

    def book_levels_u(self, token_id: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Return a token's (bids, asks) as (price_u, size_u) lists, best first."""
        state, index = self._state_of(token_id)
        yes_bids = [(p, self._level_size(state.bids[p])) for p in reversed(state.bid_prices)]
        yes_asks = [(p, self._level_size(state.asks[p])) for p in state.ask_prices]
        if index == 0:
            return yes_bids, yes_asks
        return [(MICRO - p, s) for p, s in yes_asks], [(MICRO - p, s) for p, s in yes_bids]

    def book(self, token_id: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Return a token's (bids, asks) as (price, size) float lists, best first."""
        bids, asks = self.book_levels_u(token_id)
        return (
            [(p / MICRO, s / MICRO) for p, s in bids],
            [(p / MICRO, s / MICRO) for p, s in asks],
        )

    def best_bid_ask_u(self, token_id: str) -> tuple[int | None, int | None]:
        """Return a token's best bid and best ask (micro units), None when a side is empty."""
        state, index = self._state_of(token_id)
        best_bid = state.bid_prices[-1] if state.bid_prices else None
        best_ask = state.ask_prices[0] if state.ask_prices else None
        if index == 0:
            return best_bid, best_ask
        return (
            MICRO - best_ask if best_ask is not None else None,
            MICRO - best_bid if best_bid is not None else None,
        )

    def last_trade(self, token_id: str) -> tuple[int, str] | None:
        """Return the last trade (price_u, taker side) of a token, if any."""
        state, _ = self._state_of(token_id)
        return state.last_trade.get(token_id)

    def order(self, order_id: str) -> OrderSnapshot | None:
        """Return any known order by id."""
        order = self._orders.get(order_id)
        return order.snapshot() if order else None

    def open_orders(
        self,
        address: str | None = None,
        market: str | None = None,
        asset_id: str | None = None,
        order_id: str | None = None,
    ) -> list[OrderSnapshot]:
        """Return LIVE orders (oldest first), filtered."""
        out = []
        if address is not None:
            candidates: Iterable[Order] = list(self._open.get(address, {}).values())
        else:
            candidates = [o for by_id in self._open.values() for o in by_id.values()]
        for order in sorted(candidates, key=lambda o: o.seq):
            if order.status is not OrderStatus.LIVE:
                continue
            if market and order.condition_id != market:
                continue
            if asset_id and order.token_id != asset_id:
                continue
            if order_id and order.id != order_id:
                continue
            out.append(order.snapshot())
        return out

    def trades(
        self,
        address: str | None = None,
        market: str | None = None,
        asset_id: str | None = None,
        trade_id: str | None = None,
        before_s: int | None = None,
        after_s: int | None = None,
    ) -> list[Trade]:
        """Return trades (oldest first) where `address` is taker or maker, filtered."""
        out = []
        for tid in self._trade_order:
            trade = self._trades[tid]
            if address is not None and not trade.involves(address):
                continue
            if market and trade.market != market:
                continue
            if (
                asset_id
                and trade.asset_id != asset_id
                and not any(m.asset_id == asset_id for m in trade.maker_orders)
            ):
                continue
            if trade_id and trade.id != trade_id:
                continue
            match_s = trade.match_time_ms // 1000
            if before_s is not None and match_s >= before_s:
                continue
            if after_s is not None and match_s <= after_s:
                continue
            out.append(trade)
        return out

    def trade(self, trade_id: str) -> Trade | None:
        """Return a trade by id."""
        return self._trades.get(trade_id)

    def collateral_u(self, address: str) -> int:
        """Return the pUSD balance (micro) of an address, locked or not."""
        return self.account(address).collateral_u

    def position_u(self, address: str, token_id: str) -> int:
        """Return the outcome-token balance (micro shares) of an address."""
        return self.account(address).positions.get(token_id, 0)

    # ----------------------------------------------------------------- order entry
    def submit(self, request: OrderRequest, is_agent: bool = False) -> SubmitResult:
        """Validate, then match or rest (or delay) an order; raise `VenueError` on refusal."""
        self.poll()
        try:
            return self._submit(request, is_agent)
        finally:
            self._flush()

    def place_internal(
        self,
        owner: str,
        token_id: str,
        side: str,
        price: float,
        size: float,
        order_type: str = "GTC",
    ) -> str:
        """Place an agent order without signature and balance checks; return its order id.

        The price is snapped to the market's tick and the size rounded down to 0.01 share.
        Raises `VenueError` when the order is refused (bad tick range, size, FOK not filled…).
        """
        state, _ = self._state_of(token_id)
        tick = state.tick_size_u
        price_u = int(round(to_units(price) / tick)) * tick
        size_u = (to_units(size) // 10_000) * 10_000
        address = self.agent_address(owner)
        self.account(address, is_agent=True)
        request = OrderRequest(
            order_id="0x" + self.next_id("agent-order"),
            owner=self.agent_api_key(owner),
            address=address,
            signer=address,
            token_id=token_id,
            side=Side(side),
            price_u=price_u,
            size_u=size_u,
            order_type=OrderType(order_type),
        )
        return self.submit(request, is_agent=True).order_id

    def cancel(self, address: str, order_ids: Iterable[str]) -> tuple[list[str], dict[str, str]]:
        """Cancel orders of `address`; return (canceled ids, {id: reason} not canceled)."""
        self.poll()
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        try:
            for order_id in order_ids:
                order = self._orders.get(order_id)
                if (
                    order is None
                    or order.address != address
                    or order.status not in (OrderStatus.LIVE, OrderStatus.DELAYED)
                ):
                    not_canceled[order_id] = ALREADY_DONE
                else:
                    self._cancel_order(order, OrderStatus.CANCELED)
                    canceled.append(order_id)
        finally:
            self._flush()
        return canceled, not_canceled

    def cancel_all(
        self, address: str, market: str | None = None, asset_id: str | None = None
    ) -> list[str]:
        """Cancel every open (or delayed) order of `address`, optionally by market/token."""
        ids = [
            o.id
            for o in self._open.get(address, {}).values()
            if (not market or o.condition_id == market) and (not asset_id or o.token_id == asset_id)
        ]
        return self.cancel(address, ids)[0]

    def cancel_internal(self, owner: str, order_id: str) -> bool:
        """Cancel one agent order; True when it was open."""
        canceled, _ = self.cancel(self.agent_address(owner), [order_id])
        return bool(canceled)

    def cancel_all_internal(self, owner: str, token_id: str | None = None) -> int:
        """Cancel an agent's open orders (optionally on one token); return how many."""
        return len(self.cancel_all(self.agent_address(owner), asset_id=token_id))

    # --------------------------------------------------------- heartbeats, admin, ticks
    def heartbeat(self, address: str, heartbeat_id: str = "") -> str:
        """Record a heartbeat; once started, silence beyond the timeout cancels all orders."""
        self.poll()
        acct = self.account(address)
        acct.heartbeat_deadline = self.clock.monotonic() + self.heartbeat_timeout_s
        acct.heartbeat_id = self.next_uuid("heartbeat")
        return acct.heartbeat_id

    def set_tick_size(self, condition_id: str, tick_size: float) -> None:
        """Change a market's tick size and emit `tick_size_change` for both tokens."""
        state = self._markets[condition_id]
        new_tick = to_units(tick_size)
        old_tick = state.tick_size_u
        if new_tick == old_tick:
            return
        for book in self._books_of(state):
            book.tick_size_u = new_tick
        now_ms = self.clock.wall_ms()
        for token_id in state.info.token_ids:
            self._emit(TickSizeEvent(condition_id, token_id, old_tick, new_tick, now_ms))
        self._flush()

    def resolve_market(self, condition_id: str, winning_token_id: str | None) -> None:
        """Resolve a market: cancel its orders, pay 1.0 per winning share (0.5 each if 50-50)."""
        self.poll()
        state = self._markets.get(condition_id)
        if state is None:
            raise VenueError(404, f"market {condition_id} not found")
        if winning_token_id is not None and winning_token_id not in state.info.token_ids:
            raise VenueError(400, f"token {winning_token_id} is not an outcome of {condition_id}")
        if state.resolved:
            return
        for by_id in list(self._open.values()):
            for order in list(by_id.values()):
                if order.condition_id == condition_id:
                    self._cancel_order(order, OrderStatus.CANCELED_MARKET_RESOLVED)
        for book in self._books_of(state):
            book.resolved = True
            book.winning_token_id = winning_token_id
        for acct in self._accounts.values():
            for token_id in state.info.token_ids:
                shares = acct.positions.pop(token_id, 0)
                acct.reserved_positions.pop(token_id, None)
                if winning_token_id is None:
                    acct.collateral_u += shares // 2
                elif token_id == winning_token_id:
                    acct.collateral_u += shares
        self._emit(ResolvedEvent(condition_id, winning_token_id, self.clock.wall_ms()))
        self._flush()

    # ----------------------------------------------------------------------- timing
    def next_due(self) -> float | None:
        """Return the earliest monotonic time at which `poll()` has work, if any."""
        times = [o.due_monotonic for o in self._delayed]
        times += [t for t, _, _, _ in self._trade_progress]
        times += [a.heartbeat_deadline for a in self._accounts.values() if a.heartbeat_deadline]
        return min(times) if times else None

    def poll(self) -> None:
        """Run everything that is due: delayed matches, trade status steps, expiries."""
        now = self.clock.monotonic()
        try:
            while self._delayed:
                due = [o for o in self._delayed if o.due_monotonic <= now]
                if not due:
                    break
                order = min(due, key=lambda o: (o.due_monotonic, o.seq))
                self._delayed.remove(order)
                if order.status is OrderStatus.DELAYED:
                    self._execute(order, delayed=True)
            self._progress_trades(now)
            self._expire(now)
        finally:
            self._flush()

    # ------------------------------------------------------------------- internals
    def _state_of(self, token_id: str) -> tuple[_MarketState, int]:
        entry = self._token_market.get(token_id)
        if entry is None:
            raise VenueError(404, NO_ORDERBOOK)
        return entry

    def _books_of(self, state: _MarketState) -> list[_MarketState]:
        """Return the book(s) of `state`'s market: one (unified) or one per token."""
        first, second = (self._token_market[t][0] for t in state.info.token_ids)
        return [first] if first is second else [first, second]

    @staticmethod
    def _level_size(level: deque[Order]) -> int:
        return sum(o.remaining_u for o in level)

    def _emit(self, event: VenueEvent) -> None:
        self._pending.append(event)

    def _flush(self) -> None:
        now_ms = self.clock.wall_ms()
        for state in self._books:
            if not state.dirty:
                continue
            changes: list[LevelChange] = []
            own_id, *mirror_ids = state.token_ids
            for is_bid, price in sorted(state.dirty, key=lambda d: (not d[0], d[1])):
                book = state.bids if is_bid else state.asks
                size = self._level_size(book[price]) if price in book else 0
                changes.append(LevelChange(own_id, "BUY" if is_bid else "SELL", price, size))
                for mirror_id in mirror_ids:
                    changes.append(
                        LevelChange(mirror_id, "SELL" if is_bid else "BUY", MICRO - price, size)
                    )
            state.dirty.clear()
            self._pending.append(BookEvent(state.info.condition_id, tuple(changes), now_ms))
        # book changes go out right after the order/trade events of the same operation
        pending, self._pending = self._pending, []
        pending.sort(key=lambda e: 1 if isinstance(e, (BookEvent, LastTradeEvent)) else 0)
        for event in pending:
            for listener in self._event_listeners:
                listener(event)

    def _validate(self, state: _MarketState, req: OrderRequest, acct: Account) -> None:
        info = state.info
        if state.resolved:
            raise VenueError(400, NO_ORDERBOOK)
        if req.order_id in self._orders:
            raise VenueError(400, f"order {req.order_id} is invalid. Duplicated.")
        tick = state.tick_size_u
        if req.price_u % tick != 0 or not tick <= req.price_u <= MICRO - tick:
            raise VenueError(
                400,
                f"order {req.order_id} is invalid. Price ({fmt_units(req.price_u)}) breaks "
                f"minimum tick size rule: {fmt_units(tick)}",
            )
        if req.size_u <= 0:
            raise VenueError(400, "Invalid order payload")
        if req.order_type in (OrderType.FOK, OrderType.FAK):
            notional = _notional_u(req.size_u, req.price_u)
            if notional < MICRO:
                raise VenueError(
                    400,
                    f"invalid amount for a marketable {req.side.value} order "
                    f"(${fmt_units(notional)}), min size: $1",
                )
        elif req.size_u < info.min_order_size_u:
            raise VenueError(
                400,
                f"order {req.order_id} is invalid. Size ({fmt_units(req.size_u)}) lower than "
                f"the minimum: {fmt_units(info.min_order_size_u)}",
            )
        if req.order_type is OrderType.GTD and req.expiration_s <= self.clock.wall_ms() // 1000:
            raise VenueError(400, "invalid expiration")
        if req.post_only and req.order_type in (OrderType.FOK, OrderType.FAK):
            raise VenueError(400, "Invalid order payload")

    def _reservation(self, order: Order, fee_rate: float, marketable: bool) -> int:
        if order.side is Side.SELL:
            return order.original_size_u
        notional = _ceil_div(order.original_size_u * order.price_u, MICRO)
        fee = taker_fee_u(order.original_size_u, order.price_u, fee_rate) if marketable else 0
        return notional + fee

    def _submit(self, req: OrderRequest, is_agent: bool) -> SubmitResult:
        state, index = self._state_of(req.token_id)
        acct = self.account(req.address, is_agent=is_agent)
        self._validate(state, req, acct)
        self._seq += 1
        order = Order(
            id=req.order_id,
            owner=req.owner,
            address=req.address,
            signer=req.signer,
            condition_id=state.info.condition_id,
            token_id=req.token_id,
            token_index=index,
            outcome=state.info.outcomes[state.info.token_ids.index(req.token_id)],
            side=req.side,
            price_u=req.price_u,
            original_size_u=req.size_u,
            order_type=req.order_type,
            created_at_ms=self.clock.wall_ms(),
            expiration_s=req.expiration_s if req.order_type is OrderType.GTD else 0,
            seq=self._seq,
            is_agent=acct.is_agent,
        )
        crossing = self._crossing_size(state, order)
        marketable = crossing > 0
        if req.post_only and marketable:
            raise VenueError(400, "invalid post-only order: order crosses book")
        if order.order_type is OrderType.FOK and crossing < order.original_size_u:
            raise VenueError(
                400, "order couldn't be fully filled. FOK orders are fully filled or killed."
            )
        if order.order_type is OrderType.FAK and not marketable:
            raise VenueError(
                400,
                "no orders found to match with FAK order. FAK orders are partially filled or "
                "killed if no match is found.",
            )
        need = self._reservation(order, state.info.taker_fee_rate, marketable)
        if not acct.is_agent:
            if order.side is Side.BUY:
                have = acct.available_u()
                if need > acct.allowance_u:
                    raise VenueError(
                        400,
                        "not enough balance / allowance: the allowance is not enough -> "
                        f"allowance: {acct.allowance_u}, order amount (inc. fees): {need}",
                    )
            else:
                have = acct.available_position_u(order.token_id)
            if need > have:
                raise VenueError(
                    400,
                    "not enough balance / allowance: the balance is not enough -> balance: "
                    f"{max(have, 0)}, order amount (inc. fees): {need}",
                )
        self._reserve(acct, order, need)
        self._orders[order.id] = order
        self._open.setdefault(order.address, {})[order.id] = order
        if marketable and state.info.seconds_delay > 0:
            order.status = OrderStatus.DELAYED
            order.due_monotonic = self.clock.monotonic() + state.info.seconds_delay
            self._delayed.append(order)
            return SubmitResult(order.id, "delayed", 0, 0, (), ())
        return self._execute(order, delayed=False)

    def _reserve(self, acct: Account, order: Order, amount: int) -> None:
        order.reserved_u = amount
        if order.side is Side.BUY:
            acct.reserved_u += amount
        else:
            acct.reserved_positions[order.token_id] = (
                acct.reserved_positions.get(order.token_id, 0) + amount
            )

    def _release(self, acct: Account, order: Order, amount: int) -> None:
        amount = min(amount, order.reserved_u)
        order.reserved_u -= amount
        if order.side is Side.BUY:
            acct.reserved_u -= amount
        else:
            acct.reserved_positions[order.token_id] = (
                acct.reserved_positions.get(order.token_id, 0) - amount
            )

    def _crossing_size(self, state: _MarketState, order: Order) -> int:
        total = 0
        limit = order.yes_price_u
        if order.yes_is_bid:
            for price in state.ask_prices:
                if price > limit:
                    break
                total += self._level_size(state.asks[price])
        else:
            for price in reversed(state.bid_prices):
                if price < limit:
                    break
                total += self._level_size(state.bids[price])
        return total

    def _execute(self, order: Order, delayed: bool) -> SubmitResult:
        state, _ = self._state_of(order.token_id)
        now_ms = self.clock.wall_ms()
        if order.order_type is OrderType.FOK and (
            self._crossing_size(state, order) < order.original_size_u
        ):
            self._kill(order, FOK_KILLED_STATUS, now_ms)
            return SubmitResult(order.id, "unmatched", 0, 0, (), ())
        trade, making_u, taking_u = self._match(state, order, now_ms)
        trade_ids = (trade.id,) if trade else ()
        tx_hashes = (trade.transaction_hash,) if trade else ()
        if order.remaining_u == 0:
            order.status = OrderStatus.MATCHED
            self._finish(order)
            self._release(self.account(order.address), order, order.reserved_u)
            self._emit(OrderEvent("UPDATE", order.snapshot(), now_ms))
            return SubmitResult(order.id, "matched", making_u, taking_u, trade_ids, tx_hashes)
        if order.order_type in (OrderType.FOK, OrderType.FAK):
            if trade is None:
                self._kill(order, OrderStatus.CANCELED.value, now_ms)
                return SubmitResult(order.id, "unmatched", 0, 0, (), ())
            order.status = OrderStatus.CANCELED
            self._finish(order)
            self._release(self.account(order.address), order, order.reserved_u)
            self._emit(OrderEvent("UPDATE", order.snapshot(), now_ms))
            return SubmitResult(order.id, "matched", making_u, taking_u, trade_ids, tx_hashes)
        order.status = OrderStatus.LIVE
        if order.order_type is OrderType.GTD:
            self._gtd[order.id] = order
        self._rest(state, order)
        self._emit(OrderEvent("PLACEMENT", order.snapshot(), now_ms))
        status = "matched" if trade else "live"
        return SubmitResult(order.id, status, making_u, taking_u, trade_ids, tx_hashes)

    def _finish(self, order: Order) -> None:
        by_id = self._open.get(order.address)
        if by_id is not None:
            by_id.pop(order.id, None)
        self._gtd.pop(order.id, None)

    def _kill(self, order: Order, status_text: str, now_ms: int) -> None:
        order.status = OrderStatus.CANCELED
        self._finish(order)
        self._release(self.account(order.address), order, order.reserved_u)
        self._emit(OrderEvent("CANCELLATION", order.snapshot(), now_ms, status_text))

    def _rest(self, state: _MarketState, order: Order) -> None:
        price = order.yes_price_u
        book, prices = (
            (state.bids, state.bid_prices) if order.yes_is_bid else (state.asks, state.ask_prices)
        )
        if price not in book:
            book[price] = deque()
            bisect.insort(prices, price)
        book[price].append(order)
        state.dirty.add((order.yes_is_bid, price))

    def _unrest(self, state: _MarketState, order: Order) -> None:
        price = order.yes_price_u
        book, prices = (
            (state.bids, state.bid_prices) if order.yes_is_bid else (state.asks, state.ask_prices)
        )
        level = book.get(price)
        if level is None:
            return
        try:
            level.remove(order)
        except ValueError:
            return
        if not level:
            del book[price]
            prices.pop(bisect.bisect_left(prices, price))
        state.dirty.add((order.yes_is_bid, price))

    def _cancel_order(self, order: Order, status: OrderStatus) -> None:
        state, _ = self._state_of(order.token_id)
        if order.status is OrderStatus.DELAYED and order in self._delayed:
            self._delayed.remove(order)
        else:
            self._unrest(state, order)
        order.status = status
        self._finish(order)
        self._release(self.account(order.address), order, order.reserved_u)
        self._emit(OrderEvent("CANCELLATION", order.snapshot(), self.clock.wall_ms()))

    def _settle(
        self, order: Order, shares_u: int, price_u: int, fee_u: int, before_remaining: int
    ) -> int:
        """Move collateral and shares for one side of a fill; return collateral moved."""
        acct = self.account(order.address)
        notional = _notional_u(shares_u, price_u)
        self._release(acct, order, order.reserved_u * shares_u // before_remaining)
        if order.side is Side.BUY:
            acct.collateral_u -= notional + fee_u
            acct.positions[order.token_id] = acct.positions.get(order.token_id, 0) + shares_u
        else:
            acct.positions[order.token_id] = acct.positions.get(order.token_id, 0) - shares_u
            acct.collateral_u += notional - fee_u
        return notional

    def _credit_rebate(self, address: str, condition_id: str, fee_u: int, now_ms: int) -> None:
        """Pay the maker its share of the taker fee of one fill, in pUSD, at the fill.

        The venue pays the day's pool (rate × the market's taker fees) pro rata to each maker's
        fee-equivalent of filled liquidity; a fill's fee-equivalent is the taker fee of that
        fill (p(1 − p) is the same on both tokens), so per fill the share is rate × fee. The
        simulator credits it at once instead of the next day (runs last minutes).
        """
        rebate_u = int(round(fee_u * self.maker_rebate_rate))
        if rebate_u <= 0:
            return
        self.account(address).collateral_u += rebate_u
        day = time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000))
        key = (address, condition_id, day)
        self._rebates[key] = self._rebates.get(key, 0) + rebate_u

    def neg_risk_markets(self, neg_risk_market_id: str) -> list[MarketInfo]:
        """The markets of one neg-risk event, in question order (the order they were added)."""
        return [state.info for state in self._markets.values()
                if state.info.neg_risk and state.info.neg_risk_market_id == neg_risk_market_id]

    def convert_positions(self, address: str, neg_risk_market_id: str, index_set: int,
                          amount: float) -> dict[str, int]:
        """The Neg Risk adapter's ``convertPositions`` (docs/VENUE.md §5 "Neg-risk"): burn
        ``amount`` No shares of every question whose bit is set in ``index_set`` (m of the n
        questions) and give ``amount`` Yes shares of each of the other n − m questions plus
        ``amount × (m − 1)`` pUSD (fee 0). Return the changes, token or ``"collateral"`` →
        micro-units. Raise `VenueError` (400/404) naming what was wrong."""
        markets = self.neg_risk_markets(neg_risk_market_id)
        if not markets:
            raise VenueError(404, f"neg-risk market {neg_risk_market_id} not found")
        n = len(markets)
        if not 0 < index_set < (1 << n):
            raise VenueError(400, f"invalid index set {index_set}: expected 1 to {(1 << n) - 1} "
                                  f"(one bit per question of the {n})")
        amount_u = to_units(amount)
        if amount_u <= 0:
            raise VenueError(400, f"invalid amount {amount}: expected a positive share count")
        if any(self._markets[m.condition_id].resolved for m in markets):
            raise VenueError(400, "cannot convert positions of a resolved neg-risk market")
        acct = self.account(address)
        chosen = [i for i in range(n) if index_set >> i & 1]
        for i in chosen:
            no_token = markets[i].token_ids[1]
            if acct.available_position_u(no_token) < amount_u:
                raise VenueError(400, f"not enough balance / allowance: {amount} No shares of "
                                      f"question {i} ({markets[i].condition_id}) needed")
        changes: dict[str, int] = {}
        for i in range(n):
            yes, no = markets[i].token_ids
            if i in chosen:
                acct.positions[no] = acct.positions.get(no, 0) - amount_u
                changes[no] = -amount_u
            else:
                acct.positions[yes] = acct.positions.get(yes, 0) + amount_u
                changes[yes] = amount_u
        released = amount_u * (len(chosen) - 1)
        acct.collateral_u += released
        changes["collateral"] = released
        return changes

    def account_addresses(self) -> list[str]:
        """Every address with an account (agents included)."""
        return list(self._accounts)

    def rebates(self, address: str, date: str | None = None) -> list[tuple[str, str, int]]:
        """Rebates credited to ``address``: (UTC date, condition id, micro pUSD), per day and
        market (``date`` = one day only)."""
        return sorted((day, cid, amount) for (addr, cid, day), amount in self._rebates.items()
                      if addr == address and (date is None or day == date))

    def _match(
        self, state: _MarketState, taker: Order, now_ms: int
    ) -> tuple[Trade | None, int, int]:
        info = state.info
        limit = taker.yes_price_u
        fills: list[MakerFill] = []
        taker_fee = 0
        making = taking = 0
        fee_bps = int(round(info.taker_fee_rate * 10_000))
        trade_id = self.next_uuid("trade")
        maker_events: list[OrderSnapshot] = []
        while taker.remaining_u > 0:
            if taker.yes_is_bid:
                if not state.ask_prices or state.ask_prices[0] > limit:
                    break
                price = state.ask_prices[0]
                level = state.asks[price]
            else:
                if not state.bid_prices or state.bid_prices[-1] < limit:
                    break
                price = state.bid_prices[-1]
                level = state.bids[price]
            maker = level[0]
            qty = min(taker.remaining_u, maker.remaining_u)
            taker_px = price if taker.token_index == 0 else MICRO - price
            fee = taker_fee_u(qty, taker_px, info.taker_fee_rate)
            t_notional = self._settle(taker, qty, taker_px, fee, taker.remaining_u)
            self._settle(maker, qty, maker.price_u, 0, maker.remaining_u)
            self._credit_rebate(maker.address, info.condition_id, fee, now_ms)
            taker.size_matched_u += qty
            maker.size_matched_u += qty
            maker.associate_trades.append(trade_id)
            taker_fee += fee
            if taker.side is Side.BUY:
                making += t_notional + fee
                taking += qty
            else:
                making += qty
                taking += t_notional - fee
            fills.append(
                MakerFill(
                    order_id=maker.id,
                    owner=maker.owner,
                    maker_address=maker.address,
                    matched_amount_u=qty,
                    price_u=maker.price_u,
                    fee_rate_bps=0,
                    asset_id=maker.token_id,
                    outcome=maker.outcome,
                    side=maker.side.value,
                )
            )
            state.dirty.add((not taker.yes_is_bid, price))
            if maker.remaining_u == 0:
                level.popleft()
                maker.status = OrderStatus.MATCHED
                self._finish(maker)
                self._release(self.account(maker.address), maker, maker.reserved_u)
                if not level:
                    book = state.asks if taker.yes_is_bid else state.bids
                    prices = state.ask_prices if taker.yes_is_bid else state.bid_prices
                    del book[price]
                    prices.pop(bisect.bisect_left(prices, price))
            maker_events.append(maker.snapshot())
        if not fills:
            return None, 0, 0
        taker.associate_trades.append(trade_id)
        size = sum(f.matched_amount_u for f in fills)
        trade = Trade(
            id=trade_id,
            taker_order_id=taker.id,
            market=info.condition_id,
            asset_id=taker.token_id,
            side=taker.side.value,
            size_u=size,
            price_u=taker.price_u,
            fee_rate_bps=fee_bps,
            fee_u=taker_fee,
            status=TradeStatus.MATCHED.value,
            match_time_ms=now_ms,
            last_update_ms=now_ms,
            outcome=taker.outcome,
            owner=taker.owner,
            taker_address=taker.address,
            transaction_hash="0x" + self.next_id("tx"),
            maker_orders=tuple(fills),
        )
        self._trades[trade.id] = trade
        self._trade_order.append(trade.id)
        mono = self.clock.monotonic()
        self._trade_progress.append(
            (mono + self.trade_mined_after_s, self._seq, trade.id, TradeStatus.MINED)
        )
        self._trade_progress.append(
            (mono + self.trade_confirmed_after_s, self._seq, trade.id, TradeStatus.CONFIRMED)
        )
        self._emit(TradeEvent(trade, now_ms))
        for snap in maker_events:
            self._emit(OrderEvent("UPDATE", snap, now_ms))
        last_px = (
            fills[-1].price_u
            if fills[-1].asset_id == taker.token_id
            else (MICRO - fills[-1].price_u)
        )
        own = taker.token_id
        state.last_trade[own] = (last_px, taker.side.value)
        self._emit(
            LastTradeEvent(info.condition_id, own, last_px, taker.side.value, size, fee_bps, now_ms)
        )
        for other in state.token_ids:
            if other == own:
                continue
            other_side = "SELL" if taker.side is Side.BUY else "BUY"
            state.last_trade[other] = (MICRO - last_px, other_side)
            self._emit(
                LastTradeEvent(
                    info.condition_id, other, MICRO - last_px, other_side, size, fee_bps, now_ms
                )
            )
        for listener in self._trade_listeners:
            listener(trade)
        return trade, making, taking

    def _progress_trades(self, now: float) -> None:
        if not self._trade_progress:
            return
        due = sorted(p for p in self._trade_progress if p[0] <= now)
        if not due:
            return
        self._trade_progress = [p for p in self._trade_progress if p[0] > now]
        now_ms = self.clock.wall_ms()
        for _, _, trade_id, status in due:
            trade = replace(self._trades[trade_id], status=status.value, last_update_ms=now_ms)
            self._trades[trade_id] = trade
            self._emit(TradeEvent(trade, now_ms))

    def _expire(self, now: float) -> None:
        for acct in self._accounts.values():
            if acct.heartbeat_deadline is not None and acct.heartbeat_deadline <= now:
                acct.heartbeat_deadline = None
                acct.heartbeat_id = ""
                for order in list(self._open.get(acct.address, {}).values()):
                    self._cancel_order(order, OrderStatus.CANCELED)
        now_s = self.clock.wall_ms() // 1000
        for order in list(self._gtd.values()):
            if order.status is not OrderStatus.LIVE:
                self._gtd.pop(order.id, None)
            elif 0 < order.expiration_s <= now_s:
                self._cancel_order(order, OrderStatus.CANCELED)
