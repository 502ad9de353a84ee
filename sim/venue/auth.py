"""Polymarket CLOB authentication, server side: L1 (EIP-712 ClobAuth) and L2 (HMAC) checks.

Mirrors py-clob-client-v2's `signing/eip712.py`, `signing/hmac.py` and `headers/headers.py`:
L1 headers POLY_ADDRESS/POLY_SIGNATURE/POLY_TIMESTAMP/POLY_NONCE carry a ClobAuth signature;
L2 headers add POLY_API_KEY/POLY_PASSPHRASE and an HMAC-SHA256 (url-safe base64) over
`timestamp + METHOD + path + body`. API keys are derived deterministically from the address,
the nonce and the venue seed, so `derive-api-key` returns what `api-key` created.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from sim.venue.models import VenueError

CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
SUPPORTED_CHAIN_IDS = (137, 80002)
INVALID_L1 = "Invalid L1 Request headers"
INVALID_L2 = "Unauthorized/Invalid api key"


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    """One issued API key."""

    api_key: str
    secret: str
    passphrase: str
    address: str
    nonce: int

    def as_json(self) -> dict[str, str]:
        """Return the body of `POST /auth/api-key` and `GET /auth/derive-api-key`."""
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}


def clob_auth_digest(address: str, timestamp: str, nonce: int, chain_id: int) -> bytes:
    """Return the EIP-712 digest a ClobAuth L1 signature signs."""
    typed = {
        "primaryType": "ClobAuth",
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "ClobAuth": [
                {"name": "address", "type": "address"},
                {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"},
                {"name": "message", "type": "string"},
            ],
        },
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
        "message": {
            "address": address,
            "timestamp": timestamp,
            "nonce": nonce,
            "message": CLOB_AUTH_MESSAGE,
        },
    }
    signable = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def recover_digest(digest: bytes, signature: str) -> str | None:
    """Return the checksummed signer of a 65-byte signature over `digest`, None if invalid."""
    try:
        return str(Account._recover_hash(digest, signature=signature))
    except Exception:
        return None


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """Compute the L2 signature exactly as py-clob-client-v2 `build_hmac_signature` does."""
    message = f"{timestamp}{method}{path}"
    if body:
        message += body.replace("'", '"')
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


class Authenticator:
    """Issues API keys and checks L1/L2 headers; `max_skew_s` bounds POLY_TIMESTAMP age."""

    def __init__(self, seed: int, max_skew_s: float = 300.0) -> None:
        self._root = hashlib.sha256(f"polyloly-sim-auth:{seed}".encode()).digest()
        self.max_skew_s = max_skew_s
        self._keys: dict[str, ApiCredentials] = {}
        self._created: set[tuple[str, int]] = set()

    def _derive(self, address: str, nonce: int) -> ApiCredentials:
        def part(label: str) -> bytes:
            msg = f"{label}:{address.lower()}:{nonce}".encode()
            return hmac.new(self._root, msg, hashlib.sha256).digest()

        k = part("key").hex()
        creds = ApiCredentials(
            api_key=f"{k[:8]}-{k[8:12]}-{k[12:16]}-{k[16:20]}-{k[20:32]}",
            secret=base64.urlsafe_b64encode(part("secret")).decode(),
            passphrase=part("passphrase").hex(),
            address=to_checksum_address(address),
            nonce=nonce,
        )
        self._keys[creds.api_key] = creds
        return creds

    def create(self, address: str, nonce: int) -> ApiCredentials:
        """Create the key of (address, nonce); a second create answers 400 as the venue does."""
        if (address.lower(), nonce) in self._created:
            raise VenueError(400, "Could not create api key")
        self._created.add((address.lower(), nonce))
        return self._derive(address, nonce)

    def derive(self, address: str, nonce: int) -> ApiCredentials:
        """Return the (deterministic) key of (address, nonce)."""
        self._created.add((address.lower(), nonce))
        return self._derive(address, nonce)

    def keys_of(self, address: str) -> list[str]:
        """Return the API keys issued to an address."""
        return [c.api_key for c in self._keys.values() if c.address.lower() == address.lower()]

    def lookup(self, api_key: str) -> ApiCredentials | None:
        """Return the credentials of an API key."""
        return self._keys.get(api_key)

    def revoke(self, api_key: str) -> None:
        """Delete an API key."""
        creds = self._keys.pop(api_key, None)
        if creds is not None:
            self._created.discard((creds.address.lower(), creds.nonce))

    def _fresh(self, timestamp: str, now_s: float) -> bool:
        try:
            ts = int(timestamp)
        except (TypeError, ValueError):
            return False
        return abs(now_s - ts) <= self.max_skew_s

    def check_l1(self, headers: Mapping[str, str], now_s: float) -> tuple[str, int]:
        """Verify L1 headers; return (checksummed address, nonce) or raise 401."""
        address = headers.get("POLY_ADDRESS", "")
        signature = headers.get("POLY_SIGNATURE", "")
        timestamp = headers.get("POLY_TIMESTAMP", "")
        try:
            nonce = int(headers.get("POLY_NONCE", "0") or "0")
            checksummed = to_checksum_address(address)
        except (TypeError, ValueError):
            raise VenueError(401, INVALID_L1) from None
        if not signature or not self._fresh(timestamp, now_s):
            raise VenueError(401, INVALID_L1)
        for chain_id in SUPPORTED_CHAIN_IDS:
            digest = clob_auth_digest(checksummed, timestamp, nonce, chain_id)
            if recover_digest(digest, signature) == checksummed:
                return checksummed, nonce
        raise VenueError(401, INVALID_L1)

    def check_l2(
        self, headers: Mapping[str, str], method: str, path: str, body: str, now_s: float
    ) -> ApiCredentials:
        """Verify L2 headers against the raw request; return the key's credentials or 401."""
        creds = self._keys.get(headers.get("POLY_API_KEY", ""))
        if creds is None:
            raise VenueError(401, INVALID_L2)
        timestamp = headers.get("POLY_TIMESTAMP", "")
        if headers.get("POLY_PASSPHRASE", "") != creds.passphrase:
            raise VenueError(401, INVALID_L2)
        if headers.get("POLY_ADDRESS", "").lower() != creds.address.lower():
            raise VenueError(401, INVALID_L2)
        if not self._fresh(timestamp, now_s):
            raise VenueError(401, INVALID_L2)
        expected = hmac_signature(creds.secret, timestamp, method, path, body)
        if not hmac.compare_digest(expected, headers.get("POLY_SIGNATURE", "")):
            raise VenueError(401, INVALID_L2)
        return creds

    def check_ws(self, auth: object) -> ApiCredentials | None:
        """Check the `auth` object of a user-channel subscription (raw creds, no HMAC)."""
        if not isinstance(auth, dict):
            return None
        creds = self._keys.get(str(auth.get("apiKey", "")))
        if creds is None:
            return None
        if auth.get("secret") != creds.secret or auth.get("passphrase") != creds.passphrase:
            return None
        return creds
