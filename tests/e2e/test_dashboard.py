"""The live dashboard in Chromium against the real app: alerts through the real webhook, paper
fills priced by FakeIndexer, the real monitor closing at the take-profit, Telegram through
FakeTelegram, and a second trader's open tab that must see none of it.

The `running_app` fixture takes /tmp/trading_app_browser.lock itself (the harness compiles into .web).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import SHOTS, RunningApp
from tests.e2e.test_login import run
from tests.e2e.wallet import SESSION_COOKIE, sign_in_via_api
from tests.fakes import telegram as telegram_fake
from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from trading_app.components import format as fmt
from trading_app.services.accounts.telegram import save_telegram
from trading_app.settings import get_settings

fake_telegram = telegram_fake.fake_telegram  # the fixture, used by name
FIRST_LOAD = 90_000  # the dev server compiles a page on its first visit
LIVE = 5_000  # a pushed change must show without a reload (well under this)
MONITOR = 30_000  # the monitor ticks every few seconds
D = Decimal


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture
def paper_prices(running_app: RunningApp, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    """Paper trading priced by a FakeIndexer (the app runs in this process and reads settings live)."""
    with FakeIndexer() as fake:
        monkeypatch.setenv("PAPER_PRICE_SOURCE", fake.url)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


class Frames:
    """Every websocket frame one page receives (the state Reflex sends it)."""

    def __init__(self, page: Page) -> None:
        self.received: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, frame: str | bytes) -> None:
        self.received.append(frame if isinstance(frame, str) else frame.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "\n".join(self.received)


def db(app: RunningApp) -> psycopg.Connection:
    return psycopg.connect(
        app.database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )


def query(app: RunningApp, sql: str, *args: object) -> list[tuple]:
    with db(app) as conn:
        return conn.execute(sql, args).fetchall()


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def trader(browser: Browser, app: RunningApp) -> tuple[BrowserContext, str, str]:
    """A fresh signed-in trader: their browser context, address and session token."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    account = sign_in_via_api(context, app)
    token = next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)
    return context, account.address, token


def open_dashboard(context: BrowserContext, app: RunningApp) -> Page:
    page = context.new_page()
    page.goto(app.frontend_url + "/dashboard")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=FIRST_LOAD)
    expect(page.locator("#positions-panel")).to_be_visible(timeout=FIRST_LOAD)
    return page


def send_alert(app: RunningApp, session_token: str, body: dict) -> httpx.Response:
    """POST an alert to the trader's own webhook, as TradingView does (URL and secret from the API)."""
    hook = httpx.get(app.api_url + "/api/user/webhook", cookies={SESSION_COOKIE: session_token}).json()
    response = httpx.post(hook["url"], json={"secret": hook["secret"], **body}, timeout=10)
    assert response.status_code == 202, response.text
    return response


def position_rows(page: Page):  # noqa: ANN201 - a Playwright Locator
    return page.locator("#open-positions tbody tr")


def wait_open_positions(app: RunningApp, address: str, count: int) -> None:
    """Wait until the engine has committed `count` open positions: the UI is timed from there."""
    sql = "SELECT count(*) FROM positions WHERE user_address = %s AND status = 'OPEN'"
    try:
        wait_for(lambda: query(app, sql, address) == [(count,)], 30, f"{count} open positions")
    except AssertionError as e:
        signals = query(
            app, "SELECT id, status, reason, attempts FROM signals WHERE user_address = %s", address
        )
        found = query(app, "SELECT id, market, status FROM positions WHERE user_address = %s", address)
        raise AssertionError(f"{e}; signals {signals}; positions {found}") from None


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


# -- tests -----------------------------------------------------------------------------------------
def test_pages_need_a_session(running_app: RunningApp, page: Page) -> None:
    for route in ("/dashboard", "/history", "/alerts"):
        page.goto(running_app.frontend_url + route)
        expect(page).to_have_url(running_app.frontend_url + "/login", timeout=FIRST_LOAD)


