"""The money-losing cases found on dYdX, replayed through the engine and the monitor on the fake chain
(CheckTx apart from DeliverTx, a mempool that drops, short-term orders indexed only once they fill):
each ends with the position protected or flat, the trader told, and the signal's status true.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlmodel import col, select

from tests.fakes.dydx_world import OWNER, DydxWorld
from tests.services.engine_support import make_signal, orders, positions, signal
from trading_app.db.engine import session_scope
from trading_app.db.models import Notification, Position
from trading_app.domain.clock import utcnow
from trading_app.services.engine import executor
from trading_app.services.monitor.tick import monitor_tick
from trading_app.services.notify.notifier import get_notifier

D = Decimal
ETH_LONG = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2700", "tp": "3300"}


async def _told(user: str) -> Counter[str]:
    await get_notifier().drain(5)
    async with session_scope() as session:
        rows = (await session.exec(select(Notification.kind).where(Notification.user_address == user))).all()
    return Counter(rows)


async def _ticks_until(check, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.2)):
        await monitor_tick("w1", sweep=False)
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the monitor did not get there")


async def test_a_market_entry_that_finds_no_liquidity_fails_the_signal_once_the_chain_says(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    # every ask above the alert's worst price: the IOC can never fill, and the indexer never shows it
    dydx_world.exchange.set_book("ETH-USD", bids=[(D("2999.9"), D("5"))], asks=[(D("3500.0"), D("5"))])
    sid = await make_signal(dydx_user, ETH_LONG)
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "FAILED"
    assert outcome.reason is not None and outcome.reason.startswith("entry_not_filled")
    [position] = await positions(dydx_user)
    assert position.status == "FAILED" and position.size == 0
    [entry] = await orders(dydx_user)
    assert entry.status == "EXPIRED" and entry.filled_size == 0  # settled past its good-til-block
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0
    assert (await _told(dydx_user))["rejected"] == 1


async def test_a_close_that_finds_no_liquidity_is_sent_again_under_fresh_ids_until_flat(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    dydx_world.exchange.equity_tier_limit = 0  # no stateful order accepted: the stop-loss is refused
    sid = await make_signal(dydx_user, ETH_LONG)
    dydx_world.exchange.set_book(
        "ETH-USD", bids=[], asks=[(D("3000.1"), D("5"))]
    )  # nobody buys: no close fills
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "FAILED"
    assert outcome.reason is not None and outcome.reason.startswith("protection_failed")
    [position] = await positions(dydx_user)
    assert position.status == "FAILED_PROTECTION"  # still exposed: it is being closed
    closes = [o for o in await orders(dydx_user) if o.role == "CLOSE"]
    assert len(closes) == 3 and len({o.client_id for o in closes}) == 3  # one flatten call, three fresh ids
    assert all(o.status == "EXPIRED" and o.filled_size == 0 for o in closes)
    told = await _told(dydx_user)
    assert told["protection_failed"] == 1 and told["error"] >= 1  # the trader hears of each step
    async with session_scope() as session:
        query = select(Notification.text).where(Notification.user_address == dydx_user)
        texts = (await session.exec(query)).all()
    assert not any("protected by its stop-loss" in t for t in texts)  # the stop was refused: never claim it

    dydx_world.exchange.set_book("ETH-USD", bids=[(D("2999.9"), D("5"))], asks=[(D("3000.1"), D("5"))])
    async with session_scope() as session:  # the flatten gave up a while ago: the monitor takes over
        await session.exec(
            update(Position)
            .where(col(Position.id) == position.id)  # type: ignore[call-overload]
            .values(updated_at=utcnow() - timedelta(minutes=5))
        )

    async def flat() -> bool:
        return (await positions(dydx_user))[0].status == "CLOSED"

    await _ticks_until(flat)
    closed = (await positions(dydx_user))[0]
    assert (
        closed.close_reason == "PROTECTION_FAILED" and dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0
    )
    closes = [o for o in await orders(dydx_user) if o.role == "CLOSE"]
    assert len({o.client_id for o in closes}) == len(closes) >= 4 and closes[-1].status == "FILLED"
    assert (await signal(sid)).status == "FAILED"
    dydx_world.exchange.equity_tier_limit = None


async def test_a_stop_loss_dropped_from_the_mempool_is_placed_again(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    dydx_world.node.fail_next("hold")  # the stop-loss, the first stateful tx: accepted, never proposed
    sid = await make_signal(dydx_user, ETH_LONG)
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "EXECUTED"
    [first] = [o for o in await orders(dydx_user) if o.role == "STOP_LOSS"]
    assert first.status == "PENDING" and first.commit_by  # sent, in doubt: never counted as live

    async def protected() -> bool:
        live = [o for o in dydx_world.exchange.orders.values() if o.live and o.condition == "STOP_LOSS"]
        rows = [o for o in await orders(dydx_user) if o.role == "STOP_LOSS"]
        return bool(live) and rows[-1].status == "UNTRIGGERED"

    await _ticks_until(protected, within=30)
    [position] = await positions(dydx_user)
    assert position.status == "OPEN"
    live = [o for o in dydx_world.exchange.orders.values() if o.live and o.condition == "STOP_LOSS"]
    assert len(live) == 1 and live[0].size == D("0.1")


async def test_a_stop_loss_refused_in_deliver_tx_is_replaced_under_the_next_id(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    dydx_world.node.fail_next(
        "deliver",
        codespace="clob",
        code=3008,
        log="Stateful order was previously cancelled and therefore cannot be placed",
    )
    sid = await make_signal(dydx_user, ETH_LONG)
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "EXECUTED"

    async def replaced() -> bool:
        stops = [o for o in await orders(dydx_user) if o.role == "STOP_LOSS"]
        return len(stops) == 2 and stops[0].status == "REJECTED" and stops[1].status == "UNTRIGGERED"

    await _ticks_until(replaced)
    stops = [o for o in await orders(dydx_user) if o.role == "STOP_LOSS"]
    assert stops[0].client_id != stops[1].client_id
    live = [o for o in dydx_world.exchange.orders.values() if o.live and o.condition == "STOP_LOSS"]
    assert len(live) == 1


async def test_a_limit_entry_dropped_from_the_mempool_is_sent_again_not_left_opening_for_ever(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    dydx_world.node.fail_next("hold")  # the limit entry (stateful): accepted at CheckTx, never proposed
    limit = {**ETH_LONG, "order_type": "limit", "price": "2900"}
    outcome = await executor.execute_signal(await make_signal(dydx_user, limit))
    assert outcome is not None and outcome.status.value == "EXECUTED"  # resting, as far as anyone knows
    [entry] = await orders(dydx_user)
    assert entry.status == "PENDING" and entry.commit_by  # sent, in doubt

    async def resting_on_chain() -> bool:
        rows = [o for o in await orders(dydx_user) if o.role == "ENTRY"]
        live = [o for o in dydx_world.exchange.orders.values() if o.live and o.condition is None]
        return rows[-1].status == "OPEN" and len(live) == 1

    await _ticks_until(resting_on_chain, within=40)
    [position] = await positions(dydx_user)
    assert (
        position.status == "OPENING" and len([o for o in await orders(dydx_user) if o.role == "ENTRY"]) == 1
    )
    dydx_world.exchange.set_price("ETH-USD", D("2890"))  # it fills: the monitor protects it

    async def protected() -> bool:
        return (await positions(dydx_user))[0].status == "OPEN"

    await _ticks_until(protected, within=30)
