"""Indexer JSON -> venue types: an amount the indexer always sends is never read as None."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from trading_app.venues.dydx import parse
from trading_app.venues.dydx.errors import error_for_code, refusal
from trading_app.venues.errors import OrderRejected, VenueError, VenueUnavailable

# One `/v4/fills` entry, shaped as comlink's FillResponseObject (indexer/services/comlink/src/types.ts)
FILL = {"id": "f1", "market": "BTC-USD", "side": "BUY", "size": "0.01", "price": "50000", "fee": "0.25",
        "createdAt": "2024-05-01T12:00:00.000Z", "liquidity": "TAKER", "type": "LIMIT"}
MARKET = {"ticker": "BTC-USD", "status": "ACTIVE", "stepSize": "0.0001", "tickSize": "1",
          "oraclePrice": "50000", "clobPairId": "0", "atomicResolution": -10, "stepBaseQuantums": 1000000,
          "subticksPerTick": 100000, "quantumConversionExponent": -9, "initialMarginFraction": "0.05"}


def test_a_fill_is_read_exactly():
    fill = parse.fill(FILL, client_id=7)
    assert (fill.size, fill.price, fill.fee) == (D("0.01"), D("50000"), D("0.25"))
    assert fill.time.isoformat() == "2024-05-01T12:00:00+00:00"


@pytest.mark.parametrize("field", ["size", "price", "createdAt"])
@pytest.mark.parametrize("missing", [None, ""])
def test_a_fill_without_a_required_field_is_refused_not_read_as_none(field, missing):
    with pytest.raises(VenueUnavailable, match="lacks a required"):
        parse.fill({**FILL, field: missing}, client_id=7)


@pytest.mark.parametrize("field", ["stepSize", "tickSize"])
def test_a_market_without_its_grid_is_refused(field):
    assert parse.market_spec(MARKET).step_size == D("0.0001")
    with pytest.raises(VenueUnavailable, match="lacks a required amount"):
        parse.market_spec({**MARKET, field: ""})


def test_optional_amounts_keep_their_default():
    assert parse.dec(None) is None
    assert parse.dec("", D(0)) == D(0)
    assert parse.market_spec({**MARKET, "oraclePrice": None}).oracle_price == D(0)


def test_a_refusal_is_always_an_error_and_code_zero_never_is():
    assert error_for_code("sdk", 0, "") is None
    for space, code in (("sdk", 32), ("clob", 5001), ("clob", 3005), ("sdk", 4)):
        e = refusal(space, code, "log")
        assert isinstance(e, VenueError)
        assert type(e) is type(error_for_code(space, code, "log"))
    assert isinstance(refusal("clob", 424242), OrderRejected)
