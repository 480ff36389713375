"""Wallet sign-in: issue an EIP-4361 message, verify its signature, open a session.

The server writes every message and stores the exact text under its nonce. A login must
present that text byte for byte, for the domain, URI and chain configured *now*, inside its
time window, signed by the address it names. Only then is the nonce consumed, atomically
(DELETE ... RETURNING), and the user and session are created in the same transaction: of
two concurrent logins with one message exactly one wins, and a failed login creates nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col

from trading_app.db.engine import session_scope
from trading_app.db.models import LoginNonce
from trading_app.domain.clock import utcnow
from trading_app.services.accounts.users import InvalidAddress, ensure_user, normalize_address
from trading_app.services.auth import siwe
from trading_app.services.auth.sessions import create_session
from trading_app.services.auth.siwe import AuthError, AuthErrorCode
from trading_app.settings import get_settings

NONCE_TTL = timedelta(minutes=5)
# tolerated clock difference for an Issued At in the future (several workers, several clocks)
CLOCK_SKEW = timedelta(seconds=30)
MAX_MESSAGE_LEN = 2048
MAX_SIGNATURE_LEN = 200

__all__ = ["AuthError", "AuthErrorCode", "IssuedMessage", "LoginResult", "issue_message", "login"]


@dataclass(frozen=True)
class IssuedMessage:
    """A sign-in challenge: the text to sign and when it stops being accepted."""

    message: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class LoginResult:
    """A successful sign-in. `token` goes into the HttpOnly cookie and nowhere else."""

    address: str
    token: str
    expires_at: datetime
    created_user: bool

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"LoginResult(address={self.address!r}, expires_at={self.expires_at!r}, token=***)"


def _parse_chain_id(chain_id: object) -> int:
    try:
        value = int(str(chain_id), 0) if isinstance(chain_id, str) else chain_id
    except ValueError:
        raise AuthError(AuthErrorCode.UNSUPPORTED_CHAIN) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AuthError(AuthErrorCode.UNSUPPORTED_CHAIN)
    return value


async def issue_message(address: object, chain_id: object, *, now: datetime | None = None) -> IssuedMessage:
    """Write and store a sign-in message for `address` on `chain_id`.

    Args:
        address: the wallet's address in any case (checksummed here).
        chain_id: the wallet's chain, an int or a decimal/0x string; must be the configured one.
        now: the issue time (tests inject it; default: now).

    Raises:
        AuthError: INVALID_ADDRESS or UNSUPPORTED_CHAIN; nothing is stored then.
    """
    try:
        checksum = normalize_address(address)
    except InvalidAddress:
        raise AuthError(AuthErrorCode.INVALID_ADDRESS) from None
    settings = get_settings()
    if _parse_chain_id(chain_id) != settings.siwe_chain_id:
        raise AuthError(AuthErrorCode.UNSUPPORTED_CHAIN)
    now = now or utcnow()
    domain, uri = siwe.origin_of(settings.public_url)
    expires_at = now + NONCE_TTL
    nonce = siwe.new_nonce()
    text = siwe.SiweMessage(
        domain=domain,
        address=checksum,
        uri=uri,
        chain_id=settings.siwe_chain_id,
        nonce=nonce,
        issued_at=siwe.iso(now),
        expiration_time=siwe.iso(expires_at),
    ).text()
    async with session_scope() as session:
        # keep the table small: challenges nobody answered are useless after their expiry
        await session.execute(delete(LoginNonce).where(col(LoginNonce.expires_at) < now - NONCE_TTL))
        session.add(
            LoginNonce(nonce=nonce, address=checksum, message=text, created_at=now, expires_at=expires_at)
        )
    return IssuedMessage(message=text, nonce=nonce, expires_at=expires_at)


async def _issued_text(nonce: str) -> tuple[str, datetime] | None:
    async with session_scope() as session:
        row = await session.get(LoginNonce, nonce)
        return (row.message, row.expires_at) if row is not None else None


def _check_fields(parsed: siwe.SiweMessage, expires_at: datetime, now: datetime) -> None:
    settings = get_settings()
    domain, uri = siwe.origin_of(settings.public_url)
    if parsed.domain != domain:
        raise AuthError(AuthErrorCode.DOMAIN_MISMATCH)
    if parsed.uri != uri:
        raise AuthError(AuthErrorCode.URI_MISMATCH)
    if parsed.chain_id != settings.siwe_chain_id:
        raise AuthError(AuthErrorCode.CHAIN_MISMATCH)
    if now >= expires_at or now >= siwe.parse_time(parsed.expiration_time):
        raise AuthError(AuthErrorCode.EXPIRED)
    if siwe.parse_time(parsed.issued_at) > now + CLOCK_SKEW:
        raise AuthError(AuthErrorCode.NOT_YET_VALID)


async def login(
    message: object,
    signature: object,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
    on_signer_proven: Callable[[str], Awaitable[None]] | None = None,
) -> LoginResult:
    """Verify a signed sign-in message and open a session.

    Args:
        message: the exact text returned by `issue_message`.
        signature: the 65-byte `personal_sign` signature, 0x-hex.
        ip, user_agent: recorded on the session row.
        now: the verification time (tests inject it; default: now).
        on_signer_proven: awaited with the address once the signature proves the request comes
            from it, before anything is consumed or created; what it raises propagates (the
            API's per-address rate limit: strangers' failed attempts then never count).

    Raises:
        AuthError: with the first failed check's code; nothing is created then.
    """
    if not isinstance(message, str) or not isinstance(signature, str):
        raise AuthError(AuthErrorCode.INVALID_REQUEST)
    if len(message) > MAX_MESSAGE_LEN or len(signature) > MAX_SIGNATURE_LEN:
        raise AuthError(AuthErrorCode.INVALID_REQUEST)
    now = now or utcnow()
    parsed = siwe.parse(message)
    issued = await _issued_text(parsed.nonce)
    if issued is None:
        raise AuthError(AuthErrorCode.UNKNOWN_NONCE)
    issued_text, expires_at = issued
    if issued_text != message:
        raise AuthError(AuthErrorCode.MESSAGE_MISMATCH)
    _check_fields(parsed, expires_at, now)
    if siwe.recover_signer(message, signature) != parsed.address:
        raise AuthError(AuthErrorCode.SIGNER_MISMATCH)
    if on_signer_proven is not None:
        await on_signer_proven(parsed.address)
    # Burn the nonce only now, so garbage signatures cannot burn other people's challenges.
    # The DELETE is the transaction's first statement: on SQLite it takes the write lock
    # before any read, and on PostgreSQL a concurrent DELETE of the same row waits, then
    # deletes nothing; either way exactly one login gets the row back.
    async with session_scope() as session:
        consumed = await session.execute(
            delete(LoginNonce)
            .where(
                col(LoginNonce.nonce) == parsed.nonce,
                col(LoginNonce.message) == message,
                col(LoginNonce.expires_at) > now,
            )
            .returning(col(LoginNonce.nonce))
        )
        if consumed.first() is None:
            raise AuthError(AuthErrorCode.UNKNOWN_NONCE)
        created = await ensure_user(session, parsed.address, now)
        token, session_expires = await create_session(
            session, parsed.address, now=now, ip=ip, user_agent=user_agent
        )
    return LoginResult(address=parsed.address, token=token, expires_at=session_expires, created_user=created)
