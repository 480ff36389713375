"""dYdX credentials: validated, sealed, only ciphertext at rest, one user never touches another."""

from __future__ import annotations

import json

import pytest

from tests.services.accounts.chain_support import authorize
from tests.services.settings_support import (
    _close_pools,  # noqa: F401 - autouse fixture
    add_open_position,
    all_rows_text,
    make_user,
    new_address,
    new_api_key,
    new_mnemonic,
    new_owner_address,
    raw_rows,
)
from trading_app.domain.enums import CredentialKind, Network
from trading_app.services.accounts import credentials as creds
from trading_app.services.accounts.account import SettingsInvalid, UnknownUser, get_overview, save_network
from trading_app.services.accounts.telegram import save_telegram
from trading_app.services.security.secrets import open_secret
from trading_app.venues.dydx.credentials import derive_dydx_address, key_address


async def test_api_key_is_sealed_and_its_public_parts_are_readable(db_url: str) -> None:
    address, _ = await make_user()
    key, owner = new_api_key(), new_owner_address()
    assert await creds.save_dydx_api_key(address, "0x" + key.upper(), f"  {owner} ", " 42 ") == owner
    rows = await raw_rows(address)
    account, user = rows["trading_accounts"], rows["users"]
    assert (account["credential_kind"], account["dydx_address"], account["authenticator_id"]) == (
        "api_key",
        owner,
        42,
    )
    assert user["dydx_credentials_set_at"] is not None
    document = json.loads(open_secret(address, "dydx_credentials_enc", user["dydx_credentials_enc"]))
    assert document == {
        "v": 1,
        "kind": "api_key",
        "private_key": key,
        "owner_address": owner,
        "authenticator_id": 42,
    }
    opened = await creds.open_dydx_credentials(address)
    assert opened is not None and opened.private_key == key and opened.authenticator_id == 42
    assert key not in repr(opened)
    view = await get_overview(address)
    assert view.credential_kind is CredentialKind.API_KEY and view.dydx_address == owner


async def test_mnemonic_is_sealed_and_the_address_is_derived(db_url: str) -> None:
    address, _ = await make_user()
    phrase = new_mnemonic()
    derived = await creds.save_dydx_mnemonic(address, "  " + phrase.upper().replace(" ", "   ") + "\n")
    assert derived == derive_dydx_address(phrase) and derived.startswith("dydx1")
    account = (await raw_rows(address))["trading_accounts"]
    assert (account["credential_kind"], account["dydx_address"], account["authenticator_id"]) == (
        "mnemonic",
        derived,
        None,
    )
    opened = await creds.open_dydx_credentials(address)
    assert opened is not None and opened.mnemonic == phrase and opened.kind is CredentialKind.MNEMONIC
    assert phrase.split()[0] not in repr(opened)


BAD_API_KEY_FIELDS = [
    ("api_private_key", {"private_key": "abc"}, "64 hexadecimal"),
    ("api_private_key", {"private_key": "g" * 64}, "64 hexadecimal"),
    ("api_private_key", {"private_key": "0" * 64}, "not a valid secp256k1"),
    ("owner_address", {"owner_address": "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"}, "dydx1"),
    ("owner_address", {"owner_address": "0x52908400098527886E0F7030069857D2E4169EE7"}, "dydx1"),
    ("authenticator_id", {"authenticator_id": "-1"}, "whole number"),
    ("authenticator_id", {"authenticator_id": "seven"}, "whole number"),
]


async def test_bad_api_key_fields_are_refused_and_nothing_changes(db_url: str) -> None:
    address, _ = await make_user()
    before = await raw_rows(address)
    for field, kwargs, words in BAD_API_KEY_FIELDS:
        values = {"private_key": new_api_key(), "owner_address": new_owner_address(), "authenticator_id": "1"}
        with pytest.raises(SettingsInvalid) as err:
            await creds.save_dydx_api_key(address, **{**values, **kwargs})
        assert (err.value.field, words in err.value.message) == (field, True), err.value.message
    assert await raw_rows(address) == before


async def test_the_owners_own_key_is_not_an_api_key(db_url: str) -> None:
    address, _ = await make_user()
    key = new_api_key()
    with pytest.raises(SettingsInvalid, match="owner account's own key"):
        await creds.save_dydx_api_key(address, key, key_address(key), 0)


