"""Encoding: exact Decimal -> quantums/subticks, indexer UUIDs, order protos."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from v4_proto.dydxprotocol.clob.order_pb2 import Order

from trading_app.domain import quantize
from trading_app.domain.enums import Side
from trading_app.venues.base import MarketSpec
from trading_app.venues.dydx import encoding
from trading_app.venues.dydx.encoding import OffGridValue
from trading_app.venues.errors import OrderRejected

BTC = MarketSpec("BTC-USD", "ACTIVE", D("0.0001"), D("1"), D("65000"), 0, -10, 1_000_000, 100_000, -9)
ETH = MarketSpec("ETH-USD", "ACTIVE", D("0.001"), D("0.1"), D("3000"), 1, -9, 1_000_000, 100_000, -9)
OWNER = "dydx14zzueazeh0hj67cghhf9jypslcf9sh2n5k6art"


@pytest.mark.parametrize(
    ("spec", "size", "quantums"),
    [
        (BTC, D("0.0003"), 3_000_000),  # the float-based Market helper gives 2,000,000
        (BTC, D("0.0006"), 6_000_000),
        (BTC, D("0.0001"), 1_000_000),
        (BTC, D("1.2345"), 12_345_000_000),
        (ETH, D("0.01"), 10_000_000),
        (ETH, D("32.3"), 32_300_000_000),
    ],
)
def test_size_to_quantums_exact(spec, size, quantums):
    assert encoding.size_to_quantums(size, spec) == quantums
    assert quantize.from_quantums(quantums, spec) == size


@pytest.mark.parametrize(
    ("spec", "price", "subticks"),
    [
        (BTC, D("65000"), 6_500_000_000),
        (BTC, D("1"), 100_000),
        (ETH, D("3150.0"), 3_150_000_000),
        (ETH, D("32.3"), 32_300_000),  # float rounding would give 32.2
        (ETH, D("3456.7"), 3_456_700_000),
    ],
)
def test_price_to_subticks_exact(spec, price, subticks):
    assert encoding.price_to_subticks(price, spec) == subticks
    assert quantize.from_subticks(subticks, spec) == price


@pytest.mark.parametrize("size", [D("0.00015"), D("0"), D("-0.001"), D("NaN"), D("Infinity")])
def test_off_grid_or_invalid_size_is_refused_not_rounded(size):
    with pytest.raises(OffGridValue):
        encoding.size_to_quantums(size, BTC)


@pytest.mark.parametrize("price", [D("65000.5"), D("0"), D("3150.05")])
def test_off_grid_price_is_refused(price):
    spec = ETH if price == D("3150.05") else BTC
    with pytest.raises(OffGridValue):
        encoding.price_to_subticks(price, spec)


def test_float_is_a_programming_error():
    with pytest.raises(TypeError):
        encoding.size_to_quantums(0.001, BTC)  # type: ignore[arg-type]


def test_spec_without_raw_fields_is_refused():
    bare = MarketSpec("X-USD", "ACTIVE", D("1"), D("1"), D("1"))
    with pytest.raises(OrderRejected):
        encoding.size_to_quantums(D("1"), bare)


def test_spec_without_raw_fields_is_not_called_off_grid():
    bare = MarketSpec("X-USD", "ACTIVE", D("1"), D("1"), D("1"))
    with pytest.raises(OrderRejected) as e:
        encoding.price_to_subticks(D("1"), bare)
    assert not isinstance(e.value, OffGridValue)


def test_value_beyond_the_chains_uint64_is_refused():
    with pytest.raises(OffGridValue):
        encoding.size_to_quantums(D("2e9"), BTC)  # 2e19 quantums
    assert encoding.size_to_quantums(D("1e9"), BTC) == 10**19


def test_client_metadata_is_the_js_clients():
    # v4-client-js calculateClientMetadata; 1.1.5's message.order would write 2
    market = encoding.market_order(ETH, OWNER, 0, 1, Side.BUY, D("0.01"), D("3150.0"), 1015)
    limit = encoding.limit_order(ETH, OWNER, 0, 2, Side.BUY, D("0.01"), D("3150.0"), 1_800_000_000)
    stop = encoding.conditional_order(ETH, OWNER, 0, 3, Side.SELL, D("0.01"), D("2850.0"), D("2707.5"), False,
                                      1_800_000_000)
    assert (market.client_metadata, limit.client_metadata, stop.client_metadata) == (1, 0, 1)


@pytest.mark.parametrize("client_id", [-1, 2**32, True, "5", 1.0])
def test_client_id_must_be_uint32(client_id):
    with pytest.raises(OrderRejected):
        encoding.check_client_id(client_id)


def test_client_id_passthrough():
    assert encoding.check_client_id(0) == 0
    assert encoding.check_client_id(2**32 - 1) == 2**32 - 1


def test_order_uuid_matches_indexer_sample():
    # the docs' sample order: subaccount 4adcda50-..., client 1741547162, BTC-USD, conditional
    sub = "4adcda50-be50-596e-b3b0-d70cd3ca193d"
    assert encoding.order_uuid_in(sub, 1741547162, 0, 32) == "ff6d83c1-a2e7-5fa9-9362-3fbc4771aec3"


def test_order_uuid_depends_on_every_id_part():
    base = encoding.order_uuid(OWNER, 0, 7, 1, 32)
    assert base == encoding.order_uuid_in(encoding.subaccount_uuid(OWNER, 0), 7, 1, 32)
    others = {
        encoding.order_uuid(OWNER, 1, 7, 1, 32),
        encoding.order_uuid(OWNER, 0, 8, 1, 32),
        encoding.order_uuid(OWNER, 0, 7, 0, 32),
        encoding.order_uuid(OWNER, 0, 7, 1, 64),
    }
    assert base not in others and len(others) == 4


def test_market_order_is_short_term_ioc_with_good_til_block():
    order = encoding.market_order(ETH, OWNER, 0, 11, Side.BUY, D("0.01"), D("3150.0"), 1015)
    assert order.order_id.order_flags == 0
    assert order.order_id.client_id == 11 and order.order_id.clob_pair_id == 1
    assert order.side == Order.Side.SIDE_BUY
    assert order.quantums == 10_000_000 and order.subticks == 3_150_000_000
    assert order.time_in_force == Order.TimeInForce.TIME_IN_FORCE_IOC
    assert order.good_til_block == 1015 and order.WhichOneof("good_til_oneof") == "good_til_block"
    assert order.condition_type == Order.ConditionType.CONDITION_TYPE_UNSPECIFIED
    assert order.conditional_order_trigger_subticks == 0 and not order.reduce_only


def test_limit_order_is_long_term_gtt():
    order = encoding.limit_order(BTC, OWNER, 2, 12, Side.SELL, D("0.0003"), D("70000"), 1_800_000_000)
    assert order.order_id.order_flags == 64 and order.order_id.subaccount_id.number == 2
    assert order.time_in_force == Order.TimeInForce.TIME_IN_FORCE_UNSPECIFIED
    assert order.good_til_block_time == 1_800_000_000 and order.quantums == 3_000_000


@pytest.mark.parametrize(
    ("take_profit", "condition"),
    [(False, Order.CONDITION_TYPE_STOP_LOSS), (True, Order.CONDITION_TYPE_TAKE_PROFIT)],
)
def test_conditional_orders_carry_explicit_condition_and_trigger(take_profit, condition):
    order = encoding.conditional_order(
        ETH, OWNER, 0, 13, Side.SELL, D("0.01"), D("2850.0"), D("2707.5"), take_profit, 1_800_000_000
    )
    assert order.order_id.order_flags == 32
    assert order.condition_type == condition
    assert order.conditional_order_trigger_subticks == 2_850_000_000
    assert order.subticks == 2_707_500_000  # the worst execution price, not the trigger
    assert order.reduce_only and order.time_in_force == Order.TimeInForce.TIME_IN_FORCE_IOC
    assert order.good_til_block_time == 1_800_000_000


def test_conditional_order_refuses_off_grid_trigger():
    with pytest.raises(OffGridValue):
        encoding.conditional_order(ETH, OWNER, 0, 1, Side.SELL, D("0.01"), D("2850.05"), D("2700"), False, 1)


def test_good_til_helpers():
    assert encoding.short_term_good_til_block(1000) == 1015
    with pytest.raises(ValueError):
        encoding.short_term_good_til_block(1000, 41)
    assert encoding.good_til_block_time(1_700_000_000.9, 60) == 1_700_000_060
    with pytest.raises(OrderRejected):
        encoding.good_til_block_time(0, 95 * 24 * 3600 + 1)
    with pytest.raises(OrderRejected):
        encoding.good_til_block_time(0, 0)


def test_cancel_message_needs_exactly_one_good_til():
    oid = encoding.make_order_id(OWNER, 0, 1, ETH, 32)
    assert encoding.cancel_message(oid, good_til_block_time=5).good_til_block_time == 5
    assert encoding.cancel_message(oid, good_til_block=9).good_til_block == 9
    with pytest.raises(ValueError):
        encoding.cancel_message(oid)
    with pytest.raises(ValueError):
        encoding.cancel_message(oid, 1, 2)
