"""The trading engine on DydxVenue against the fake dYdX node and indexer (real signed txs).

The `dydx_world` fixture fails any test that leaves a position without its stop-loss or
enters one intent twice.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.fakes.dydx_world import OWNER, DydxWorld
from tests.services.engine_support import make_signal, orders, positions, signal
from trading_app.services.engine import executor

ETH_LONG = {
    "action": "buy",
    "market": "ETH-USD",
    "size": "0.1",
    "sl": "2700",
    "tp": "3300",
    "alert_id": "eth-long-1",
}


async def _live_on_chain(world: DydxWorld, conditions: set[str], within: float = 3.0) -> list:
    live: list = []
    for _ in range(int(within / 0.05)):
        live = [o for o in world.exchange.orders.values() if o.live]
        if {o.condition for o in live} >= conditions:
            break
        await asyncio.sleep(0.05)
    return live


async def test_entry_then_stop_then_take_profit_on_chain(dydx_user: str, dydx_world: DydxWorld) -> None:  # noqa: F811
    sid = await make_signal(dydx_user, ETH_LONG)
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    [position] = await positions(dydx_user)
    assert position.network == "testnet" and position.status == "OPEN" and position.size == Decimal("0.1")
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == Decimal("0.1")
    rows = {o.role: o for o in await orders(dydx_user)}
    assert rows["ENTRY"].order_flags == 0 and rows["ENTRY"].good_til_block
    assert rows["STOP_LOSS"].order_flags == 32 and rows["STOP_LOSS"].good_til_block_time
    assert rows["TAKE_PROFIT"].order_flags == 32 and rows["STOP_LOSS"].venue_order_id
    # stateful orders are placed when their tx is delivered, in the block after CheckTx
    live = await _live_on_chain(dydx_world, {"STOP_LOSS", "TAKE_PROFIT"})
    assert {o.condition for o in live} == {"STOP_LOSS", "TAKE_PROFIT"}
    # executing again (a duplicate dispatch, a restart) sends nothing new
    assert await executor.execute_signal(sid) is None
    assert len([o for o in dydx_world.exchange.orders.values() if o.flags == 0]) == 1


async def test_stop_loss_refused_by_the_chain_flattens_at_once(dydx_user: str, dydx_world: DydxWorld) -> None:  # noqa: F811
    dydx_world.exchange.equity_tier_limit = 0  # like an account under $20: no stateful orders at all
    sid = await make_signal(dydx_user, ETH_LONG)
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "FAILED"
    assert outcome.reason is not None and outcome.reason.startswith("protection_failed")
    [position] = await positions(dydx_user)
    assert position.status == "CLOSED" and position.close_reason == "PROTECTION_FAILED"
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0  # flat on the venue
    assert (await signal(sid)).status == "FAILED"
    roles = [o.role for o in await orders(dydx_user)]
    assert roles[0] == "ENTRY" and "CLOSE" in roles


async def test_node_timeouts_resend_the_same_order_never_a_second(
    dydx_user: str, dydx_world: DydxWorld
) -> None:  # noqa: F811
    dydx_world.node.fail_next("timeout", count=1)
    sid = await make_signal(dydx_user, ETH_LONG)
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    entries = [o for o in dydx_world.exchange.orders.values() if o.flags == 0]
    assert len(entries) == 1 and dydx_world.exchange.position(OWNER, 0, "ETH-USD") == Decimal("0.1")
