"""What the gateway sends to subscribe to Polymarket's WebSockets, and the L2 credentials the
user channel's subscription carries (VENUE §1.1, §2.1)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Final

import orjson

from polyloly.config import API_CREDENTIAL_ENV
from polyloly.logs import register_secret

CREDENTIAL_ENV: Final = API_CREDENTIAL_ENV  # one definition, shared with the engine


def chunk_tokens(token_ids: Sequence[str], per_connection: int) -> list[list[str]]:
    """Split the subscribed tokens across connections of at most ``per_connection`` each."""
    return [list(token_ids[i : i + per_connection])
            for i in range(0, len(token_ids), per_connection)]


def market_subscribe_message(token_ids: Sequence[str]) -> bytes:
    """Initial market-channel subscription (VENUE §1.1)."""
    return orjson.dumps({"assets_ids": list(token_ids), "type": "market",
                         "initial_dump": True, "custom_feature_enabled": True})


def user_subscribe_message(api_key: str, secret: str, passphrase: str,
                           market_ids: Sequence[str]) -> bytes:
    """Authenticated user-channel subscription (VENUE §2.1)."""
    return orjson.dumps({"auth": {"apiKey": api_key, "secret": secret,
                                  "passphrase": passphrase},
                         "type": "user", "markets": list(market_ids)})


def credentials_from_env(
        environ: Mapping[str, str] | None = None) -> tuple[str, str, str] | None:
    """(api key, secret, passphrase) from the environment, registered as secrets; None if any
    is missing (paper mode: no user channel)."""
    env = os.environ if environ is None else environ
    values = tuple(env.get(name, "") for name in CREDENTIAL_ENV)
    if not all(values):
        return None
    for value in values:
        register_secret(value)
    return values[0], values[1], values[2]
