"""The story of each alert in Chromium: an alert through the real webhook onto the paper venue, the
alert log (and the dashboard's recent alerts) opens its detail, which shows the parsed alert, the
sizing, the orders with their venue ids and the timeline; a refused alert tells why; another
trader gets "no such alert".

The `running_app` fixture takes /tmp/trading_app_browser.lock itself (the harness compiles into .web).
"""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.e2e import test_dashboard as dashboard
from tests.e2e.conftest import RunningApp
from tests.e2e.test_dashboard import FIRST_LOAD, LIVE, open_dashboard, query, send_alert, shot, trader
from tests.e2e.wallet import SESSION_COOKIE
from tests.fakes.indexer import FakeIndexer

paper_prices = dashboard.paper_prices  # the fixture, used by name
OPENED = [
    "Received by your webhook",
    "Stored",
    "Picked up by the engine",
    "Risk checks passed, size computed",
    "Entry order sent",
    "Entry filled",
    "Stop-loss placed",
    "Take-profit placed",
    "Done",
    "Pushed to your open tabs",
]


def _story_of(page: Page, signal_id: int) -> None:
    expect(page.get_by_role("heading", name="Alert story")).to_be_visible(timeout=FIRST_LOAD)
    expect(page).to_have_url(re.compile(f"/alerts/{signal_id}$"))
    expect(page.locator("#story-summary")).to_contain_text(f"#{signal_id}", timeout=LIVE)


def test_an_alert_tells_its_story(
    running_app: RunningApp, browser: Browser, paper_prices: FakeIndexer
) -> None:
    context, alice, token = trader(browser, running_app)
    bob_ctx, _, _ = trader(browser, running_app)
    dash = open_dashboard(context, running_app)
    body = {
        "action": "buy",
        "market": "BTC-USD",
        "risk_pct": "1",
        "sl": "64000",
        "tp": "70000",
        "alert_id": "s-1",
    }
    sid = send_alert(running_app, token, body).json()["signal_id"]
    dashboard.wait_open_positions(running_app, alice, 1)
    hook = httpx.get(running_app.api_url + "/api/user/webhook", cookies={SESSION_COOKIE: token}).json()
    refused = httpx.post(hook["url"], json={"secret": hook["secret"], "action": "hold", "market": "BTC-USD"})
    assert refused.status_code == 422
    refused_id = refused.json()["signal_id"]

    # from the dashboard's recent alerts (once the refusal's push has re-rendered the list: a click
    # during the re-render lands on whichever row is under the pointer then)
    expect(dash.locator("#alerts-panel")).to_contain_text("BTC-USD", timeout=LIVE)
    expect(dash.get_by_role("link", name=f"Story of alert {refused_id}")).to_be_visible(timeout=LIVE)
    dash.get_by_role("link", name=f"Story of alert {sid}").click()
    _story_of(dash, sid)

    # from the alert log
    page = context.new_page()
    page.goto(running_app.frontend_url + "/alerts")
    expect(page.get_by_role("heading", name="Alert log")).to_be_visible(timeout=FIRST_LOAD)
    expect(page.locator("#alert-log tbody tr")).to_have_count(2, timeout=LIVE)
    page.get_by_role("link", name=f"Story of alert {sid}").click()
    _story_of(page, sid)
    steps = page.locator("#story-timeline tbody tr")
    expect(steps).to_have_count(len(OPENED), timeout=LIVE)
    for n, label in enumerate(OPENED):
        expect(steps.nth(n)).to_contain_text(label)
    expect(steps.first).to_contain_text("+0 ms")
    expect(page.locator("#story-summary")).to_contain_text("Executed")

    # the intent, the sizing stored at the time, every order with its venue id and state
    expect(page.locator("#story-parsed")).to_contain_text("risk_pct")
    expect(page.locator("#story-parsed")).to_contain_text("BTC-USD")
    sizing = page.locator("#story-sizing")
    expect(sizing).to_contain_text("Equity used")
    expect(sizing).to_contain_text("$10,000.00")
    expect(sizing).to_contain_text("% of equity at risk: 1")
    orders = query(
        running_app,
        "SELECT role, venue_order_id, status FROM orders WHERE user_address = %s ORDER BY id",
        alice,
    )
    assert [o[0] for o in orders] == ["ENTRY", "STOP_LOSS", "TAKE_PROFIT"]
    rows = page.locator("#story-orders tbody tr")
    expect(rows).to_have_count(3)
    for n, (role, venue_id, status) in enumerate(orders):
        assert venue_id
        expect(rows.nth(n)).to_contain_text(venue_id)
        expect(rows.nth(n)).to_contain_text(status.capitalize())
        expect(rows.nth(n)).to_contain_text(role.replace("_", " ").capitalize())
    expect(page.locator("#story-body")).to_contain_text(re.compile(r'"secret":\s*"\*\*\*"'))
    assert hook["secret"] not in page.content()
    shot(page, "alert-story.png")

    # a refused alert: received, stored, rejected, and why
    page.get_by_role("link", name="Alert log").click()
    expect(page.locator("#alert-log tbody tr")).to_have_count(2, timeout=FIRST_LOAD)
    page.get_by_role("link", name=f"Story of alert {refused_id}").click()
    _story_of(page, refused_id)
    steps = page.locator("#story-timeline tbody tr")
    expect(steps).to_have_count(3, timeout=LIVE)
    for n, label in enumerate(["Received by your webhook", "Stored", "Rejected"]):
        expect(steps.nth(n)).to_contain_text(label)
    expect(steps.nth(2)).to_contain_text("hold")
    expect(page.locator("#story-reason")).to_contain_text("hold")
    expect(page.locator("#story-summary")).to_contain_text("HOLD BTC-USD")  # what was sent
    expect(page.locator("body")).to_contain_text("Not parsed")
    expect(page.locator("#story-orders-panel")).to_contain_text("No orders")
    shot(page, "alert-story-rejected.png")

    # another trader: nothing of it
    other = bob_ctx.new_page()
    other.goto(running_app.frontend_url + f"/alerts/{sid}")
    expect(other.locator("#no-story")).to_be_visible(timeout=FIRST_LOAD)
    expect(other.locator("body")).not_to_contain_text("BTC-USD")
    shot(other, "alert-story-not-yours.png")
    for ctx in (context, bob_ctx):
        ctx.close()
