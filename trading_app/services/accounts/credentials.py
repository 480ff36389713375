"""A trader's dYdX credentials, sealed at rest.

The secret part goes into `users.dydx_credentials_enc` (AES-GCM, bound to the owner and
column); the non-secret parts (kind, owner dydx1 address, authenticator id) go into
`trading_accounts` so the page and the engine can show and route without decrypting.

Sealed dYdX document (`users.dydx_credentials_enc`, JSON, format 1):
    {"v": 1, "kind": "api_key", "private_key": "<64 hex>", "owner_address": "dydx1...",
     "authenticator_id": 7}
    {"v": 1, "kind": "mnemonic", "mnemonic": "<24 words>", "owner_address": "dydx1..."}
Only `open_dydx_credentials` / `open_venue_credentials` read it, for the code that signs.

A permissioned API key is checked on chain (`key_check`) whenever it is about to be used on a
dYdX network: saved while the account is on one, or the account switching to one (`save_network`).
Every change here bumps `trading_accounts.venue_version` in its own transaction, so every worker
rebuilds its cached venue before the next order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import TradingAccount, User
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import CredentialKind, Network
from trading_app.services.accounts.account import (
    SettingsInvalid,
    UnknownUser,
    active_position_count,
    bump_venue_version,
    load_account,
)
from trading_app.services.accounts.key_check import check_key_on_chain, settings_error
from trading_app.services.security.secrets import open_secret, seal
from trading_app.venues.dydx.credentials import (
    InvalidCredential,
    derive_dydx_address,
    key_address,
    normalize_authenticator_id,
    normalize_dydx_address,
    normalize_private_key,
)

CREDENTIALS_FORMAT = 1


@dataclass(frozen=True, repr=False)
class DydxCredentials:
    """Opened dYdX credentials. Hold them only for the call that signs; never log them."""

    kind: CredentialKind
    owner_address: str
    private_key: str | None = None
    authenticator_id: int | None = None
    mnemonic: str | None = None

    def __repr__(self) -> str:  # a stray log line must not print the secret
        return f"DydxCredentials(kind={self.kind.value}, owner_address={self.owner_address})"


@dataclass(frozen=True)
class VenueCredentials:
    """What a venue is built from, read in one statement (so the version matches the secret)."""

    credentials: DydxCredentials | None
    venue_version: int
    subaccount: int


async def _refuse_if_positions_open(session: AsyncSession, address: str, network: str) -> None:
    if network != Network.PAPER.value:
        # the monitor signs for the positions on this network with the saved key
        open_count = await active_position_count(session, address, network)
        if open_count:
            raise SettingsInvalid(
                "credentials", f"You have {open_count} open position(s) on {network}; close them first."
            )


async def _store_dydx(
    address: str,
    document: dict,
    kind: CredentialKind,
    owner: str,
    auth_id: int | None,
    checked: tuple[str, int] | None = None,
) -> None:
    async with session_scope() as session:
        user, account = await load_account(session, address, for_update=True)
        await _refuse_if_positions_open(session, address, account.network)
        if checked is not None and checked != (account.network, account.subaccount_number):
            raise SettingsInvalid("credentials", "Your network changed meanwhile; save the key again.")
        now = utcnow()
        user.dydx_credentials_enc = seal(address, "dydx_credentials_enc", json.dumps(document))
        user.dydx_credentials_set_at = now
        account.credential_kind = kind.value
        account.dydx_address = owner
        account.authenticator_id = auth_id
        account.updated_at = now
        session.add(user)
        session.add(account)
        await bump_venue_version(session, address)


async def save_dydx_api_key(
    address: str, private_key: str, owner_address: str, authenticator_id: str | int
) -> str:
    """Save a permissioned API trading key (it can trade, never withdraw).

    On testnet or mainnet the key's authenticator is checked on that network first; on paper it
    is checked when the account switches to a dYdX network (`account.save_network`).

    Args:
        address: The trader (from the server-verified session).
        private_key: The API key's private key, 64 hex characters (0x optional).
        owner_address: The dydx1 address of the account that authorised the key.
        authenticator_id: The id dYdX gave the key's authenticator.

    Returns:
        The owner dydx1 address that orders will be placed for.

    Raises:
        SettingsInvalid: A malformed value, or an authenticator the network refuses (the message
            says why) or could not be asked about; nothing was saved.
        UnknownUser: The address has no user row.
    """
    try:
        key = normalize_private_key(private_key)
    except InvalidCredential as e:
        raise settings_error("api_private_key", e) from None
    try:
        owner = normalize_dydx_address(owner_address)
    except InvalidCredential as e:
        raise settings_error("owner_address", e) from None
    try:
        auth_id = normalize_authenticator_id(authenticator_id)
    except InvalidCredential as e:
        raise settings_error("authenticator_id", e) from None
    if key_address(key) == owner:
        raise SettingsInvalid(
            "api_private_key",
            "This is the owner account's own key, not an API trading key. Generate an API trading key.",
        )
    async with session_scope() as session:  # the cheap checks first, without locks
        _, account = await load_account(session, address)
        await _refuse_if_positions_open(session, address, account.network)
        checked = (account.network, account.subaccount_number)
    if checked[0] != Network.PAPER.value:
        await check_key_on_chain(Network(checked[0]), key, owner, auth_id, checked[1], "authenticator_id")
    document = {
        "v": CREDENTIALS_FORMAT,
        "kind": "api_key",
        "private_key": key,
        "owner_address": owner,
        "authenticator_id": auth_id,
    }
    await _store_dydx(address, document, CredentialKind.API_KEY, owner, auth_id, checked)
    return owner


async def save_dydx_mnemonic(address: str, mnemonic: str) -> str:
    """Save a 24-word dYdX secret phrase (full custody of that dYdX account).

    Returns:
        The dydx1 address derived from the phrase.

    Raises:
        SettingsInvalid: Not 24 BIP39 words or a bad checksum; nothing was saved.
    """
    try:
        owner = derive_dydx_address(mnemonic)
    except InvalidCredential as e:
        raise settings_error("mnemonic", e) from None
    phrase = " ".join(mnemonic.strip().lower().split())
    document = {"v": CREDENTIALS_FORMAT, "kind": "mnemonic", "mnemonic": phrase, "owner_address": owner}
    await _store_dydx(address, document, CredentialKind.MNEMONIC, owner, None)
    return owner


async def remove_dydx_credentials(address: str) -> None:
    """Forget the dYdX credentials; the account goes back to paper trading.

    Raises:
        SettingsInvalid: Positions on testnet/mainnet are still open.
    """
    async with session_scope() as session:
        user, account = await load_account(session, address, for_update=True)
        await _refuse_if_positions_open(session, address, account.network)
        user.dydx_credentials_enc = None
        user.dydx_credentials_set_at = None
        account.network = Network.PAPER.value
        account.credential_kind = CredentialKind.NONE.value
        account.dydx_address = None
        account.authenticator_id = None
        account.updated_at = utcnow()
        session.add(user)
        session.add(account)
        await bump_venue_version(session, address)


def _opened(address: str, token: str | None) -> DydxCredentials | None:
    if token is None:
        return None
    doc = json.loads(open_secret(address, "dydx_credentials_enc", token))
    return DydxCredentials(
        kind=CredentialKind(doc["kind"]),
        owner_address=doc["owner_address"],
        private_key=doc.get("private_key"),
        authenticator_id=doc.get("authenticator_id"),
        mnemonic=doc.get("mnemonic"),
    )


async def open_dydx_credentials(address: str) -> DydxCredentials | None:
    """Decrypt the trader's dYdX credentials for the code about to sign (None if not set)."""
    async with session_scope() as session:
        user, _ = await load_account(session, address)
        token = user.dydx_credentials_enc
    return _opened(address, token)


