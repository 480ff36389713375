"""A trader's settings: where they trade, their webhook, and what the settings page shows.

Every function takes the trader's address explicitly and reads or writes only that trader's
`users` and `trading_accounts` rows. Secrets are sealed with `services.security.secrets` and are never part
of what `get_overview` returns; the webhook secret leaves this module only through
`reveal_webhook_secret`, which the page calls when its owner asks to see or copy it.

Credentials (dYdX, Telegram) live in `credentials`; risk defaults in `risk`.

Every change of what a cached venue was built from (network, subaccount, credential kind,
credentials) bumps `trading_accounts.venue_version` in the same transaction (`bump_venue_version`);
`venues.venue_for` rebuilds a cached venue of an older version before its next use, in every worker.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Table, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import autocommit_connection, session_scope
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Position, TradingAccount, User
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import CredentialKind, Network
from trading_app.services.security.secrets import open_secret, seal
from trading_app.settings import get_settings

# SQLModel declares no `__table__` for type checkers; it is always there at run time
_ACCOUNTS: Table = TradingAccount.__table__  # type: ignore[attr-defined]

WEBHOOK_PATH = "/api/webhooks/signal/"
MAINNET_CONFIRMATION = "I understand real money is at risk"


class SettingsInvalid(ValueError):
    """A setting was refused. Nothing was saved.

    Attributes:
        field: The form field the problem belongs to (e.g. "mnemonic", "max_leverage").
        message: A sentence for the trader; never contains a secret value.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownUser(LookupError):
    """No user with this address has signed in yet."""


@dataclass(frozen=True)
class AccountOverview:
    """Everything the settings page may show. Holds no secret, only when each one was set."""

    address: str
    network: Network
    credential_kind: CredentialKind
    dydx_address: str | None
    authenticator_id: int | None
    dydx_credentials_set_at: datetime | None
    telegram_token_set_at: datetime | None
    telegram_chat_id_set_at: datetime | None
    webhook_url: str
    webhook_secret_rotated_at: datetime
    size_mode: str
    size_value: Decimal
    max_open_positions: int
    max_leverage: Decimal
    max_notional_usd: Decimal | None
    daily_loss_limit_usd: Decimal | None
    slippage_pct: Decimal
    same_market_policy: str = "reject"
    # accept alerts only from TradingView's webhook addresses (`intake.inbox.TRADINGVIEW_IPS`)
    webhook_ip_allowlist: bool = False


def webhook_url(webhook_uuid: str) -> str:
    """The URL TradingView posts this trader's alerts to."""
    return get_settings().api_url.rstrip("/") + WEBHOOK_PATH + webhook_uuid


def alert_template(secret: str, size_usd: int = 100) -> str:
    """A ready-to-paste TradingView strategy alert message carrying `secret`.

    The TradingView placeholders stay literal; TradingView fills them when the alert fires.
    """
    body = {
        "secret": secret,
        "action": "{{strategy.order.action}}",
        "market": "{{ticker}}",
        "size_usd": size_usd,
        "sl_pct": 1,
        "rr": 2,
        "alert_id": "{{strategy.order.id}}-{{timenow}}",
        "timestamp": "{{timenow}}",
    }
    return json.dumps(body, separators=(",", ":"))


async def load_account(
    session: AsyncSession, address: str, *, for_update: bool = False
) -> tuple[User, TradingAccount]:
    """The trader's user row and trading account, creating the account with defaults if missing.

    Args:
        session: An open session; the caller commits.
        address: The trader's checksum address (from the server-verified session).
        for_update: Lock both rows (PostgreSQL) so concurrent saves serialise.

    Raises:
        UnknownUser: The address has no user row.
    """
    query = select(User).where(User.address == address)
    user = (await session.exec(query.with_for_update() if for_update else query)).first()
    if user is None:
        raise UnknownUser("no such user")
    query_account = select(TradingAccount).where(TradingAccount.address == address)
    if for_update:
        query_account = query_account.with_for_update()
    account = (await session.exec(query_account)).first()
    if account is None:
        # sign-in creates it; this covers older users, and two first visits may race here
        defaults = TradingAccount(address=address)
        values = {column.name: getattr(defaults, column.name) for column in _ACCOUNTS.columns}
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        await session.execute(insert(TradingAccount).values(**values).on_conflict_do_nothing())
        account = (await session.exec(query_account)).one()
    return user, account


async def active_position_count(session: AsyncSession, address: str, network: str) -> int:
    """How many of the trader's positions on `network` still need watching."""
    query = (
        select(func.count())
        .select_from(Position)
        .where(Position.user_address == address)
        .where(Position.network == network)
        .where(Position.status.in_(ACTIVE_POSITION_STATUSES))  # type: ignore[attr-defined]
    )
    return int((await session.exec(query)).one())


async def get_overview(address: str) -> AccountOverview:
    """What the settings page shows for this trader (no secrets).

    Raises:
        UnknownUser: The address has no user row.
    """
    async with session_scope() as session:
        user, account = await load_account(session, address)
        return AccountOverview(
            address=user.address,
            network=Network(account.network),
            credential_kind=CredentialKind(account.credential_kind),
            dydx_address=account.dydx_address,
            authenticator_id=account.authenticator_id,
            dydx_credentials_set_at=user.dydx_credentials_set_at,
            telegram_token_set_at=user.telegram_token_set_at,
            telegram_chat_id_set_at=user.telegram_chat_id_set_at,
            webhook_url=webhook_url(user.webhook_uuid),
            webhook_secret_rotated_at=user.webhook_secret_rotated_at,
            size_mode=account.size_mode,
            size_value=account.size_value,
            max_open_positions=account.max_open_positions,
            max_leverage=account.max_leverage,
            max_notional_usd=account.max_notional_usd,
            daily_loss_limit_usd=account.daily_loss_limit_usd,
            slippage_pct=account.slippage_pct,
            same_market_policy=account.same_market_policy,
            webhook_ip_allowlist=user.webhook_ip_allowlist,
        )


