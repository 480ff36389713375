"""Network choice, webhook secret, overview: on SQLite and PostgreSQL, each user only sees their own."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

import pytest

from tests.services.accounts.chain_support import authorize
from tests.services.settings_support import (
    _close_pools,  # noqa: F401 - autouse fixture
    add_open_position,
    make_user,
    new_address,
    new_api_key,
    new_owner_address,
    raw_rows,
)
from trading_app.db.engine import session_scope
from trading_app.db.models import User
from trading_app.domain.enums import CredentialKind, Network
from trading_app.services.accounts import account as svc
from trading_app.services.accounts.account import SettingsInvalid, UnknownUser
from trading_app.services.accounts.credentials import save_dydx_api_key
from trading_app.services.security.secrets import open_secret, seal
from trading_app.settings import get_settings


async def test_overview_of_a_new_user_is_paper_with_defaults_and_no_secrets(db_url: str) -> None:
    address, secret = await make_user()
    view = await svc.get_overview(address)
    rows = await raw_rows(address)
    assert view.network is Network.PAPER and view.credential_kind is CredentialKind.NONE
    assert view.dydx_credentials_set_at is None and view.telegram_token_set_at is None
    assert (
        view.webhook_url == get_settings().api_url + "/api/webhooks/signal/" + rows["users"]["webhook_uuid"]
    )
    assert (view.size_mode, view.size_value, view.max_open_positions) == ("size_usd", Decimal("100"), 10)
    assert view.max_leverage == Decimal("5") and view.slippage_pct == Decimal("1")
    assert secret not in repr(view)
    # the trading account row now exists with the defaults
    assert rows["trading_accounts"]["network"] == "paper"


async def test_a_user_without_a_trading_account_gets_one_once(db_url: str) -> None:
    address = new_address()
    async with session_scope() as session:
        session.add(
            User(
                address=address,
                webhook_uuid=str(uuid.uuid4()),
                webhook_secret_enc=seal(address, "webhook_secret_enc", "s"),
            )
        )
    views = await asyncio.gather(*(svc.get_overview(address) for _ in range(4)))
    assert {view.network for view in views} == {Network.PAPER}
    assert (await raw_rows(address))["trading_accounts"]["max_open_positions"] == 10


async def test_unknown_user_is_refused_everywhere(db_url: str) -> None:
    ghost = new_address()
    for call in (
        svc.get_overview(ghost),
        svc.save_network(ghost, "paper"),
        svc.reveal_webhook_secret(ghost),
        svc.rotate_webhook_secret(ghost),
    ):
        with pytest.raises(UnknownUser):
            await call


async def test_dydx_networks_need_saved_credentials(db_url: str) -> None:
    address, _ = await make_user()
    before = await raw_rows(address)
    with pytest.raises(SettingsInvalid) as err:
        await svc.save_network(address, "testnet")
    assert err.value.field == "network" and "credentials" in err.value.message
    with pytest.raises(SettingsInvalid):
        await svc.save_network(address, "mainnet", confirm_mainnet=True)
    assert await raw_rows(address) == before


async def test_mainnet_needs_the_explicit_confirmation(db_url: str, chain) -> None:  # noqa: F811
    address, _ = await make_user()
    key, owner, auth_id = authorize(chain)
    await save_dydx_api_key(address, key, owner, str(auth_id))
    with pytest.raises(SettingsInvalid) as err:
        await svc.save_network(address, "mainnet")
    assert err.value.field == "confirm_mainnet" and svc.MAINNET_CONFIRMATION in err.value.message
    assert (await svc.get_overview(address)).network is Network.PAPER
    assert await svc.save_network(address, "mainnet", confirm_mainnet=True) is Network.MAINNET
    assert (await raw_rows(address))["trading_accounts"]["network"] == "mainnet"
    # staying where it already is needs no new confirmation
    assert await svc.save_network(address, "mainnet") is Network.MAINNET
    assert await svc.save_network(address, "testnet") is Network.TESTNET
    assert await svc.save_network(address, "paper") is Network.PAPER


async def test_unknown_network_is_refused(db_url: str) -> None:
    address, _ = await make_user()
    for bad in ("", "Mainnet", "live", "paper "):
        with pytest.raises(SettingsInvalid) as err:
            await svc.save_network(address, bad, confirm_mainnet=True)
        assert err.value.field == "network"
    assert (await raw_rows(address))["trading_accounts"]["network"] == "paper"


async def test_network_cannot_change_while_positions_are_open(db_url: str) -> None:
    address, _ = await make_user()
    await save_dydx_api_key(address, new_api_key(), new_owner_address(), 1)
    await add_open_position(address, "paper")
    with pytest.raises(SettingsInvalid) as err:
        await svc.save_network(address, "testnet")
    assert "1 open position" in err.value.message
    assert (await svc.get_overview(address)).network is Network.PAPER
    # choosing the network it is already on is not a change
    assert await svc.save_network(address, "paper") is Network.PAPER


async def test_reveal_gives_the_owner_their_secret(db_url: str) -> None:
    address, secret = await make_user()
    assert await svc.reveal_webhook_secret(address) == secret


async def test_rotation_replaces_the_secret_and_the_old_one_is_gone(db_url: str) -> None:
    address, old = await make_user()
    before = await raw_rows(address)
    rotated_at = await svc.rotate_webhook_secret(address)
    after = await raw_rows(address)
    new = open_secret(address, "webhook_secret_enc", after["users"]["webhook_secret_enc"])
    assert new != old and len(new) >= 32
    assert await svc.reveal_webhook_secret(address) == new
    assert after["users"]["webhook_uuid"] == before["users"]["webhook_uuid"]
    assert (await svc.get_overview(address)).webhook_secret_rotated_at == rotated_at
    assert old not in after["users"]["webhook_secret_enc"] and new not in after["users"]["webhook_secret_enc"]


def test_alert_template_is_json_with_tradingview_placeholders() -> None:
    body = json.loads(svc.alert_template("s3cr3t"))
    assert body == {
        "secret": "s3cr3t",
        "action": "{{strategy.order.action}}",
        "market": "{{ticker}}",
        "size_usd": 100,
        "sl_pct": 1,
        "rr": 2,
        "alert_id": "{{strategy.order.id}}-{{timenow}}",
        "timestamp": "{{timenow}}",
    }


async def test_every_function_touches_only_its_own_user(db_url: str, chain) -> None:  # noqa: F811
    alice, _ = await make_user()
    bob, bob_secret = await make_user()
    await svc.get_overview(bob)
    await save_dydx_api_key(bob, new_api_key(), new_owner_address(), 9)
    bob_before = await raw_rows(bob)

    await save_dydx_api_key(alice, *authorize(chain))
    assert (await svc.get_overview(alice)).address == alice
    await svc.save_network(alice, "mainnet", confirm_mainnet=True)
    await svc.rotate_webhook_secret(alice)
    assert await svc.reveal_webhook_secret(alice) != bob_secret

    assert await raw_rows(bob) == bob_before
    assert await svc.reveal_webhook_secret(bob) == bob_secret


async def test_the_webhook_allowlist_is_saved_per_trader(db_url: str) -> None:
    (alice, _), (bob, _) = await make_user(), await make_user()
    assert (await svc.get_overview(alice)).webhook_ip_allowlist is False
    assert await svc.set_webhook_allowlist(alice, True) is True
    assert (await svc.get_overview(alice)).webhook_ip_allowlist is True
    assert (await svc.get_overview(bob)).webhook_ip_allowlist is False
    assert await svc.set_webhook_allowlist(alice, False) is False
    assert (await svc.get_overview(alice)).webhook_ip_allowlist is False
    with pytest.raises(UnknownUser):
        await svc.set_webhook_allowlist("0x" + "12" * 20, True)
