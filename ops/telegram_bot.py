"""``polyloly telegram --config FILE``: the Telegram bot, both ways (freqtrade-style).

Out: fills, batched (one message per ``alerts.telegram.fill_batch_s``, at most
``max_fills_per_message`` lines, the rest counted), taken from the engine's ``execution_report``
publications on the bus; a daily P&L summary at ``daily_summary_hour_utc``. In: commands from
the configured chat only (anything else is ignored and logged) — ``/status``, ``/pnl``,
``/positions``, ``/kill <reason>``, ``/release <market>`` (``/release switch`` for the global
switch), ``/help`` — through the same functions as ``polyloly status`` and ``polyloly kill``.
It speaks the Bot API over HTTPS (``getUpdates`` long polling, ``sendMessage``); the base URL
is ``alerts.telegram.base_url`` so tests point it at a local server. The alerts of the SPEC §14
table keep going out from each process (polyloly/alerts.py); this process adds the rest.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import zmq

from engine.cli import Outcome, pull, release, release_market
from ops.commands import fetch_json, process_ports, render_status
from ops.config_errors import telegram_errors
from polyloly import bus, messages
from polyloly.config import CONFIG_ENV, Config, ConfigError, load_config, locate_config
from polyloly.logs import get_logger, register_secret, setup_logging
from polyloly.messages import ExecutionReport

log = get_logger("telegram_bot")
MAX_TEXT = 4000  # the Bot API refuses messages over 4096 characters


class BotApi:
    """The two Bot API methods the bot uses, over ``{base_url}/bot{token}/METHOD``."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        register_secret(token)  # the token is in every URL: never let it reach a log line
        self._base = f"{base_url.rstrip('/')}/bot{token}"
        self._timeout_s = timeout_s

    def _call(self, method: str, payload: Mapping[str, Any], timeout_s: float) -> Any:
        request = urllib.request.Request(
            f"{self._base}/{method}", data=orjson.dumps(payload),
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                answer = orjson.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("telegram_call_failed", method=method, error=str(exc))
            return None
        if not isinstance(answer, dict) or not answer.get("ok"):
            log.warning("telegram_refused", method=method,
                        description=str((answer or {}).get("description", "")))
            return None
        return answer.get("result")

    def get_updates(self, offset: int, poll_timeout_s: int) -> list[dict[str, Any]]:
        result = self._call("getUpdates", {"offset": offset, "timeout": poll_timeout_s,
                                           "allowed_updates": ["message"]},
                            self._timeout_s + poll_timeout_s)
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []

    def send_message(self, chat_id: str, text: str) -> bool:
        payload = {"chat_id": chat_id, "text": text[:MAX_TEXT],
                   "disable_web_page_preview": True}
        return self._call("sendMessage", payload, self._timeout_s) is not None


HELP = ("/status — processes, markets, positions, P&L\n/pnl — P&L\n/positions — open positions\n"
        "/kill <reason> — pull the global kill switch\n/release <market> — release a halted "
        "market\n/release switch — release the kill switch")


@dataclass
class Commands:
    """Answer one chat message; only ``chat_id``'s messages are commands."""

    config: Config
    chat_id: str
    statuses: Callable[[], dict[str, tuple[int, dict[str, Any]]]] | None = None

    def _statuses(self) -> dict[str, tuple[int, dict[str, Any]]]:
        if self.statuses is not None:
            return self.statuses()
        return {name: fetch_json(port, "/status")
                for name, port in process_ports(self.config).items()}

    def answer(self, update: Mapping[str, Any]) -> str | None:
        """The reply to ``update``, or None (not a message from the configured chat)."""
        message = update.get("message") or {}
        chat = str((message.get("chat") or {}).get("id", ""))
        text = str(message.get("text") or "").strip()
        if not text:
            return None
        if chat != self.chat_id:
            log.warning("telegram_command_refused", "a message from another chat was ignored",
                        chat=chat)
            return None
        sender = (message.get("from") or {}).get("username") or chat
        command, _, rest = text.partition(" ")
        command = command.split("@", 1)[0].lower()  # /status@PolyLOLBot in groups
        log.info("telegram_command", command=command, by=sender)
        who = f"telegram:{sender}"
        if command == "/status":
            return self._status()
        if command == "/pnl":
            return self._pnl()
        if command == "/positions":
            return self._positions()
        if command == "/kill":
            if not rest.strip():
                return "usage: /kill <reason>"
            return _text(pull(self.config, rest, who))
        if command == "/release":
            target = rest.strip()
            if not target:
                return "usage: /release <market> (or /release switch)"
            if target == "switch":
                return _text(release(self.config, "released from Telegram", who))
            return _text(release_market(self.config, target, who))
        if command in ("/help", "/start"):
            return HELP
        return f"unknown command {command}; /help lists them"

    def _status(self) -> str:
        answers = self._statuses()
        text = render_status(self.config, {n: b for n, (_, b) in answers.items()})
        down = [n for n, (code, _) in answers.items() if code != 200]
        return text + ("\nDOWN: " + ", ".join(down) if down else "\nall processes answer")

    def _engine(self) -> dict[str, Any] | None:
        code, body = self._statuses().get("engine", (0, {}))
        return body if code == 200 else None

    def _pnl(self) -> str:
        engine = self._engine()
        if engine is None:
            return "engine not answering"
        return pnl_text(engine)

    def _positions(self) -> str:
        engine = self._engine()
        if engine is None:
            return "engine not answering"
        teams = {m.market_id: m for m in self.config.markets}
        lines = []
        for position in engine.get("positions") or []:
            market = teams.get(str(position.get("market_id")))
            name = " vs ".join(market.teams) if market else str(position.get("market_id"))[:14]
            lines.append(f"{name} {position.get('outcome')}: {float(position['shares']):.2f} "
                         f"shares, cost {float(position.get('cost_usdc') or 0):.2f} USDC")
        return "\n".join(lines) or "no open positions"


def pnl_text(engine: Mapping[str, Any]) -> str:
    """P&L lines from the engine's /status (the daily summary and /pnl)."""
    pnl = engine.get("pnl") or {}
    lines = [
        f"realized {float(pnl.get('realized_usdc') or 0):+.2f} USDC (settlements included)",
        f"unrealized {float(pnl.get('unrealized_usdc') or 0):+.2f} USDC (marked at mid)",
        f"fees {float(pnl.get('fees_usdc') or 0):.2f} USDC, "
        f"today {float(pnl.get('daily_usdc') or 0):+.2f} USDC",
        f"exposure {float(engine.get('exposure_usdc') or 0):.2f} USDC",
    ]
    for strategy, value in sorted((pnl.get("by_strategy") or {}).items()):
        lines.append(f"  {strategy} {float(value):+.2f}")
    kill = (engine.get("kill_switch") or {})
    if kill.get("engaged"):
        lines.append(f"KILL SWITCH ENGAGED: {kill.get('reason', '')}")
    return "\n".join(lines)


def _text(outcome: Outcome) -> str:
    return "\n".join(outcome.out + outcome.err) or f"exit {outcome.code}"


@dataclass
class FillBatcher:
    """Fills collected into one message per ``window_s`` (the Bot API allows ~20 messages a
    minute to a group; a burst of fills must not become a burst of messages)."""

    window_s: float
    max_lines: int
    names: Mapping[str, str] = field(default_factory=dict)  # market id → "A vs B"
    _lines: list[str] = field(default_factory=list)
    _extra: int = 0
    _first_s: float | None = None

    def add(self, report: ExecutionReport, now_s: float) -> None:
        if report.last_fill_size <= 0:
            return  # a status change without a fill
        if self._first_s is None:
            self._first_s = now_s
        if len(self._lines) >= self.max_lines:
            self._extra += 1
            return
        name = self.names.get(report.market_id, report.market_id[:14])
        self._lines.append(
            f"{report.side.value} {report.last_fill_size:.2f} {report.outcome.value} "
            f"@ {report.last_fill_price:.3f} · {name} · {report.strategy.value}"
            + (f" · fee {report.fee_usdc:.4f}" if report.fee_usdc else ""))

    def due(self, now_s: float) -> str | None:
        """The batch's message once its window has passed since its first fill."""
        if self._first_s is None or now_s - self._first_s < self.window_s:
            return None
        count = len(self._lines) + self._extra
        text = f"{count} fill(s):\n" + "\n".join(self._lines)
        if self._extra:
            text += f"\n… and {self._extra} more"
        self._lines, self._extra, self._first_s = [], 0, None
        return text


@dataclass
class DailySummary:
    """Once per UTC day, at ``hour`` (or the first loop after it), the P&L summary."""

    hour: int
    last_day: str = ""

    def due(self, now: datetime) -> bool:
        day = now.strftime("%Y-%m-%d")
        if self.hour < 0 or now.hour < self.hour or day == self.last_day:
            return False
        self.last_day = day
        return True


class Bot:
    """The loop: long-poll commands, drain fills from the bus, send batches and summaries."""

    def __init__(self, config: Config, api: BotApi, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        settings = config.alerts.telegram
        self.config, self.api, self._clock, self._wall = config, api, clock, wall
        self.chat_id = settings.chat_id
        self.commands = Commands(config, settings.chat_id)
        self.fills = FillBatcher(settings.fill_batch_s, settings.max_fills_per_message,
                                 {m.market_id: " vs ".join(m.teams) for m in config.markets})
        self.summary = DailySummary(settings.daily_summary_hour_utc,
                                    wall().strftime("%Y-%m-%d"))  # none for a day begun
        self.poll_timeout_s = settings.poll_timeout_s
        self.offset = 0
        self.stop = threading.Event()
        self._ctx = zmq.Context()
        self._sub = bus.connect(self._ctx, zmq.SUB, config.endpoint("engine_pub"))
        bus.subscribe(self._sub, "execution_report")

    def step(self) -> None:
        """One round: commands (waits up to poll_timeout_s for one), fills, summary."""
        for update in self.api.get_updates(self.offset, self.poll_timeout_s):
            self.offset = max(self.offset, int(update.get("update_id", 0)) + 1)
            reply = self.commands.answer(update)
            if reply is not None:
                self.api.send_message(self.chat_id, reply)
        self._drain_fills()
        batch = self.fills.due(self._clock())
        if batch is not None:
            self.api.send_message(self.chat_id, batch)
        if self.summary.due(self._wall()):
            engine = self.commands._engine()
            text = pnl_text(engine) if engine is not None else "engine not answering"
            self.api.send_message(self.chat_id, f"daily summary {self.summary.last_day}\n{text}")

    def _drain_fills(self) -> None:
        while self._sub.poll(0):
            _topic, payload = self._sub.recv_multipart()
            try:
                message = messages.decode(payload)
            except messages.MessageDecodeError:
                continue
            if isinstance(message, ExecutionReport):
                self.fills.add(message, self._clock())

    def run(self) -> None:
        log.info("telegram_bot_started", chat=self.chat_id)
        while not self.stop.is_set():
            self.step()
            if self.poll_timeout_s == 0:
                self.stop.wait(1.0)

    def close(self) -> None:
        self._sub.close(0)
        self._ctx.term()


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="polyloly telegram", description="the Telegram bot: fill notifications, a daily "
        "summary, and /status /pnl /positions /kill /release from the configured chat")
    parser.add_argument("--config", default=None,
                        help=f"the running system's config file (default: ${CONFIG_ENV})")
    args = parser.parse_args(argv)
    path = locate_config(args.config)
    if path is None:
        print(f"polyloly telegram: which system? pass --config FILE (or set {CONFIG_ENV})",
              file=sys.stderr)
        return 2
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        print(f"polyloly telegram: {path}: " + "; ".join(exc.errors), file=sys.stderr)
        return 2
    settings = config.alerts.telegram
    problems = (["alerts.telegram.enabled: false; set it to true"] if not settings.enabled
                else telegram_errors(config, env))
    if problems:
        print(f"polyloly telegram: {'; '.join(problems)}", file=sys.stderr)
        return 2
    setup_logging(config.logging.level, file=config.logging.file, run_id=config.run.run_id)
    bot = Bot(config, BotApi(settings.base_url, env[settings.token_env]))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: bot.stop.set())
    try:
        bot.run()
    finally:
        bot.close()
    return 0