async def test_bad_mnemonics_are_refused_without_echoing_a_word(db_url: str) -> None:
    address, _ = await make_user()
    before = await raw_rows(address)
    words = new_mnemonic().split()
    unknown_word = [*words[:3], "qwertyx", *words[4:]]
    for phrase in (words[:12], ["abandon"] * 24, unknown_word):  # too short, bad checksum, not a word
        with pytest.raises(SettingsInvalid) as err:
            await creds.save_dydx_mnemonic(address, " ".join(phrase))
        assert err.value.field == "mnemonic"
        # no run of the phrase (two consecutive words) and no unknown word may appear in the message;
        # single common words can coincide with the message's own wording (random phrases)
        message = err.value.message
        assert not any(" ".join(phrase[i : i + 2]) in message for i in range(len(phrase) - 1))
        assert "qwertyx" not in message
    assert await raw_rows(address) == before


async def test_removing_credentials_goes_back_to_paper(db_url: str) -> None:
    address, _ = await make_user()
    await creds.save_dydx_mnemonic(address, new_mnemonic())
    await save_network(address, "testnet")
    await creds.remove_dydx_credentials(address)
    view = await get_overview(address)
    assert view.network is Network.PAPER and view.credential_kind is CredentialKind.NONE
    assert view.dydx_address is None and view.dydx_credentials_set_at is None
    assert (await raw_rows(address))["users"]["dydx_credentials_enc"] is None
    assert await creds.open_dydx_credentials(address) is None


async def test_credentials_stay_while_dydx_positions_are_open(db_url: str) -> None:
    address, _ = await make_user()
    await creds.save_dydx_mnemonic(address, new_mnemonic())
    await save_network(address, "testnet")
    await add_open_position(address, "testnet")
    before = await raw_rows(address)
    with pytest.raises(SettingsInvalid, match="1 open position"):
        await creds.save_dydx_api_key(address, new_api_key(), new_owner_address(), 1)
    with pytest.raises(SettingsInvalid, match="1 open position"):
        await creds.remove_dydx_credentials(address)
    assert await raw_rows(address) == before


async def test_only_ciphertext_is_stored_for_every_credential(db_url: str) -> None:
    alice, alice_secret = await make_user()
    bob, bob_secret = await make_user()
    phrase, key, token, chat = (
        new_mnemonic(),
        new_api_key(),
        "7123456789:AAHk3mQx_9vZ-bPqL2rT8sWnY4cJd6fGe1u",
        "987654321012",
    )
    await creds.save_dydx_mnemonic(alice, phrase)
    await creds.save_dydx_api_key(bob, key, new_owner_address(), 5)
    await save_telegram(alice, token, chat)
    await save_telegram(bob, token, "-1001234567890")
    stored = await all_rows_text()
    for plaintext in (
        phrase,
        key,
        key.upper(),
        token,
        token.split(":")[1],
        chat,
        "-1001234567890",
        alice_secret,
        bob_secret,
        " ".join(phrase.split()[:3]),
    ):
        assert plaintext not in stored
    # and the sealed values are bound to their owner: alice's ciphertext does not open as bob's
    alice_row = (await raw_rows(alice))["users"]
    with pytest.raises(Exception, match="does not belong"):
        open_secret(bob, "telegram_token_enc", alice_row["telegram_token_enc"])


async def test_each_function_changes_only_its_own_user(db_url: str) -> None:
    alice, _ = await make_user()
    bob, _ = await make_user()
    await creds.save_dydx_api_key(bob, new_api_key(), new_owner_address(), 8)
    bob_before = await raw_rows(bob)
    bob_opened = await creds.open_dydx_credentials(bob)

    await creds.save_dydx_api_key(alice, new_api_key(), new_owner_address(), 1)
    await creds.save_dydx_mnemonic(alice, new_mnemonic())
    alice_opened = await creds.open_dydx_credentials(alice)
    assert alice_opened is not None and bob_opened is not None
    assert alice_opened.owner_address != bob_opened.owner_address
    await creds.remove_dydx_credentials(alice)

    assert await raw_rows(bob) == bob_before
    assert (await creds.open_dydx_credentials(bob)) == bob_opened
    for call in (
        creds.save_dydx_mnemonic(new_address(), new_mnemonic()),
        creds.save_dydx_api_key(new_address(), new_api_key(), new_owner_address(), 1),
        creds.remove_dydx_credentials(new_address()),
        creds.open_dydx_credentials(new_address()),
    ):
        with pytest.raises(UnknownUser):
            await call


# -- the key's authenticator, asked of the network it will trade on --------------------------------

