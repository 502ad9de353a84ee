"""Typed, validated configuration (ARCHITECTURE §1; SPEC §4–§9 parameters).

Load order: the packaged ``polyloly/defaults/base.yaml`` → an overlay (a file path, or the name
of a packaged overlay: ``dev``/``dev.yaml``, ``prod``/``prod.yaml``) → environment variables
``POLYLOLY__SECTION__KEY=value`` (value parsed as a YAML scalar).
Validation turns the merged mapping into frozen structs; any wrong type, unknown key or
out-of-range value fails with :class:`ConfigError` naming the dotted key path, the bad value
and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec
import yaml
from msgspec import Meta

from polyloly.domain import Game, MarketRef
from polyloly.venue_rules import TICK_SIZES

# Packaged defaults are read through importlib.resources (not a path next to the source tree)
# so an installed wheel works from any directory.
DEFAULTS_PACKAGE = "polyloly.defaults"
BASE_FILE = "base.yaml"
PACKAGED_OVERLAYS = ("dev.yaml", "prod.yaml")
ENV_PREFIX = "POLYLOLY__"
# The venue credentials' environment variables, named once here: the gateway's user channel,
# the engine's real executor, .env.example and the supervisor's scrubbing all use these names.
PRIVATE_KEY_ENV: Final = "POLYMARKET_PRIVATE_KEY"
API_CREDENTIAL_ENV: Final = ("POLYMARKET_API_KEY", "POLYMARKET_API_SECRET",
                             "POLYMARKET_API_PASSPHRASE")

PositiveFloat = Annotated[float, Meta(gt=0)]
NonNegativeFloat = Annotated[float, Meta(ge=0)]
PositiveInt = Annotated[int, Meta(gt=0)]
NonNegativeInt = Annotated[int, Meta(ge=0)]
Fraction = Annotated[float, Meta(ge=0, le=1)]
Probability = Annotated[float, Meta(gt=0, lt=1)]
Port = Annotated[int, Meta(ge=0, le=65535)]
Hour = Annotated[int, Meta(ge=0, le=24)]


class ConfigError(ValueError):
    """Invalid configuration; ``errors`` lists one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(errors))
        self.errors = errors


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class RunConfig(_Section, frozen=True):
    mode: Literal["paper", "live"] = "paper"
    run_dir: str = "/tmp/polyloly"  # ipc sockets live here, created 0700
    data_dir: str = "var"  # sqlite, event logs, DLQ, snapshots
    run_id: str = ""  # empty: generated at start
    # startup checks: the venue's /time and the system's NTP offset may differ this much
    max_clock_skew_s: PositiveFloat = 2.0


class ShmConfig(_Section, frozen=True):
    segment_name: str = "polyloly_books"
    levels: Annotated[int, Meta(ge=1, le=1000)] = 32
    attach_timeout_s: PositiveFloat = 10.0


class BusConfig(_Section, frozen=True):
    """ZeroMQ endpoints; ``ipc://`` paths are relative to ``run.run_dir`` when they start
    with ``ipc://@/`` (the ``@`` is replaced by the run dir)."""

    gateway_pub: str = "ipc://@/gateway-pub.sock"
    engine_router: str = "ipc://@/engine-router.sock"
    engine_pub: str = "ipc://@/engine-pub.sock"
    user_updates: str = "ipc://@/user-updates.sock"
    send_hwm: PositiveInt = 100_000
    shard_wait: Literal["block", "spin", "spin_then_block"] = "block"
    spin_us: NonNegativeInt = 200
    # CURVE on every bus socket (required for tcp://): keys per process from curve_keys_dir,
    # <process>.key_secret and every process's <name>.key (polyloly/bus.py, specs/04 §1.1)
    curve_enabled: bool = False
    curve_keys_dir: str = ""


