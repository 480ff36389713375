"""Cached venues follow the account: a change of key, credentials or network reaches every worker
(each has its own cache) before its next order, proven with orders signed on the fake dYdX chain."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from tests.fakes.dydx_world import MNEMONIC, OWNER, DydxWorld
from tests.services.accounts.chain_support import LoopWorker, authorize
from tests.services.settings_support import _close_pools, make_user  # noqa: F401 - autouse fixture
from trading_app.db.engine import dispose_engines, session_scope
from trading_app.db.models import TradingAccount
from trading_app.domain.enums import Side
from trading_app.services.accounts import venues
from trading_app.services.accounts.account import save_network
from trading_app.services.accounts.credentials import (
    remove_dydx_credentials,
    save_dydx_api_key,
    save_dydx_mnemonic,
)
from trading_app.venues.dydx.credentials import public_key_of


async def _stop(venue, client_id: int) -> None:
    await venue.place_stop_loss(
        "ETH-USD",
        Side.SELL,
        D("0.01"),
        D("2850.0"),
        worst_price=D("2700.0"),
        client_id=client_id,
        good_til_seconds=3600,
    )


def _signed(world: DydxWorld, client_id: int) -> tuple[bytes, list[int]]:
    """(public key, selected authenticators) of the accepted placement of `client_id`."""
    [sent] = [
        b
        for b in world.node.broadcasts
        if b.get("type_url", "").endswith("MsgPlaceOrder")
        and b["msg"].order.order_id.client_id == client_id
        and b["code"] == 0
    ]
    return sent["pubkey"], sent["authenticators"]


async def _account_version(user: str) -> int:
    """What a caller holding the account row passes (the engine reads it when it claims a signal)."""
    async with session_scope() as session:
        account = await session.get(TradingAccount, user)
        assert account is not None
        return account.venue_version


@pytest.fixture
async def trader(pg_url: str, chain: DydxWorld):  # noqa: F811
    chain.auto_blocks(0.05)
    user, _ = await make_user()
    yield user
    await venues.forget(user)


async def test_a_new_key_reaches_every_worker_before_its_next_order(trader: str, chain: DydxWorld) -> None:  # noqa: F811
    old_key, _, old_id = authorize(chain, OWNER)
    new_key, _, new_id = authorize(chain, OWNER)
    await save_dydx_api_key(trader, old_key, OWNER, old_id)
    await save_network(trader, "testnet")
    other = LoopWorker()
    try:
        first_a = await venues.venue_for(trader, "testnet")
        first_b = await other.run(venues.venue_for(trader, "testnet"))
        await _stop(first_a, 1)
        await other.run(_stop(first_b, 2))
        assert _signed(chain, 1) == _signed(chain, 2) == (public_key_of(old_key), [old_id])
        assert await venues.venue_for(trader, "testnet") is first_a  # cached while nothing changes

        await save_dydx_api_key(trader, new_key, OWNER, new_id)  # the trader replaces the key

        # worker A passes nothing (the version is read); worker B passes what it read with its row
        second_a = await venues.venue_for(trader, "testnet")
        version = await other.run(_account_version(trader))
        second_b = await other.run(venues.venue_for(trader, "testnet", version=version))
        assert second_a is not first_a and second_b is not first_b
        await _stop(second_a, 3)
        await other.run(_stop(second_b, 4))
        assert _signed(chain, 3) == _signed(chain, 4) == (public_key_of(new_key), [new_id])
    finally:
        await other.run(venues.forget(trader))
        await other.run(dispose_engines())
        other.stop()


async def test_removed_credentials_stop_the_cached_venue(trader: str, chain: DydxWorld) -> None:  # noqa: F811
    await save_dydx_mnemonic(trader, MNEMONIC)
    await save_network(trader, "testnet")
    await _stop(await venues.venue_for(trader, "testnet"), 11)
    await remove_dydx_credentials(trader)
    with pytest.raises(venues.VenueNotConfigured):
        await venues.venue_for(trader, "testnet")


async def test_a_network_round_trip_rebuilds_and_a_passed_version_is_trusted(
    trader: str,
    chain: DydxWorld,  # noqa: F811
) -> None:
    await save_dydx_mnemonic(trader, MNEMONIC)
    await save_network(trader, "testnet")
    read_before = await _account_version(trader)
    first = await venues.venue_for(trader, "testnet", version=read_before)
    await save_network(trader, "paper")
    await save_network(trader, "testnet")
    # a caller acting on the row it read before the change still gets the venue of that row
    assert await venues.venue_for(trader, "testnet", version=read_before) is first
    second = await venues.venue_for(trader, "testnet", version=await _account_version(trader))
    assert second is not first
    assert await venues.venue_for(trader, "testnet") is second


async def test_concurrent_first_uses_build_one_venue(trader: str, chain: DydxWorld) -> None:  # noqa: F811
    await save_dydx_mnemonic(trader, MNEMONIC)
    await save_network(trader, "testnet")
    built = await asyncio.gather(*(venues.venue_for(trader, "testnet") for _ in range(5)))
    assert all(v is built[0] for v in built)  # one signer, one local sequence


async def test_a_replaced_venue_is_closed_after_calls_in_flight_had_time(
    trader: str,
    chain: DydxWorld,
    monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    monkeypatch.setattr(venues, "RETIRE_AFTER_SECONDS", 0.3)
    await save_dydx_mnemonic(trader, MNEMONIC)
    await save_network(trader, "testnet")
    old = await venues.venue_for(trader, "testnet")
    await save_dydx_mnemonic(trader, MNEMONIC)  # the same phrase saved again is still a change
    assert await venues.venue_for(trader, "testnet") is not old
    assert await old.client.latest_height() >= 0  # a call that already held it still works
    await asyncio.sleep(0.6)
    with pytest.raises(ValueError, match="closed channel"):
        await old.client.latest_height()


async def test_paper_venues_are_kept_across_changes(trader: str, chain: DydxWorld) -> None:  # noqa: F811
    paper = await venues.venue_for(trader, "paper")
    await save_dydx_mnemonic(trader, MNEMONIC)
    await save_network(trader, "testnet")
    await save_network(trader, "paper")
    assert await venues.venue_for(trader, "paper") is paper  # its books live in the database