def test_live_dashboard_from_alert_to_take_profit(
    running_app: RunningApp, browser: Browser, paper_prices: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    alice_ctx, alice, alice_token = trader(browser, running_app)
    bob_ctx, bob, bob_token = trader(browser, running_app)
    bot = fake_telegram.add_bot(username="alice_trades_bot", chats=[777001])
    run(lambda: save_telegram(alice, bot, "777001"))

    tab_1, tab_2 = open_dashboard(alice_ctx, running_app), open_dashboard(alice_ctx, running_app)
    bob_page = open_dashboard(bob_ctx, running_app)
    bob_frames = Frames(bob_page)
    bob_page.reload()  # capture every frame Bob's tab receives from here on
    expect(bob_page.locator("#no-positions")).to_be_visible(timeout=FIRST_LOAD)
    for page in (tab_1, tab_2):
        expect(page.locator("#no-positions")).to_be_visible()
        expect(page.locator("#network-badge")).to_have_text("PAPER")
        expect(page.locator("#price-source")).to_contain_text("dYdX indexer")
        expect(page.locator("#monitor-state")).to_have_text(re.compile("ok|starting"), timeout=MONITOR)

    # an alert arrives: both of Alice's open tabs show the position, without a reload
    send_alert(
        running_app,
        alice_token,
        {
            "action": "buy",
            "market": "BTC-USD",
            "size": "0.01",
            "sl": "60000",
            "tp": "70000",
            "alert_id": "e2e-1",
        },
    )
    wait_open_positions(running_app, alice, 1)
    for page in (tab_1, tab_2):
        expect(position_rows(page)).to_have_count(1, timeout=LIVE)
        row = position_rows(page).first
        expect(row).to_contain_text("BTC-USD")
        expect(row).to_contain_text("LONG")
        expect(row).to_contain_text("0.01")
        expect(row).to_contain_text("70,000")
        expect(row).to_contain_text("60,000")
    [(position_id, entry)] = query(
        running_app, "SELECT id, entry_price FROM positions WHERE user_address = %s", alice
    )
    expect(position_rows(tab_1).first).to_contain_text(fmt.number(D(entry)))
    expect(tab_1.locator("#alerts-panel")).to_contain_text("BTC-USD")
    shot(tab_1, "dashboard-open-position.png")

    # the price passes the take-profit: the monitor closes the position, the SL is cancelled
    paper_prices.set_price("BTC-USD", D("70500"))
    for page in (tab_1, tab_2):
        expect(page.locator("#no-positions")).to_be_visible(timeout=MONITOR)
    [(status, reason, realized, exit_price, size, fees)] = query(
        running_app,
        "SELECT status, close_reason, realized_pnl, exit_price, size, fees FROM positions WHERE id = %s",
        position_id,
    )
    assert (status, reason) == ("CLOSED", "TAKE_PROFIT")
    assert D(exit_price) >= D("70000")
    assert D(realized) == (D(exit_price) - D(entry)) * D(size) - D(fees)  # the books: price move minus fees
    expect(tab_2.locator("#summary-realized")).to_have_text(fmt.money(D(realized), signed=True), timeout=LIVE)
    expect(tab_2.locator("#summary-win-rate")).to_have_text("100.0%")
    expect(tab_2.locator("#equity-chart")).to_be_visible()
    orders = dict(query(running_app, "SELECT role, status FROM orders WHERE position_id = %s", position_id))
    assert orders["STOP_LOSS"] == "CANCELED" and orders["TAKE_PROFIT"] == "FILLED", orders
    sent = wait_for(
        lambda: (
            [m.plain for m in fake_telegram.messages if m.chat_id == "777001"][1:]
            and [m.plain for m in fake_telegram.messages if m.chat_id == "777001"]
        ),
        10,
        "two Telegram messages",
    )
    assert len(sent) == 2 and "BTC-USD" in sent[0] and "BTC-USD" in sent[1], sent
    shot(tab_2, "dashboard-after-take-profit.png")

    # Bob's open tab saw none of it
    expect(bob_page.locator("#no-positions")).to_be_visible()
    expect(bob_page.locator("#live-status")).to_have_text("Live")
    expect(bob_page.locator("#summary-realized")).to_have_text("$0.00")
    assert bob_frames.received, "the capture works"
    for secret_of_alice in ("BTC-USD", alice, alice.lower(), str(realized)):
        assert secret_of_alice not in bob_frames.text
    assert query(running_app, "SELECT count(*) FROM positions WHERE user_address = %s", bob) == [(0,)]
    for context in (alice_ctx, bob_ctx):
        context.close()


def test_manual_close_with_confirmation(
    running_app: RunningApp, browser: Browser, paper_prices: FakeIndexer
) -> None:
    context, alice, token = trader(browser, running_app)
    page = open_dashboard(context, running_app)
    send_alert(
        running_app,
        token,
        {
            "action": "buy",
            "market": "ETH-USD",
            "size": "0.5",
            "sl": "2900",
            "tp": "3300",
            "alert_id": "e2e-2",
        },
    )
    send_alert(
        running_app,
        token,
        {"action": "sell", "market": "SOL-USD", "size": "2", "sl": "160", "tp": "140", "alert_id": "e2e-3"},
    )
    wait_open_positions(running_app, alice, 2)
    expect(position_rows(page)).to_have_count(2, timeout=LIVE)
    eth = page.locator("#open-positions tbody tr", has_text="ETH-USD")

    # cancelling the dialog changes nothing
    eth.get_by_role("button", name="Close ETH-USD position").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("Close ETH-USD?")
    shot(page, "dashboard-close-dialog.png")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    assert query(
        running_app, "SELECT count(*) FROM positions WHERE user_address = %s AND status = 'OPEN'", alice
    ) == [(2,)]

    paper_prices.set_price("ETH-USD", D("3100"))
    eth.get_by_role("button", name="Close ETH-USD position").click()
    page.get_by_role("button", name="Close position").click()
    expect(page.locator("#close-result")).to_contain_text("Closed ETH-USD long at", timeout=LIVE)
    expect(position_rows(page)).to_have_count(1)
    [(reason, realized)] = query(
        running_app,
        "SELECT close_reason, realized_pnl FROM positions WHERE user_address = %s AND market = 'ETH-USD'",
        alice,
    )
    assert reason == "MANUAL" and D(realized) > 0
    expect(page.locator("#close-result")).to_contain_text(fmt.money(D(realized), signed=True))

    # close-all, confirmed
    page.locator("#close-all").click()
    page.get_by_role("button", name="Close all").last.click()
    expect(page.locator("#close-result")).to_contain_text("Closed 1 position", timeout=LIVE)
    expect(page.locator("#no-positions")).to_be_visible()
    assert query(
        running_app,
        "SELECT status, close_reason FROM positions WHERE user_address = %s AND market = 'SOL-USD'",
        alice,
    ) == [("CLOSED", "MANUAL")]
    shot(page, "dashboard-closed.png")

    # the history page: both trades, filters and their totals
    page.get_by_role("link", name="History").first.click()
    expect(page.get_by_role("heading", name="Trade history")).to_be_visible(timeout=FIRST_LOAD)
    expect(page.locator("#closed-trades tbody tr")).to_have_count(2, timeout=LIVE)
    expect(page.locator("#history-trades")).to_have_text("2")
    page.locator("#filter-side").click()
    page.get_by_role("option", name="Short", exact=True).click()
    expect(page.locator("#closed-trades tbody tr")).to_have_count(1, timeout=LIVE)
    expect(page.locator("#closed-trades")).to_contain_text("SOL-USD")
    expect(page.locator("#history-trades")).to_have_text("1")
    page.locator("#filter-start").fill("2001-01-01")
    page.locator("#filter-end").fill("2001-01-02")
    expect(page.locator("#no-trades")).to_be_visible(timeout=LIVE)
    expect(page.locator("#history-realized")).to_have_text("$0.00")
    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#closed-trades tbody tr")).to_have_count(2, timeout=LIVE)
    shot(page, "history.png")

    # the alert log: newest first, secret masked, outcome and resulting position
    page.get_by_role("link", name="Alerts").first.click()
    expect(page.get_by_role("heading", name="Alert log")).to_be_visible(timeout=FIRST_LOAD)
    rows = page.locator("#alert-log tbody tr")
    expect(rows).to_have_count(2, timeout=LIVE)
    expect(rows.first).to_contain_text("SOL-USD")
    expect(rows.first).to_contain_text("Executed")
    rows.first.get_by_role("button", name=re.compile("Payload of alert")).click()
    payload = page.get_by_role("dialog")
    expect(payload).to_contain_text(re.compile(r'"secret":\s*"\*\*\*"'))
    hook = httpx.get(running_app.api_url + "/api/user/webhook", cookies={SESSION_COOKIE: token}).json()
    assert hook["secret"] not in page.content()
    shot(page, "alerts.png")
    context.close()
