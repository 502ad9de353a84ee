"""Structured logs: schema fields present, and a private key never reaches the output."""

from __future__ import annotations

import io
import logging

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyloly.logs import get_logger, register_secret, setup_logging

PRIVATE_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"[:64]


@pytest.fixture()
def stream() -> io.StringIO:
    out = io.StringIO()
    setup_logging("DEBUG", out)
    yield out
    setup_logging("WARNING")


def test_log_line_has_schema_fields(stream: io.StringIO) -> None:
    get_logger("order_manager").info(
        "order_placed", market_id="0x" + "ab" * 32, order_id="o1", latency_ms=1.5
    )
    line = orjson.loads(stream.getvalue())
    assert line["component"] == "order_manager"
    assert line["event_type"] == "order_placed"
    assert line["level"] == "INFO"
    assert line["market_id"] == "0x" + "ab" * 32  # ids are not mistaken for keys
    assert line["latency_ms"] == 1.5
    assert "ts" in line


@given(
    placement=st.sampled_from(["message", "field", "nested", "positional", "bare", "exception"])
)
def test_private_key_never_appears_in_output(placement: str) -> None:
    register_secret(PRIVATE_KEY)  # as the engine does when it loads the key
    out = io.StringIO()
    setup_logging("DEBUG", out)
    log = get_logger("engine")
    if placement == "message":
        log.info("startup", f"key is {PRIVATE_KEY}")
    elif placement == "field":
        log.info("startup", private_key=PRIVATE_KEY)
    elif placement == "nested":
        log.info("startup", creds={"list": [PRIVATE_KEY], "k": {"x": PRIVATE_KEY}})
    elif placement == "positional":
        logging.getLogger("polyloly.raw").warning("raw %s", PRIVATE_KEY)
    elif placement == "bare":
        log.info("startup", note=PRIVATE_KEY[2:])
    else:
        try:
            raise ValueError(PRIVATE_KEY)
        except ValueError:
            log.error("failed", exc_info=True)
    text = out.getvalue()
    assert PRIVATE_KEY[2:] not in text
    assert "[REDACTED]" in text


def test_registered_secret_is_redacted_even_in_id_fields(stream: io.StringIO) -> None:
    register_secret("my-api-passphrase-123")
    secret = "my-api-passphrase-123"
    get_logger("gateway").info("auth", order_id=secret, text=f"x {secret}")
    assert "my-api-passphrase-123" not in stream.getvalue()


UNREGISTERED = "0x" + "5e" * 32


@pytest.mark.parametrize("text", [
    f"private_key={UNREGISTERED}", f"config: {{'secret': '{UNREGISTERED}'}}",
    f'{{"passphrase": "{UNREGISTERED}"}}', f"api key: {UNREGISTERED}",
])
def test_an_unregistered_value_in_key_shaped_context_is_redacted(
    stream: io.StringIO, text: str
) -> None:
    get_logger("engine").error("failed", text)
    line = stream.getvalue()
    assert UNREGISTERED[2:] not in line and "[REDACTED]" in line


def test_a_condition_id_in_free_text_is_not_a_secret(stream: io.StringIO) -> None:
    # redaction by shape turned every market id in a message into [REDACTED]
    condition = "0x" + "7c" * 32
    get_logger("engine").warning("market_halted", f"market {condition} halted: rejects",
                                 detail=f"tx {condition[2:]}")
    line = orjson.loads(stream.getvalue())
    assert line["message"] == f"market {condition} halted: rejects"
    assert line["detail"] == f"tx {condition[2:]}"


def test_run_id_is_on_every_line() -> None:
    out = io.StringIO()
    setup_logging("INFO", out, run_id="run-7")
    get_logger("gateway").info("a")
    logging.getLogger("polyloly.raw").warning("b")
    lines = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert [x["run_id"] for x in lines] == ["run-7", "run-7"]
    setup_logging("INFO", out, run_id="")  # an empty run id keeps the current one
    get_logger("gateway").info("c")
    assert orjson.loads(out.getvalue().splitlines()[-1])["run_id"] == "run-7"
    setup_logging("WARNING")
