"""The venue contract, part 1: market data, placing, cancelling, idempotency and refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.venues.contract_support import (
    GOOD_TIL,
    ContractBase,
    assert_no_order,
    down,
    new_client_id,
    up,
)
from trading_app.domain.enums import OrderStatus, OrderType, PositionSide, Side
from trading_app.venues.base import OrderRef
from trading_app.venues.errors import OrderRejected, UnknownMarket, VenueUnavailable

# an immediate order that could not fill ends with nothing filled: cancelled at once (paper), or
# expired once its good-til-block has passed (dYdX, where nothing earlier is a guarantee)
ENDED_UNFILLED = (OrderStatus.CANCELED, OrderStatus.EXPIRED)


class TradingContract(ContractBase):
    """Market and limit orders, cancel, resends, reduce-only, bad input, outages."""

    # -- market data ---------------------------------------------------------------
    async def test_market_info(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, _ = await self._setup(venue_factory, market_driver)
        assert spec.ticker == market_driver.ticker and spec.is_active
        assert spec.step_size > 0 and spec.tick_size > 0 and spec.min_size == spec.step_size
        assert spec.oracle_price == await market_driver.price()
        listed = await venue.markets()
        assert listed[spec.ticker].step_size == spec.step_size and market_driver.other_ticker in listed
        with pytest.raises(UnknownMarket):
            await venue.market("NOSUCH-USD")

    # -- market orders -------------------------------------------------------------
    async def test_market_entry_fills_with_fee(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        worst = up(spec.oracle_price * Decimal("1.02"), spec.tick_size)
        ref = await venue.place_market_order(
            spec.ticker, Side.BUY, size, worst_price=worst, client_id=new_client_id()
        )
        assert ref.market == spec.ticker and ref.order_type is OrderType.MARKET
        await market_driver.settle()
        report = await venue.order_status(ref)
        assert report.status is OrderStatus.FILLED and report.side is Side.BUY
        assert report.size == size and report.filled == size and not report.reduce_only
        assert spec.oracle_price * Decimal("0.98") <= report.avg_fill_price <= worst
        fills = await self._fills_of(venue, ref)
        assert sum(f.size for f in fills) == size and all(f.side is Side.BUY for f in fills)
        assert all(f.price <= worst and f.time.tzinfo is not None for f in fills)
        assert 0 < report.fee == sum(f.fee for f in fills) <= report.avg_fill_price * size * Decimal("0.001")
        position = (await venue.account()).positions[spec.ticker]
        assert position.side is PositionSide.LONG and position.size == size
        assert abs(position.entry_price - report.avg_fill_price) <= spec.tick_size

    async def test_worst_price_bound_is_respected(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        refs = [
            await venue.place_market_order(
                spec.ticker,
                Side.BUY,
                size,
                client_id=new_client_id(),
                worst_price=down(spec.oracle_price * Decimal("0.99"), spec.tick_size),
            ),
            await venue.place_market_order(
                spec.ticker,
                Side.SELL,
                size,
                client_id=new_client_id(),
                worst_price=up(spec.oracle_price * Decimal("1.01"), spec.tick_size),
            ),
        ]
        await market_driver.settle()
        for ref in refs:
            report = await venue.order_status(ref)
            assert report.status in ENDED_UNFILLED and report.filled == 0, report
            assert await self._fills_of(venue, ref) == []
        assert spec.ticker not in (await venue.account()).positions

    async def test_a_ref_stored_before_the_placement_returned_reaches_its_outcome(
        self, venue_factory, market_driver
    ) -> None:  # noqa: ANN001
        # the caller crashed after sending and before storing the placement's ref: it asks with the
        # client id alone and stores whatever each report's ref adds, as the engine does
        venue, spec, size = await self._setup(venue_factory, market_driver)
        tick, price = spec.tick_size, spec.oracle_price
        outcomes = []
        for worst in (up(price * Decimal("1.02"), tick), down(price * Decimal("0.99"), tick)):
            cid = new_client_id()
            await venue.place_market_order(spec.ticker, Side.BUY, size, worst_price=worst, client_id=cid)
            ref = OrderRef(cid, spec.ticker, OrderType.MARKET)
            for _ in range(6):
                report = await venue.order_status(ref)
                if report.status is not OrderStatus.PENDING:
                    break
                assert report.filled == 0 or report.filled <= size, report
                ref = report.ref
                await market_driver.settle()
            outcomes.append((report.status, report.filled))
        assert outcomes[0] == (OrderStatus.FILLED, size)
        assert outcomes[1][0] in ENDED_UNFILLED and outcomes[1][1] == 0, outcomes

    # -- limit orders --------------------------------------------------------------
    async def test_limit_entry_rests_then_fills(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        limit = down(spec.oracle_price * Decimal("0.98"), spec.tick_size)
        ref = await venue.place_limit_order(
            spec.ticker, Side.BUY, size, limit, client_id=new_client_id(), good_til_seconds=GOOD_TIL
        )
        await market_driver.settle()
        report = await venue.order_status(ref)
        assert report.status is OrderStatus.OPEN and report.filled == 0
        state = await venue.account_state()
        assert [o.ref.client_id for o in state.open_orders] == [ref.client_id]
        assert spec.ticker not in state.account.positions
        await market_driver.set_price(down(spec.oracle_price * Decimal("0.97"), spec.tick_size))
        await market_driver.settle()
        report = await venue.order_status(ref)
        assert report.status is OrderStatus.FILLED and report.filled == size
        assert report.avg_fill_price <= limit
        position = (await venue.account()).positions[spec.ticker]
        assert position.side is PositionSide.LONG and position.size == size

    # -- cancel and status ---------------------------------------------------------
    async def test_cancel_and_cancelling_a_gone_order(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        ref = await venue.place_limit_order(
            spec.ticker,
            Side.BUY,
            size,
            down(spec.oracle_price * Decimal("0.8"), spec.tick_size),
            client_id=new_client_id(),
            good_til_seconds=GOOD_TIL,
        )
        await market_driver.settle()
        await venue.cancel(ref)
        await market_driver.settle()
        assert (await venue.order_status(ref)).status is OrderStatus.CANCELED
        await venue.cancel(ref)  # already gone: not an error
        filled = await self._enter(venue, market_driver, Side.BUY, size)
        await venue.cancel(filled)
        assert (await venue.order_status(filled)).status is OrderStatus.FILLED
        never = OrderRef(
            client_id=new_client_id(), market=spec.ticker, order_type=OrderType.LIMIT, order_flags=64
        )
        await venue.cancel(never)
        await assert_no_order(venue, never)
        assert (await venue.account_state()).open_orders == []

    # -- safety --------------------------------------------------------------------
    async def test_resending_a_client_id_never_creates_a_second_order(
        self, venue_factory, market_driver
    ) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        cid = new_client_id()
        worst = up(spec.oracle_price * Decimal("1.02"), spec.tick_size)
        first = await venue.place_market_order(spec.ticker, Side.BUY, size, worst_price=worst, client_id=cid)
        again = await venue.place_market_order(spec.ticker, Side.BUY, size, worst_price=worst, client_id=cid)
        await market_driver.settle()
        assert again.client_id == first.client_id == cid
        assert sum(f.size for f in await self._fills_of(venue, first)) == size
        assert (await venue.account()).positions[spec.ticker].size == size
        sl_cid = new_client_id()
        for _ in range(2):
            await venue.place_stop_loss(
                spec.ticker,
                Side.SELL,
                size,
                down(spec.oracle_price * Decimal("0.9"), spec.tick_size),
                worst_price=down(spec.oracle_price * Decimal("0.8"), spec.tick_size),
                client_id=sl_cid,
                good_til_seconds=GOOD_TIL,
            )
        await market_driver.settle()
        assert [o.ref.client_id for o in (await venue.account_state()).open_orders] == [sl_cid]

    async def test_reduce_only_never_increases_or_flips(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        await self._enter(venue, market_driver, Side.BUY, size)
        low = down(spec.oracle_price * Decimal("0.98"), spec.tick_size)
        high = up(spec.oracle_price * Decimal("1.02"), spec.tick_size)
        close = await venue.place_market_order(
            spec.ticker, Side.SELL, size * 3, worst_price=low, client_id=new_client_id(), reduce_only=True
        )
        await market_driver.settle()
        assert sum(f.size for f in await self._fills_of(venue, close)) == size
        assert spec.ticker not in (await venue.account()).positions  # flat, not short
        for side, worst in ((Side.SELL, low), (Side.BUY, high)):  # nothing left to reduce
            ref = await venue.place_market_order(
                spec.ticker, side, size, worst_price=worst, client_id=new_client_id(), reduce_only=True
            )
            await market_driver.settle()
            report = await venue.order_status(ref)
            assert report.filled == 0 and report.status in ENDED_UNFILLED, report
        assert spec.ticker not in (await venue.account()).positions

    async def test_off_grid_and_invalid_orders_are_refused(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        tick, price = spec.tick_size, spec.oracle_price
        worst, bad_price = up(price * Decimal("1.02"), tick), up(price * Decimal("1.02"), tick) + tick / 2
        attempts = {
            "off-step size": dict(size=size + spec.step_size / 2, worst=worst),
            "zero size": dict(size=Decimal(0), worst=worst),
            "negative size": dict(size=-size, worst=worst),
            "off-tick worst price": dict(size=size, worst=bad_price),
        }
        for name, a in attempts.items():
            cid = new_client_id()
            with pytest.raises(OrderRejected):
                await venue.place_market_order(
                    spec.ticker, Side.BUY, a["size"], worst_price=a["worst"], client_id=cid
                )
                pytest.fail(f"{name} was accepted")
            await assert_no_order(venue, OrderRef(cid, spec.ticker, OrderType.MARKET))
        cid = new_client_id()
        with pytest.raises(OrderRejected):
            await venue.place_limit_order(
                spec.ticker,
                Side.BUY,
                size,
                down(price * Decimal("0.9"), tick) + tick / 2,
                client_id=cid,
                good_til_seconds=GOOD_TIL,
            )
        with pytest.raises(OrderRejected):
            await venue.place_stop_loss(
                spec.ticker,
                Side.SELL,
                size,
                down(price * Decimal("0.9"), tick) + tick / 2,
                worst_price=down(price * Decimal("0.8"), tick),
                client_id=cid,
                good_til_seconds=GOOD_TIL,
            )
        with pytest.raises(OrderRejected):
            await venue.place_take_profit(
                spec.ticker,
                Side.SELL,
                size + spec.step_size / 2,
                up(price * Decimal("1.1"), tick),
                worst_price=up(price, tick),
                client_id=cid,
                good_til_seconds=GOOD_TIL,
            )
        await market_driver.settle()
        await assert_no_order(venue, OrderRef(cid, spec.ticker, OrderType.LIMIT))
        state = await venue.account_state()
        assert state.open_orders == [] and state.fills == [] and state.account.positions == {}

    async def test_unreachable_venue_refuses_and_creates_nothing(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        tick, price = spec.tick_size, spec.oracle_price
        market_cid, stop_cid = new_client_id(), new_client_id()
        await market_driver.down()
        try:
            with pytest.raises(VenueUnavailable):
                await venue.place_market_order(
                    spec.ticker,
                    Side.BUY,
                    size,
                    client_id=market_cid,
                    worst_price=up(price * Decimal("1.02"), tick),
                )
            with pytest.raises(VenueUnavailable):
                await venue.place_stop_loss(
                    spec.ticker,
                    Side.SELL,
                    size,
                    down(price * Decimal("0.9"), tick),
                    worst_price=down(price * Decimal("0.8"), tick),
                    client_id=stop_cid,
                    good_til_seconds=GOOD_TIL,
                )
        finally:
            await market_driver.up()
        await market_driver.settle()
        await assert_no_order(venue, OrderRef(market_cid, spec.ticker, OrderType.MARKET))
        await assert_no_order(venue, OrderRef(stop_cid, spec.ticker, OrderType.STOP_MARKET, order_flags=32))
        state = await venue.account_state()
        assert state.open_orders == [] and state.fills == [] and state.account.positions == {}
