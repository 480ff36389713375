"""The monitor on DydxVenue against the fake dYdX node and indexer (real signed transactions).

The chain acts on its own (triggers, another client's orders) and the indexer shows it a block or
so later; the monitor must settle each case from what the indexer shows. The `dydx_world` fixture
fails any test that leaves a position without its stop-loss.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.fakes.dydx_world import OWNER, DydxWorld
from tests.services.engine_support import make_signal
from tests.services.monitor_support import position, rows
from trading_app.db.models import Position
from trading_app.domain.enums import Side
from trading_app.services.engine import executor
from trading_app.services.engine.order_rows import ref_of
from trading_app.services.monitor.tick import monitor_tick

D = Decimal
ETH_LONG = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2700", "tp": "3300"}


async def _opened(user: str) -> Position:
    outcome = await executor.execute_signal(await make_signal(user, ETH_LONG))
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    assert outcome.position_id is not None
    return await position(outcome.position_id)


async def _tick_until(position_id: int, status: str, within: float = 10.0) -> Position:
    """Tick like the scheduler until the position reaches `status` (the indexer lags the chain)."""
    for _ in range(int(within / 0.2)):
        await monitor_tick("w1", sweep=False)
        found = await position(position_id)
        if found.status == status:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"position {position_id} is {found.status}, not {status}")


async def _leftovers_settled(position_id: int | None, within: float = 10.0) -> dict[str, list]:
    """Tick until the closed position's stop-loss and take-profit rows are final: a cancel is a
    stateful tx, committed a block later and indexed after that, so the first read after sending it
    still shows the order untriggered."""
    for _ in range(int(within / 0.2)):
        orders = await rows(position_id)
        if all(
            orders[r][-1].status in ("FILLED", "CANCELED", "EXPIRED") for r in ("STOP_LOSS", "TAKE_PROFIT")
        ):
            return orders
        await monitor_tick("w1", sweep=False)
        await asyncio.sleep(0.2)
    raise AssertionError(f"the protection of position {position_id} is still {orders}")


async def test_take_profit_on_chain_closes_the_books(dydx_user: str, dydx_world: DydxWorld) -> None:  # noqa: F811
    opened = await _opened(dydx_user)
    dydx_world.exchange.set_price("ETH-USD", D("3350"))
    closed = await _tick_until(opened.id, "CLOSED")
    assert closed.close_reason == "TAKE_PROFIT" and closed.exit_price == D("3350")
    orders = await _leftovers_settled(opened.id)
    assert orders["TAKE_PROFIT"][-1].status == "FILLED"
    assert orders["STOP_LOSS"][-1].status == "CANCELED"
    assert closed.realized_pnl == (D("3350") - closed.entry_price) * D("0.1") - closed.fees
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0
    assert not [o for o in dydx_world.exchange.orders.values() if o.live]


async def test_stop_loss_cancelled_by_another_client_is_placed_again(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    opened = await _opened(dydx_user)
    [stop] = (await rows(opened.id))["STOP_LOSS"]
    other = dydx_world.venue()  # the trader's own app, same keys
    await other.cancel(ref_of(stop))
    for _ in range(50):
        await monitor_tick("w1", sweep=False)
        stops = (await rows(opened.id))["STOP_LOSS"]
        if len(stops) == 2 and stops[1].status == "UNTRIGGERED":
            break
        await asyncio.sleep(0.2)
    assert [s.status for s in stops] == ["CANCELED", "UNTRIGGERED"]
    live = [o for o in dydx_world.exchange.orders.values() if o.live and o.condition == "STOP_LOSS"]
    assert len(live) == 1 and live[0].size == D("0.1")
    assert (await position(opened.id)).status == "OPEN"


async def test_closed_by_hand_on_chain_is_booked_external(dydx_user: str, dydx_world: DydxWorld) -> None:  # noqa: F811
    opened = await _opened(dydx_user)
    other = dydx_world.venue()
    await other.place_market_order(
        "ETH-USD", Side.SELL, D("0.1"), worst_price=D("2900"), client_id=1_999_999_999, reduce_only=True
    )
    closed = await _tick_until(opened.id, "CLOSED")
    assert closed.close_reason == "EXTERNAL" and closed.exit_price == D("3000")
    orders = await _leftovers_settled(opened.id)
    assert {orders[r][-1].status for r in ("STOP_LOSS", "TAKE_PROFIT")} == {"CANCELED"}
    assert not [o for o in dydx_world.exchange.orders.values() if o.live]


async def test_liquidation_closes_the_books_as_liquidated(dydx_user: str, dydx_world: DydxWorld) -> None:  # noqa: F811
    opened = await _opened(dydx_user)
    # a gap through the stop (the stop would fire at 2700): the protocol liquidates at 2650 with its fee
    dydx_world.exchange.liquidate(OWNER, 0, "ETH-USD", D("2650"), fee=D("1.5"))
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0

    closed = await _tick_until(opened.id or 0, "CLOSED")

    assert closed.close_reason == "LIQUIDATED"
    assert closed.exit_price == D("2650")
    entry_fee = (await rows(opened.id))["ENTRY"][-1].fee
    assert closed.fees == entry_fee + D("1.5")
    assert closed.realized_pnl == (D("2650") - closed.entry_price) * D("0.1") - closed.fees
    orders = await _leftovers_settled(opened.id)
    assert {orders[r][-1].status for r in ("STOP_LOSS", "TAKE_PROFIT")} == {"CANCELED"}
    assert not [o for o in dydx_world.exchange.orders.values() if o.live]


async def test_a_position_the_trader_opens_by_hand_after_ours_closed_is_never_touched(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    opened = await _opened(dydx_user)
    other = dydx_world.venue()  # the trader's own app, same account
    await other.place_market_order(
        "ETH-USD", Side.SELL, D("0.1"), worst_price=D("2900"), client_id=1_999_999_998, reduce_only=True
    )
    await _tick_until(opened.id, "CLOSED")  # booked EXTERNAL
    await _leftovers_settled(opened.id)
    await other.place_market_order(
        "ETH-USD", Side.BUY, D("0.1"), worst_price=D("3100"), client_id=1_999_999_997
    )
    for _ in range(10):  # the account is still watched after our close: every tick sees a position
        report = await monitor_tick("w1", sweep=False)
        assert not {"exposure_closed", "exposure_open"} & set(report.outcomes), report.outcomes
        await asyncio.sleep(0.2)
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == D("0.1")  # the trader's, untouched
    dydx_world.check_protection = False  # a position of the trader's own, which they protect themselves
