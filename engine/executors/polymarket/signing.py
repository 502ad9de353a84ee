"""Build and sign CLOB V2 orders on the hot path, byte-identical to py-clob-client-v2.

py-clob-client-v2 builds an order with its ``OrderBuilder`` (rounding tables, amounts in
1e-6 units), then signs it through ``eth_account.encode_typed_data`` + ``Account.sign_message``:
generic EIP-712 encoding in pure Python, ≈1 ms per order even with the coincurve backend.
This module keeps the client's amount arithmetic (it calls the client's own
``OrderBuilder.get_order_amounts`` / ``get_market_order_amounts``) and replaces the generic
encoder with the fixed V2 struct layout: the domain separator is computed once, the struct
hash is a keccak of 12 packed 32-byte words, and the digest is signed with libsecp256k1
(coincurve) directly. The digest is the EIP-712 order hash, which is also the order id the
venue assigns, so an order whose submit times out can be tracked by id.

``tests/unit/test_engine_real_signing.py`` proves signatures and ids equal the client's for
random orders; ``bench/sign_bench.py`` measures both paths in one run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import coincurve
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from py_clob_client_v2.clob_types import RoundConfig
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.constants import BYTES32_ZERO
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils.model.order_data_v2 import SignedOrderV2
from py_clob_client_v2.order_utils.model.side import Side as ClientSide
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2

from engine.secrets import PrivateKey
from polyloly import metrics
from polyloly.domain import OrderType, Side

ORDER_TYPE_STRING: Final = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
DOMAIN_TYPE_STRING: Final = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
DOMAIN_NAME: Final = "Polymarket CTF Exchange"
DOMAIN_VERSION: Final = "2"
_ORDER_TYPE_HASH: Final = keccak(text=ORDER_TYPE_STRING)
_DOMAIN_TYPE_HASH: Final = keccak(text=DOMAIN_TYPE_STRING)
_ZERO32: Final = bytes(32)
_SALT_LIMIT: Final = 1 << 40  # the client's salts are below now_ms (≈2^40.6); stay in range

TICK_SIZES: Final[dict[float, str]] = {float(text): text for text in ROUNDING_CONFIG}
"""Tick sizes the client can round for, float → the client's string key."""

SUPPORTED_SIGNATURE_TYPES: Final = frozenset(
    {SignatureTypeV2.EOA, SignatureTypeV2.POLY_PROXY, SignatureTypeV2.POLY_GNOSIS_SAFE}
)


class OrderBuildError(ValueError):
    """The order cannot be built as asked (off-table tick, price off tick or out of range,
    size that rounds to zero); the message names the field and the value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What to sign: ``price`` in USDC per share on ``tick_size``; ``size`` in shares.

    FOK/FAK orders are built as the client builds market orders (a BUY spends
    ``size × price`` USDC rounded down to cents, as the venue requires for marketable
    buys); GTC/GTD as limit orders. ``expiration_s`` (epoch seconds) applies to GTD only.
    """

    token_id: str
    side: Side
    price: float
    size: float
    order_type: OrderType
    tick_size: float
    neg_risk: bool = False
    expiration_s: int = 0


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """A signed order ready to post, with the id the venue will give it.

    ``order`` is the client's own ``SignedOrderV2``, so ``ClobClient.post_order`` /
    ``post_orders`` serialise it exactly as for an order the client built.
    ``maker_amount``/``taker_amount`` are in 1e-6 units; ``sign_ns`` is build + sign time.
    """

    order: SignedOrderV2
    order_id: str
    salt: int
    timestamp_ms: int
    maker_amount: int
    taker_amount: int
    sign_ns: int

    @property
    def shares(self) -> float:
        """Shares the order is for (BUY: taker amount, SELL: maker amount)."""
        amount = self.taker_amount if int(self.order.side) == ClientSide.BUY else self.maker_amount
        return amount / 1e6


def tick_key(tick_size: float) -> str:
    """The client's rounding-table key for ``tick_size``; raise :class:`OrderBuildError`."""
    for value, text in TICK_SIZES.items():
        if abs(value - tick_size) < 1e-12:
            return text
    raise OrderBuildError(
        "tick_size", f"tick_size {tick_size!r} is not one of {sorted(TICK_SIZES)}"
    )


def _token_number(token_id: str) -> int:
    well_formed = token_id.isascii() and token_id.isdigit() and len(token_id) <= 78
    if not well_formed or int(token_id) >= 1 << 256:
        raise OrderBuildError("token_id", f"token_id {token_id!r} is not a uint256 decimal")
    return int(token_id)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


