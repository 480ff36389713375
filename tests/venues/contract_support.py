"""Helpers of the venue contract (tests/venues/contract.py): grid arithmetic, ids and checks."""

from __future__ import annotations

import random
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from trading_app.domain.enums import OrderStatus, Side
from trading_app.venues.base import Fill, MarketSpec, OrderRef, Venue
from trading_app.venues.errors import OrderNotFound

GOOD_TIL = 3600
TOLERANCE = Decimal("0.01")  # USD, for equity arithmetic a venue may round differently

_ids = random.SystemRandom()


def new_client_id() -> int:
    return _ids.randrange(1, 2**31)


def down(value: Decimal, unit: Decimal) -> Decimal:
    """`value` floored onto the grid of `unit` (test-side arithmetic, not the product's quantizer)."""
    return (value / unit).to_integral_value(ROUND_FLOOR) * unit


def up(value: Decimal, unit: Decimal) -> Decimal:
    return (value / unit).to_integral_value(ROUND_CEILING) * unit


async def assert_no_order(venue: Venue, ref: OrderRef) -> None:
    """The venue holds no order under `ref.client_id`."""
    try:
        report = await venue.order_status(ref)
    except OrderNotFound:
        return
    assert report.status is OrderStatus.PENDING and report.filled == 0, report


class ContractBase:
    """Shared steps of the contract's tests."""

    @staticmethod
    async def _setup(venue_factory, market_driver) -> tuple[Venue, MarketSpec, Decimal]:  # noqa: ANN001
        venue = await venue_factory()
        spec = await venue.market(market_driver.ticker)
        return venue, spec, spec.step_size * 10

    @staticmethod
    async def _enter(venue: Venue, market_driver, side: Side, size: Decimal) -> OrderRef:  # noqa: ANN001
        spec = await venue.market(market_driver.ticker)
        factor = Decimal("1.02") if side is Side.BUY else Decimal("0.98")
        worst = (up if side is Side.BUY else down)(spec.oracle_price * factor, spec.tick_size)
        ref = await venue.place_market_order(
            spec.ticker, side, size, worst_price=worst, client_id=new_client_id()
        )
        await market_driver.settle()
        report = await venue.order_status(ref)
        assert report.status is OrderStatus.FILLED and report.filled == size, report
        return ref

    @staticmethod
    async def _fills_of(venue: Venue, ref: OrderRef) -> list[Fill]:
        return [f for f in await venue.fills(market=ref.market) if f.client_id == ref.client_id]
