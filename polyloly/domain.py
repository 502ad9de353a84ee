"""Domain vocabulary shared by every process: enums and identities (SPEC §4–§9).

Enums are ``str`` enums so that they encode as their value on the wire and in logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

MarketId = NewType("MarketId", str)
"""A Polymarket condition id (``0x`` + 64 hex digits)."""
TokenId = NewType("TokenId", str)
"""A CLOB outcome token id (a decimal string of up to ~78 digits)."""
MatchId = NewType("MatchId", str)
"""Our own match id; config maps provider ids to it."""


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Outcome(StrEnum):
    """Which token of a binary market: YES = outcome 0 (team A), NO = outcome 1 (team B)."""

    YES = "YES"
    NO = "NO"

    @property
    def other(self) -> Outcome:
        return Outcome.NO if self is Outcome.YES else Outcome.YES


class OrderType(StrEnum):
    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


class OrderStatus(StrEnum):
    """Lifecycle of one of our orders, as the order manager tracks it (SPEC §8.1)."""

    PENDING = "PENDING"  # accepted by risk, not yet sent
    SUBMITTED = "SUBMITTED"  # sent; venue answer not yet known
    DELAYED = "DELAYED"  # venue accepted it into the sports matching delay
    LIVE = "LIVE"  # resting on the book
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"  # submit outcome unknown (timeout): tracked until the venue says

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_ORDER_STATUSES

    @property
    def is_open(self) -> bool:
        return not self.is_terminal


_TERMINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class FillType(StrEnum):
    PARTIAL = "PARTIAL"
    FULL = "FULL"


class TruthStatus(StrEnum):
    """Truth Engine states of one match (SPEC §4.1)."""

    PRE_MATCH = "PRE_MATCH"
    LIVE = "LIVE"
    PAUSED = "PAUSED"
    PENDING_CONFIRM = "PENDING_CONFIRM"
    FINAL = "FINAL"


class TradingState(StrEnum):
    """Trading Engine states of one market (SPEC §4.2)."""

    IDLE = "IDLE"
    BUILDING_PAIR = "BUILDING_PAIR"
    LOCKED_PAIR = "LOCKED_PAIR"
    TEMPORAL_ACTIVE = "TEMPORAL_ACTIVE"
    FINALIZING = "FINALIZING"
    RESOLVED = "RESOLVED"
    HALT = "HALT"


class TradingAction(StrEnum):
    """Actions the Trading Engine allows per state (SPEC §4.2 table)."""

    WATCH = "watch"
    BUY_YES = "buy_yes"
    BUY_NO = "buy_no"
    BUY_WINNER = "buy_winner"
    CANCEL = "cancel"
    CANCEL_ALL = "cancel_all"
    QUOTE = "quote"  # post a post-only maker order (issue 17)
    REPLACE = "replace"  # cancel one of our maker quotes and post its successor


class SourceTier(StrEnum):
    """Esports data source tiers (SPEC §6.1): A signals and confirms, C only confirms."""

    A = "A"
    B = "B"
    C = "C"


class Game(StrEnum):
    LOL = "lol"
    DOTA2 = "dota2"
    CS2 = "cs2"
    VALORANT = "valorant"


class Strategy(StrEnum):
    PAIR_ARB = "pair_arb"
    TEMPORAL_ARB = "temporal_arb"
    REBALANCE = "rebalance"
    MANUAL = "manual"
    MAKER = "maker"  # post-only quotes around fair value (shards/maker_quoting.py)


class MatchEventType(StrEnum):
    """Normalized esports event kinds produced by the gateway's adapters."""

    MATCH_STARTED = "MATCH_STARTED"
    GAME_STATE = "GAME_STATE"  # in-game snapshot: gold lead, kills, towers, round score
    MAP_STARTED = "MAP_STARTED"
    MAP_ENDED = "MAP_ENDED"  # one game/map of the series won
    MATCH_PAUSED = "MATCH_PAUSED"
    MATCH_RESUMED = "MATCH_RESUMED"
    MATCH_ENDED = "MATCH_ENDED"  # series over, payload names the winner


class RejectReason(StrEnum):
    """Reason codes for refused intents; every refusal carries exactly one."""

    DECODE_ERROR = "DECODE_ERROR"
    UNKNOWN_MARKET = "UNKNOWN_MARKET"
    UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
    NON_POSITIVE_SIZE = "NON_POSITIVE_SIZE"
    PRICE_OUT_OF_RANGE = "PRICE_OUT_OF_RANGE"
    PRICE_OFF_TICK = "PRICE_OFF_TICK"
    BELOW_MIN_SIZE = "BELOW_MIN_SIZE"
    MARKET_HALTED = "MARKET_HALTED"
    KILL_SWITCH = "KILL_SWITCH"
    DUPLICATE = "DUPLICATE"
    SLIPPAGE = "SLIPPAGE"
    ORDER_SIZE_LIMIT = "ORDER_SIZE_LIMIT"
    MARKET_EXPOSURE_LIMIT = "MARKET_EXPOSURE_LIMIT"
    LEG_IMBALANCE = "LEG_IMBALANCE"
    CORRELATION_LIMIT = "CORRELATION_LIMIT"
    TOTAL_EXPOSURE_LIMIT = "TOTAL_EXPOSURE_LIMIT"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    TIME_RULE = "TIME_RULE"
    BOOK_STALE = "BOOK_STALE"
    NO_LIQUIDITY = "NO_LIQUIDITY"
    HEARTBEAT_UNHEALTHY = "HEARTBEAT_UNHEALTHY"
    NOT_READY = "NOT_READY"
    VENUE_REJECTED = "VENUE_REJECTED"
    VENUE_UNAVAILABLE = "VENUE_UNAVAILABLE"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"


@dataclass(frozen=True, slots=True)
class MarketRef:
    """One binary market: a condition with its two outcome tokens, mapped to a match."""

    market_id: str
    token_yes: str
    token_no: str
    match_id: str
    game: Game
    correlation_group: str

    def token_for(self, outcome: Outcome) -> str:
        return self.token_yes if outcome is Outcome.YES else self.token_no

    def outcome_of(self, token_id: str) -> Outcome:
        if token_id == self.token_yes:
            return Outcome.YES
        if token_id == self.token_no:
            return Outcome.NO
        raise KeyError(f"token {token_id!r} is not in market {self.market_id}")