class PolymarketConfig(_Section, frozen=True):
    clob_rest_url: str = "https://clob.polymarket.com"
    market_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    user_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    sports_ws_url: str = "wss://sports-api.polymarket.com/ws"
    chain_id: PositiveInt = 137
    signature_type: Annotated[int, Meta(ge=0, le=2)] = 0
    funder: str = ""
    assets_per_connection: Annotated[int, Meta(ge=1, le=500)] = 200
    # market/user WS keep-alive: a text PING this often; no frame at all (data or PONG) for
    # pong_timeout_s → the connection is dead, its books STALE, and it is re-made (issue 20 #3)
    ping_interval_s: PositiveFloat = 1.0
    pong_timeout_s: PositiveFloat = 3.0
    reconnect_base_s: PositiveFloat = 1.0
    reconnect_max_s: PositiveFloat = 60.0
    request_timeout_s: PositiveFloat = 5.0
    matching_delay_s: NonNegativeFloat = 3.0  # sports markets' delay on marketable orders
    # after (re)subscribing, a token with no `book` within this many seconds is resynced
    # from REST GET /book (gateway)
    snapshot_timeout_s: PositiveFloat = 5.0


class ProviderConfig(_Section, frozen=True):
    enabled: bool = True
    url: str = ""
    tier: Literal["A", "B", "C"] = "B"
    expected_delay_ms: NonNegativeInt = 2000
    stale_threshold_ms: PositiveInt = 30_000
    poll_interval_ms: PositiveInt = 2000
    api_key_env: str = ""
    max_requests_per_minute: PositiveInt = 60
    # A second base URL for providers split over two hosts (LoL Esports: getLive lives on
    # esports-api.lolesports.com/persisted/gw, windows on feed.lolesports.com/livestats/v1).
    # Empty: same as ``url``.
    api_url: str = ""


class ProviderIds(_Section, frozen=True):
    opendota: str = ""
    pandascore: str = ""
    grid: str = ""
    lolesports: str = ""
    # LoL Esports game ids of the series, in map order (the livestats feed is keyed by game);
    # empty: the adapter asks getEventDetails for them.
    lolesports_game_ids: tuple[str, ...] = ()
    liquipedia: str = ""
    polymarket_sports: str = ""


class MarketConfig(_Section, frozen=True):
    market_id: str  # condition id
    token_ids: tuple[str, str]  # (YES/team A, NO/team B)
    match_id: str
    game: Game
    outcomes: tuple[str, str] = ("YES", "NO")
    teams: tuple[str, str] = ("A", "B")  # team names as providers report them
    best_of: Annotated[int, Meta(ge=1, le=7)] = 1
    correlation_group: str = "default"
    tick_size: Probability = 0.001
    min_order_size: PositiveFloat = 5.0
    taker_fee_rate: Fraction = 0.03
    neg_risk: bool = False
    shard: int | None = None  # None: stable hash of the market id
    provider_ids: ProviderIds = msgspec.field(default_factory=ProviderIds)

    def ref(self) -> MarketRef:
        return MarketRef(
            market_id=self.market_id,
            token_yes=self.token_ids[0],
            token_no=self.token_ids[1],
            match_id=self.match_id,
            game=self.game,
            correlation_group=self.correlation_group,
        )


class ShardsConfig(_Section, frozen=True):
    count: Annotated[int, Meta(ge=1, le=64)] = 2
    status_interval_s: PositiveFloat = 1.0
    time_interval_ms: Annotated[int, Meta(ge=1, le=1000)] = 50  # core on_time cadence
    intent_timeout_ms: PositiveInt = 30_000  # no ack/report this long → resync via StateQuery
    state_query_retry_ms: PositiveInt = 5000  # resend StateQuery while no snapshot came


class TruthConfig(_Section, frozen=True):
    """SPEC §4.1 and §6.2 numbers."""

    initial_confidence: Fraction = 0.80
    consensus_bonus: Fraction = 0.10
    tier_a_bonus: Fraction = 0.05
    confirm_threshold: Fraction = 0.90
    consensus_window_ms: PositiveInt = 5000
    max_wait_ms: PositiveInt = 10_000
    required_sources_for_final: PositiveInt = 2
    pause_timeout_ms: PositiveInt = 60_000  # LIVE with no event this long → PAUSED
    future_tolerance_ms: PositiveInt = 2000  # source time ahead of receive time: a bad fact
    bad_facts_unhealthy: PositiveInt = 3  # this many bad facts from a source: it is unhealthy


