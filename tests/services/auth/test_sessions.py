"""Sessions: hashed at rest, refused once expired or revoked, found in messy cookie headers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eth_account import Account
from sqlmodel import select

from trading_app.db.engine import session_scope
from trading_app.db.models import UserSession
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
    # used every 11 hours (under the 12-hour idle timeout), it lives until its expiry
    for hours in range(11, 7 * 24, 11):
        assert await sessions.session_address(token, now=now + timedelta(hours=hours)) == address
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


async def _row(token: str) -> UserSession:
    async with session_scope() as s:
        query = select(UserSession).where(UserSession.token_hash == sessions.hash_token(token))
        return (await s.exec(query)).one()


async def test_an_idle_session_ends_and_stays_ended(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from trading_app.settings import get_settings

    assert get_settings().session_idle_minutes == 12 * 60  # the documented default
    address = Account.create().address
    now = utcnow()
    token = await _open(address, now)
    assert await sessions.session_address(token, now=now + timedelta(hours=11, minutes=59)) == address
    # idle time counts from that last use
    later = now + timedelta(hours=11, minutes=59)
    assert await sessions.session_address(token, now=later + timedelta(hours=12)) is None
    assert (await _row(token)).revoked_at is not None
    # it does not come back, even used "in time" again
    assert await sessions.session_address(token, now=later + timedelta(minutes=1)) is None

    monkeypatch.setenv("SESSION_IDLE_MINUTES", "30")
    get_settings.cache_clear()
    try:
        short = await _open(address, now)
        assert await sessions.session_address(short, now=now + timedelta(minutes=29)) == address
        assert await sessions.session_address(short, now=now + timedelta(minutes=29 + 30)) is None
    finally:
        monkeypatch.delenv("SESSION_IDLE_MINUTES")
        get_settings.cache_clear()


async def test_last_seen_moves_at_most_once_a_minute(db_url: str) -> None:
    address = Account.create().address
    now = utcnow()
    token = await _open(address, now)
    assert (await _row(token)).last_seen_at is None
    await sessions.session_address(token, now=now + timedelta(seconds=30))
    assert (await _row(token)).last_seen_at is None  # not written on every event
    await sessions.session_address(token, now=now + timedelta(seconds=61))
    assert (await _row(token)).last_seen_at == now + timedelta(seconds=61)
    await sessions.session_address(token, now=now + timedelta(seconds=100))
    assert (await _row(token)).last_seen_at == now + timedelta(seconds=61)


async def test_the_socket_cookie_carries_only_the_hash(db_url: str) -> None:
    address = Account.create().address
    token = await _open(address)
    cookie = sessions.socket_cookie(f"theme=dark; ta_session={token}; other=1")
    assert token not in cookie and cookie == f"ta_session_ref={sessions.hash_token(token)}"
    assert sessions.socket_cookie("theme=dark") == "" and sessions.socket_cookie(None) == ""
    ref = sessions.ref_from_cookie_header(cookie)
    assert await sessions.session_address_by_hash(ref) == address
    # the hash is not a token, and a token is not a hash
    assert await sessions.session_address(ref) is None
    assert await sessions.session_address_by_hash(token) is None
    assert sessions.ref_from_cookie_header(f"ta_session={token}") is None
    assert sessions.ref_from_cookie_header("ta_session_ref=zz") is None
    assert await sessions.revoke_session_by_hash(ref) is True
    assert await sessions.session_address(token) is None
