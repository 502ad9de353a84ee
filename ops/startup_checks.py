"""Startup checks of SPEC §13.1, run by ``polyloly run`` before starting and by
``polyloly doctor`` on demand: config, clock skew against the venue, feeds, market WS, REST,
balance/allowance, market mappings, and a loud warning in paper mode."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import websockets

from ops.config_errors import check_config_file, telegram_errors
from ops.feed_checks import check_feed
from ops.ntp_status import CommandRunner, NtpStatus, read_ntp_status, system_runner
from polyloly.config import Config


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fatal: bool = True  # a failed fatal check stops start


@dataclass(frozen=True, slots=True)
class StartupReport:
    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """No check failed (warnings pass)."""
        return all(check.ok or not check.fatal for check in self.checks)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if not check.ok and check.fatal)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        """Checks that did not pass but do not stop a start (e.g. NTP state unknown)."""
        return tuple(check for check in self.checks if not check.ok and not check.fatal)

    def render(self) -> str:
        lines = []
        for check in self.checks:
            mark = "ok  " if check.ok else ("FAIL" if check.fatal else "warn")
            first, *more = check.detail.splitlines() or [""]
            lines.append(f"[{mark}] {check.name:<28} {first}")
            lines += [f"{'':<36}{line}" for line in more]
        lines.append("all checks passed" if self.passed else "startup checks FAILED: "
                     + ", ".join(check.name for check in self.failed))
        return "\n".join(lines)


def is_live(config: Config) -> bool:
    """A live config: the clock checks fail instead of warning."""
    return config.run.mode == "live"


def live_requirement_errors(config: Config, environ: Mapping[str, str]) -> list[str]:
    """What the engine would refuse to start without (the real executor or ``run.mode: live``
    needs ``LIVE_TRADING=1`` and a key; the engine's own check), and at least one market."""
    if config.execution.executor != "real" and config.run.mode != "live":
        return []
    from engine.main import StartupRefused, check_live_prerequisites

    errors: list[str] = []
    try:
        check_live_prerequisites(config, dict(environ))
    except StartupRefused as exc:
        errors.append(str(exc))
    if not config.markets:
        errors.append("markets: live trading needs at least one market, none configured")
    return errors


def config_check(config: Config, environ: Mapping[str, str]) -> CheckResult:
    """The loaded config against the live requirements and Telegram's chat id and token."""
    errors = live_requirement_errors(config, environ) + telegram_errors(config, environ)
    if errors:
        return CheckResult("config", False, "\n".join(errors))
    return CheckResult(
        "config", True, f"{config.run.mode} mode, {config.execution.executor} executor, "
        f"{len(config.markets)} markets, {config.shards.count} shards",
    )


async def _timed(name: str, coro: Awaitable[CheckResult], timeout_s: float) -> CheckResult:
    try:
        return await asyncio.wait_for(coro, timeout_s)
    except TimeoutError:
        return CheckResult(name, False, f"no answer within {timeout_s:.0f}s")
    except (aiohttp.ClientError, OSError, ValueError, websockets.WebSocketException) as exc:
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")


async def venue_clock_check(
    session: aiohttp.ClientSession, rest: str, config: Config
) -> CheckResult:
    """The venue's ``/time`` against ours: off by more than ``run.max_clock_skew_s`` fails a
    live config and warns a paper one."""
    limit = config.run.max_clock_skew_s
    before = time.time()
    async with session.get(f"{rest}/time") as response:
        text = await response.text()
        if response.status != 200:
            return CheckResult("clock_skew", False, f"GET {rest}/time → HTTP {response.status}")
    after = time.time()
    try:
        venue_s = float(orjson.loads(text))
    except (ValueError, TypeError):
        return CheckResult("clock_skew", False, f"GET {rest}/time: not a number: {text[:80]!r}")
    skew = venue_s - (before + after) / 2
    ok = abs(skew) <= limit
    return CheckResult("clock_skew", ok, f"{skew:+.3f}s against the venue's /time "
                       f"(limit ±{limit:g}s, run.max_clock_skew_s)", fatal=is_live(config))


def ntp_check(status: NtpStatus, max_skew_s: float, live: bool) -> CheckResult:
    """The system's NTP status: unsynchronised or off by more than ``max_skew_s`` fails a live
    config and warns a paper one; unknown (no tool told) is a warning either way."""
    if status.synchronized is None:
        return CheckResult("clock_ntp", False, status.detail, fatal=False)
    if not status.synchronized:
        return CheckResult("clock_ntp", False, f"not synchronised ({status.detail})", fatal=live)
    if status.offset_s is not None and abs(status.offset_s) > max_skew_s:
        return CheckResult(
            "clock_ntp", False,
            f"offset {status.offset_s:+.3f}s above the limit ±{max_skew_s:g}s ({status.detail})",
            fatal=live,
        )
    return CheckResult("clock_ntp", True, f"synchronised ({status.detail})")


async def _rest(session: aiohttp.ClientSession, rest: str) -> CheckResult:
    async with session.get(f"{rest}/") as response:
        return CheckResult("polymarket_rest", response.status == 200, f"GET / → {response.status}")


async def _market_ws(config: Config) -> CheckResult:
    if not config.markets:
        return CheckResult("polymarket_market_ws", False, "no markets configured")
    token = config.markets[0].token_ids[0]
    async with websockets.connect(config.polymarket.market_ws_url, compression=None) as ws:
        await ws.send(orjson.dumps({"assets_ids": [token], "type": "market",
                                    "initial_dump": True}).decode())
        while True:
            frame = await ws.recv()
            if isinstance(frame, str) and '"book"' in frame:
                return CheckResult("polymarket_market_ws", True, "subscribed, book received")


async def _mappings(session: aiohttp.ClientSession, config: Config) -> CheckResult:
    problems: list[str] = []
    for market in config.markets:
        url = f"{config.polymarket.clob_rest_url}/markets/{market.market_id}"
        async with session.get(url) as response:
            if response.status != 200:
                problems.append(f"{market.market_id[:12]}…: HTTP {response.status}")
                continue
            body = await response.json(loads=orjson.loads)
        venue_tokens = [str(t.get("token_id")) for t in body.get("tokens", [])]
        if sorted(venue_tokens) != sorted(market.token_ids):
            problems.append(f"{market.market_id[:12]}…: tokens differ from config")
    detail = "; ".join(problems) if problems else f"{len(config.markets)} markets match the venue"
    return CheckResult("market_mappings", not problems, detail)


async def _feed(name: str, config: Config, timeout_s: float) -> CheckResult:
    result = await check_feed(name, config, timeout_s)
    return CheckResult(f"feed_{name}", result.ok, result.detail, fatal=result.fatal)


def _balance(config: Config, environ: Mapping[str, str]) -> CheckResult:
    if config.execution.executor != "real":
        return CheckResult("balance_allowance", True, "skipped: paper executor", fatal=False)
    from engine.secrets import SecretError, load_private_key

    try:
        key = load_private_key(
            key_env=config.execution.private_key_env,
            key_file=config.execution.private_key_file,
            environ=environ,
        )
    except SecretError as exc:
        return CheckResult("balance_allowance", False, str(exc))
    try:
        ok, detail = check_balance_allowance(config, key.hex)
    except Exception as exc:  # the client raises many types; report, never crash doctor
        return CheckResult("balance_allowance", False, f"{type(exc).__name__}: {exc}")
    return CheckResult("balance_allowance", ok, detail)


def check_balance_allowance(config: Config, private_key_hex: str) -> tuple[bool, str]:
    """Ask the venue (py-clob-client-v2, L2 auth) for our pUSD balance and allowance."""
    from py_clob_client_v2.client import ClobClient
    from py_clob_client_v2.clob_types import AssetType, BalanceAllowanceParams

    venue = config.polymarket
    client = ClobClient(
        venue.clob_rest_url, venue.chain_id, private_key_hex,
        signature_type=venue.signature_type, funder=venue.funder or None,
    )
    client.set_api_creds(client.create_or_derive_api_key())
    answer = client.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
    balance = int(str(answer.get("balance", "0"))) / 1e6
    allowances = answer.get("allowances")
    if isinstance(allowances, dict) and allowances:
        allowance = max(int(str(v)) for v in allowances.values()) / 1e6
    else:
        allowance = int(str(answer.get("allowance", "0"))) / 1e6
    ok = balance > 0 and allowance > 0
    return ok, f"balance {balance:.2f} pUSD, allowance {allowance:.2f} pUSD"


async def run_checks(
    config: Config,
    timeout_s: float = 5.0,
    environ: Mapping[str, str] | None = None,
    *,
    ntp_runner: CommandRunner | None = None,
) -> StartupReport:
    """Run every check on a loaded config concurrently, each bounded by ``timeout_s``.

    ``ntp_runner`` runs ``chronyc``/``timedatectl`` (default: the real commands).
    """
    env = os.environ if environ is None else environ
    checks: list[CheckResult] = [config_check(config, env)]
    rest = config.polymarket.clob_rest_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    runner = ntp_runner or system_runner()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tasks = [
            _timed("clock_skew", venue_clock_check(session, rest, config), timeout_s),
            _timed("polymarket_rest", _rest(session, rest), timeout_s),
            _timed("polymarket_market_ws", _market_ws(config), timeout_s),
            _timed("market_mappings", _mappings(session, config), timeout_s * 2),
        ]
        for name, provider in config.providers.items():
            if provider.enabled:
                tasks.append(_feed(name, config, timeout_s))
        ntp = asyncio.ensure_future(asyncio.to_thread(read_ntp_status, runner))
        answers = await asyncio.gather(*tasks)
        status = await ntp
    checks.append(answers[0])
    checks.append(ntp_check(status, config.run.max_clock_skew_s, is_live(config)))
    checks.extend(answers[1:])
    checks.append(await asyncio.to_thread(_balance, config, env))
    live = env.get("LIVE_TRADING") == "1" and config.execution.executor == "real"
    checks.append(CheckResult(
        "trading_mode", True,
        f"LIVE TRADING: signed orders go to {config.polymarket.clob_rest_url}" if live
        else "PAPER TRADING — no real orders will be sent (set LIVE_TRADING=1 and "
        "execution.executor: real to trade live)",
        fatal=False,
    ))
    return StartupReport(tuple(checks))


async def run_doctor(
    path: str | Path,
    timeout_s: float = 5.0,
    environ: Mapping[str, str] | None = None,
    *,
    ntp_runner: CommandRunner | None = None,
) -> StartupReport:
    """Load ``path`` as the processes do; on errors report them all (nothing else can be
    checked without a config), else run every check."""
    config, errors = check_config_file(path, environ)
    if config is None:
        return StartupReport((
            CheckResult("config", False, f"{path}: {len(errors)} error(s)\n" + "\n".join(errors)),
            CheckResult("other_checks", False, "not run: fix the config first", fatal=False),
        ))
    return await run_checks(config, timeout_s, environ, ntp_runner=ntp_runner)
