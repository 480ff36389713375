"""The venue contract, part 3: scaling out (issue 16): reduce-only protection after a partial exit,
replacing a stop without a stop-less moment, and the stateful-order budget.

Besides contract.py's fixtures, `market_driver` provides:
    `stateful_limits`       the (blocks, limit) windows the venue must report, None: no budget at all
    `exact_budget`          True when nothing but the test places orders and blocks come by hand,
                            so `room` can be checked to the unit
    `async watch_stops(venue, ticker)`       start watching the position's protection now
    `async stopless_moments(venue, ticker)`  every moment since `watch_stops` at which the position
                            had no live reduce-only stop-loss covering it (the fake chain records
                            every block and delivered tx; paper samples its tables at each call)
"""

from __future__ import annotations

from decimal import Decimal

from tests.venues.contract_support import GOOD_TIL, ContractBase, down, new_client_id, up
from trading_app.domain.enums import OrderStatus, Side
from trading_app.venues.base import OrderRef, Venue


async def _sell_stop(venue: Venue, ticker: str, size: Decimal, trigger: Decimal, tick: Decimal) -> OrderRef:
    return await venue.place_stop_loss(ticker, Side.SELL, size, trigger,
                                       worst_price=down(trigger * Decimal("0.92"), tick),
                                       client_id=new_client_id(), good_til_seconds=GOOD_TIL)


async def _sell_take_profit(venue: Venue, ticker: str, size: Decimal, trigger: Decimal,
                            tick: Decimal) -> OrderRef:
    return await venue.place_take_profit(ticker, Side.SELL, size, trigger,
                                         worst_price=down(trigger * Decimal("0.98"), tick),
                                         client_id=new_client_id(), good_til_seconds=GOOD_TIL)


class ScalingContract(ContractBase):
    """Take-profit levels, stop moves and the order budget."""

    async def test_take_profit_halves_then_stops_reduce_only_what_is_left(
        self, venue_factory, market_driver
    ) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        half, ticker, tick, price = size / 2, spec.ticker, spec.tick_size, spec.oracle_price
        await self._enter(venue, market_driver, Side.BUY, size)
        tp1 = await _sell_take_profit(venue, ticker, half, up(price * Decimal("1.03"), tick), tick)
        tp2 = await _sell_take_profit(venue, ticker, half, up(price * Decimal("1.08"), tick), tick)
        await market_driver.settle()  # two stateful placements per block (dYdX)
        stop = await _sell_stop(venue, ticker, size, down(price * Decimal("0.97"), tick), tick)
        # an older stop nobody cancelled yet, also full size, below the first
        stale = await _sell_stop(venue, ticker, size, down(price * Decimal("0.965"), tick), tick)
        await market_driver.settle()
        await market_driver.set_price(up(price * Decimal("1.04"), tick))
        await market_driver.settle()
        first = await venue.order_status(tp1)
        assert first.status is OrderStatus.FILLED and first.filled == half
        assert (await venue.account()).positions[ticker].size == half
        for ref in (tp2, stop, stale):
            assert (await venue.order_status(ref)).status is OrderStatus.UNTRIGGERED
        await market_driver.set_price(down(price * Decimal("0.95"), tick))
        await market_driver.settle()
        assert ticker not in (await venue.account()).positions  # closed, never flipped short
        fired = await venue.order_status(stop)
        # capped at the half that was left; the rest of a reduce-only order is removed (dYdX:
        # ReduceOnlyResized, the indexer's CANCELED)
        assert fired.filled == half and fired.status is OrderStatus.CANCELED
        assert sum(f.size for f in await self._fills_of(venue, stop)) == half
        second = await venue.order_status(stale)
        assert second.status is OrderStatus.CANCELED and second.filled == 0
        assert await self._fills_of(venue, stale) == []
        await venue.cancel(tp2)
        assert (await venue.order_status(tp2)).filled == 0

    async def test_replacing_a_stop_never_leaves_the_position_without_one(
        self, venue_factory, market_driver
    ) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        ticker, tick, price = spec.ticker, spec.tick_size, spec.oracle_price
        await self._enter(venue, market_driver, Side.BUY, size)
        old = await _sell_stop(venue, ticker, size, down(price * Decimal("0.95"), tick), tick)
        await market_driver.settle()
        await market_driver.watch_stops(venue, ticker)
        # the move: place the new stop, see it live, only then cancel the old one
        new = await _sell_stop(venue, ticker, size, down(price * Decimal("0.98"), tick), tick)
        assert await market_driver.stopless_moments(venue, ticker) == []
        await market_driver.settle()
        assert (await venue.order_status(new)).status is OrderStatus.UNTRIGGERED
        await venue.cancel(old)
        assert await market_driver.stopless_moments(venue, ticker) == []
        await market_driver.settle()
        assert (await venue.order_status(old)).status is OrderStatus.CANCELED
        assert (await venue.order_status(new)).status is OrderStatus.UNTRIGGERED
        assert await market_driver.stopless_moments(venue, ticker) == []

    async def test_the_witness_sees_a_stop_cancelled_before_its_replacement(
        self, venue_factory, market_driver
    ) -> None:  # noqa: ANN001
        # the wrong order of the move: the witness must notice, or the test above proves nothing
        venue, spec, size = await self._setup(venue_factory, market_driver)
        ticker, tick, price = spec.ticker, spec.tick_size, spec.oracle_price
        await self._enter(venue, market_driver, Side.BUY, size)
        old = await _sell_stop(venue, ticker, size, down(price * Decimal("0.95"), tick), tick)
        await market_driver.settle()
        await market_driver.watch_stops(venue, ticker)
        await venue.cancel(old)
        await market_driver.settle()
        moments = await market_driver.stopless_moments(venue, ticker)
        assert moments and moments[0].size == size and moments[0].covered == 0
        await _sell_stop(venue, ticker, size, down(price * Decimal("0.98"), tick), tick)
        await market_driver.settle()

    async def test_order_budget(self, venue_factory, market_driver) -> None:  # noqa: ANN001
        venue, spec, size = await self._setup(venue_factory, market_driver)
        before = await venue.order_budget()
        if market_driver.stateful_limits is None:
            assert before is None
            return
        assert before is not None and before.limits == market_driver.stateful_limits
        assert before.source == "chain" and before.max_open_stateful is not None
        assert 0 < before.room <= before.window_room
        await self._enter(venue, market_driver, Side.BUY, size)  # short-term: not counted
        assert (await venue.order_budget()).window_room == before.window_room
        await _sell_stop(venue, spec.ticker, size, down(spec.oracle_price * Decimal("0.95"), spec.tick_size),
                         spec.tick_size)
        after = await venue.order_budget()
        assert after.window_room <= before.window_room - 1
        if market_driver.exact_budget:  # same block, every attempt answered once
            assert (after.room, after.window_room) == (before.room - 1, before.window_room - 1)
        await market_driver.settle()
