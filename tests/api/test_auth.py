"""`/api/auth/*` through the real Starlette app (httpx ASGITransport) on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import create_engine, text

from tests.conftest import reset_app_caches
from trading_app.api.app import build_api
from trading_app.db.engine import dispose_engines
from trading_app.domain.clock import utcnow
from trading_app.services.auth import login
from trading_app.services.auth.sessions import PRODUCTION_SESSION_COOKIE, SESSION_COOKIE, revoke_all_sessions
from trading_app.services.security.secrets import open_secret
from trading_app.settings import get_settings


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


# what a browser sends on the app's own fetch (the API refuses writes without it: tests/api/test_guards.py)
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}


def client(app=None, ip: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app or build_api(), client=(ip or random_ip(), 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=SAME_ORIGIN)


def sign(message: str, account) -> str:
    return "0x" + Account.sign_message(encode_defunct(text=message), account.key).signature.hex()


def counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        result = tuple(
            conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608 - our table names
            for t in ("users", "sessions")
        )
    engine.dispose()
    return result


def use_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


async def challenge(c: httpx.AsyncClient, account) -> str:
    r = await c.get("/api/auth/generate-message", params={"address": account.address.lower(), "chain_id": 1})
    assert r.status_code == 200, r.text
    return r.json()["message"]


async def test_generate_message_returns_the_stored_text(db_url: str) -> None:
    account = Account.create()
    async with client() as c:
        r = await c.get(
            "/api/auth/generate-message", params={"address": account.address.lower(), "chain_id": "1"}
        )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"message", "expires_at"}
    assert body["message"].startswith(
        f"localhost:3000 wants you to sign in with your Ethereum account:\n{account.address}\n"
    )
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT message FROM login_nonces")).scalar_one() == body["message"]
    engine.dispose()


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "invalid_address"),
        ({"address": "0x12", "chain_id": "1"}, "invalid_address"),
        ({"address": "0x" + "aB" * 20, "chain_id": "1"}, "invalid_address"),  # bad checksum
        ({"address": "0x" + "ab" * 20}, "unsupported_chain"),
        ({"address": "0x" + "ab" * 20, "chain_id": "137"}, "unsupported_chain"),
        ({"address": "0x" + "ab" * 20, "chain_id": "one"}, "unsupported_chain"),
    ],
)
async def test_generate_message_refuses_bad_input(sqlite_url: str, params: dict, code: str) -> None:
    async with client() as c:
        r = await c.get("/api/auth/generate-message", params=params)
    assert r.status_code == 400 and r.json() == {"error": code}


async def test_login_session_logout_roundtrip(db_url: str) -> None:
    account = Account.create()
    async with client() as c:
        message = await challenge(c, account)
        r = await c.post("/api/auth/login", json={"message": message, "signature": sign(message, account)})
        assert r.status_code == 200 and r.json() == {"address": account.address}
        cookie = r.headers["set-cookie"]
        token = c.cookies[SESSION_COOKIE]
        assert f"{SESSION_COOKIE}={token}" in cookie
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "path", "max-age", "samesite"} <= attributes and "secure" not in attributes
        assert "samesite=lax" in cookie.lower() and f"max-age={7 * 24 * 3600}" in cookie.lower()

        r = await c.get("/api/auth/session")
        assert r.status_code == 200 and r.json() == {"address": account.address}

        r = await c.post("/api/auth/logout", json={})
        assert r.status_code == 204
        assert 'ta_session=""' in r.headers["set-cookie"] and "max-age=0" in r.headers["set-cookie"].lower()
        assert SESSION_COOKIE not in c.cookies
        # the old token is dead server-side, not just forgotten by this client
        r = await c.get("/api/auth/session", headers={"cookie": f"{SESSION_COOKIE}={token}"})
        assert r.status_code == 401 and r.json() == {"error": "not_authenticated"}
        assert (await c.get("/api/auth/session")).status_code == 401
    assert counts(db_url) == (1, 1)


async def test_cookie_is_secure_in_production(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(
        monkeypatch,
        APP_ENV="production",
        APP_KEYS_DEVELOPMENT_ONLY="false",
        CORS_ALLOWED_ORIGINS='["https://trade.example.com"]',
    )
    account = Account.create()
    async with client() as c:
        message = await challenge(c, account)
        r = await c.post("/api/auth/login", json={"message": message, "signature": sign(message, account)})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        name, token = cookie.split(";")[0].split("=", 1)
        attributes = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
        # the `__Host-` prefix: the browser keeps it only Secure, on Path=/ and without a Domain
        assert name == PRODUCTION_SESSION_COOKIE == "__Host-ta_session"
        assert "secure" in attributes and attributes["path"] == "Path=/" and "domain" not in attributes
        # only the prefixed name opens the session: a plain one may come from a sibling subdomain
        r = await c.get("/api/auth/session", headers={"cookie": f"{PRODUCTION_SESSION_COOKIE}={token}"})
        assert r.status_code == 200
        r = await c.get("/api/auth/session", headers={"cookie": f"{SESSION_COOKIE}={token}"})
        assert r.status_code == 401
        r = await c.post(
            "/api/auth/logout", json={}, headers={"cookie": f"{PRODUCTION_SESSION_COOKIE}={token}"}
        )
        assert r.status_code == 204 and r.headers["set-cookie"].startswith(f'{PRODUCTION_SESSION_COOKIE}=""')
        assert "secure" in r.headers["set-cookie"].lower()
        r = await c.get("/api/auth/session", headers={"cookie": f"{PRODUCTION_SESSION_COOKIE}={token}"})
        assert r.status_code == 401


async def test_every_login_refusal_is_401_with_its_code_and_creates_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, other = Account.create(), Account.create()

    async def issued(now_offset: timedelta = timedelta(0)) -> tuple[str, str]:
        message = (await login.issue_message(account.address, 1, now=utcnow() + now_offset)).message
        return message, sign(message, account)

    def signed(message: str) -> dict:
        return {"json": {"message": message, "signature": sign(message, account)}}

    def nonce_of(message: str) -> str:
        return message.split("Nonce: ")[1].split("\n")[0]

    def settings(**env: str) -> Callable[[], None]:
        return lambda: use_settings(monkeypatch, **env)

    async def replayed() -> dict:
        message, signature = await issued()
        async with client() as c:
            assert (
                await c.post("/api/auth/login", json={"message": message, "signature": signature})
            ).status_code == 200
        await revoke_all_sessions(account.address)
        return {"json": {"message": message, "signature": signature}}

    async def body(change: Callable[[str, str], dict], offset: timedelta = timedelta(0), before=None) -> dict:
        message, signature = await issued(offset)
        if before:
            before()
        return change(message, signature)

    cases: list[tuple[str, Callable]] = [
        (
            "invalid_request",
            lambda: body(
                lambda m, s: {"content": "{not json", "headers": {"content-type": "application/json"}}
            ),
        ),
        ("invalid_request", lambda: body(lambda m, s: {"json": [m, s]})),
        ("invalid_request", lambda: body(lambda m, s: {"json": {"message": m}})),
        ("invalid_request", lambda: body(lambda m, s: {"json": {"message": "hello", "signature": s}})),
        ("unknown_nonce", lambda: body(lambda m, s: signed(m.replace(nonce_of(m), "NeverIssued000000")))),
        ("unknown_nonce", replayed),
        ("message_mismatch", lambda: body(lambda m, s: signed(m.replace("Sign in to", "Sign into")))),
        (
            "expired",
            lambda: body(lambda m, s: {"json": {"message": m, "signature": s}}, -timedelta(minutes=6)),
        ),
        (
            "not_yet_valid",
            lambda: body(lambda m, s: {"json": {"message": m, "signature": s}}, timedelta(minutes=2)),
        ),
        (
            "domain_mismatch",
            lambda: body(
                lambda m, s: {"json": {"message": m, "signature": s}},
                before=settings(PUBLIC_URL="http://evil.example:3000"),
            ),
        ),
        (
            "uri_mismatch",
            lambda: body(
                lambda m, s: {"json": {"message": m, "signature": s}},
                before=settings(PUBLIC_URL="http://localhost:3000/app"),
            ),
        ),
        (
            "chain_mismatch",
            lambda: body(
                lambda m, s: {"json": {"message": m, "signature": s}}, before=settings(SIWE_CHAIN_ID="10")
            ),
        ),
        ("bad_signature", lambda: body(lambda m, s: {"json": {"message": m, "signature": "0xdeadbeef"}})),
        ("bad_signature", lambda: body(lambda m, s: {"json": {"message": m, "signature": s[:-2] + "1f"}})),
        ("signer_mismatch", lambda: body(lambda m, s: {"json": {"message": m, "signature": sign(m, other)}})),
    ]
    seen = set()
    for code, make in cases:
        use_settings(monkeypatch, PUBLIC_URL="http://localhost:3000", SIWE_CHAIN_ID="1")
        kwargs = await make()
        users_before, sessions_before = counts(db_url)
        async with client() as c:
            r = await c.post("/api/auth/login", **kwargs)
        assert (r.status_code, r.json()) == (401, {"error": code}), code
        assert counts(db_url) == (users_before, sessions_before), code
        seen.add(code)
    assert len(seen) == 10


async def test_concurrent_double_login_with_one_message_opens_one_session(db_url: str) -> None:
    account = Account.create()
    app = build_api()
    async with client(app) as a, client(app) as b:
        message = await challenge(a, account)
        payload = {"message": message, "signature": sign(message, account)}
        results = await asyncio.gather(*(c.post("/api/auth/login", json=payload) for c in (a, b, a, b)))
    assert sorted(r.status_code for r in results) == [200, 401, 401, 401]
    assert all(r.json() == {"error": "unknown_nonce"} for r in results if r.status_code == 401)
    assert counts(db_url) == (1, 1)


async def test_expired_or_revoked_sessions_are_refused(db_url: str) -> None:
    account = Account.create()
    past = utcnow() - timedelta(hours=7 * 24, minutes=1)
    old = await login.issue_message(account.address, 1, now=past)
    expired = await login.login(old.message, sign(old.message, account), now=past + timedelta(seconds=5))
    async with client() as c:
        r = await c.get("/api/auth/session", headers={"cookie": f"{SESSION_COOKIE}={expired.token}"})
        assert r.status_code == 401
        message = await challenge(c, account)
        assert (
            await c.post("/api/auth/login", json={"message": message, "signature": sign(message, account)})
        ).status_code == 200
        assert (await c.get("/api/auth/session")).status_code == 200
        assert await revoke_all_sessions(account.address) == 2  # the expired one too
        assert (await c.get("/api/auth/session")).status_code == 401
        for cookie in ("", f"{SESSION_COOKIE}=", f"{SESSION_COOKIE}=forged", f"{SESSION_COOKIE}={'x' * 500}"):
            assert (await c.get("/api/auth/session", headers={"cookie": cookie})).status_code == 401


async def test_proven_logins_are_rate_limited_per_address(sqlite_url: str) -> None:
    account = Account.create()
    app = build_api()
    for n in range(10):
        message = (await login.issue_message(account.address, 1)).message
        async with client(app) as c:  # a new IP each time: only the address limit applies
            r = await c.post(
                "/api/auth/login", json={"message": message, "signature": sign(message, account)}
            )
        assert r.status_code == 200, n
    message = (await login.issue_message(account.address, 1)).message
    async with client(app) as c:
        r = await c.post("/api/auth/login", json={"message": message, "signature": sign(message, account)})
    assert r.status_code == 429 and r.json() == {"error": "rate_limited"}
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert counts(sqlite_url) == (1, 10)  # the eleventh opened no session


async def test_unsigned_attempts_naming_an_address_cannot_lock_its_owner_out(sqlite_url: str) -> None:
    victim, stranger = Account.create(), Account.create()
    app = build_api()
    message = (await login.issue_message(victim.address, 1)).message
    async with client(app, ip="10.66.6.6") as attacker:
        forged = ["0x00", "0x" + "11" * 65, sign(message, stranger)]
        for n in range(10):  # ten failures naming the victim (the old per-address budget), one IP
            r = await attacker.post("/api/auth/login", json={"message": message, "signature": forged[n % 3]})
            assert r.status_code == 401, n
        # the victim signs in from the very same IP (one office, one NAT) and still gets in
        genuine = {"message": message, "signature": sign(message, victim)}
        r = await attacker.post("/api/auth/login", json=genuine)
    assert r.status_code == 200 and r.json() == {"address": victim.address}
    async with client(app) as elsewhere:
        fresh = (await login.issue_message(victim.address, 1)).message
        r = await elsewhere.post("/api/auth/login", json={"message": fresh, "signature": sign(fresh, victim)})
    assert r.status_code == 200
    assert counts(sqlite_url) == (1, 2)


async def test_login_body_over_8_kib_is_413_declared_or_streamed(sqlite_url: str) -> None:
    account = Account.create()
    message = (await login.issue_message(account.address, 1)).message
    padded = json.dumps({"message": message, "signature": sign(message, account), "pad": "x" * 9000})
    received: list[int] = []

    async def chunks():  # no content-length: only the streamed size can tell
        for start in range(0, len(padded), 1024):
            received.append(start)
            yield padded[start : start + 1024].encode()

    json_type = {"content-type": "application/json"}
    async with client() as c:
        r = await c.post("/api/auth/login", content=padded, headers=json_type)
        assert (r.status_code, r.json()) == (413, {"error": "payload_too_large"})
        r = await c.post("/api/auth/login", content=chunks(), headers=json_type)
        assert "content-length" not in r.request.headers
        assert (r.status_code, r.json()) == (413, {"error": "payload_too_large"})
    assert len(received) <= 9  # reading stopped at the cap, not at the end of the body
    assert counts(sqlite_url) == (0, 0)


async def test_logins_and_messages_are_rate_limited_per_ip(sqlite_url: str) -> None:
    app = build_api()
    async with client(app, ip="10.9.9.9") as c:
        for _ in range(30):
            assert (
                await c.post("/api/auth/login", json={"message": "x", "signature": "0x"})
            ).status_code == 401
        r = await c.post("/api/auth/login", json={"message": "x", "signature": "0x"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        address = Account.create().address
        for _ in range(60):
            r = await c.get("/api/auth/generate-message", params={"address": address, "chain_id": 1})
            assert r.status_code == 200
        r = await c.get("/api/auth/generate-message", params={"address": address, "chain_id": 1})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    async with client(app, ip="10.9.9.10") as other:  # another client is not affected
        assert (
            await other.post("/api/auth/login", json={"message": "x", "signature": "0x"})
        ).status_code == 401


async def test_forwarded_for_is_honoured_only_from_trusted_proxies(sqlite_url: str, monkeypatch) -> None:
    use_settings(monkeypatch, TRUSTED_PROXIES='["10.0.0.1"]')  # comma lists are not parsed: see report
    app = build_api()
    spoofed = 0
    async with client(app, ip="10.7.7.7") as direct:  # untrusted peer: a fresh fake XFF per request
        for n in range(31):
            r = await direct.post(
                "/api/auth/login",
                json={"message": "x", "signature": "0x"},
                headers={"x-forwarded-for": f"1.1.1.{n}"},
            )
            spoofed += r.status_code == 429
    assert spoofed == 1
    async with client(app, ip="10.0.0.1") as proxy:  # our proxy: each forwarded client has its own budget
        for n in range(31):
            r = await proxy.post(
                "/api/auth/login",
                json={"message": "x", "signature": "0x"},
                headers={"x-forwarded-for": f"9.9.9.9, 2.2.2.{n}"},
            )
            assert r.status_code == 401


async def test_redis_limiter_is_shared_by_workers(sqlite_url: str, monkeypatch, redis_url: str) -> None:
    use_settings(monkeypatch, REDIS_URL=redis_url)
    worker_a, worker_b = build_api(), build_api()  # two workers: separate processes' state, one Redis
    ip = random_ip()
    statuses = []
    for n in range(31):
        async with client(worker_a if n % 2 else worker_b, ip=ip) as c:
            statuses.append(
                (await c.post("/api/auth/login", json={"message": "x", "signature": "0x"})).status_code
            )
    assert statuses == [401] * 30 + [429]


async def test_no_token_or_secret_in_logs(db_url: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    account = Account.create()
    async with client() as c:
        message = await challenge(c, account)
        assert (
            await c.post("/api/auth/login", json={"message": message, "signature": sign(message, account)})
        ).status_code == 200
        token = c.cookies[SESSION_COOKIE]
        await c.get("/api/auth/session")
        await c.post("/api/auth/logout", json={})
    engine = create_engine(db_url)
    with engine.connect() as conn:
        secret = open_secret(
            account.address,
            "webhook_secret_enc",
            conn.execute(text("SELECT webhook_secret_enc FROM users")).scalar_one(),
        )
    engine.dispose()
    assert "login " + account.address in caplog.text  # the logs do say who signed in
    assert token not in caplog.text and secret not in caplog.text


@pytest.fixture(autouse=True)
async def _fresh_settings():
    yield
    await dispose_engines()  # close this loop's pools before the loop goes away
    reset_app_caches()