class PairArbConfig(_Section, frozen=True):
    enabled: bool = True
    size_usdc: PositiveFloat = 50.0
    safety_margin: Fraction = 0.01
    max_leg_imbalance_usdc: PositiveFloat = 100.0
    max_leg_imbalance_shares: PositiveFloat = 50.0
    max_position_usdc: PositiveFloat = 500.0
    cooldown_ms: NonNegativeInt = 1000
    order_type: Literal["FAK", "FOK"] = "FAK"  # both legs; FAK partials are rebalanced
    rebalance_max_loss_per_share: Fraction = 0.02  # lagging leg may cost up to 1 + this
    # accumulation (specs/05): "none" completes only what is held (maker or temporal fills,
    # pairs); "dip" also takes a first leg whose cost is entry_edge below its fair value
    first_leg: Literal["none", "dip"] = "none"
    entry_edge: Fraction = 0.03


GTD_MIN_LIFETIME_S: Final = 61  # Polymarket: a GTD expiry must be > now + 60 s


class MakerConfig(_Section, frozen=True):
    """Maker quoting (shards/maker_quoting.py, specs/06 §maker): post-only bids around fair
    value on both outcomes, asks against unmatched inventory; off unless enabled."""

    enabled: bool = False
    size_shares: PositiveFloat = 10.0  # per quote, before the inventory caps
    half_width: Fraction = 0.02  # each quote's base distance from fair value
    live_width_mult: PositiveFloat = 2.0  # wider while truth is live (facts move fair value)
    volatility_width_mult: NonNegativeFloat = 2.0  # + this × std dev of recent mid changes
    volatility_window: PositiveInt = 20  # mid changes kept for that std dev
    skew_per_share: NonNegativeFloat = 0.0005  # price shift per share of net inventory
    max_inventory_shares: PositiveFloat = 50.0  # unmatched shares of one outcome
    max_inventory_usdc: PositiveFloat = 50.0  # cost of one outcome's unmatched shares
    reprice_threshold: Fraction = 0.01  # a fair-value (or wanted price) move that replaces
    gtd_s: NonNegativeInt = 0  # 0: GTC; else GTD expiring this long after the book's venue time
    cooldown_ms: NonNegativeInt = 250  # between two quote decisions of one market


class TemporalArbConfig(_Section, frozen=True):
    enabled: bool = True
    min_edge_threshold: Fraction = 0.05
    kelly_fraction: Fraction = 0.25
    bankroll_usdc: PositiveFloat = 1000.0
    max_size_usdc: PositiveFloat = 200.0
    edge_window_buffer: Fraction = 0.7  # trade only while event age < 70% of reaction window
    min_reaction_samples: PositiveInt = 3  # no temporal trade before this many reactions
    reaction_move_threshold: Fraction = 0.02  # a mid move this far toward the implied price
    max_reaction_ms: PositiveInt = 30_000  # a reaction not seen by then is dropped (no move)
    fallback_max_size_usdc: PositiveFloat = 25.0  # cap on a final reached by timeout fallback
    latency_window: PositiveInt = 100
    final_probability: Probability = 0.99
    cooldown_ms: NonNegativeInt = 2000
    order_type: Literal["FAK", "FOK"] = "FAK"
    prior_map_probability: Probability = 0.5  # team A's chance on a map not yet started
    round_win_probability: Probability = 0.5  # team A's CS2/Valorant round-win chance
    prior_stable_s: PositiveFloat = 5.0  # a mid standing this long is the market's prior


class CircuitConfig(_Section, frozen=True):
    max_consecutive_rejects: PositiveInt = 3
    max_cancel_failures: PositiveInt = 3
    max_order_latency_ms: PositiveFloat = 5000.0


class TimeRulesConfig(_Section, frozen=True):
    open_buffer_s: NonNegativeFloat = 0.0
    close_buffer_s: NonNegativeFloat = 0.0
    peak_hours_utc: tuple[Hour, Hour] = (0, 0)  # [start, end); equal = none
    peak_size_factor: Fraction = 1.0
    weekend_trading: bool = True


class RiskConfig(_Section, frozen=True):
    max_order_size_usdc: PositiveFloat = 250.0
    max_market_exposure_usdc: PositiveFloat = 1000.0
    max_total_exposure_usdc: PositiveFloat = 5000.0
    max_exposure_per_group_usdc: PositiveFloat = 2000.0
    max_daily_loss_usdc: PositiveFloat = 500.0
    max_slippage_bps: PositiveFloat = 300.0
    max_leg_imbalance_usdc: PositiveFloat = 150.0
    drawdown_sizing_start_usdc: PositiveFloat = 250.0  # size shrinks linearly from here
    min_size_factor: Fraction = 0.25
    volatility_lookback_ticks: PositiveInt = 50
    circuit: CircuitConfig = msgspec.field(default_factory=CircuitConfig)
    time_rules: TimeRulesConfig = msgspec.field(default_factory=TimeRulesConfig)


