"""The Telegram bot both ways against a local server speaking the Bot API (getUpdates,
sendMessage) on 127.0.0.1: commands from the configured chat only, through the same kill
functions as the CLI; fills batched; a daily summary (issue 19)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import zmq

from engine.kill_switch import KillSwitchFile
from ops.telegram_bot import Bot, BotApi, Commands, DailySummary, FillBatcher
from ops.telegram_bot import main as telegram_main
from polyloly import bus
from polyloly.config import Config, validate
from polyloly.domain import OrderStatus, Outcome, Side, Strategy
from polyloly.messages import ExecutionReport
from tests.helpers.ports import held_port

TOKEN = "123456:test-token-abcdef"
CHAT = "4242"
MARKET = "0x" + "cd" * 32


class FakeTelegram:
    """POST /bot<TOKEN>/getUpdates answers queued updates once; sendMessage is recorded."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.offsets: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prefix = f"/bot{TOKEN}/"
                if not self.path.startswith(prefix):
                    self._answer({"ok": False, "description": "Unauthorized"}, 401)
                    return
                method = self.path[len(prefix):]
                if method == "getUpdates":
                    owner.offsets.append(int(body["offset"]))
                    pending = [u for u in owner.updates if u["update_id"] >= body["offset"]]
                    self._answer({"ok": True, "result": pending})
                elif method == "sendMessage":
                    owner.sent.append(body)
                    self._answer({"ok": True, "result": {"message_id": len(owner.sent)}})
                else:
                    self._answer({"ok": False, "description": "Not Found"}, 404)

            def _answer(self, payload: dict[str, Any], code: int = 200) -> None:
                data = orjson.dumps(payload)
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def say(self, text: str, chat: str = CHAT) -> None:
        self.updates.append({"update_id": 100 + len(self.updates), "message": {
            "message_id": 1, "chat": {"id": int(chat)}, "from": {"username": "op"},
            "text": text}})


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _config(tmp_path: Path, base_url: str = "http://127.0.0.1:9") -> Config:
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    return validate({
        "run": {"data_dir": str(tmp_path / "data"), "run_dir": str(run_dir)},
        "metrics": {"engine_port": held_port(), "gateway_port": held_port(),
                    "shard_base_port": held_port()},
        "shards": {"count": 1},
        "markets": [{"market_id": MARKET, "token_ids": ["11", "12"], "match_id": "m",
                     "game": "lol", "teams": ["T1", "GEN"]}],
        "alerts": {"telegram": {"enabled": True, "chat_id": CHAT, "base_url": base_url,
                                "fill_batch_s": 5, "poll_timeout_s": 0,
                                "daily_summary_hour_utc": 0}},
    })


ENGINE = {"kill_switch": {"engaged": False}, "halted_markets": {}, "exposure_usdc": 12.5,
          "pnl": {"realized_usdc": 3.25, "unrealized_usdc": -1.0, "fees_usdc": 0.1,
                  "daily_usdc": 2.25, "by_strategy": {"pair_arb": 3.25}},
          "positions": [{"market_id": MARKET, "token_id": "11", "outcome": "YES",
                         "shares": 10.0, "cost_usdc": 5.0}]}


def _commands(config: Config, engine_up: bool = True) -> Commands:
    return Commands(config, CHAT, statuses=lambda: {
        "engine": (200, ENGINE) if engine_up else (0, {"error": "refused"}),
        "gateway": (200, {}), "shard-0": (0, {"error": "refused"})})


def _msg(text: str, chat: str = CHAT) -> dict[str, Any]:
    return {"update_id": 1, "message": {"chat": {"id": int(chat)}, "text": text,
                                        "from": {"username": "op"}}}


def test_commands_from_another_chat_are_ignored(tmp_path: Path) -> None:
    commands = _commands(_config(tmp_path))
    assert commands.answer(_msg("/kill now", chat="999")) is None
    assert not KillSwitchFile.in_data_dir(tmp_path / "data").read().engaged


def test_status_pnl_positions(tmp_path: Path) -> None:
    commands = _commands(_config(tmp_path))
    status = commands.answer(_msg("/status"))
    assert status is not None and "DOWN: shard-0" in status
    pnl = commands.answer(_msg("/pnl"))
    assert pnl is not None and "realized +3.25 USDC" in pnl and "pair_arb +3.25" in pnl
    assert commands.answer(_msg("/positions")) == \
        "T1 vs GEN YES: 10.00 shares, cost 5.00 USDC"
    assert _commands(_config(tmp_path), engine_up=False).answer(_msg("/pnl")) == \
        "engine not answering"
    assert commands.answer(_msg("/frob")) == "unknown command /frob; /help lists them"


