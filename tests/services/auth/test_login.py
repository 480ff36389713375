"""Sign-in service on PostgreSQL and SQLite: every refusal code, replay, races, first-login user."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import create_engine, text

from trading_app.domain.clock import utcnow
from trading_app.services.auth import login
from trading_app.services.auth.sessions import hash_token, session_address
from trading_app.services.auth.siwe import AuthError, AuthErrorCode
from trading_app.services.security.secrets import open_secret
from trading_app.settings import get_settings


def sign(message: str, account) -> str:
    return "0x" + Account.sign_message(encode_defunct(text=message), account.key).signature.hex()


def counts(db_url: str) -> dict[str, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        result = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608 - fixed names
            for t in ("users", "sessions", "trading_accounts", "login_nonces")
        }
    engine.dispose()
    return result


def use_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


async def refused(code: AuthErrorCode, message: object, signature: object, **kw) -> None:
    with pytest.raises(AuthError) as e:
        await login.login(message, signature, **kw)
    assert e.value.code is code


@pytest.fixture
def account():
    return Account.create()


async def test_issue_stores_the_exact_checksummed_message(db_url: str, account) -> None:
    now = utcnow()
    issued = await login.issue_message(account.address.lower(), "0x1", now=now)
    assert issued.expires_at == now + timedelta(minutes=5)
    first_lines = issued.message.split("\n")[:2]
    assert first_lines == ["localhost:3000 wants you to sign in with your Ethereum account:", account.address]
    assert "URI: http://localhost:3000\n" in issued.message and "Chain ID: 1\n" in issued.message
    engine = create_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT address, message FROM login_nonces WHERE nonce = :n"), {"n": issued.nonce}
        )
        assert tuple(row.one()) == (account.address, issued.message)
    engine.dispose()


async def test_issue_reads_public_url_at_call_time(db_url: str, account, monkeypatch) -> None:
    use_settings(monkeypatch, PUBLIC_URL="https://trade.example.com", SIWE_CHAIN_ID="11155111")
    issued = await login.issue_message(account.address, 11155111)
    assert issued.message.startswith("trade.example.com wants you")
    assert "URI: https://trade.example.com\nVersion: 1\nChain ID: 11155111\n" in issued.message


@pytest.mark.parametrize(
    ("address", "chain", "code"),
    [
        ("0x123", 1, AuthErrorCode.INVALID_ADDRESS),
        (None, 1, AuthErrorCode.INVALID_ADDRESS),
        ("0x" + "g" * 40, 1, AuthErrorCode.INVALID_ADDRESS),
        ("checksum", 1, AuthErrorCode.INVALID_ADDRESS),
        ("ok", 137, AuthErrorCode.UNSUPPORTED_CHAIN),
        ("ok", "abc", AuthErrorCode.UNSUPPORTED_CHAIN),
        ("ok", True, AuthErrorCode.UNSUPPORTED_CHAIN),
        ("ok", None, AuthErrorCode.UNSUPPORTED_CHAIN),
    ],
)
async def test_issue_refuses_bad_input_and_stores_nothing(db_url: str, account, address, chain, code) -> None:
    if address == "ok":
        address = account.address
    elif address == "checksum":  # mixed case with one letter's case flipped
        # (a flip that leaves the address all lower or all upper case makes it a valid unchecksummed
        # address: flip a letter that keeps the case mixed)
        flips = (
            account.address[:i] + account.address[i].swapcase() + account.address[i + 1 :]
            for i, c in enumerate(account.address)
            if c.isalpha() and i > 1
        )
        address = next(a for a in flips if a[2:] not in (a[2:].lower(), a[2:].upper()))
    with pytest.raises(AuthError) as e:
        await login.issue_message(address, chain)
    assert e.value.code is code
    assert counts(db_url)["login_nonces"] == 0


async def test_first_login_creates_user_secret_account_and_hashed_session(db_url: str, account) -> None:
    issued = await login.issue_message(account.address, 1)
    result = await login.login(issued.message, sign(issued.message, account), ip="10.1.2.3", user_agent="ua")
    assert result.address == account.address and result.created_user
    assert "token" not in repr(result).replace("token=***", "")
    assert await session_address(result.token) == account.address
    engine = create_engine(db_url)
    with engine.connect() as conn:
        user = conn.execute(text("SELECT webhook_uuid, webhook_secret_enc FROM users")).one()
        assert uuid.UUID(user.webhook_uuid).version == 4
        secret = open_secret(account.address, "webhook_secret_enc", user.webhook_secret_enc)
        assert len(secret) == 32 and secret not in user.webhook_secret_enc
        assert conn.execute(text("SELECT network FROM trading_accounts")).scalar_one() == "paper"
        session = conn.execute(text("SELECT token_hash, address, ip, user_agent FROM sessions")).one()
        assert tuple(session) == (hash_token(result.token), account.address, "10.1.2.3", "ua")
        dump = " ".join(str(v) for v in conn.execute(text("SELECT * FROM sessions")).one())
        assert result.token not in dump
    engine.dispose()
    assert counts(db_url)["login_nonces"] == 0

    again = await login.issue_message(account.address, 1)
    second = await login.login(again.message, sign(again.message, account))
    assert not second.created_user and second.token != result.token
    assert counts(db_url) == {"users": 1, "sessions": 2, "trading_accounts": 1, "login_nonces": 0}


async def test_replay_is_unknown_nonce(db_url: str, account) -> None:
    issued = await login.issue_message(account.address, 1)
    signature = sign(issued.message, account)
    await login.login(issued.message, signature)
    await refused(AuthErrorCode.UNKNOWN_NONCE, issued.message, signature)
    assert counts(db_url)["sessions"] == 1


async def test_every_refusal_creates_nothing(db_url: str, account, monkeypatch) -> None:
    now = utcnow()
    issued = await login.issue_message(account.address, 1, now=now)
    msg, sig = issued.message, sign(issued.message, account)
    other = Account.create()

    await refused(AuthErrorCode.INVALID_REQUEST, None, sig)
    await refused(AuthErrorCode.INVALID_REQUEST, msg, 12)
    await refused(AuthErrorCode.INVALID_REQUEST, "not a sign-in message", sig)
    await refused(AuthErrorCode.INVALID_REQUEST, msg + "x" * 3000, sig)
    never_issued = msg.replace(f"Nonce: {issued.nonce}", "Nonce: NeverIssued12345")
    await refused(AuthErrorCode.UNKNOWN_NONCE, never_issued, sign(never_issued, account))
    tampered = msg.replace("localhost:3000 wants", "evil.example wants")
    await refused(AuthErrorCode.MESSAGE_MISMATCH, tampered, sign(tampered, account))
    await refused(AuthErrorCode.EXPIRED, msg, sig, now=now + timedelta(minutes=5))
    await refused(AuthErrorCode.NOT_YET_VALID, msg, sig, now=now - timedelta(minutes=1))
    await refused(AuthErrorCode.BAD_SIGNATURE, msg, "0x" + "12" * 10)
    await refused(AuthErrorCode.BAD_SIGNATURE, msg, sig[:-2] + "05")
    await refused(AuthErrorCode.SIGNER_MISMATCH, msg, sign(msg, other))

    use_settings(monkeypatch, PUBLIC_URL="http://127.0.0.1:3000")
    await refused(AuthErrorCode.DOMAIN_MISMATCH, msg, sig)
    use_settings(monkeypatch, PUBLIC_URL="https://localhost:3000")
    await refused(AuthErrorCode.URI_MISMATCH, msg, sig)
    use_settings(monkeypatch, PUBLIC_URL="http://localhost:3000", SIWE_CHAIN_ID="10")
    await refused(AuthErrorCode.CHAIN_MISMATCH, msg, sig)

    assert counts(db_url) == {"users": 0, "sessions": 0, "trading_accounts": 0, "login_nonces": 1}
    # none of the refusals burned the challenge: the genuine signature still works once
    use_settings(monkeypatch, SIWE_CHAIN_ID="1")
    assert (await login.login(msg, sig, now=now + timedelta(minutes=4))).address == account.address


async def test_the_high_s_twin_of_a_signature_does_not_sign_in(db_url: str, account) -> None:
    from tests.services.auth.test_siwe import high_s_twin

    issued = await login.issue_message(account.address, 1)
    signature = sign(issued.message, account)
    await refused(AuthErrorCode.BAD_SIGNATURE, issued.message, high_s_twin(signature))
    assert counts(db_url)["sessions"] == 0
    # the refusal burned nothing: the genuine signature signs in once
    assert (await login.login(issued.message, signature)).address == account.address


async def test_expired_nonces_are_purged_by_later_issues(db_url: str, account) -> None:
    now = utcnow()
    await login.issue_message(account.address, 1, now=now - timedelta(minutes=11))
    await login.issue_message(account.address, 1, now=now - timedelta(minutes=6))
    await login.issue_message(account.address, 1, now=now)
    assert counts(db_url)["login_nonces"] == 2


async def test_concurrent_logins_with_one_message_open_exactly_one_session(db_url: str, account) -> None:
    for _ in range(5):
        issued = await login.issue_message(account.address, 1)
        signature = sign(issued.message, account)
        results = await asyncio.gather(
            *(login.login(issued.message, signature) for _ in range(4)), return_exceptions=True
        )
        wins = [r for r in results if isinstance(r, login.LoginResult)]
        losses = [r for r in results if isinstance(r, AuthError)]
        assert len(wins) == 1, results
        assert len(losses) == 3 and all(e.code is AuthErrorCode.UNKNOWN_NONCE for e in losses)
    assert counts(db_url) == {"users": 1, "sessions": 5, "trading_accounts": 1, "login_nonces": 0}


async def test_concurrent_first_logins_of_one_wallet_create_one_user(db_url: str, account) -> None:
    issued = [await login.issue_message(account.address, 1) for _ in range(3)]
    results = await asyncio.gather(*(login.login(i.message, sign(i.message, account)) for i in issued))
    assert sum(r.created_user for r in results) == 1
    assert counts(db_url) == {"users": 1, "sessions": 3, "trading_accounts": 1, "login_nonces": 0}


async def test_no_token_or_webhook_secret_in_logs(db_url: str, account, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    issued = await login.issue_message(account.address, 1)
    result = await login.login(issued.message, sign(issued.message, account))
    engine = create_engine(db_url)
    with engine.connect() as conn:
        enc = conn.execute(text("SELECT webhook_secret_enc FROM users")).scalar_one()
    engine.dispose()
    secret = open_secret(account.address, "webhook_secret_enc", enc)
    logged = caplog.text + repr(result)
    assert result.token not in logged and secret not in logged
