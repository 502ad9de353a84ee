"""gateway/polymarket/subscribe.py: token chunks per connection, subscription messages, the
user channel's credentials from the environment (registered so logs redact them)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.executors.polymarket.executor import API_CREDS_ENV
from gateway.polymarket.subscribe import (
    CREDENTIAL_ENV,
    chunk_tokens,
    credentials_from_env,
    market_subscribe_message,
    user_subscribe_message,
)
from polyloly.config import API_CREDENTIAL_ENV
from polyloly.logs import redact


@given(tokens=st.lists(st.text(min_size=1, max_size=6), max_size=60),
       per_connection=st.integers(1, 25))
def test_chunks_keep_every_token_in_order_and_respect_the_limit(
        tokens: list[str], per_connection: int) -> None:
    chunks = chunk_tokens(tokens, per_connection)
    assert [token for chunk in chunks for token in chunk] == tokens
    assert all(1 <= len(chunk) <= per_connection for chunk in chunks)
    assert len(chunks) == -(-len(tokens) // per_connection)


def test_market_subscription_asks_for_the_initial_dump_and_the_current_shapes() -> None:
    assert orjson.loads(market_subscribe_message(["1", "2"])) == {
        "assets_ids": ["1", "2"], "type": "market", "initial_dump": True,
        "custom_feature_enabled": True}


def test_user_subscription_carries_the_l2_credentials_and_markets() -> None:
    assert orjson.loads(user_subscribe_message("k", "s", "p", ["0xa"])) == {
        "auth": {"apiKey": "k", "secret": "s", "passphrase": "p"}, "type": "user",
        "markets": ["0xa"]}


@pytest.mark.parametrize("missing", CREDENTIAL_ENV)
def test_any_missing_credential_leaves_the_user_channel_off(missing: str) -> None:
    env = {name: f"value-{name}" for name in CREDENTIAL_ENV}
    env[missing] = ""
    assert credentials_from_env(env) is None
    del env[missing]
    assert credentials_from_env(env) is None


def test_credentials_are_returned_in_order_and_redacted_from_logs() -> None:
    values = ("key-subscribe-7f3e", "secret-subscribe-7f3e", "pass-subscribe-7f3e")
    env = dict(zip(CREDENTIAL_ENV, values, strict=True))
    assert credentials_from_env(env) == values
    for value in values:
        assert value not in str(redact(f"sent {value} to the venue"))


def _documented_credentials() -> list[str]:
    """The POLYMARKET_API_* names .env.example documents (issue 20 #10: the gateway read
    POLYMARKET_PASSPHRASE while the file and the engine said POLYMARKET_API_PASSPHRASE)."""
    env_file = Path(__file__).resolve().parents[2] / ".env.example"
    names = [line.split("=", 1)[0].strip() for line in env_file.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return [name for name in names if name.startswith("POLYMARKET_API_")]


def test_the_documented_variables_start_the_user_channel() -> None:
    documented = _documented_credentials()
    assert documented == list(API_CREDENTIAL_ENV) == list(CREDENTIAL_ENV)
    assert list(API_CREDS_ENV) == documented  # the engine reads the same names
    values = ("key-doc-91ab", "secret-doc-91ab", "pass-doc-91ab")
    assert credentials_from_env(dict(zip(documented, values, strict=True))) == values
    # the old, undocumented name alone never starts it
    assert credentials_from_env({"POLYMARKET_API_KEY": "k", "POLYMARKET_API_SECRET": "s",
                                 "POLYMARKET_PASSPHRASE": "p"}) is None
