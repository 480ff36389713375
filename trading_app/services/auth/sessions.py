"""Server-side sessions. The browser holds a random token in an HttpOnly cookie; the
database holds only its SHA-256, so a leaked `sessions` table opens nothing.

API:

- `session_cookie_name()`: the cookie's name: `__Host-ta_session` in production (the browser then
  takes it only Secure, Path=/ and without Domain, so a sibling subdomain cannot plant or shadow
  it), `ta_session` (`SESSION_COOKIE`) in development over plain http.
- `token_from_cookie_header(header)`: the session token in a raw `Cookie:` header, or None.
- `socket_cookie(header)` / `ref_from_cookie_header(header)`: the hash-only cookie the live
  pages' websocket carries instead of the token, and reading it back.
- `create_session(session, address, ...)`: inside the caller's transaction; returns the token.
- `session_address(token)`: the verified checksum address of a live session, or None.
- `session_address_by_hash(token_hash)`: the same from the token's hash (what the live pages
  hold: the websocket's cookie is replaced by the hash before Reflex sees it).
- `revoke_session(token)`, `revoke_session_by_hash(token_hash)`, `revoke_all_sessions(address)`.

A session ends at its expiry, when revoked, or after `session_idle_minutes` without use.
`last_seen_at` moves at most once a minute (`TOUCH_EVERY`), not on every event.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import User, UserSession
from trading_app.domain.clock import utcnow
from trading_app.settings import get_settings

SESSION_COOKIE = "ta_session"
PRODUCTION_SESSION_COOKIE = "__Host-" + SESSION_COOKIE
# what the websocket carries instead of the cookie (see `socket_cookie`)
SESSION_REF = "ta_session_ref"
_MAX_TOKEN_LEN = 128
_HASH = re.compile(r"[0-9a-f]{64}")
# a live tab checks its session on every event: one write a minute per session is enough
TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def session_cookie_name() -> str:
    """The session cookie's name under the current settings (see the module docstring)."""
    return PRODUCTION_SESSION_COOKIE if get_settings().app_env == "production" else SESSION_COOKIE


def token_from_cookie_header(header: str | None) -> str | None:
    """Find our session token in a raw `Cookie:` header.

    Hand-parsed because `http.cookies.SimpleCookie` drops every cookie when another
    site's cookie on the same host is malformed. In production only the `__Host-` name counts: a
    plain `ta_session` there may have been set by another subdomain.
    """
    return _cookie_value(header, session_cookie_name())


def _cookie_value(header: str | None, wanted: str) -> str | None:
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == wanted:
            value = value.strip().strip('"')
            if 0 < len(value) <= _MAX_TOKEN_LEN:
                return value
    return None


def socket_cookie(header: str | None) -> str:
    """The `Cookie:` value the live pages' websocket is given for a request's `header`.

    Only `SESSION_REF=<hash of the session token>`: Reflex stores the socket's headers in every
    tab's state (disk, Redis), where the token itself must never be.
    """
    token = token_from_cookie_header(header)
    return f"{SESSION_REF}={hash_token(token)}" if token else ""


def ref_from_cookie_header(header: str | None) -> str | None:
    """The session token hash in a `Cookie:` value made by `socket_cookie`, or None."""
    value = _cookie_value(header, SESSION_REF)
    return value if is_token_hash(value) else None


async def create_session(
    session: AsyncSession,
    address: str,
    *,
    now: datetime | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, datetime]:
    """Open a session for `address` (the user row must exist in this transaction).

    Returns:
        (token for the cookie, expiry).
    """
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=get_settings().session_ttl_hours)
    session.add(
        UserSession(
            token_hash=hash_token(token),
            address=address,
            created_at=now,
            expires_at=expires_at,
            ip=(ip or None) and ip[:64],
            user_agent=(user_agent or None) and user_agent[:256],
        )
    )
    return token, expires_at


async def session_address(token: str | None, *, now: datetime | None = None) -> str | None:
    """The checksum address of the live (not expired, idle or revoked) session `token`, or None."""
    if not token or len(token) > _MAX_TOKEN_LEN:
        return None
    return await session_address_by_hash(hash_token(token), now=now)


def is_token_hash(value: str | None) -> bool:
    """Whether `value` has the shape of `hash_token`'s output."""
    return bool(value) and _HASH.fullmatch(value or "") is not None


async def session_address_by_hash(token_hash: str | None, *, now: datetime | None = None) -> str | None:
    """The checksum address of the live session whose token hashes to `token_hash`, or None.

    A session unused for longer than `session_idle_minutes` is over: it is revoked here, so it
    stays over. A used one has its `last_seen_at` moved forward (at most once per TOUCH_EVERY).
    """
    if not is_token_hash(token_hash):
        return None
    now = now or utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    async with session_scope() as session:
        row = (
            await session.exec(
                select(UserSession.address, UserSession.created_at, UserSession.last_seen_at)
                .join(User, col(User.address) == col(UserSession.address))
                .where(
                    UserSession.token_hash == token_hash,
                    col(UserSession.revoked_at).is_(None),
                    col(UserSession.expires_at) > now,
                )
            )
        ).first()
        if row is None:
            return None
        address, created_at, last_seen_at = row
        seen = last_seen_at or created_at
        if now - seen >= idle:
            await session.execute(
                update(UserSession)
                .where(col(UserSession.token_hash) == token_hash, col(UserSession.revoked_at).is_(None))
                .values(revoked_at=now)
            )
            return None
        if now - seen >= TOUCH_EVERY:
            # conditional, so concurrent events of one session write once
            await session.execute(
                update(UserSession)
                .where(
                    col(UserSession.token_hash) == token_hash,
                    or_(col(UserSession.last_seen_at).is_(None), col(UserSession.last_seen_at) < now),
                )
                .values(last_seen_at=now)
            )
    return str(address)


async def revoke_session(token: str | None, *, now: datetime | None = None) -> bool:
    """Revoke the session `token`. Returns True when a live session was revoked."""
    if not token or len(token) > _MAX_TOKEN_LEN:
        return False
    return await revoke_session_by_hash(hash_token(token), now=now)


async def revoke_session_by_hash(token_hash: str | None, *, now: datetime | None = None) -> bool:
    """Revoke the session whose token hashes to `token_hash`. True when a live one was revoked."""
    if not is_token_hash(token_hash):
        return False
    async with session_scope() as session:
        result = await session.execute(
            update(UserSession)
            .where(col(UserSession.token_hash) == token_hash, col(UserSession.revoked_at).is_(None))
            .values(revoked_at=now or utcnow())
        )
    return bool(cast("CursorResult[Any]", result).rowcount)  # an UPDATE: a cursor result


async def revoke_all_sessions(address: str, *, now: datetime | None = None) -> int:
    """Revoke every session of `address` not revoked yet (sign out everywhere). Returns how many."""
    async with session_scope() as session:
        result = await session.execute(
            update(UserSession)
            .where(col(UserSession.address) == address, col(UserSession.revoked_at).is_(None))
            .values(revoked_at=now or utcnow())
        )
    return int(cast("CursorResult[Any]", result).rowcount or 0)
