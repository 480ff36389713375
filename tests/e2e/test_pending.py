"""A limit entry that rests, in Chromium against the real app: the dashboard shows it as a pending
entry (not an open position) with its limit price, Cancel asks first, then the row goes, history
says "Cancelled" and so does the alert log, whose story ends with the cancel; close-all says it
cancels pending entries too.

The `running_app` fixture takes /tmp/trading_app_browser.lock itself (the harness compiles into .web).
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import RunningApp
from tests.e2e.test_dashboard import (
    FIRST_LOAD,
    LIVE,
    open_dashboard,
    paper_prices,  # noqa: F401 - the fixture, used by name
    query,
    send_alert,
    trader,
    wait_for,
)
from tests.e2e.test_dashboard import shot as keep_shot
from tests.fakes.indexer import FakeIndexer

# far below the 65,000 market: it rests on the book
RESTING = {
    "action": "buy",
    "market": "BTC-USD",
    "size": "0.01",
    "order_type": "limit",
    "price": "60000",
    "sl": "55000",
    "tp": "70000",
}


def shot(page: Page, name: str) -> None:
    """With the other screenshots, and in /tmp to look at while developing."""
    keep_shot(page, name)
    page.screenshot(path=f"/tmp/{name}", full_page=True)  # noqa: S108 - a developer's copy


def _status(app: RunningApp, address: str, market: str) -> list[tuple]:
    return query(
        app,
        "SELECT p.status, p.close_reason, s.status FROM positions p JOIN signals s ON s.id = p.signal_id"
        " WHERE p.user_address = %s AND p.market = %s ORDER BY p.id",
        address,
        market,
    )


def test_a_resting_limit_entry_is_pending_and_cancelled_with_confirmation(
    running_app: RunningApp, browser: Browser, paper_prices: FakeIndexer  # noqa: F811
) -> None:
    context, alice, token = trader(browser, running_app)
    page = open_dashboard(context, running_app)
    expect(page.locator("#pending-panel")).to_have_count(0)

    send_alert(running_app, token, {**RESTING, "alert_id": "e2e-pending-1"})
    resting = [("OPENING", None, "EXECUTED")]
    wait_for(lambda: _status(running_app, alice, "BTC-USD") == resting, 30, "a resting entry")
    rows = page.locator("#pending-entries tbody tr")
    expect(rows).to_have_count(1, timeout=LIVE)
    row = rows.first
    for text in ("BTC-USD", "LONG", "0.0100", "60,000", "55,000", "70,000", "23h 59m"):
        expect(row).to_contain_text(text)
    # not an open position: the open positions table is empty and nothing counts as open
    expect(page.locator("#no-positions")).to_be_visible()
    expect(page.locator("#positions-panel")).not_to_contain_text("Opening")
    shot(page, "pending-row.png")

    # Cancel asks first; dismissing the dialog changes nothing
    row.get_by_role("button", name="Cancel BTC-USD pending entry").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Cancel the BTC-USD entry?")
    expect(dialog).to_contain_text("limit buy of 0.0100 at 60,000")
    shot(page, "pending-cancel-dialog.png")
    dialog.get_by_role("button", name="Keep it", exact=True).click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    assert _status(running_app, alice, "BTC-USD") == [("OPENING", None, "EXECUTED")]

    row.get_by_role("button", name="Cancel BTC-USD pending entry").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Cancel entry").click()
    result = page.locator("#close-result")
    expect(result).to_contain_text("Cancelled the pending BTC-USD long entry", timeout=LIVE)
    expect(page.locator("#pending-panel")).to_have_count(0)
    assert _status(running_app, alice, "BTC-USD") == [("CANCELLED", "MANUAL", "CANCELLED")]
    assert query(
        running_app,
        "SELECT o.status FROM orders o JOIN positions p ON p.id = o.position_id"
        " WHERE p.user_address = %s AND o.role = 'ENTRY'",
        alice,
    ) == [("CANCELED",)]
    shot(page, "pending-cancelled.png")

    # close-all says it cancels pending entries, and does
    send_alert(running_app, token, {**RESTING, "market": "ETH-USD", "price": "2000", "sl": "1900",
                                    "tp": "3500", "alert_id": "e2e-pending-2"})
    expect(rows).to_have_count(1, timeout=LIVE)
    expect(rows.first).to_contain_text("ETH-USD")
    expect(rows.first).to_contain_text("2,000")
    page.locator("#close-all").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("Every pending entry")
    shot(page, "pending-close-all-dialog.png")
    page.get_by_role("button", name="Close all").last.click()
    expect(page.locator("#close-result")).to_contain_text("Cancelled 1 pending entry.", timeout=LIVE)
    expect(page.locator("#pending-panel")).to_have_count(0)
    assert _status(running_app, alice, "ETH-USD") == [("CANCELLED", "MANUAL", "CANCELLED")]

    # history: cancelled, not a closed trade that "never filled"; no trade in the totals
    page.get_by_role("link", name="History").first.click()
    expect(page.get_by_role("heading", name="Trade history")).to_be_visible(timeout=FIRST_LOAD)
    trades = page.locator("#closed-trades tbody tr")
    expect(trades).to_have_count(2, timeout=LIVE)
    for i in range(2):
        expect(trades.nth(i)).to_contain_text("Cancelled")
        expect(trades.nth(i)).not_to_contain_text("Never filled")
    expect(page.locator("#history-trades")).to_have_text("0")
    shot(page, "pending-history.png")

    # the alert log: both alerts' outcome is cancelled, not "Executed"
    page.get_by_role("link", name="Alerts").first.click()
    expect(page.get_by_role("heading", name="Alert log")).to_be_visible(timeout=FIRST_LOAD)
    alerts = page.locator("#alert-log tbody tr")
    expect(alerts).to_have_count(2, timeout=LIVE)
    for i in range(2):
        expect(alerts.nth(i)).to_contain_text("Cancelled")
        expect(alerts.nth(i)).not_to_contain_text("Executed")
    shot(page, "pending-alerts.png")

    # the story of the first one ends with the cancel, and when it happened
    first = query(running_app, "SELECT min(id) FROM signals WHERE user_address = %s", alice)[0][0]
    page.get_by_role("link", name=f"Story of alert {first}").click()
    expect(page.get_by_role("heading", name="Alert story")).to_be_visible(timeout=FIRST_LOAD)
    steps = page.locator("#story-timeline tbody tr")
    expect(steps.last).to_contain_text("Cancelled", timeout=LIVE)
    expect(steps.last).to_contain_text("You cancelled the resting limit entry before it filled")
    expect(steps.filter(has_text="Done")).to_contain_text("The limit order waits on the book")
    shot(page, "pending-story.png")
    context.close()
