"""Parse and verify signed CLOB V2 orders (the `POST /order` body of py-clob-client-v2).

The V2 struct `Order(uint256 salt,address maker,address signer,uint256 tokenId,
uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,
bytes32 metadata,bytes32 builder)` is signed under the EIP-712 domain
`{name: "Polymarket CTF Exchange", version: "2", chainId, verifyingContract}` with the V2
exchange (or the V2 neg-risk exchange). The order id is the EIP-712 hash. V1 bodies (with
`taker`, `nonce`, `feeRateBps`, no `timestamp`) are refused as the live venue refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from sim.venue.auth import SUPPORTED_CHAIN_IDS, ApiCredentials, recover_digest
from sim.venue.models import MICRO, OrderRequest, OrderType, Side, VenueError

EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
INVALID_PAYLOAD = "Invalid order payload"
INVALID_VERSION = "invalid order version, please use the latest clob-client"
V2_FIELDS = (
    "salt",
    "maker",
    "signer",
    "tokenId",
    "makerAmount",
    "takerAmount",
    "side",
    "signatureType",
    "timestamp",
    "metadata",
    "builder",
    "signature",
)
ORDER_STRUCT = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
]
DOMAIN_STRUCT = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


@dataclass(frozen=True, slots=True)
class ParsedOrder:
    """A signed order whose shape, owner and signature have been checked."""

    request: OrderRequest
    defer_exec: bool


def _bytes32(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x").zfill(64))


def order_digest(order: dict[str, Any], chain_id: int, exchange: str) -> bytes:
    """Return the EIP-712 digest (= order hash) of a V2 order under one exchange domain."""
    typed = {
        "primaryType": "Order",
        "types": {"EIP712Domain": DOMAIN_STRUCT, "Order": ORDER_STRUCT},
        "domain": {
            "name": "Polymarket CTF Exchange",
            "version": "2",
            "chainId": chain_id,
            "verifyingContract": exchange,
        },
        "message": {
            "salt": int(order["salt"]),
            "maker": to_checksum_address(order["maker"]),
            "signer": to_checksum_address(order["signer"]),
            "tokenId": int(order["tokenId"]),
            "makerAmount": int(order["makerAmount"]),
            "takerAmount": int(order["takerAmount"]),
            "side": 0 if order["side"] == "BUY" else 1,
            "signatureType": int(order["signatureType"]),
            "timestamp": int(order["timestamp"]),
            "metadata": _bytes32(order["metadata"]),
            "builder": _bytes32(order["builder"]),
        },
    }
    signable = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def _implied_price_u(side: Side, maker_u: int, taker_u: int, tick_u: int) -> tuple[int, int]:
    shares_u, usdc_u = (taker_u, maker_u) if side is Side.BUY else (maker_u, taker_u)
    if shares_u <= 0 or usdc_u <= 0:
        raise VenueError(400, INVALID_PAYLOAD)
    exact = usdc_u * MICRO / shares_u
    ticks = exact / tick_u
    if abs(ticks - round(ticks)) <= 0.01:
        return int(round(ticks)) * tick_u, shares_u
    return int(round(exact)), shares_u


def parse_order_body(body: Any, creds: ApiCredentials, tick_u: int, neg_risk: bool) -> ParsedOrder:
    """Check a `POST /order` body against the caller's API key; raise `VenueError` if bad."""
    if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
        raise VenueError(400, INVALID_PAYLOAD)
    order = body["order"]
    if "timestamp" not in order and any(k in order for k in ("taker", "nonce", "feeRateBps")):
        raise VenueError(400, INVALID_VERSION)
    if any(field not in order for field in V2_FIELDS) or order.get("side") not in ("BUY", "SELL"):
        raise VenueError(400, INVALID_PAYLOAD)
    if body.get("owner") != creds.api_key:
        raise VenueError(400, "the order owner has to be the owner of the API KEY")
    try:
        order_type = OrderType(str(body.get("orderType", "GTC")))
        signer = to_checksum_address(order["signer"])
        maker = to_checksum_address(order["maker"])
        maker_u = int(order["makerAmount"])
        taker_u = int(order["takerAmount"])
        signature_type = int(order["signatureType"])
        expiration_s = int(order.get("expiration") or 0)
        str(int(order["tokenId"]))
    except (TypeError, ValueError):
        raise VenueError(400, INVALID_PAYLOAD) from None
    if signer != creds.address:
        raise VenueError(400, "the order signer address has to be the address of the API KEY")
    if signature_type not in (0, 1, 2) or (signature_type == 0 and maker != signer):
        raise VenueError(400, INVALID_PAYLOAD)
    exchange = NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2
    order_id = ""
    for chain_id in SUPPORTED_CHAIN_IDS:
        try:
            digest = order_digest(order, chain_id, exchange)
        except (TypeError, ValueError):
            raise VenueError(400, INVALID_PAYLOAD) from None
        if recover_digest(digest, str(order["signature"])) == signer:
            order_id = "0x" + digest.hex()
            break
    if not order_id:
        raise VenueError(400, "invalid signature")
    side = Side(order["side"])
    price_u, size_u = _implied_price_u(side, maker_u, taker_u, tick_u)
    request = OrderRequest(
        order_id=order_id,
        owner=creds.api_key,
        address=maker,
        signer=signer,
        token_id=str(order["tokenId"]),
        side=side,
        price_u=price_u,
        size_u=size_u,
        order_type=order_type,
        expiration_s=expiration_s,
        post_only=bool(body.get("postOnly", False)),
        maker_amount_u=maker_u,
        taker_amount_u=taker_u,
    )
    return ParsedOrder(request=request, defer_exec=bool(body.get("deferExec", False)))
