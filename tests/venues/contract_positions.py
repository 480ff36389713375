"""The venue contract, part 2: protection orders firing, fills, equity and positions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tests.venues.contract_support import (
    GOOD_TIL,
    TOLERANCE,
    ContractBase,
    down,
    new_client_id,
    up,
)
from trading_app.domain.enums import OrderStatus, PositionSide, Side


class PositionContract(ContractBase):
    """Stop-loss and take-profit triggering, fills since a cursor, account figures."""

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