PLACE, CANCEL = "/dydxprotocol.clob.MsgPlaceOrder", "/dydxprotocol.clob.MsgCancelOrder"
WITHDRAW = "/dydxprotocol.sending.MsgWithdrawFromSubaccount"


async def _on_testnet(address: str) -> None:
    await creds.save_dydx_mnemonic(address, new_mnemonic())
    await save_network(address, "testnet")


async def test_a_key_saved_on_testnet_is_checked_there_and_settings_says_why(db_url: str, chain) -> None:  # noqa: F811
    address, _ = await make_user()
    await _on_testnet(address)
    good_key, owner, good_id = authorize(chain)
    refused = [
        (authorize(chain, owner, messages=(PLACE, CANCEL, WITHDRAW)), f"also allows {WITHDRAW}"),
        (authorize(chain, owner, subaccounts=(1,)), "subaccount 1 only, not this account's subaccount 0"),
        (authorize(chain, owner, subaccounts=None), "allows orders for every subaccount"),
        (authorize(chain, owner, messages=(CANCEL,)), "never lets this key send MsgPlaceOrder"),
        ((new_api_key(), owner, good_id), "does not authorize this API key"),
        ((good_key, owner, 99), "shows no authenticator 99"),
    ]
    before = await raw_rows(address)
    for (key, key_owner, auth_id), why in refused:
        with pytest.raises(SettingsInvalid) as err:
            await creds.save_dydx_api_key(address, key, key_owner, auth_id)
        assert err.value.field == "authenticator_id" and why in err.value.message, err.value.message
        assert key not in err.value.message and key not in str(err.value)
        assert await raw_rows(address) == before  # nothing saved, the version did not move
    assert chain.node.calls.count("GetAuthenticators") == len(refused)
    assert await creds.save_dydx_api_key(address, good_key, owner, good_id) == owner
    assert (await raw_rows(address))["trading_accounts"]["authenticator_id"] == good_id


async def test_an_unreachable_node_refuses_the_key_instead_of_guessing(db_url: str, chain) -> None:  # noqa: F811
    address, _ = await make_user()
    await _on_testnet(address)
    before = await raw_rows(address)
    chain.node.down()
    with pytest.raises(SettingsInvalid, match="Could not ask dYdX testnet about this key"):
        await creds.save_dydx_api_key(address, *authorize(chain))
    assert await raw_rows(address) == before


async def test_a_key_saved_on_paper_is_checked_when_the_account_switches(db_url: str, chain) -> None:  # noqa: F811
    address, _ = await make_user()
    key, owner, auth_id = authorize(chain, messages=(PLACE, CANCEL, WITHDRAW))
    await creds.save_dydx_api_key(address, key, owner, auth_id)  # paper: no network to ask yet
    assert chain.node.calls.count("GetAuthenticators") == 0
    before = await raw_rows(address)
    for network in ("testnet", "mainnet"):
        with pytest.raises(SettingsInvalid) as err:
            await save_network(address, network, confirm_mainnet=True)
        assert err.value.field == "network" and f"also allows {WITHDRAW}" in err.value.message
    assert await raw_rows(address) == before  # still paper, same version
    await creds.save_dydx_api_key(address, *authorize(chain, owner))
    assert await save_network(address, "testnet") is Network.TESTNET


async def _version(address: str) -> int:
    return (await raw_rows(address))["trading_accounts"]["venue_version"]


async def test_every_change_a_venue_is_built_from_bumps_the_version_once(db_url: str, chain) -> None:  # noqa: F811
    address, _ = await make_user()
    assert await _version(address) == 0
    steps = [
        lambda: creds.save_dydx_mnemonic(address, new_mnemonic()),
        lambda: save_network(address, "testnet"),
        lambda: creds.save_dydx_mnemonic(address, new_mnemonic()),
        lambda: creds.save_dydx_api_key(address, *authorize(chain)),  # checked on testnet
        lambda: save_network(address, "mainnet", confirm_mainnet=True),  # checked on mainnet
        lambda: creds.remove_dydx_credentials(address),  # back to paper
        lambda: creds.save_dydx_api_key(address, new_api_key(), new_owner_address(), 3),
    ]
    for expected, step in enumerate(steps, start=1):
        await step()
        assert await _version(address) == expected
    # no change, or a refused one, leaves it
    await save_network(address, "paper")
    with pytest.raises(SettingsInvalid):
        await save_network(address, "mainnet")  # not confirmed
    await add_open_position(address, "paper")
    with pytest.raises(SettingsInvalid):
        await save_network(address, "testnet")
    assert await _version(address) == len(steps)
