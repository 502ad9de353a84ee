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
