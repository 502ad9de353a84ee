"""Startup checks of SPEC §13.1, run by ``polyloly run`` before starting and by
``polyloly doctor`` on demand: config, clock skew against the venue, feeds, market WS, REST,
balance/allowance, market mappings, and a loud warning in paper mode."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

import aiohttp
import orjson
import websockets

from polyloly.config import Config

MAX_CLOCK_SKEW_S = 2.0


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
        return all(check.ok or not check.fatal for check in self.checks)

    def render(self) -> str:
        lines = []
        for check in self.checks:
            mark = "ok  " if check.ok else ("FAIL" if check.fatal else "warn")
            lines.append(f"[{mark}] {check.name:<28} {check.detail}")
        lines.append("all checks passed" if self.passed else "startup checks FAILED")
        return "\n".join(lines)


async def _timed(name: str, coro: Awaitable[CheckResult], timeout_s: float) -> CheckResult:
    try:
        return await asyncio.wait_for(coro, timeout_s)
    except TimeoutError:
        return CheckResult(name, False, f"no answer within {timeout_s:.0f}s")
    except (aiohttp.ClientError, OSError, ValueError, websockets.WebSocketException) as exc:
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")


async def _clock_skew(session: aiohttp.ClientSession, rest: str) -> CheckResult:
    before = time.time()
    async with session.get(f"{rest}/time") as response:
        text = await response.text()
    after = time.time()
    venue_s = float(orjson.loads(text))
    skew = venue_s - (before + after) / 2
    ok = abs(skew) <= MAX_CLOCK_SKEW_S
    return CheckResult("clock_skew", ok, f"{skew:+.3f}s against the venue's /time "
                       f"(limit ±{MAX_CLOCK_SKEW_S:.0f}s)")


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


async def _feed(name: str, url: str) -> CheckResult:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme in ("https", "wss") else 80)
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()
    return CheckResult(f"feed_{name}", True, f"{host}:{port} reachable")


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
    config: Config, timeout_s: float = 5.0, environ: Mapping[str, str] | None = None
) -> StartupReport:
    """Run every check concurrently, each bounded by ``timeout_s``."""
    checks: list[CheckResult] = [
        CheckResult("config", True, f"{len(config.markets)} markets, {config.shards.count} shards")
    ]
    rest = config.polymarket.clob_rest_url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tasks = [
            _timed("clock_skew", _clock_skew(session, rest), timeout_s),
            _timed("polymarket_rest", _rest(session, rest), timeout_s),
            _timed("polymarket_market_ws", _market_ws(config), timeout_s),
            _timed("market_mappings", _mappings(session, config), timeout_s * 2),
        ]
        for name, provider in config.providers.items():
            if provider.enabled:
                tasks.append(_timed(f"feed_{name}", _feed(name, provider.url), timeout_s))
        checks.extend(await asyncio.gather(*tasks))
    env = os.environ if environ is None else environ
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