class RetryConfig(_Section, frozen=True):
    max_attempts: PositiveInt = 3
    base_delay_s: PositiveFloat = 0.2
    max_delay_s: PositiveFloat = 5.0
    jitter: Fraction = 0.2


class ExecutionConfig(_Section, frozen=True):
    executor: Literal["paper", "real"] = "paper"
    idempotency_ttl_s: PositiveFloat = 3600.0
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    heartbeat_interval_s: PositiveFloat = 3.0  # venue cancels all after ~10 s without one
    cancel_on_shutdown: bool = True
    reconcile_interval_s: PositiveFloat = 30.0
    paper_latency_ms: NonNegativeFloat = 0.0
    # venue submits run as concurrent tasks (intake never waits on the venue); at most this
    # many are in flight at once, the rest queue in arrival order
    max_inflight_submits: PositiveInt = 8
    private_key_env: str = "POLYMARKET_PRIVATE_KEY"
    private_key_file: str = ""
    # real executor: a submit with no answer is polled this long before it is declared unknown
    # to the venue (then REJECTED); user-channel gaps are covered by polling trades this often
    unknown_order_timeout_s: PositiveFloat = 30.0
    trade_poll_interval_s: PositiveFloat = 2.0


class StorageConfig(_Section, frozen=True):
    sqlite_file: str = "polyloly.sqlite3"  # relative to run.data_dir
    events_dir: str = "events"
    dlq_file: str = "dlq.jsonl"
    rotate_bytes: PositiveInt = 64 << 20


class MetricsConfig(_Section, frozen=True):
    enabled: bool = True
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    gateway_port: Port = 9101
    engine_port: Port = 9102
    shard_base_port: Port = 9110  # shard K serves on base + K


class LoggingConfig(_Section, frozen=True):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    file: str = ""  # empty: stderr


class TelegramConfig(_Section, frozen=True):
    enabled: bool = False
    base_url: str = "https://api.telegram.org"
    token_env: str = "TELEGRAM_BOT_TOKEN"
    chat_id: str = ""
    dedupe_window_s: PositiveFloat = 300.0
    max_per_minute: PositiveInt = 20
    # `polyloly telegram` (ops/telegram_bot.py): fills are sent in one message per window; a
    # daily summary at this UTC hour (-1: none); getUpdates long-poll seconds
    fill_batch_s: PositiveFloat = 30.0
    max_fills_per_message: PositiveInt = 20
    daily_summary_hour_utc: Annotated[int, Meta(ge=-1, le=23)] = 0
    poll_timeout_s: Annotated[int, Meta(ge=0, le=50)] = 25


class AlertsConfig(_Section, frozen=True):
    telegram: TelegramConfig = msgspec.field(default_factory=TelegramConfig)
    # consecutive failed reconnects of one WebSocket connection before a WARNING (SPEC §14)
    ws_failed_reconnects: PositiveInt = 3


class Config(_Section, frozen=True):
    run: RunConfig = msgspec.field(default_factory=RunConfig)
    shm: ShmConfig = msgspec.field(default_factory=ShmConfig)
    bus: BusConfig = msgspec.field(default_factory=BusConfig)
    polymarket: PolymarketConfig = msgspec.field(default_factory=PolymarketConfig)
    providers: dict[str, ProviderConfig] = {}
    markets: tuple[MarketConfig, ...] = ()
    shards: ShardsConfig = msgspec.field(default_factory=ShardsConfig)
    truth: TruthConfig = msgspec.field(default_factory=TruthConfig)
    pair_arb: PairArbConfig = msgspec.field(default_factory=PairArbConfig)
    temporal_arb: TemporalArbConfig = msgspec.field(default_factory=TemporalArbConfig)
    maker: MakerConfig = msgspec.field(default_factory=MakerConfig)
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    execution: ExecutionConfig = msgspec.field(default_factory=ExecutionConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)

    def market(self, market_id: str) -> MarketConfig:
        for market in self.markets:
            if market.market_id == market_id:
                return market
        raise KeyError(f"unknown market {market_id!r}")

    def endpoint(self, name: str) -> str:
        """A bus endpoint with ``ipc://@`` resolved against the run dir."""
        value: str = getattr(self.bus, name)
        return value.replace("ipc://@", f"ipc://{self.run.run_dir}", 1)

    def data_path(self, relative: str) -> Path:
        return Path(self.run.data_dir) / relative

    def shard_of(self, market: MarketConfig) -> int:
        if market.shard is not None:
            return market.shard % self.shards.count
        return stable_hash(market.market_id) % self.shards.count

    def markets_for_shard(self, shard: int) -> tuple[MarketConfig, ...]:
        return tuple(m for m in self.markets if self.shard_of(m) == shard)


