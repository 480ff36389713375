"""The fake dYdX world behind both dYdX networks, for settings tests that ask the chain about keys.

def test_x(db_url, chain):            # chain is a tests.fakes.dydx_world.DydxWorld
    key, owner, auth_id = authorize(chain, messages=(...), subaccounts=(0,))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from tests.conftest import reset_app_caches
from tests.fakes.dydx_world import DydxWorld
from tests.services.settings_support import new_api_key, new_owner_address
from trading_app.venues.dydx.credentials import public_key_of

T = TypeVar("T")


@pytest.fixture
def chain(dydx_world: DydxWorld, monkeypatch: pytest.MonkeyPatch) -> DydxWorld:
    """The fake world, answering for testnet and mainnet alike."""
    for network in ("TESTNET", "MAINNET"):
        monkeypatch.setenv(f"DYDX_{network}_NODE_URL", dydx_world.node.url)
        monkeypatch.setenv(f"DYDX_{network}_INDEXER_URL", dydx_world.indexer.url)
    reset_app_caches()
    return dydx_world


def authorize(
    world: DydxWorld, owner: str | None = None, key: str | None = None, **kwargs: Any
) -> tuple[str, str, int]:
    """A fresh API key authorized on the fake chain for `owner` (dydx.trade's shape by default).

    Returns:
        (private key hex, owner dydx1 address, authenticator id).
    """
    key = key or new_api_key()
    owner = owner or new_owner_address()
    return key, owner, world.node.add_authenticator(owner, public_key_of(key), **kwargs)


class LoopWorker:
    """A second worker: its own thread and event loop, so its own venue cache and database pool."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="second-worker", daemon=True)
        self.thread.start()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on this worker's loop and wait for it without blocking the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()