class OrderSigner:
    """Build + sign V2 orders with a warm key: no HTTP, no generic EIP-712 encoding.

    ``signature_type``: 0 EOA (maker = signer), 1 POLY_PROXY or 2 GNOSIS_SAFE (maker =
    ``funder``). ``salt`` and ``now_ms`` are injectable so tests can reproduce the client's
    output exactly; by default salts come from a CSPRNG-seeded generator.
    """

    def __init__(
        self,
        key: PrivateKey,
        chain_id: int,
        signature_type: int = 0,
        funder: str = "",
        *,
        salt: Callable[[], int] | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        sig_type = SignatureTypeV2(signature_type)
        if sig_type not in SUPPORTED_SIGNATURE_TYPES:
            raise ValueError(f"signature_type {signature_type} is not supported by the signer")
        self._key = coincurve.PrivateKey(key.raw)
        public = self._key.public_key.format(compressed=False)[1:]
        self.address: str = to_checksum_address(keccak(public)[-20:])
        if sig_type is SignatureTypeV2.EOA:
            maker = self.address
        else:
            if not funder:
                raise ValueError(f"signature_type {signature_type} needs polymarket.funder")
            maker = to_checksum_address(funder)
        self.maker: str = maker
        self.chain_id = chain_id
        self.signature_type = sig_type
        contracts = get_contract_config(chain_id)
        self._domain = {
            False: self._domain_separator(contracts.exchange_v2),
            True: self._domain_separator(contracts.neg_risk_exchange_v2),
        }
        self._amounts = OrderBuilder(signer=None, signature_type=sig_type, funder=maker)
        self._prefix = _address_word(self.maker) + _address_word(self.address)
        rng = random.Random(int.from_bytes(random.SystemRandom().randbytes(16), "big"))
        self._salt = salt or (lambda: rng.randrange(1, _SALT_LIMIT))
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)

    def _domain_separator(self, contract: str) -> bytes:
        return keccak(
            _DOMAIN_TYPE_HASH
            + keccak(text=DOMAIN_NAME)
            + keccak(text=DOMAIN_VERSION)
            + _word(self.chain_id)
            + _address_word(contract)
        )

    def amounts(self, terms: OrderTerms) -> tuple[ClientSide, int, int]:
        """(side, maker amount, taker amount) in 1e-6 units, with the client's rounding."""
        key = tick_key(terms.tick_size)
        tick = float(key)
        price = terms.price
        if not tick <= price <= 1 - tick:
            raise OrderBuildError(
                "price", f"price {price!r} outside [{tick}, {1 - tick}] for tick {key}"
            )
        ticks = price / tick
        if abs(ticks - round(ticks)) > 1e-6:
            raise OrderBuildError("price", f"price {price!r} is not on tick {key}")
        if not terms.size > 0:
            raise OrderBuildError("size", f"size {terms.size!r} must be positive")
        config: RoundConfig = ROUNDING_CONFIG[key]
        client_side = "BUY" if terms.side is Side.BUY else "SELL"
        if terms.order_type in (OrderType.FOK, OrderType.FAK):
            amount = terms.size * price if terms.side is Side.BUY else terms.size
            side, maker, taker = self._amounts.get_market_order_amounts(
                client_side, amount, price, config
            )
        else:
            side, maker, taker = self._amounts.get_order_amounts(
                client_side, terms.size, price, config
            )
        if maker <= 0 or taker <= 0:
            raise OrderBuildError(
                "size", f"size {terms.size!r} at price {price!r} rounds to a zero amount"
            )
        return side, maker, taker

    def sign(self, terms: OrderTerms) -> SignedOrder:
        """Build and sign one order; raise :class:`OrderBuildError` for bad terms."""
        started = time.perf_counter_ns()
        side, maker_amount, taker_amount = self.amounts(terms)
        token = _token_number(terms.token_id)
        salt = self._salt()
        timestamp_ms = self._now_ms()
        struct_hash = keccak(
            _ORDER_TYPE_HASH
            + _word(salt)
            + self._prefix
            + _word(token)
            + _word(maker_amount)
            + _word(taker_amount)
            + _word(int(side))
            + _word(int(self.signature_type))
            + _word(timestamp_ms)
            + _ZERO32
            + _ZERO32
        )
        digest = keccak(b"\x19\x01" + self._domain[terms.neg_risk] + struct_hash)
        raw = self._key.sign_recoverable(digest, hasher=None)
        signature = "0x" + raw[:64].hex() + format(raw[64] + 27, "02x")
        expiration = (
            str(terms.expiration_s) if terms.order_type is OrderType.GTD else "0"
        )
        order = SignedOrderV2(
            salt=str(salt),
            maker=self.maker,
            signer=self.address,
            tokenId=terms.token_id,
            makerAmount=str(maker_amount),
            takerAmount=str(taker_amount),
            side=side,
            signatureType=self.signature_type,
            timestamp=str(timestamp_ms),
            metadata=BYTES32_ZERO,
            builder=BYTES32_ZERO,
            expiration=expiration,
            signature=signature,
        )
        elapsed_ns = time.perf_counter_ns() - started
        metrics.sign_seconds.observe(elapsed_ns / 1e9)
        return SignedOrder(
            order=order,
            order_id="0x" + digest.hex(),
            salt=salt,
            timestamp_ms=timestamp_ms,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            sign_ns=elapsed_ns,
        )

    @staticmethod
    def backend() -> str:
        """Name of the secp256k1 implementation in use."""
        version = getattr(coincurve, "__version__", "")
        return f"coincurve {version} (libsecp256k1)" if version else "coincurve (libsecp256k1)"
