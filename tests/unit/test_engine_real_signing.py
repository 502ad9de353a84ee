"""The native signer produces exactly the client's order: amounts, signature and order id."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer

from engine.executors.polymarket.signing import OrderBuildError, OrderSigner, OrderTerms
from engine.secrets import PrivateKey
from polyloly.domain import OrderType, Side

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
FUNDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _signer(salt: int, ts: int, signature_type: int = 0, funder: str = "") -> OrderSigner:
    return OrderSigner(
        PrivateKey(hex=KEY, source="test"), 137, signature_type, funder,
        salt=lambda: salt, now_ms=lambda: ts,
    )


def _client_reference(
    signed_maker: str, maker_amount: int, taker_amount: int, side: int, salt: int, ts: int,
    neg_risk: bool, signature_type: int,
) -> tuple[str, str]:
    contracts = get_contract_config(137)
    exchange = contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2
    builder = ExchangeOrderBuilderV2(
        exchange, 137, Signer(KEY, 137), generate_salt=lambda: str(salt)
    )
    data = OrderDataV2(
        maker=signed_maker, tokenId=TOKEN, makerAmount=str(maker_amount),
        takerAmount=str(taker_amount), side=side, signer=Account.from_key(KEY).address,
        signatureType=SignatureTypeV2(signature_type), timestamp=str(ts),
    )
    order = builder.build_order(data)
    typed = builder.build_order_typed_data(order)
    return builder.build_order_signature(typed), builder.build_order_hash(typed)


prices_on_tick = st.integers(min_value=1, max_value=999).map(lambda n: n / 1000)


@settings(max_examples=40, deadline=None)
@given(
    price=prices_on_tick,
    size=st.floats(min_value=5, max_value=5000, allow_nan=False),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    neg_risk=st.booleans(),
    salt=st.integers(min_value=1, max_value=(1 << 40) - 1),
    signature_type=st.sampled_from([0, 1, 2]),
)
def test_signer_matches_the_client_signature_and_order_hash(
    price: float, size: float, side: Side, neg_risk: bool, salt: int, signature_type: int
) -> None:
    ts = 1_767_225_600_123
    funder = FUNDER if signature_type else ""
    signer = _signer(salt, ts, signature_type, funder)
    terms = OrderTerms(TOKEN, side, price, size, OrderType.GTC, 0.001, neg_risk)
    signed = signer.sign(terms)
    signature, order_hash = _client_reference(
        signer.maker, signed.maker_amount, signed.taker_amount, int(signed.order.side),
        salt, ts, neg_risk, signature_type,
    )
    assert signed.order.signature == signature
    assert signed.order_id == order_hash


@settings(max_examples=40, deadline=None)
@given(
    price=prices_on_tick,
    size=st.floats(min_value=5, max_value=5000, allow_nan=False),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_limit_amounts_equal_the_client_order_builder(
    price: float, size: float, side: Side
) -> None:
    signed = _signer(7, 1).sign(OrderTerms(TOKEN, side, price, size, OrderType.GTC, 0.001))
    client = OrderBuilder(Signer(KEY, 137)).build_order(
        OrderArgsV2(token_id=TOKEN, price=price, size=size, side=side.value),
        CreateOrderOptions(tick_size="0.001", neg_risk=False),
    )
    assert (signed.order.makerAmount, signed.order.takerAmount) == (
        client.makerAmount, client.takerAmount,
    )


def test_fok_buy_spends_whole_cents_as_the_venue_requires_for_marketable_buys() -> None:
    signed = _signer(7, 1).sign(OrderTerms(TOKEN, Side.BUY, 0.517, 10, OrderType.FOK, 0.001))
    assert signed.maker_amount == 5_170_000  # $5.17, two decimals
    assert signed.maker_amount % 10_000 == 0
    assert signed.shares == pytest.approx(10.0)


def test_signed_order_serialises_through_the_client_json() -> None:
    signed = _signer(99, 1_767_225_600_000).sign(
        OrderTerms(TOKEN, Side.SELL, 0.25, 12.5, OrderType.GTD, 0.01, expiration_s=1_900_000_000)
    )
    body = order_to_json_v2(signed.order, "api-key", "GTD")
    assert body["order"]["salt"] == 99
    assert body["order"]["side"] == "SELL"
    assert body["order"]["expiration"] == "1900000000"
    assert body["order"]["makerAmount"] == "12500000"
    assert len(body["order"]["signature"]) == 132


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (OrderTerms(TOKEN, Side.BUY, 0.5, 10, OrderType.GTC, 0.003), "tick_size"),
        (OrderTerms(TOKEN, Side.BUY, 0.5005, 10, OrderType.GTC, 0.001), "price"),
        (OrderTerms(TOKEN, Side.BUY, 0.9995, 10, OrderType.GTC, 0.001), "price"),
        (OrderTerms(TOKEN, Side.BUY, 0.0, 10, OrderType.GTC, 0.001), "price"),
        (OrderTerms(TOKEN, Side.BUY, 0.5, 0.001, OrderType.GTC, 0.001), "size"),
        (OrderTerms(TOKEN, Side.BUY, 0.5, -1, OrderType.GTC, 0.001), "size"),
        (OrderTerms("0xabc", Side.BUY, 0.5, 10, OrderType.GTC, 0.001), "token_id"),
        (OrderTerms("9" * 79, Side.BUY, 0.5, 10, OrderType.GTC, 0.001), "token_id"),
    ],
)
def test_bad_terms_raise_a_build_error_naming_the_field(terms: OrderTerms, field: str) -> None:
    with pytest.raises(OrderBuildError) as caught:
        _signer(1, 1).sign(terms)
    assert caught.value.field == field


def test_every_client_tick_size_is_signable() -> None:
    for tick in ROUNDING_CONFIG:
        price = float(tick) * 3
        signed = _signer(1, 1).sign(
            OrderTerms(TOKEN, Side.BUY, price, 100, OrderType.GTC, float(tick))
        )
        assert signed.taker_amount == 100_000_000
