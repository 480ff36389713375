"""Wallet sign-in in Chromium against the real app, with a fake EIP-1193/EIP-6963 wallet whose
signatures are made by eth-account in this process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import psycopg
import pytest
from eth_account import Account
from playwright.sync_api import Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.conftest import SHOTS, RunningApp
from tests.e2e.wallet import SESSION_COOKIE, FakeWallet, sign_in_via_api, sign_text
from trading_app.db.engine import dispose_engines
from trading_app.domain.clock import utcnow
from trading_app.services.auth import login
from trading_app.services.auth.sessions import revoke_all_sessions
from trading_app.services.security.secrets import open_secret
from trading_app.settings import get_settings

FIRST_LOAD = 90_000  # the dev server compiles a page on its first visit


def run(make: Callable[[], Awaitable[object]]) -> object:
    """Run one of our async services on its own loop (Playwright's sync API owns this thread)."""

    async def once() -> object:
        try:
            return await make()
        finally:
            await dispose_engines()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, once()).result()


def db(app: RunningApp) -> psycopg.Connection:
    return psycopg.connect(
        app.database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )


def counts(app: RunningApp) -> tuple[int, int]:
    with db(app) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("users", "sessions"))  # noqa: S608


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_sign_in_dashboard_and_log_out(running_app: RunningApp, page: Page, caplog) -> None:
    wallet = FakeWallet()
    wallet.install(page)
    frames: list[str] = []

    def capture(payload: str | bytes) -> None:
        frames.append(payload if isinstance(payload, str) else payload.decode(errors="replace"))

    page.on("websocket", lambda ws: (ws.on("framereceived", capture), ws.on("framesent", capture)))
    before = counts(running_app)

    page.goto(running_app.frontend_url + "/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=FIRST_LOAD)
    shot(page, "login.png")
    page.get_by_role("button", name="Connect wallet and sign in").click()

    expect(page).to_have_url(running_app.frontend_url + "/dashboard", timeout=30_000)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=FIRST_LOAD)
    expect(page.locator("#wallet-address")).to_have_text(wallet.address)  # checksummed by the server
    expect(page.get_by_role("link", name="Settings", exact=False)).to_have_attribute("href", "/settings")
    shot(page, "dashboard.png")
    assert wallet.calls == ["eth_requestAccounts", "eth_chainId", "personal_sign"]
    host = running_app.frontend_url.split("//", 1)[1]
    assert wallet.signed[0].startswith(
        f"{host} wants you to sign in with your Ethereum account:\n{wallet.address}\n"
    )
    assert counts(running_app) == (before[0] + 1, before[1] + 1)

    # the session token stays in the HttpOnly cookie; nothing secret reaches the page's state
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    token = cookie["value"]
    assert token not in page.evaluate("document.cookie")
    with db(running_app) as conn:
        sealed = conn.execute(
            "SELECT webhook_secret_enc FROM users WHERE address = %s", (wallet.address,)
        ).fetchone()[0]
    secret = open_secret(wallet.address, "webhook_secret_enc", sealed)
    received = "\n".join(frames)
    assert wallet.address in received  # the capture works: the state did carry the address
    assert token not in received and secret not in received
    assert token not in caplog.text and secret not in caplog.text

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=30_000)
    expect(page.get_by_role("button", name="Connect wallet and sign in")).to_be_visible()
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    with db(running_app) as conn:
        revoked = conn.execute(
            "SELECT revoked_at FROM sessions WHERE address = %s", (wallet.address,)
        ).fetchone()[0]
    assert revoked is not None

    page.goto(running_app.frontend_url + "/dashboard")
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=30_000)
    # and the old token, replayed by hand, is dead server-side
    r = httpx.get(running_app.api_url + "/api/auth/session", headers={"cookie": f"{SESSION_COOKIE}={token}"})
    assert r.status_code == 401


