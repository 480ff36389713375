"""The venue contract: what every `Venue` implementation must do, as one reusable test class.

Use it by subclassing in a test module and providing two fixtures:

    from tests.venues.contract import VenueContract

    class TestMyVenueContract(VenueContract):
        pass   # inherits every test_* below

Required fixtures (function scope; define them in the test module or a conftest):

`venue_factory` -- an async callable `await venue_factory() -> Venue`. Every call returns a venue
    instance for THE SAME fresh, funded account (one per test): a test may create a second instance
    to check that state is shared. The account starts flat, with no orders or fills, and equity
    of at least 1,000 USD. The fixture closes the venues it made.

`market_driver` -- an object that moves the venue's market and breaks its connectivity:
    `ticker: str`          the market the suite trades (ACTIVE; 10 steps cost well under 1,000 USD)
    `other_ticker: str`    a second listed market (the suite never trades it; used for filters)
    `async price() -> Decimal`            the current oracle price of `ticker`
    `async set_price(price: Decimal)`     move the oracle price of `ticker` (and the book, if any,
                                          around it); liquidity near the price must stay ample
    `async settle()`                      return once the venue reflects everything so far (orders
                                          indexed, triggers fired); a no-op for a synchronous venue
    `async down()` / `async up()`         make the venue's price source / endpoints unreachable,
                                          then reachable again

Expectations the suite encodes (beyond base.py's docstrings):
- `order_status` of a client id never placed raises OrderNotFound or reports PENDING with 0 filled;
- an IOC that cannot fill within its worst price ends CANCELED with `filled == 0`;
- `VenuePosition.size` is the magnitude (positive); `side` says LONG/SHORT; flat markets are absent;
- fill fees are positive (a taker pays) and never above 0.1% of the notional;
- any request made while `down()` raises VenueUnavailable and leaves no order behind.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest

from trading_app.domain.enums import OrderStatus, OrderType, PositionSide, Side
from trading_app.venues.base import OrderRef, Venue
from trading_app.venues.errors import OrderNotFound, OrderRejected, UnknownMarket, VenueUnavailable

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


class VenueContract:
    """Every test runs against `venue_factory` and `market_driver` (see the module docstring)."""

    # -- helpers -------------------------------------------------------------------
    @staticmethod
    async def _setup(venue_factory, market_driver):  # noqa: ANN001, ANN205 - fixtures
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
    async def _fills_of(venue: Venue, ref: OrderRef):  # noqa: ANN205
        return [f for f in await venue.fills(market=ref.market) if f.client_id == ref.client_id]

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
            assert report.status is OrderStatus.CANCELED and report.filled == 0, report
            assert await self._fills_of(venue, ref) == []
        assert spec.ticker not in (await venue.account()).positions

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

    # -- protection ----------------------------------------------------------------
    async def test_stop_loss_fires_on_a_fall_and_closes_the_long(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        equity_before = (await venue.account()).equity
        entry = await self._enter(venue, market_driver, Side.BUY, size)
        price, tick = spec.oracle_price, spec.tick_size
        sl_trigger = down(price * Decimal("0.97"), tick)
        sl = await venue.place_stop_loss(
            spec.ticker,
            Side.SELL,
            size,
            sl_trigger,
            client_id=new_client_id(),
            worst_price=down(price * Decimal("0.90"), tick),
            good_til_seconds=GOOD_TIL,
        )
        tp = await venue.place_take_profit(
            spec.ticker,
            Side.SELL,
            size,
            up(price * Decimal("1.03"), tick),
            worst_price=down(price * Decimal("1.01"), tick),
            client_id=new_client_id(),
            good_til_seconds=GOOD_TIL,
        )
        await market_driver.settle()
        for ref, trigger in ((sl, sl_trigger), (tp, None)):
            report = await venue.order_status(ref)
            assert report.status is OrderStatus.UNTRIGGERED and report.reduce_only and report.filled == 0
            assert report.side is Side.SELL and report.trigger_price == (trigger or report.trigger_price)
        await market_driver.set_price(down(price * Decimal("0.96"), tick))
        await market_driver.settle()
        report = await venue.order_status(sl)
        assert report.status is OrderStatus.FILLED and report.filled == size
        assert spec.ticker not in (await venue.account()).positions
        sl_fills = await self._fills_of(venue, sl)
        assert sum(f.size for f in sl_fills) == size and all(f.side is Side.SELL for f in sl_fills)
        assert (await venue.order_status(tp)).status is not OrderStatus.FILLED
        await venue.cancel(tp)
        # flat again: equity is what it was, plus the trade's PnL, minus both fees
        entry_report = await venue.order_status(entry)
        pnl = size * (report.avg_fill_price - entry_report.avg_fill_price)
        expected = equity_before + pnl - entry_report.fee - report.fee
        assert abs((await venue.account()).equity - expected) <= TOLERANCE

    async def test_take_profit_fires_on_a_fall_and_closes_the_short(
        self, venue_factory, market_driver
    ) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        await self._enter(venue, market_driver, Side.SELL, size)
        position = (await venue.account()).positions[spec.ticker]
        assert position.side is PositionSide.SHORT and position.size == size
        price, tick = spec.oracle_price, spec.tick_size
        tp = await venue.place_take_profit(
            spec.ticker,
            Side.BUY,
            size,
            down(price * Decimal("0.97"), tick),
            worst_price=up(price * Decimal("0.99"), tick),
            client_id=new_client_id(),
            good_til_seconds=GOOD_TIL,
        )
        sl = await venue.place_stop_loss(
            spec.ticker,
            Side.BUY,
            size,
            up(price * Decimal("1.03"), tick),
            worst_price=up(price * Decimal("1.10"), tick),
            client_id=new_client_id(),
            good_til_seconds=GOOD_TIL,
        )
        await market_driver.settle()
        assert (await venue.order_status(tp)).status is OrderStatus.UNTRIGGERED
        await market_driver.set_price(down(price * Decimal("0.99"), tick))  # not far enough: nothing fires
        await market_driver.settle()
        assert (await venue.order_status(tp)).status is OrderStatus.UNTRIGGERED
        await market_driver.set_price(down(price * Decimal("0.96"), tick))
        await market_driver.settle()
        report = await venue.order_status(tp)
        assert report.status is OrderStatus.FILLED and report.filled == size
        assert report.avg_fill_price <= up(price * Decimal("0.99"), tick)
        assert spec.ticker not in (await venue.account()).positions
        assert (await venue.order_status(sl)).status is not OrderStatus.FILLED
        await venue.cancel(sl)

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

    async def test_fills_since_and_by_market(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        first = await self._enter(venue, market_driver, Side.BUY, size)
        cursor = max(f.time for f in await venue.fills())
        second = await self._enter(venue, market_driver, Side.SELL, size)
        later = await venue.fills(since=cursor)
        assert {f.client_id for f in later} == {second.client_id}
        assert all(f.time > cursor for f in later)
        both = await venue.fills(market=spec.ticker)
        assert [f.client_id for f in both][0] == first.client_id and both[-1].client_id == second.client_id
        assert [f.time for f in both] == sorted(f.time for f in both)
        assert await venue.fills(market=market_driver.other_ticker) == []
        assert await venue.fills(since=datetime.now(UTC)) == []

    # -- account -------------------------------------------------------------------
    async def test_account_equity_and_positions(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        start = await venue.account()
        assert start.equity >= 1000 and start.free_collateral <= start.equity and start.positions == {}
        before = datetime.now(UTC)
        entry = await venue.order_status(await self._enter(venue, market_driver, Side.BUY, size))
        after_entry = await venue.account()
        position = after_entry.positions[spec.ticker]
        unrealized = size * (spec.oracle_price - entry.avg_fill_price)
        assert abs(position.unrealized_pnl - unrealized) <= TOLERANCE
        assert abs(after_entry.equity - (start.equity - entry.fee + unrealized)) <= TOLERANCE
        assert after_entry.free_collateral < after_entry.equity  # margin is in use
        higher = up(spec.oracle_price * Decimal("1.05"), spec.tick_size)
        await market_driver.set_price(higher)
        await market_driver.settle()
        moved = await venue.account()
        gain = size * (higher - entry.avg_fill_price)
        assert moved.positions[spec.ticker].unrealized_pnl > 0
        assert abs(moved.equity - (start.equity - entry.fee + gain)) <= TOLERANCE
        sl = await venue.place_stop_loss(
            spec.ticker,
            Side.SELL,
            size,
            down(higher * Decimal("0.9"), spec.tick_size),
            worst_price=down(higher * Decimal("0.8"), spec.tick_size),
            client_id=new_client_id(),
            good_til_seconds=GOOD_TIL,
        )
        await market_driver.settle()
        state = await venue.account_state(since=before)
        assert state.account.positions == moved.positions
        assert [o.ref.client_id for o in state.open_orders] == [sl.client_id]
        assert state.open_orders[0].status is OrderStatus.UNTRIGGERED
        assert {f.client_id for f in state.fills} == {entry.ref.client_id}
        assert (await venue_factory()).network == venue.network  # a second instance sees the same books
        assert (await (await venue_factory()).account()).positions == moved.positions

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
            assert report.filled == 0 and report.status is OrderStatus.CANCELED
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
