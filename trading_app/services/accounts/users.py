"""Users: created on their first sign-in, always addressed by their EIP-55 checksum address.

API (small on purpose; other services and pages build on it):

- `ensure_user(session, address)`: create the user and its defaults if missing (idempotent,
  safe under concurrent first logins). Runs inside the caller's transaction.
- `get_user(address)`: the `User` row or None.
- `normalize_address(text)`: the checksum form of an address, or `InvalidAddress`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime
from typing import Any

from eth_utils import is_checksum_address, to_checksum_address
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import TradingAccount, User
from trading_app.domain.clock import utcnow
from trading_app.services.security.secrets import seal

# SQLModel declares no `__table__` for type checkers; it is always there at run time
_ACCOUNTS: Table = TradingAccount.__table__  # type: ignore[attr-defined]

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class InvalidAddress(ValueError):
    """The text is not an Ethereum address, or its mixed case is not a valid EIP-55 checksum."""


def normalize_address(text: object) -> str:
    """Return the EIP-55 checksum form of `text`.

    All-lowercase and all-uppercase hex are accepted (wallets such as MetaMask return
    lowercase); mixed case must already be a valid checksum, because a wrong mixed case
    usually means a typo.

    Raises:
        InvalidAddress: when `text` is not a 20-byte hex address with a valid checksum.
    """
    if not isinstance(text, str) or not _HEX_ADDRESS.match(text):
        raise InvalidAddress("not a 0x-prefixed 20-byte hex address")
    body = text[2:]
    if body not in (body.lower(), body.upper()) and not is_checksum_address(text):
        raise InvalidAddress("bad EIP-55 checksum")
    return to_checksum_address(text)


def _insert(session: AsyncSession, table: type) -> Any:  # both dialects' Insert: one interface
    # INSERT ... ON CONFLICT DO NOTHING exists on both databases, under dialect-specific helpers
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def ensure_user(session: AsyncSession, address: str, now: datetime | None = None) -> bool:
    """Create the user `address` with a fresh webhook id and secret, and a paper trading account.

    Idempotent: an existing user is left untouched. Two concurrent first logins of the same
    wallet both succeed and create exactly one user (ON CONFLICT DO NOTHING).

    Args:
        session: the caller's transaction; the rows commit or roll back with it.
        address: the checksum address (already verified by the caller).
        now: the creation time (default: now).

    Returns:
        True when this call created the user.
    """
    now = now or utcnow()
    secret = secrets.token_urlsafe(24)
    user_values = {
        "address": address,
        "webhook_uuid": str(uuid.uuid4()),
        "webhook_secret_enc": seal(address, "webhook_secret_enc", secret),
        "webhook_secret_rotated_at": now,
        "webhook_ip_allowlist": False,
        "created_at": now,
    }
    del secret  # only the ciphertext leaves this function
    created = await session.execute(
        _insert(session, User).values(**user_values).on_conflict_do_nothing().returning(User.address)
    )
    was_created = created.first() is not None
    account = TradingAccount(address=address, network="paper", updated_at=now)
    account_values = {c.name: getattr(account, c.name) for c in _ACCOUNTS.columns}
    await session.execute(_insert(session, TradingAccount).values(**account_values).on_conflict_do_nothing())
    return was_created


async def get_user(address: str) -> User | None:
    """The user `address` (checksum form), or None."""
    async with session_scope() as session:
        return await session.get(User, address)
