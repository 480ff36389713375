"""A resting limit entry on dYdX (the fake chain): the trader's cancel is a stateful cancel the chain
commits; the position ends CANCELLED, its alert too, and nothing is left on the exchange."""

from __future__ import annotations

import asyncio

from tests.fakes.dydx_world import OWNER, DydxWorld
from tests.services.engine_support import make_signal, orders, positions, signal
from trading_app.services.engine import executor, pending

LIMIT = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2700", "tp": "3300",
         "order_type": "limit", "price": "2900"}


async def test_a_resting_dydx_entry_is_cancelled_by_its_trader(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    sid = await make_signal(dydx_user, LIMIT)
    outcome = await executor.execute_signal(sid)
    assert outcome is not None and outcome.status.value == "EXECUTED"
    [position] = await positions(dydx_user)
    assert position.status == "OPENING"
    [shown] = await pending.list_pending(dydx_user)
    assert shown.limit_price is not None and shown.limit_price == 2900 and shown.expires_at is not None
    for _ in range(100):  # committed in a block: resting on the book
        if any(o.live and o.condition is None for o in dydx_world.exchange.orders.values()):
            break
        await asyncio.sleep(0.1)

    view = await pending.cancel_pending(dydx_user, position.id or 0)

    assert (view.status, view.close_reason) == ("CANCELLED", "MANUAL")
    [entry] = await orders(dydx_user)
    assert entry.status == "CANCELED" and entry.filled_size == 0
    assert not [o for o in dydx_world.exchange.orders.values() if o.live]
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0
    assert (await signal(sid)).status == "CANCELLED"