async def bump_venue_version(session: AsyncSession, address: str) -> None:
    """Mark every cached venue of the trader stale; call it in the transaction that changes them.

    One UPDATE (`venue_version = venue_version + 1`), so two concurrent changes never lose a bump.
    """
    await session.execute(
        update(TradingAccount)
        .where(TradingAccount.address == address)  # type: ignore[arg-type]
        .values(venue_version=TradingAccount.venue_version + 1)
    )


async def current_venue_version(address: str) -> int:
    """The trader's `venue_version` as committed now (0 when the account row does not exist yet)."""
    # one autocommit statement: every dYdX monitor read and order asks this, and it needs no
    # transaction of its own (a version committed a moment later is seen by the next call)
    query = select(TradingAccount.venue_version).where(TradingAccount.address == address)
    async with autocommit_connection() as connection:
        found = (await connection.execute(query)).scalar()
    return int(found or 0)


async def _network_refusal(
    session: AsyncSession, user: User, account: TradingAccount, target: Network, confirm_mainnet: bool
) -> None:
    """Raise SettingsInvalid when the switch to `target` is not allowed now."""
    if target is Network.MAINNET and not confirm_mainnet:
        raise SettingsInvalid("confirm_mainnet", f"Tick “{MAINNET_CONFIRMATION}” to trade on mainnet.")
    if target is not Network.PAPER and (
        user.dydx_credentials_enc is None or account.credential_kind == CredentialKind.NONE.value
    ):
        raise SettingsInvalid("network", "Save your dYdX credentials before switching to testnet or mainnet.")
    open_count = await active_position_count(session, user.address, account.network)
    if open_count:
        raise SettingsInvalid(
            "network",
            f"You have {open_count} open position(s) on {account.network}; "
            "close them before switching network.",
        )


async def save_network(address: str, network: str, *, confirm_mainnet: bool = False) -> Network:
    """Choose where the trader's orders go.

    Paper needs nothing. Testnet and mainnet need saved dYdX credentials; mainnet also needs
    the trader's explicit confirmation that real money is at risk. The network cannot change
    while positions on the current one are still open (the monitor keeps watching them there).
    A permissioned API key is checked on the target network first: its authenticator must let it
    trade the account's subaccount and nothing more.

    Raises:
        SettingsInvalid: Unknown network, missing credentials or confirmation, open positions, an
            API key the target network refuses or could not be asked about.
        UnknownUser: The address has no user row.
    """
    try:
        target = Network(network)
    except ValueError:
        raise SettingsInvalid("network", "Choose paper, dYdX testnet or dYdX mainnet.") from None
    async with session_scope() as session:  # the cheap checks first, without locks
        user, account = await load_account(session, address)
        if account.network == target.value:
            return target
        await _network_refusal(session, user, account, target, confirm_mainnet)
    checked_version: int | None = None
    if target is not Network.PAPER:
        # credentials imports this module; the key is checked outside any transaction (a node call)
        from trading_app.services.accounts.credentials import check_saved_key

        checked_version = await check_saved_key(address, target)
    async with session_scope() as session:
        user, account = await load_account(session, address, for_update=True)
        if account.network == target.value:
            return target
        await _network_refusal(session, user, account, target, confirm_mainnet)
        if checked_version is not None and account.venue_version != checked_version:
            raise SettingsInvalid("network", "Your dYdX settings changed meanwhile; save the network again.")
        account.network = target.value
        account.updated_at = utcnow()
        session.add(account)
        await bump_venue_version(session, address)
    return target


async def reveal_webhook_secret(address: str) -> str:
    """The trader's current webhook secret, for the owner who asked to see or copy it.

    Raises:
        UnknownUser: The address has no user row.
    """
    async with session_scope() as session:
        user, _ = await load_account(session, address)
        return open_secret(address, "webhook_secret_enc", user.webhook_secret_enc)


async def rotate_webhook_secret(address: str) -> datetime:
    """Replace the webhook secret. The old one stops working at once (the webhook reads the DB).

    Returns:
        When the new secret took effect.

    Raises:
        UnknownUser: The address has no user row.
    """
    async with session_scope() as session:
        user, _ = await load_account(session, address, for_update=True)
        user.webhook_secret_enc = seal(address, "webhook_secret_enc", secrets.token_urlsafe(24))
        user.webhook_secret_rotated_at = utcnow()
        session.add(user)
        return user.webhook_secret_rotated_at


async def set_webhook_allowlist(address: str, enabled: bool) -> bool:
    """Turn the TradingView-only allowlist of this trader's webhook on or off.

    On: alerts from any other source address are refused (403) and stored as REJECTED; the
    webhook reads the flag from the database on every request, so it applies to the next alert.

    Returns:
        The new setting.

    Raises:
        UnknownUser: The address has no user row.
    """
    async with session_scope() as session:
        user, _ = await load_account(session, address, for_update=True)
        user.webhook_ip_allowlist = bool(enabled)
        session.add(user)
        return user.webhook_ip_allowlist