async def open_venue_credentials(address: str) -> VenueCredentials:
    """The credentials with the `venue_version` and subaccount they belong to, for building a venue.

    One SELECT over both rows: two statements could see two commits (PostgreSQL READ COMMITTED),
    pairing the old secret with the new version, and that venue would never be rebuilt.

    Raises:
        UnknownUser: The address has no user row.
    """
    query = (
        select(User.dydx_credentials_enc, TradingAccount.venue_version, TradingAccount.subaccount_number)
        .select_from(User)
        .outerjoin(TradingAccount, TradingAccount.address == User.address)  # type: ignore[arg-type]
        .where(User.address == address)
    )
    async with session_scope() as session:
        row = (await session.exec(query)).first()
    if row is None:
        raise UnknownUser("no such user")
    token, version, subaccount = row
    return VenueCredentials(_opened(address, token), int(version or 0), int(subaccount or 0))


async def check_saved_key(address: str, network: Network) -> int:
    """Check the saved API key on `network` before the account switches to it.

    Returns:
        The `venue_version` the checked credentials belong to (the switch must still see it).

    Raises:
        SettingsInvalid: the key's authenticator is refused on `network` (the message says why)
            or the node could not be asked.
    """
    saved = await open_venue_credentials(address)
    found = saved.credentials
    if found is not None and found.kind is CredentialKind.API_KEY:
        await check_key_on_chain(network, found.private_key or "", found.owner_address,
                                  int(found.authenticator_id or 0), saved.subaccount, "network")
    return saved.venue_version