def stable_hash(text: str) -> int:
    """A hash that is the same in every process and run (unlike ``hash``)."""
    value = 2166136261
    for byte in text.encode():
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


# ---------------------------------------------------------------------------------------------


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``overlay`` into ``base`` recursively; lists and scalars replace."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        bare = "/" not in str(path)
        hint = f" (packaged overlays: {', '.join(PACKAGED_OVERLAYS)})" if bare else ""
        raise ConfigError([f"{path}: cannot read: {exc.strerror}{hint}"]) from None
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{where}: not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{where}: expected a mapping at the top level"])
    return data


def read_packaged(name: str) -> str:
    """The text of a packaged defaults file; a missing one means a broken install."""
    where = f"{DEFAULTS_PACKAGE.replace('.', '/')}/{name}"
    try:
        return resources.files(DEFAULTS_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    except (OSError, ImportError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError([
            f"packaged config {where}: cannot read ({reason}); the installation is incomplete, "
            "reinstall polyloly (make install, or pip install --force-reinstall polyloly)"
        ]) from None


def packaged_overlay_name(path: str | Path) -> str | None:
    """``prod``/``prod.yaml`` → ``prod.yaml`` when no such file exists here; else ``None``.

    An existing file always wins, so a local ``prod.yaml`` is never shadowed by the packaged one.
    """
    text = str(path)
    if "/" in text or Path(text).exists():
        return None
    name = text if text.endswith(".yaml") else f"{text}.yaml"
    return name if name in (BASE_FILE, *PACKAGED_OVERLAYS) else None


def _read_overlay(path: str | Path) -> dict[str, Any]:
    packaged = packaged_overlay_name(path)
    if packaged == BASE_FILE:
        return {}  # base is already the bottom layer
    if packaged is not None:
        return _parse_yaml(read_packaged(packaged), f"{DEFAULTS_PACKAGE}/{packaged}")
    return _read_yaml(Path(path))


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``POLYLOLY__RISK__MAX_DAILY_LOSS_USDC=300`` → ``{"risk": {"max_daily_loss_usdc": 300}}``."""
    overrides: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return overrides


def load_raw(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Merge base.yaml, the given overlay (if any) and the environment, unvalidated."""
    merged = _parse_yaml(read_packaged(BASE_FILE), f"{DEFAULTS_PACKAGE}/{BASE_FILE}")
    if path is not None:
        merged = deep_merge(merged, _read_overlay(path))
    return deep_merge(merged, env_overrides(os.environ if environ is None else environ))


# Keys a recording made before their removal may still carry; replay drops them (a live config
# naming one is refused as an unknown key). Value: why it went.
RETIRED_KEYS: Final[dict[tuple[str, str], str]] = {
    ("temporal_arb", "default_reaction_window_ms"):
        "issue 15: no default reaction window (temporal_arb.min_reaction_samples)",
}


def without_retired(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the :data:`RETIRED_KEYS` (for recorded configs of older runs)."""
    result = dict(data)
    for section, key in RETIRED_KEYS:
        part = result.get(section)
        if isinstance(part, dict) and key in part:
            result[section] = {k: v for k, v in part.items() if k != key}
    return result


def load_config(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Load, merge and validate; raise :class:`ConfigError` naming every bad key."""
    return validate(load_raw(path, environ))


def validate(data: Mapping[str, Any]) -> Config:
    try:
        config = msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError([_explain(str(exc), data)]) from None
    errors = _semantic_errors(config)
    if errors:
        raise ConfigError(errors)
    return config


_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_EXPECTED_RE = re.compile(r"^Expected `(?P<what>[^`]*)`")


def _explain(message: str, data: Mapping[str, Any]) -> str:
    match = _PATH_RE.search(message)
    raw_path = match.group("path") if match else ""
    detail = message[: match.start()] if match else message
    keys = re.findall(r"\.([A-Za-z_0-9]+)|\[(\d+)\]", raw_path)
    parts: list[str | int] = [k if k else int(i) for k, i in keys]
    if detail.startswith("Object contains unknown field"):
        field = re.search(r"`([^`]*)`", detail)
        name = field.group(1) if field else "?"
        where = _dotted(parts)
        return f"{where + '.' if where else ''}{name}: unknown key"
    if detail.startswith("Object missing required field"):
        field = re.search(r"`([^`]*)`", detail)
        name = field.group(1) if field else "?"
        return f"{_dotted([*parts, name])}: required key missing"
    value = _lookup(data, parts)
    expected = _humanize(detail, parts)
    return f"{_dotted(parts) or '(top level)'}: {expected}, was {value!r}"


def _humanize(detail: str, path: list[str | int]) -> str:
    expected = _EXPECTED_RE.match(detail)
    if expected:
        what = expected.group("what")
        bound = detail[expected.end() :].split(", got")[0].strip()
        noun = {
            "float": "a number",
            "int": "an integer",
            "bool": "true or false",
            "str": "a string",
            "object": "a mapping",
            "array": "a list",
        }.get(what, what)
        if bound and noun == "a number" and bound == "> 0.0":
            return "expected a positive number"
        return f"expected {noun} {bound}".rstrip()
    if detail.startswith("Invalid enum value"):
        return f"expected one of {_choices(path)}"
    return detail[0].lower() + detail[1:] if detail else "invalid value"


def _choices(path: list[str | int]) -> str:
    node: Any = Config
    for part in path:
        if isinstance(part, int):
            continue
        hints = {f.name: f.type for f in msgspec.structs.fields(node)} if isinstance(
            node, type
        ) and issubclass(node, msgspec.Struct) else {}
        node = hints.get(part)
        while hasattr(node, "__args__") and not hasattr(node, "__members__"):
            args = [a for a in node.__args__ if a is not type(None)]
            if getattr(node, "__origin__", None) is Literal:
                return ", ".join(repr(a) for a in node.__args__)
            node = args[0] if args else None
    if isinstance(node, type) and hasattr(node, "__members__"):
        return ", ".join(repr(m.value) for m in node)  # type: ignore[attr-defined]
    return "the allowed values"


def _lookup(data: Any, parts: list[str | int]) -> Any:
    node = data
    for part in parts:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _dotted(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _semantic_errors(config: Config) -> list[str]:
    errors: list[str] = []
    seen_markets: set[str] = set()
    seen_tokens: set[str] = set()
    for index, market in enumerate(config.markets):
        where = f"markets[{index}]"
        if market.market_id in seen_markets:
            errors.append(f"{where}.market_id: duplicate market {market.market_id!r}")
        seen_markets.add(market.market_id)
        for token in market.token_ids:
            if not token.isdigit():
                errors.append(f"{where}.token_ids: expected decimal token ids, was {token!r}")
            if token in seen_tokens:
                errors.append(f"{where}.token_ids: token {token!r} appears in two markets")
        seen_tokens.update(market.token_ids)
        if market.token_ids[0] == market.token_ids[1]:
            errors.append(f"{where}.token_ids: the two tokens must differ")
        if not any(abs(market.tick_size - tick) < 1e-12 for tick in TICK_SIZES):
            errors.append(f"{where}.tick_size: expected one of "
                          f"{', '.join(map(str, TICK_SIZES))}, was {market.tick_size!r}")
        if market.shard is not None and not 0 <= market.shard < config.shards.count:
            errors.append(
                f"{where}.shard: expected 0..{config.shards.count - 1}, was {market.shard!r}"
            )
    for name, provider in config.providers.items():
        if provider.enabled and not provider.url:
            errors.append(f"providers.{name}.url: required when the provider is enabled")
    if 0 < config.maker.gtd_s < GTD_MIN_LIFETIME_S:
        errors.append(f"maker.gtd_s: expected 0 (GTC) or at least {GTD_MIN_LIFETIME_S} (the "
                      f"venue refuses a GTD expiring within a minute), was {config.maker.gtd_s}")
    if config.run.mode == "live" and config.execution.executor != "real":
        errors.append("execution.executor: live mode needs executor 'real', was 'paper'")
    start, end = config.risk.time_rules.peak_hours_utc
    if start > end:
        errors.append(f"risk.time_rules.peak_hours_utc: expected start <= end, was {[start, end]}")
    return errors


_SECRET_KEY_RE = re.compile(r"(secret|passphrase|private_key|password|token)$", re.IGNORECASE)


def masked(config: Config) -> dict[str, Any]:
    """Config as builtins with secret-looking values masked, for printing."""

    def mask(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: ("***" if _SECRET_KEY_RE.search(k) and v and not k.endswith("_env") else mask(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [mask(v) for v in node]
        return node

    result: dict[str, Any] = mask(msgspec.to_builtins(config))
    return result


# --- provenance: which layer gave each value (``polyloly config show``, error attribution) ---

DEFAULT_SOURCE = "default"  # a struct default in this module: no layer set the key
BASE_SOURCE = f"{DEFAULTS_PACKAGE.replace('.', '/')}/{BASE_FILE}"


def _overlay_label(path: str | Path) -> str:
    packaged = packaged_overlay_name(path)
    where = DEFAULTS_PACKAGE.replace(".", "/")
    return f"{where}/{packaged}" if packaged is not None else str(path)


def env_variable_paths(environ: Mapping[str, str]) -> dict[str, str]:
    """Dotted config key → the ``POLYLOLY__…`` variable that sets it (as :func:`env_overrides`
    reads them), so an error in an environment value names the variable, not a file."""
    found: dict[str, str] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if parts:
            found[".".join(parts)] = name
    return found


def _mark(sources: dict[str, str], node: Any, prefix: str, label: str) -> None:
    """Record ``label`` for every leaf under ``prefix``; a non-mapping value (a list, a
    scalar) replaces whatever an earlier layer had below it, as :func:`deep_merge` does."""
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            _mark(sources, value, f"{prefix}.{key}" if prefix else str(key), label)
        return
    for stale in [k for k in sources if k.startswith(f"{prefix}.") or k.startswith(f"{prefix}[")]:
        del sources[stale]
    sources[prefix] = label


def value_sources(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Dotted key of every value given by a layer → where it came from: the packaged
    base.yaml (:data:`BASE_SOURCE`), the overlay's path, or ``env NAME``. Keys no layer sets
    take the code default (:data:`DEFAULT_SOURCE`). Raises :class:`ConfigError` as
    :func:`load_raw`."""
    env = os.environ if environ is None else environ
    sources: dict[str, str] = {}
    base = _parse_yaml(read_packaged(BASE_FILE), f"{DEFAULTS_PACKAGE}/{BASE_FILE}")
    _mark(sources, base, "", BASE_SOURCE)
    if path is not None:
        _mark(sources, _read_overlay(path), "", _overlay_label(path))
    for dotted, name in env_variable_paths(env).items():
        _mark(sources, {}, dotted, f"env {name}")
    sources.pop("", None)
    return sources


def source_of(sources: Mapping[str, str], dotted: str) -> str:
    """The layer that gave ``dotted`` (or the nearest enclosing key a layer gave whole: a
    ``markets`` list, a ``risk`` mapping); :data:`DEFAULT_SOURCE` when none did."""
    key = dotted
    while key:
        if key in sources:
            return sources[key]
        cut = max(key.rfind("."), key.rfind("["))
        key = key[:cut] if cut > 0 else ""
    return DEFAULT_SOURCE


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"risk": {"circuit": {"x": 1}}}`` → ``{"risk.circuit.x": 1}``; list items are
    ``markets[0].market_id``; an empty mapping or list is one leaf."""
    flat: dict[str, Any] = {}
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(node, list | tuple) and node:
        for index, value in enumerate(node):
            flat.update(flatten(value, f"{prefix}[{index}]"))
    else:
        flat[prefix] = node
    return flat


CONFIG_ENV = "POLYLOLY_CONFIG"  # names the running system's config when --config is not given


def locate_config(arg: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The config of the running system a command acts on: ``--config``, else the
    ``POLYLOLY_CONFIG`` variable; None when neither names one (the caller exits 2)."""
    env = os.environ if environ is None else environ
    return arg or env.get(CONFIG_ENV) or None
