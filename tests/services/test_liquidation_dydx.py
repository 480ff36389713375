"""A position liquidated on dYdX: the monitor closes the books with the venue's numbers.

The fake chain liquidates the whole position with a LIQUIDATED fill that belongs to no order of
ours (as the indexer shows it: no `orderId`). The monitor must book it as LIQUIDATED at the
liquidation price, cancel the stop-loss and take-profit left on the book, and tell the trader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.conftest import reset_app_caches
from tests.fakes.dydx_world import MNEMONIC, OWNER, DydxWorld, dydx_world  # noqa: F401 - fixture
from tests.services.engine_support import make_signal, make_user
from tests.services.monitor_support import position, rows
from trading_app.db.models import Position
from trading_app.services import execution, venues
from trading_app.services.account_credentials import save_dydx_mnemonic
from trading_app.services.account_settings import save_network
from trading_app.services.monitor import monitor_tick

D = Decimal
ETH_LONG = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2700", "tp": "3300"}


@pytest.fixture
async def dydx_user(pg_url: str, dydx_world: DydxWorld, monkeypatch: pytest.MonkeyPatch  # noqa: F811
                    ) -> AsyncIterator[str]:
    monkeypatch.setenv("DYDX_TESTNET_NODE_URL", dydx_world.node.url)
    monkeypatch.setenv("DYDX_TESTNET_INDEXER_URL", dydx_world.indexer.url)
    reset_app_caches()
    dydx_world.exchange.set_price("ETH-USD", D("3000"))
    dydx_world.auto_blocks(0.05)
    user = await make_user(951)
    assert await save_dydx_mnemonic(user, MNEMONIC) == OWNER
    await save_network(user, "testnet")
    yield user
    await venues.forget(user)


async def _tick_until(position_id: int, status: str, within: float = 10.0) -> Position:
    found = await position(position_id)
    for _ in range(int(within / 0.2)):
        await monitor_tick("w1", sweep=False)
        found = await position(position_id)
        if found.status == status:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"position {position_id} is {found.status}, not {status}")


async def test_liquidation_closes_the_books_as_liquidated(dydx_user: str, dydx_world: DydxWorld) -> None:  # noqa: F811
    outcome = await execution.execute_signal(await make_signal(dydx_user, ETH_LONG))
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    opened = await position(outcome.position_id or 0)
    # a gap through the stop (the stop would fire at 2700): the protocol liquidates at 2650 with its fee
    dydx_world.exchange.liquidate(OWNER, 0, "ETH-USD", D("2650"), fee=D("1.5"))
    assert dydx_world.exchange.position(OWNER, 0, "ETH-USD") == 0

    closed = await _tick_until(opened.id or 0, "CLOSED")

    assert closed.close_reason == "LIQUIDATED"
    assert closed.exit_price == D("2650")
    entry_fee = (await rows(opened.id))["ENTRY"][-1].fee
    assert closed.fees == entry_fee + D("1.5")
    assert closed.realized_pnl == (D("2650") - closed.entry_price) * D("0.1") - closed.fees
    orders = await rows(opened.id)
    assert {orders[r][-1].status for r in ("STOP_LOSS", "TAKE_PROFIT")} == {"CANCELED"}
    assert not [o for o in dydx_world.exchange.orders.values() if o.live]