def test_kill_and_release_go_through_the_cli_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.cli._CONFIRM_S", 0.2)
    commands = _commands(_config(tmp_path))
    assert commands.answer(_msg("/kill")) == "usage: /kill <reason>"
    reply = commands.answer(_msg("/kill venue looks wrong"))
    assert reply is not None and "kill switch PULLED: venue looks wrong" in reply
    assert "engine not answering" in reply
    content = KillSwitchFile.in_data_dir(tmp_path / "data").read()
    assert content.engaged and content.by == "telegram:op"
    reply = commands.answer(_msg(f"/release {MARKET}"))  # no engine: recorded, said so
    assert reply is not None and "release recorded" in reply
    reply = commands.answer(_msg("/release switch"))
    assert reply is not None and "kill switch released (was engaged" in reply


def _fill(size: float, price: float = 0.42) -> ExecutionReport:
    return ExecutionReport(
        order_id="o1", intent_id="i1", idempotency_key="k", shard_id=0, market_id=MARKET,
        token_id="11", outcome=Outcome.YES, side=Side.BUY, strategy=Strategy.PAIR_ARB,
        status=OrderStatus.FILLED, price=price, size=size, filled_size=size,
        avg_fill_price=price, t_ns=1, last_fill_size=size, last_fill_price=price)


def test_fills_are_batched_per_window_and_capped() -> None:
    batcher = FillBatcher(window_s=10, max_lines=2, names={MARKET: "T1 vs GEN"})
    batcher.add(_fill(0.0), 0.0)  # a status change without a fill: nothing
    assert batcher.due(100.0) is None
    for size in (1.0, 2.0, 3.0):
        batcher.add(_fill(size), 1.0)
    assert batcher.due(5.0) is None  # window not over
    text = batcher.due(11.0)
    assert text is not None and text.startswith("3 fill(s):")
    assert "BUY 1.00 YES @ 0.420 · T1 vs GEN · pair_arb" in text and "… and 1 more" in text
    assert batcher.due(30.0) is None  # sent once


def test_daily_summary_once_a_day_at_its_hour() -> None:
    summary = DailySummary(hour=8)
    assert not summary.due(datetime(2026, 1, 1, 7, 59, tzinfo=UTC))
    assert summary.due(datetime(2026, 1, 1, 8, 0, tzinfo=UTC))
    assert not summary.due(datetime(2026, 1, 1, 20, 0, tzinfo=UTC))
    assert summary.due(datetime(2026, 1, 2, 9, 0, tzinfo=UTC))
    assert not DailySummary(hour=-1).due(datetime(2026, 1, 2, 9, 0, tzinfo=UTC))


def test_bot_loop_against_a_local_bot_api(
    tmp_path: Path, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.cli._CONFIRM_S", 0.2)
    config = _config(tmp_path, telegram.url)
    now = [0.0]
    day = [datetime(2026, 1, 1, 12, 0, tzinfo=UTC)]
    ctx = zmq.Context()
    pub = bus.bind(ctx, zmq.PUB, config.endpoint("engine_pub"))
    bot = Bot(config, BotApi(telegram.url, TOKEN), clock=lambda: now[0], wall=lambda: day[0])
    try:
        telegram.say("/kill drill", chat="777")  # a stranger: ignored
        telegram.say("/kill drill")
        bot.step()
        assert [m["chat_id"] for m in telegram.sent] == [CHAT]
        assert "kill switch PULLED: drill" in telegram.sent[0]["text"]
        bot.step()  # the next getUpdates acknowledges what was answered
        assert telegram.offsets[-1] == 102 and len(telegram.sent) == 1
        deadline = time.monotonic() + 5
        while not bot.fills._lines and time.monotonic() < deadline:  # SUB joins late
            bus.publish(pub, _fill(4.0))
            time.sleep(0.05)
            bot._drain_fills()
        assert bot.fills._lines
        now[0] = 100.0
        bot.step()
        assert "fill(s):" in telegram.sent[-1]["text"]
        assert "T1 vs GEN" in telegram.sent[-1]["text"]
        day[0] = datetime(2026, 1, 2, 0, 1, tzinfo=UTC)  # a new UTC day: the summary
        bot.step()
        assert telegram.sent[-1]["text"].startswith("daily summary 2026-01-02\n")
    finally:
        bot.close()
        pub.close(0)
        ctx.term()


def test_main_refuses_a_config_it_cannot_run_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POLYLOLY_CONFIG", raising=False)
    assert telegram_main([], environ={}) == 2
    assert "pass --config FILE" in capsys.readouterr().err
    path = tmp_path / "c.yaml"
    path.write_text("alerts: {telegram: {enabled: true}}\n")
    assert telegram_main(["--config", str(path)], environ={}) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "alerts.telegram.chat_id: required" in line and "TELEGRAM_BOT_TOKEN" in line
