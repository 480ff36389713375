"""A trader on the fake dYdX chain for engine and monitor tests: their mnemonic saved, testnet
chosen, the node and indexer of `dydx_world` configured, a block every 50 ms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.conftest import reset_app_caches
from tests.fakes.dydx_world import MNEMONIC, OWNER, DydxWorld
from tests.services.engine_support import make_user
from trading_app.services.accounts import venues
from trading_app.services.accounts.account import save_network
from trading_app.services.accounts.credentials import save_dydx_mnemonic


@pytest.fixture
async def dydx_user(
    pg_url: str, dydx_world: DydxWorld, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    monkeypatch.setenv("DYDX_TESTNET_NODE_URL", dydx_world.node.url)
    monkeypatch.setenv("DYDX_TESTNET_INDEXER_URL", dydx_world.indexer.url)
    reset_app_caches()
    dydx_world.exchange.set_price("ETH-USD", Decimal("3000"))
    dydx_world.auto_blocks(0.05)
    user = await make_user(950)
    assert await save_dydx_mnemonic(user, MNEMONIC) == OWNER
    await save_network(user, "testnet")
    yield user
    await venues.forget(user)
