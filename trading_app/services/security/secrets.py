"""Sealing and opening the encrypted columns of `users`, and key rotation over every row.

A secret is opened only by the service that uses it, for the duration of the call; the
plaintext is never stored, logged or returned to the browser.
"""

from __future__ import annotations

from sqlmodel import select

from trading_app.db.engine import session_scope
from trading_app.db.models import User
from trading_app.services.security.crypto import FieldContext, Keyring, get_keyring

# Every encrypted column: (table, column). The owner is always the user's address.
ENCRYPTED_USER_COLUMNS = (
    "webhook_secret_enc",
    "dydx_credentials_enc",
    "telegram_token_enc",
    "telegram_chat_id_enc",
)


def context(address: str, column: str) -> FieldContext:
    """The encryption context of one user column."""
    if column not in ENCRYPTED_USER_COLUMNS:
        raise ValueError(f"{column} is not an encrypted column")
    return FieldContext("users", column, address)


def seal(address: str, column: str, plaintext: str, keyring: Keyring | None = None) -> str:
    """Encrypt `plaintext` for `users.<column>` of the user `address`."""
    return (keyring or get_keyring()).encrypt(plaintext, context(address, column))


def open_secret(address: str, column: str, token: str, keyring: Keyring | None = None) -> str:
    """Decrypt a value of `users.<column>` of the user `address`."""
    return (keyring or get_keyring()).decrypt(token, context(address, column))


async def rotate_all(keyring: Keyring | None = None, batch_size: int = 200) -> int:
    """Re-encrypt every user secret not yet under the primary key.

    Old keys must still be loaded. Each batch commits on its own, so an interrupted
    rotation can simply be run again.

    Returns:
        The number of values re-encrypted.
    """
    ring = keyring or get_keyring()
    rotated = 0
    last = ""
    while True:
        async with session_scope() as session:
            users = (
                await session.exec(
                    select(User).where(User.address > last).order_by(User.address).limit(batch_size)
                )
            ).all()
            if not users:
                return rotated
            for user in users:
                for column in ENCRYPTED_USER_COLUMNS:
                    token = getattr(user, column)
                    if token and ring.needs_rotation(token):
                        setattr(user, column, ring.rotate(token, context(user.address, column)))
                        rotated += 1
                session.add(user)
            last = users[-1].address
