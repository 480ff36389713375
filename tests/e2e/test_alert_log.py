"""The alert log and the account cards in Chromium against the real app: alerts posted to the real
webhook appear on the open alert log without a reload, a refused one names what the trader sent and
says why in plain words (code second) on the page and on Telegram, and the dashboard shows the
equity, free collateral and margin the sizing uses.

Screenshots: alerts-*.png in the temporary directory (/tmp).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e import test_dashboard as dashboard_e2e
from tests.e2e.conftest import RunningApp
from tests.e2e.test_dashboard import (
    FIRST_LOAD,
    LIVE,
    open_dashboard,
    trader,
    wait_for,
    wait_open_positions,
)
from tests.e2e.test_login import run
from tests.e2e.wallet import SESSION_COOKIE
from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from trading_app.services.accounts.telegram import save_telegram

fake_telegram = dashboard_e2e.fake_telegram  # the fixtures, used by name
paper_prices = dashboard_e2e.paper_prices


def shot(page: Page, name: str) -> None:
    # outside the checkout (a dev server there reloads on new files) and kept after the run
    page.screenshot(path=str(Path(tempfile.gettempdir()) / f"alerts-{name}"), full_page=True)


def post_alert(app: RunningApp, session_token: str, body: dict) -> httpx.Response:
    """POST an alert to the trader's own webhook as TradingView does, whatever the answer."""
    hook = httpx.get(app.api_url + "/api/user/webhook", cookies={SESSION_COOKIE: session_token}).json()
    return httpx.post(hook["url"], json={"secret": hook["secret"], **body}, timeout=10)


def open_alert_log(context: BrowserContext, app: RunningApp) -> Page:
    page = context.new_page()
    page.goto(app.frontend_url + "/alerts")
    expect(page.get_by_role("heading", name="Alert log")).to_be_visible(timeout=FIRST_LOAD)
    expect(page.locator("#no-alerts")).to_be_visible(timeout=FIRST_LOAD)
    return page


def test_alerts_appear_on_the_open_log_and_a_refused_one_says_why(
    running_app: RunningApp, browser: Browser, paper_prices: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    context, alice, token = trader(browser, running_app)
    other_ctx, _, other_token = trader(browser, running_app)
    bot = fake_telegram.add_bot(username="alice_alerts_bot", chats=[778001])
    run(lambda: save_telegram(alice, bot, "778001"))
    page = open_alert_log(context, running_app)
    theirs = open_alert_log(other_ctx, running_app)
    page.wait_for_timeout(1_000)  # the tab's feed is linked (on_load) before anything is sent

    accepted = post_alert(
        running_app,
        token,
        {"action": "buy", "market": "BINANCE:BTCUSDT.P", "size": "0.01", "sl_pct": "1", "rr": "2"},
    )
    assert accepted.status_code == 202, accepted.text
    rows = page.locator("#alert-log tbody tr")
    expect(rows).to_have_count(1, timeout=LIVE)
    first = page.locator(f"#alert-{accepted.json()['signal_id']}")
    expect(first).to_contain_text("BINANCE:BTCUSDT.P")
    expect(first).to_contain_text("as BTC-USD")
    expect(first).to_contain_text("Executed", timeout=LIVE)

    refused = post_alert(running_app, token, {"action": "buy", "market": "xyzceausdt.p", "size": "1"})
    assert refused.status_code == 422, refused.text
    expect(rows).to_have_count(2, timeout=LIVE)  # pushed: no reload, no waiting for the periodic refresh
    row = page.locator(f"#alert-{refused.json()['signal_id']}")
    expect(row).to_contain_text("xyzceausdt.p")
    expect(row.locator(".alert-reason")).to_have_text(
        "This market is not listed on your venue: xyzceausdt.p (read as XYZCEA-USD)"
    )
    expect(row.locator(".alert-code")).to_have_text("unknown_market")
    shot(page, "log-live.png")

    told = wait_for(
        lambda: [m.plain for m in fake_telegram.messages if m.chat_id == "778001" and "rejected" in m.plain],
        10,
        "the refusal on Telegram",
    )
    assert "xyzceausdt.p" in told[0] and "This market is not listed on your venue" in told[0], told  # type: ignore[index]
    # the other trader's open log saw none of it
    expect(theirs.locator("#no-alerts")).to_be_visible()
    assert other_token != token
    for ctx in (context, other_ctx):
        ctx.close()


def test_the_dashboard_shows_equity_free_collateral_and_margin(
    running_app: RunningApp, browser: Browser, paper_prices: FakeIndexer
) -> None:
    context, alice, token = trader(browser, running_app)
    page = open_dashboard(context, running_app)
    expect(page.locator("#funds-equity")).to_have_text("$10,000.00", timeout=LIVE)
    expect(page.locator("#funds-free")).to_have_text("$10,000.00")
    expect(page.locator("#funds-margin")).to_have_text("$0.00")
    opened = post_alert(
        running_app,
        token,
        {"action": "buy", "market": "BTC-USD", "size": "0.1", "sl": "60000", "tp": "70000"},
    )
    assert opened.status_code == 202, opened.text
    wait_open_positions(running_app, alice, 1)
    # 0.1 BTC at 65,000 with a 2 % initial margin, by push
    expect(page.locator("#funds-margin")).to_have_text("$130.00", timeout=LIVE)
    expect(page.locator("#funds-margin-pct")).to_contain_text("% of equity")
    expect(page.locator("#funds-free")).not_to_have_text("$10,000.00")
    shot(page, "dashboard-funds.png")
    context.close()
