"""gateway/polymarket/subscribe.py: token chunks per connection, subscription messages, the
user channel's credentials from the environment (registered so logs redact them)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.polymarket.subscribe import (
    CREDENTIAL_ENV,
    chunk_tokens,
    credentials_from_env,
    market_subscribe_message,
    user_subscribe_message,
)
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
