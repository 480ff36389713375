"""Sessions: hashed at rest, refused once expired or revoked, found in messy cookie headers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eth_account import Account

from trading_app.db.engine import session_scope
from trading_app.domain.clock import utcnow
from trading_app.services.accounts.users import ensure_user
from trading_app.services.auth import sessions


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("ta_session=abc", "abc"),
        ("other=1; ta_session=abc; x=y", "abc"),
        ('ta_session="abc"', "abc"),
        ("broken; ta_session=abc", "abc"),
        ("ta_session=", None),
        ("xta_session=abc", None),
        ("ta_session=" + "a" * 129, None),
    ],
)
def test_token_from_cookie_header(header: str | None, token: str | None) -> None:
    assert sessions.token_from_cookie_header(header) == token


async def _open(address: str, now=None) -> str:
    async with session_scope() as s:
        await ensure_user(s, address, now)
        token, _ = await sessions.create_session(s, address, now=now)
    return token


async def test_session_lifecycle(db_url: str) -> None:
    address = Account.create().address
    now = utcnow()
    token = await _open(address, now)
    assert await sessions.session_address(token, now=now) == address
    assert await sessions.session_address(token, now=now + timedelta(hours=7 * 24 - 1)) == address
    assert await sessions.session_address(token, now=now + timedelta(hours=7 * 24)) is None  # expired
    assert await sessions.session_address(token + "x") is None
    assert await sessions.session_address(None) is None
    assert await sessions.revoke_session(token) is True
    assert await sessions.revoke_session(token) is False  # already revoked
    assert await sessions.session_address(token) is None


async def test_revoke_all_signs_out_every_device_of_one_user_only(db_url: str) -> None:
    alice, bob = Account.create().address, Account.create().address
    tokens = [await _open(alice), await _open(alice)]
    bob_token = await _open(bob)
    assert await sessions.revoke_all_sessions(alice) == 2
    assert [await sessions.session_address(t) for t in tokens] == [None, None]
    assert await sessions.session_address(bob_token) == bob
