"""Helpers for the settings tests: users, fresh credentials, raw rows straight from the database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39MnemonicValidator, Bip39WordsNum
from eth_account import Account
from sqlalchemy import text

from trading_app.db.engine import dispose_engines, session_scope
from trading_app.db.models import Position, User
from trading_app.services.accounts.users import ensure_user
from trading_app.services.security.secrets import open_secret
from trading_app.venues.dydx.credentials import derive_dydx_address


def new_address() -> str:
    """A fresh checksum wallet address."""
    return Account.create().address


async def make_user(address: str | None = None) -> tuple[str, str]:
    """Create a user exactly as the first sign-in does. Returns (address, webhook secret)."""
    address = address or new_address()
    async with session_scope() as session:
        await ensure_user(session, address)
    async with session_scope() as session:
        user = await session.get(User, address)
        assert user is not None
        return address, open_secret(address, "webhook_secret_enc", user.webhook_secret_enc)


def new_mnemonic() -> str:
    """A valid 24-word BIP39 phrase."""
    return str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))


def bad_checksum_mnemonic(phrase: str) -> str:
    """The phrase with its last word swapped for one that fails the BIP39 checksum.

    Any fixed replacement word passes the checksum for 8 of every 2,048 phrases (the 24th word
    carries 3 bits of entropy and the 8-bit checksum), so the candidate is checked, not assumed.
    """
    words = phrase.split()
    for candidate in ("zoo", "abandon", "zebra", "ability", "zone"):
        wrong = " ".join([*words[:-1], candidate])
        if candidate != words[-1] and not Bip39MnemonicValidator().IsValid(wrong):
            return wrong
    raise AssertionError("no candidate word failed the checksum")  # 5 in a row: about 1 in 10^12


def new_owner_address() -> str:
    """A real dydx1 owner address (derived from a throwaway phrase)."""
    return derive_dydx_address(new_mnemonic())


def new_api_key() -> str:
    """A fresh secp256k1 private key as 64 hex characters."""
    return secrets.token_bytes(32).hex()


async def raw_rows(address: str) -> dict[str, dict[str, Any]]:
    """The user's `users` and `trading_accounts` rows, exactly as stored (raw SQL, no model types)."""
    rows: dict[str, dict[str, Any]] = {}
    async with session_scope() as session:
        for table in ("users", "trading_accounts"):
            query = text(f"SELECT * FROM {table} WHERE address = :a")  # noqa: S608 - fixed table names
            result = await session.execute(query, {"a": address})
            row = result.mappings().first()
            rows[table] = dict(row) if row is not None else {}
    return rows


async def all_rows_text() -> str:
    """Every value of every row of `users` and `trading_accounts`, as one text."""
    parts: list[str] = []
    async with session_scope() as session:
        for table in ("users", "trading_accounts"):
            result = await session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            for row in result.mappings().all():
                parts.extend(str(value) for value in row.values())
    return "\n".join(parts)


async def add_open_position(address: str, network: str, market: str = "BTC-USD") -> None:
    """A live position the monitor is still watching."""
    async with session_scope() as session:
        session.add(
            Position(user_address=address, network=network, market=market, side="LONG", status="OPEN")
        )


@pytest.fixture(autouse=True)
async def _close_pools(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Close this test's connection pools on its own loop (else aiosqlite threads outlive the loop).

    The database fixture is requested from here so that it is torn down after this (its
    teardown forgets the engines, which would leave nothing to close).
    """
    for name in ("db_url", "sqlite_url", "pg_url"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
    yield
    await dispose_engines()
