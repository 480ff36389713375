"""Server-side sessions. The browser holds a random token in an HttpOnly cookie; the
database holds only its SHA-256, so a leaked `sessions` table opens nothing.

API:

- `session_cookie_name()`: the cookie's name: `__Host-ta_session` in production (the browser then
  takes it only Secure, Path=/ and without Domain, so a sibling subdomain cannot plant or shadow
  it), `ta_session` (`SESSION_COOKIE`) in development over plain http.
- `token_from_cookie_header(header)`: the session token in a raw `Cookie:` header, or None.
- `create_session(session, address, ...)`: inside the caller's transaction; returns the token.
- `session_address(token)`: the verified checksum address of a live session, or None.
- `revoke_session(token)`, `revoke_all_sessions(address)`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import User, UserSession
from trading_app.domain.clock import utcnow
from trading_app.settings import get_settings

SESSION_COOKIE = "ta_session"
PRODUCTION_SESSION_COOKIE = "__Host-" + SESSION_COOKIE
_MAX_TOKEN_LEN = 128


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
    cookie_name = session_cookie_name()
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == cookie_name:
            value = value.strip().strip('"')
            if 0 < len(value) <= _MAX_TOKEN_LEN:
                return value
    return None


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
    """The checksum address of the live (not expired, not revoked) session `token`, or None."""
    if not token or len(token) > _MAX_TOKEN_LEN:
        return None
    now = now or utcnow()
    async with session_scope() as session:
        row = (
            await session.exec(
                select(UserSession.address)
                .join(User, col(User.address) == col(UserSession.address))
                .where(
                    UserSession.token_hash == hash_token(token),
                    col(UserSession.revoked_at).is_(None),
                    col(UserSession.expires_at) > now,
                )
            )
        ).first()
    return row


async def revoke_session(token: str | None, *, now: datetime | None = None) -> bool:
    """Revoke the session `token`. Returns True when a live session was revoked."""
    if not token or len(token) > _MAX_TOKEN_LEN:
        return False
    async with session_scope() as session:
        result = await session.execute(
            update(UserSession)
            .where(col(UserSession.token_hash) == hash_token(token), col(UserSession.revoked_at).is_(None))
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
