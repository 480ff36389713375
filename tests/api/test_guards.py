"""Cookie-authenticated writes come from our origins as JSON; bodies are capped while streamed; path
and query numbers are ASCII digits. Through the real API app (httpx ASGITransport)."""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from starlette.routing import Route

from tests.api.webhook_support import TV_IP, make_hook, signal_rows
from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import LONG_BTC, make_signal, positions
from trading_app.api.app import build_api
from trading_app.api.guards import BodyTooLarge, ascii_int, read_capped
from trading_app.db.engine import dispose_engines, session_scope
from trading_app.services.accounts.users import ensure_user
from trading_app.services.auth import login
from trading_app.services.auth.sessions import SESSION_COOKIE, create_session, session_address
from trading_app.services.engine import executor
from trading_app.settings import get_settings

ALICE = "0x00000000000000000000000000000000000A11cE"
PUBLIC = "http://localhost:3000"  # PUBLIC_URL's default
JSON = {"content-type": "application/json"}
EVIL = "http://evil.example"

# (headers, status): every way a write may fail the rule, and what it gets
REFUSED: list[tuple[dict[str, str], int]] = [
    ({"origin": EVIL, "content-type": "text/plain"}, 403),  # the reviewer's request
    ({"origin": EVIL, **JSON}, 403),
    ({"origin": EVIL, "sec-fetch-site": "same-origin", **JSON}, 403),  # the Origin decides
    ({"origin": "null", **JSON}, 403),  # sandboxed frames, file: pages
    ({"origin": "http://localhost:3000.evil.example", **JSON}, 403),
    ({"origin": "https://localhost:3000", **JSON}, 403),  # another scheme is another origin
    ({"origin": "http://localhost:3001", **JSON}, 403),
    ({"sec-fetch-site": "cross-site", **JSON}, 403),
    (JSON, 403),  # neither header
    ({"origin": PUBLIC, "content-type": "text/plain"}, 415),
    ({"origin": PUBLIC, "content-type": "application/x-www-form-urlencoded"}, 415),
    ({"sec-fetch-site": "same-site", "content-type": "multipart/form-data; boundary=x"}, 415),
    ({"origin": PUBLIC}, 415),
    ({"origin": PUBLIC, "content-type": "application/jsonp"}, 415),
]


def api_client(token: str | None = None, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build_api(), client=("10.20.30.40", 50000))
    cookies = {SESSION_COOKIE: token} if token else None
    return httpx.AsyncClient(transport=transport, base_url="http://test", cookies=cookies, headers=headers)


async def sign_in(address: str) -> str:
    async with session_scope() as session:
        await ensure_user(session, address)
        token, _ = await create_session(session, address)
    return token


async def test_cross_site_or_non_json_closes_change_nothing(db_url: str, paper_market: FakeIndexer) -> None:
    token = await sign_in(ALICE)
    await executor.execute_signal(await make_signal(ALICE, LONG_BTC))
    [position] = await positions(ALICE)
    async with api_client(token) as c:
        for headers, status in REFUSED:
            for path in (f"/api/trading/close/{position.id}", "/api/trading/close-all"):
                r = await c.post(path, content=b"{}", headers=headers)
                expected = "cross_origin_request" if status == 403 else "unsupported_media_type"
                assert (r.status_code, r.json()) == (status, {"error": expected}), (path, headers)
                assert r.headers["cache-control"] == "no-store"
        assert [p.status for p in await positions(ALICE)] == ["OPEN"]
        # the app's own page (Origin = PUBLIC_URL's) closes it
        r = await c.post(f"/api/trading/close/{position.id}", headers={"origin": PUBLIC, **JSON})
        assert r.status_code == 200 and r.json()["position"]["status"] == "CLOSED"


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": PUBLIC, **JSON},
        {"origin": "HTTP://LOCALHOST:3000", "content-type": "Application/JSON; charset=utf-8"},
        {"origin": "http://localhost:8000", **JSON},  # API_URL's origin
        {"origin": "https://ops.example.com", **JSON},  # listed in CORS_ALLOWED_ORIGINS
        {"sec-fetch-site": "same-origin", **JSON},
        {"sec-fetch-site": "same-site", **JSON},
    ],
)
async def test_our_origins_may_write(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, headers: dict) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", f"{PUBLIC},https://ops.example.com")
    get_settings.cache_clear()
    token = await sign_in(ALICE)
    async with api_client(token, headers) as c:
        r = await c.post("/api/trading/close-all")
        assert r.status_code == 200 and r.json() == {"positions": []}


