"""The paper exchange's pure rules (trading_app/venues/paper/matching.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from trading_app.db.models import PaperOrder
from trading_app.domain.enums import OrderType, Side
from trading_app.venues.errors import OrderRejected, VenueError
from trading_app.venues.paper import matching as m
from trading_app.venues.paper.book import OrderBook
from trading_app.venues.paper.ledger import Ledger, row_id, worst_price
from trading_app.venues.paper.synthetic import SYNTHETIC_MARKETS

BOOK = OrderBook(
    "ETH-USD",
    bids=((D("2999.9"), D("0.5")), (D("2999.8"), D("1")), (D("2990"), D("10"))),
    asks=((D("3000.1"), D("0.5")), (D("3000.2"), D("1")), (D("3010"), D("10"))),
)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(D("0.01"), True), (D("0.011"), True), (D("0.0105"), False), (D(0), False), (D("-0.01"), False)],
)
def test_require_on_grid_refuses_instead_of_rounding(value: D, ok: bool) -> None:
    if ok:
        assert m.require_on_grid(value, D("0.001"), "size") is value
    else:
        with pytest.raises(OrderRejected):
            m.require_on_grid(value, D("0.001"), "size")


@pytest.mark.parametrize("bad", [0.01, "0.01", 1, D("NaN"), D("Infinity"), None])
def test_require_on_grid_refuses_non_decimals(bad: object) -> None:
    with pytest.raises(OrderRejected, match="finite Decimal"):
        m.require_on_grid(bad, D("0.001"), "size")


def test_walk_book_takes_levels_up_to_the_worst_price() -> None:
    assert m.walk_book(Side.BUY, D("1.2"), D("3000.2"), BOOK) == [
        (D("3000.1"), D("0.5")),
        (D("3000.2"), D("0.7")),
    ]
    # the rest beyond the worst price is left unfilled
    assert m.walk_book(Side.BUY, D("5"), D("3000.2"), BOOK) == [
        (D("3000.1"), D("0.5")),
        (D("3000.2"), D("1")),
    ]
    assert m.walk_book(Side.SELL, D("0.6"), D("2999.8"), BOOK) == [
        (D("2999.9"), D("0.5")),
        (D("2999.8"), D("0.1")),
    ]
    assert m.walk_book(Side.BUY, D("1"), D("3000"), BOOK) == []
    assert m.walk_book(Side.SELL, D("1"), D("3000"), BOOK) == []


def test_oracle_plan_fills_all_or_nothing_within_the_worst_price() -> None:
    assert m.oracle_plan(Side.BUY, D("2"), D("3000"), D("3000")) == [(D("3000"), D("2"))]
    assert m.oracle_plan(Side.BUY, D("2"), D("2999.9"), D("3000")) == []
    assert m.oracle_plan(Side.SELL, D("2"), D("3000.1"), D("3000")) == []


@pytest.mark.parametrize(
    ("kind", "side", "price", "fires"),
    [
        (OrderType.STOP_MARKET, Side.SELL, D("96"), True),  # long's stop: at or below
        (OrderType.STOP_MARKET, Side.SELL, D("97"), True),
        (OrderType.STOP_MARKET, Side.SELL, D("98"), False),
        (OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("97"), True),  # long's take-profit: at or above
        (OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("96"), False),
        (OrderType.STOP_MARKET, Side.BUY, D("97"), True),  # short's stop: at or above
        (OrderType.STOP_MARKET, Side.BUY, D("96"), False),
        (OrderType.TAKE_PROFIT_MARKET, Side.BUY, D("96"), True),  # short's take-profit: at or below
        (OrderType.TAKE_PROFIT_MARKET, Side.BUY, D("98"), False),
    ],
)
def test_trigger_direction(kind: OrderType, side: Side, price: D, fires: bool) -> None:
    assert m.is_triggered(kind, side, D("97"), price) is fires


def test_limit_crossing() -> None:
    assert m.limit_crossed(Side.BUY, D("100"), D("100")) and not m.limit_crossed(
        Side.BUY, D("100"), D("100.1")
    )
    assert m.limit_crossed(Side.SELL, D("100"), D("100.1")) and not m.limit_crossed(
        Side.SELL, D("100"), D("99")
    )


@pytest.mark.parametrize(
    ("position", "side", "size", "allowed"),
    [
        (D("2"), Side.SELL, D("5"), D("2")),  # cut to the position, never flipping
        (D("2"), Side.SELL, D("1"), D("1")),
        (D("2"), Side.BUY, D("1"), D("0")),  # would increase
        (D("-2"), Side.BUY, D("3"), D("2")),
        (D("-2"), Side.SELL, D("1"), D("0")),
        (D("0"), Side.SELL, D("1"), D("0")),
    ],
)
def test_reducible(position: D, side: Side, size: D, allowed: D) -> None:
    assert m.reducible(position, side, size) == allowed


def test_net_averages_in_realizes_out_and_flips_at_the_fill_price() -> None:
    opened = m.net(D(0), D(0), Side.BUY, D("1"), D("100"))
    assert opened == m.Netted(D("1"), D("100"), D(0))
    added = m.net(opened.size, opened.entry_price, Side.BUY, D("3"), D("104"))
    assert added == m.Netted(D("4"), D("103"), D(0))
    reduced = m.net(added.size, added.entry_price, Side.SELL, D("1"), D("110"))
    assert reduced == m.Netted(D("3"), D("103"), D("7"))
    flipped = m.net(reduced.size, reduced.entry_price, Side.SELL, D("5"), D("100"))
    assert flipped == m.Netted(D("-2"), D("100"), D("-9"))
    closed = m.net(flipped.size, flipped.entry_price, Side.BUY, D("2"), D("90"))
    assert closed == m.Netted(D("0"), D("0"), D("20"))  # a short gains when the price falls


def test_net_keeps_an_exact_stored_average() -> None:
    netted = m.net(D("1"), D("100"), Side.BUY, D("2"), D("100.1"))
    assert netted.entry_price == D("100.066666666666666667")  # 18 decimals, as both databases store it


def test_fee_rounds_to_the_usdc_quantum() -> None:
    assert m.fee_for(D("3000.1"), D("0.01"), D("0.0005")) == D("0.015000")  # 0.0150005, half-even
    assert m.fee_for(D("3000.3"), D("0.01"), D("0.0005")) == D("0.015002")  # 0.0150015
    assert m.fee_for(D("65000"), D("0.0001"), D("0.0001")) == D("0.00065")


def test_margin_figures() -> None:
    specs = dict(SYNTHETIC_MARKETS)  # ETH 3000 (imf 0.02), BTC 65000 (imf 0.02)
    equity, free, pnl = m.margin_figures(
        D("1000"),
        [("ETH-USD", D("1"), D("2900")), ("BTC-USD", D("-0.01"), D("66000")), ("SOL-USD", D(0), D(0))],
        specs,
    )
    assert pnl == D("100") + D("10")
    assert equity == D("1110")
    assert free == D("1110") - D("60") - D("13")


def test_a_row_without_price_or_id_is_refused_by_name() -> None:
    """Every paper order is written with a price and flushed before its fills (ledger.py): a row
    that breaks that raises a VenueError, not a TypeError deep in the matching arithmetic."""
    order = PaperOrder(user_address="0xabc", client_id=9, market="ETH-USD", side="BUY", order_type="LIMIT",
                       size=D("1"), price=D("3000"), status="OPEN", filled=D(0), fee=D(0))
    assert worst_price(order) == D("3000")
    order.id = 4
    assert row_id(order) == 4
    order.price, order.id = None, None
    spec = SYNTHETIC_MARKETS["ETH-USD"]
    with pytest.raises(VenueError, match="no price"):
        Ledger.due(order, {"ETH-USD": spec}, datetime.now(UTC))
    with pytest.raises(VenueError, match="no id"):
        row_id(order)