def test_protected_page_needs_a_live_session(running_app: RunningApp, page: Page) -> None:
    page.goto(running_app.frontend_url + "/dashboard")
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=FIRST_LOAD)
    expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)

    page.context.add_cookies([{"name": SESSION_COOKIE, "value": "forged", "url": running_app.api_url}])
    page.goto(running_app.frontend_url + "/dashboard")
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=30_000)

    account = sign_in_via_api(page.context, running_app)
    page.goto(running_app.frontend_url + "/dashboard")
    expect(page.locator("#wallet-address")).to_have_text(account.address, timeout=30_000)
    # a signed-in visitor of /login goes straight on to the dashboard
    page.goto(running_app.frontend_url + "/login")
    expect(page).to_have_url(running_app.frontend_url + "/dashboard", timeout=30_000)
    # the dashboard's own on_load handlers re-check the session too: let them finish first
    expect(page.locator("#positions-panel")).to_be_visible(timeout=30_000)

    assert run(lambda: revoke_all_sessions(account.address)) == 1  # e.g. "sign out everywhere"
    # no reload: the next protected event re-checks. Usually that is the guard of a client-side
    # navigation; when the dashboard's own periodic refresh notices first, it leaves for /login itself
    # and the link is gone before it can be clicked. Either way the trader ends on /login.
    link = page.get_by_role("link", name="Settings", exact=False)
    try:
        link.click(timeout=5_000)
    except PlaywrightTimeoutError:
        pass
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=30_000)
    page.goto(running_app.frontend_url + "/dashboard")
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=30_000)


def _issue_for(address: str, *, minutes_ago: float = 0, public_url: str | None = None) -> str:
    """A message stored by the real service, optionally in the past or for another site."""
    saved = os.environ.get("PUBLIC_URL")
    if public_url:
        os.environ["PUBLIC_URL"] = public_url
        get_settings.cache_clear()
    try:
        issued = run(lambda: login.issue_message(address, 1, now=utcnow() - timedelta(minutes=minutes_ago)))
    finally:
        if public_url:
            os.environ["PUBLIC_URL"] = saved or ""
            get_settings.cache_clear()
    return issued.message  # type: ignore[attr-defined]


def _serve_message(page: Page, make: Callable[[str], str]) -> None:
    """Answer the page's generate-message call with `make(real message)` (real CORS headers kept)."""

    def handle(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        route.fulfill(response=response, json={**body, "message": make(body["message"])})

    page.route("**/api/auth/generate-message*", handle)


def _replayed(app: RunningApp, wallet: FakeWallet, page: Page) -> None:
    with httpx.Client(base_url=app.api_url, headers={"origin": app.api_url}) as client:
        message = client.get(
            "/api/auth/generate-message", params={"address": wallet.address, "chain_id": 1}
        ).json()["message"]
        assert (
            client.post(
                "/api/auth/login", json={"message": message, "signature": sign_text(wallet.account, message)}
            ).status_code
            == 200
        )
    _serve_message(page, lambda _real: message)


FAILURES: dict[str, tuple[dict, Callable[[RunningApp, FakeWallet, Page], None] | None, str]] = {
    "rejected": ({"reject_sign": True}, None, "You rejected the request in your wallet"),
    "wrong_chain": (
        {"chain_id": 137},
        None,
        "Your wallet is on Polygon (chain id 137). Switch your wallet to Ethereum mainnet (chain id 1)",
    ),
    "expired": (
        {},
        lambda a, w, p: _serve_message(p, lambda _: _issue_for(w.address, minutes_ago=6)),
        "This sign-in request expired",
    ),
    "replayed": ({}, _replayed, "This sign-in request was already used or is unknown"),
    "other_domain": (
        {},
        lambda a, w, p: _serve_message(p, lambda _: _issue_for(w.address, public_url="http://evil.example")),
        "issued for another site",
    ),
    "tampered": (
        {},
        lambda a, w, p: _serve_message(p, lambda m: m.replace(" wants you", ".evil.example wants you", 1)),
        "not issued for this site",
    ),
    "wrong_signer": (
        {"signer": Account.create()}, None, "The signature does not come from the account in the request"
    ),
    "no_wallet": ({}, None, "No Ethereum wallet found"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FAILURES))
def test_failed_sign_in_explains_and_creates_nothing(running_app: RunningApp, page: Page, case: str) -> None:
    options, prepare, expected = FAILURES[case]
    wallet = FakeWallet(**options)
    if case != "no_wallet":
        wallet.install(page)
    if prepare:
        prepare(running_app, wallet, page)
    before = counts(running_app)

    page.goto(running_app.frontend_url + "/login")
    page.get_by_role("button", name="Connect wallet and sign in").click(timeout=FIRST_LOAD)
    expect(page.locator("#login-error")).to_contain_text(expected, timeout=30_000)
    if case == "wrong_chain":
        shot(page, "login-error.png")
    expect(page).to_have_url(running_app.frontend_url + "/login")
    assert counts(running_app) == before
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    # the button is usable again for a second attempt
    expect(page.get_by_role("button", name="Connect wallet and sign in")).to_be_enabled()