async def test_cross_site_logout_and_login_are_refused(sqlite_url: str) -> None:
    token = await sign_in(ALICE)
    async with api_client(token, {"origin": EVIL, **JSON}) as c:
        r = await c.post("/api/auth/logout", json={})
        assert r.status_code == 403 and "set-cookie" not in r.headers
    assert await session_address(token) == ALICE  # still signed in
    async with api_client(token, {"origin": PUBLIC}) as c:
        assert (await c.post("/api/auth/logout", content=b"")).status_code == 415
    assert await session_address(token) == ALICE

    account = Account.create()
    message = (await login.issue_message(account.address, 1)).message
    signature = "0x" + Account.sign_message(encode_defunct(text=message), account.key).signature.hex()
    async with api_client(headers={"origin": EVIL}) as c:
        r = await c.post("/api/auth/login", json={"message": message, "signature": signature})
        assert r.status_code == 403 and "set-cookie" not in r.headers
    async with api_client(headers={"origin": PUBLIC}) as c:  # the message was not used up
        r = await c.post("/api/auth/login", json={"message": message, "signature": signature})
        assert r.status_code == 200 and SESSION_COOKIE in r.cookies


async def test_every_write_route_but_the_webhook_is_guarded(sqlite_url: str) -> None:
    writes = [
        (method, route.path.replace("{position_id}", "1"))
        for route in build_api().routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in sorted((route.methods or set()) - {"GET", "HEAD", "OPTIONS"})
    ]
    # the webhooks of TradingView and Telegram: their secrets authenticate them, not an origin
    guarded = [w for w in writes if not w[1].startswith(("/api/webhooks/", "/api/telegram/"))]
    assert ("POST", "/api/auth/login") in guarded and ("POST", "/api/trading/close-all") in guarded
    assert len(guarded) == len(writes) - 2
    async with api_client(headers={"origin": EVIL, **JSON}) as c:
        for method, path in guarded:
            assert (await c.request(method, path, content=b"{}")).status_code == 403, path
        # an unknown or future write under /api is refused the same way, before routing
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            for path in ("/api/anything/new", "/api/webhooks/other", "/api/webhooks"):
                assert (await c.request(method, path, content=b"{}")).status_code == 403, (method, path)


async def test_the_webhook_keeps_taking_text_plain_without_origin(sqlite_url: str) -> None:
    hook = await make_hook()
    transport = httpx.ASGITransport(app=build_api(), client=(TV_IP, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post(hook.path, content=hook.text(), headers={"content-type": "text/plain"})
        assert r.status_code == 202, r.text
        assert "origin" not in r.request.headers and "sec-fetch-site" not in r.request.headers
        cross_site = {"content-type": "text/plain", "origin": EVIL}
        r = await c.post(hook.path, content=hook.text(), headers=cross_site)
        assert r.status_code == 202, r.text  # the secret authenticates it, not the cookie
    assert [row["status"] for row in signal_rows(sqlite_url)] == ["ACCEPTED", "ACCEPTED"]


async def _stream(parts: list[bytes], seen: list[bytes]):  # noqa: ANN202 - an async generator
    for part in parts:
        seen.append(part)
        yield part


async def test_read_capped_stops_at_the_cap_and_believes_no_declared_length_over_it() -> None:
    seen: list[bytes] = []
    assert await read_capped(_stream([b"ab", b"cd"], seen), None, 4) == b"abcd"
    assert await read_capped(_stream([b"abcd"], seen), "4", 4) == b"abcd"
    seen.clear()
    with pytest.raises(BodyTooLarge):
        await read_capped(_stream([b"ab", b"cde", b"never", b"read"], seen), None, 4)
    assert seen == [b"ab", b"cde"]
    seen.clear()
    for declared in ("5", "99999999999999999999", "-1", "4 4", "٤"):
        with pytest.raises(BodyTooLarge):
            await read_capped(_stream([b"ab"], seen), declared, 4)
    assert seen == []  # refused on the header alone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0), ("42", 42), ("007", 7), ("9223372036854775807", 9223372036854775807),
        ("²", None), ("１２", None), ("٣", None), ("߁", None), ("𝟙", None),  # other scripts' digits
        ("-1", None), ("+1", None), (" 1", None), ("1 ", None), ("1_000", None), ("1.0", None),
        ("", None), (None, None), ("9223372036854775808", None),  # over the bound
    ],
)
def test_ascii_int_takes_ascii_digits_only(text: str | None, expected: int | None) -> None:
    assert ascii_int(text, 0, 2**63 - 1) == expected


@pytest.fixture(autouse=True)
async def _fresh_settings():
    yield
    await dispose_engines()
    reset_app_caches()
