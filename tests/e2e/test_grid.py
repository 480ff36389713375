"""What a trader sees at 1280 x 800, in Chromium against the real app: prices on the market's tick
(an entry averaged over two fills shows on the grid), tables that fit without horizontal scrolling
(dashboard, history, alert log), an equity chart in dollars with distinct time labels, and a close
banner that goes away.

Screenshots: .playwright-artifacts/screenshots/grid-*.png. The `running_app` fixture takes
/tmp/trading_app_browser.lock itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import Decimal as D

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import SHOTS, RunningApp
from tests.e2e.wallet import SESSION_COOKIE, sign_in_via_api
from tests.fakes.indexer import FakeIndexer
from trading_app.settings import get_settings

FIRST_LOAD = 90_000  # the dev server compiles a page on its first visit
LIVE = 5_000
WIDTH, HEIGHT = 1280, 800
# ETH-USD (tick 0.1, step 0.001): 0.003 bought at 3000.1 and 3000.2, an average of 3000.1666...
ETH_ASKS = [(D("3000.1"), D("0.001")), (D("3000.2"), D("0.002"))]

# Horizontal overflow of the page and of every table (its scroll width against its own box)
OVERFLOW_JS = """() => ({
  page: document.documentElement.scrollWidth,
  tables: [...document.querySelectorAll('table')].map(t => {
    const box = t.closest('.rt-TableRoot') || t.parentElement;
    const scroller = t.closest('[data-radix-scroll-area-viewport]') || box;
    return {id: box.id || '', width: t.scrollWidth, room: scroller.clientWidth,
            right: Math.round(t.getBoundingClientRect().right)};
  }),
})"""


@pytest.fixture
def paper_prices(running_app: RunningApp, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    with FakeIndexer() as fake:
        monkeypatch.setenv("PAPER_PRICE_SOURCE", fake.url)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def send_alert(app: RunningApp, token: str, body: dict) -> None:
    hook = httpx.get(app.api_url + "/api/user/webhook", cookies={SESSION_COOKIE: token}).json()
    response = httpx.post(hook["url"], json={"secret": hook["secret"], **body}, timeout=10)
    assert response.status_code == 202, response.text


def open_count(app: RunningApp, token: str) -> int:
    rows = httpx.get(
        app.api_url + "/api/user/positions", params={"status": "open"}, cookies={SESSION_COOKIE: token}
    ).json()["positions"]
    return sum(1 for r in rows if r["status"] == "OPEN")


def wait_until(check, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def assert_fits(page: Page, where: str) -> None:
    """No horizontal scroll at 1280 px: the page, and no table wider than its box or the viewport."""
    found = page.evaluate(OVERFLOW_JS)
    assert found["page"] <= WIDTH, f"{where}: the page is {found['page']} px wide"
    assert found["tables"], f"{where}: no table"
    for table in found["tables"]:
        assert table["width"] <= table["room"] + 1, f"{where}: {table}"
        assert table["right"] <= WIDTH, f"{where}: {table}"


def add_wide_trades(app: RunningApp, address: str) -> None:
    """The widest history rows there are: five-digit prices on a 0.1 tick, a 4-decimal size, a
    five-figure loss, the longest close reason, a trade held for days, one that never filled."""
    sql = """INSERT INTO positions (user_address, network, market, side, size, entry_price, tp_price,
        sl_price, status, opened_at, updated_at, closed_at, exit_price, realized_pnl, fees, close_reason,
        tick_size, step_size)
        VALUES (%s, 'paper', %s, 'SHORT', %s, %s, 90000, 99000, %s, now() - interval '2 days 4 hours',
        now(), now() - interval '1 minute', %s, %s, %s, %s, 0.1, 0.0001)"""
    rows = [
        (
            "BTC-USD",
            "12.3456",
            "97260.64",
            "CLOSED",
            "98260.6",
            "-12345.674",
            "1234.567",
            "PROTECTION_FAILED",
        ),
        ("BTC-USD", "10.0001", "97260.6", "CLOSED", "96277.0", "9832.351", "987.65", "LIQUIDATED"),
        ("BTC-USD", "0", None, "FAILED", None, None, "0", None),
    ]
    with psycopg.connect(app.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for row in rows:
            conn.execute(sql, (address, *row))


def close_from_dashboard(page: Page, market: str) -> None:
    page.locator("#open-positions tbody tr", has_text=market).get_by_role(
        "button", name=f"Close {market} position"
    ).click()
    page.get_by_role("button", name="Close position").click()


def test_grid_fit_chart_and_banner_at_1280(
    running_app: RunningApp, browser: Browser, paper_prices: FakeIndexer
) -> None:
    context: BrowserContext = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    address = sign_in_via_api(context, running_app).address
    token = next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)
    paper_prices.set_book("ETH-USD", bids=[(D("2999.9"), D("10"))], asks=ETH_ASKS)
    alerts = [
        {"action": "buy", "market": "ETH-USD", "size": "0.003", "sl": "2900", "tp": "3100"},
        {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl": "60000", "tp": "70000"},
        {"action": "buy", "market": "SOL-USD", "size": "1", "sl": "140", "tp": "160"},
    ]
    for n, body in enumerate(alerts):
        send_alert(running_app, token, {**body, "alert_id": f"grid-{n}"})
    # refused at execution, with a long reason: the alert log must still fit
    send_alert(
        running_app,
        token,
        {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl": "90000", "alert_id": "grid-wrong-side"},
    )
    wait_until(lambda: open_count(running_app, token) == 3, 30, "three open positions")

    page = context.new_page()
    page.goto(running_app.frontend_url + "/dashboard")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=FIRST_LOAD)
    rows = page.locator("#open-positions tbody tr")
    expect(rows).to_have_count(3, timeout=FIRST_LOAD)
    eth = rows.filter(has_text="ETH-USD")
    for text in ("0.003", "3,000.2", "3,100.0", "2,900.0"):  # size on the step, prices on the tick
        expect(eth).to_contain_text(text)
    expect(eth).not_to_contain_text("3,000.16")
    expect(rows.filter(has_text="SOL-USD")).to_contain_text("160.00")
    expect(rows.filter(has_text="BTC-USD")).to_contain_text("0.0100")
    shot(page, "grid-dashboard-open.png")
    assert_fits(page, "dashboard")

    # a close's banner: dismissed by its button
    close_from_dashboard(page, "BTC-USD")
    banner = page.locator("#close-result")
    expect(banner).to_contain_text(
        re.compile(r"Closed BTC-USD long at 6\d,\d{3}: realized [-+]?\$"), timeout=LIVE
    )
    page.locator("#dismiss-notice").click()
    expect(banner).to_have_count(0)
    # the next one goes by itself at a later event
    close_from_dashboard(page, "SOL-USD")
    expect(banner).to_contain_text("Closed SOL-USD long at 150.00", timeout=LIVE)
    shot(page, "grid-dashboard-banner.png")
    time.sleep(6.5)
    send_alert(
        running_app,
        token,
        {"action": "buy", "market": "SOL-USD", "size": "1", "sl": "170", "alert_id": "grid-later"},
    )  # refused: a later event all the same
    expect(banner).to_have_count(0, timeout=LIVE)

    # the equity chart: dollars on the axis, two trades closed in the same minute, distinct labels
    chart = page.locator("#equity-panel")
    # Recharts 3 draws tick labels in a layer of their own, `.recharts-<axis>-tick-labels`
    expect(chart.locator(".recharts-yAxis-tick-labels text").first).to_be_visible(timeout=LIVE)
    y_ticks = chart.locator(".recharts-yAxis-tick-labels text").all_text_contents()
    assert y_ticks and all(re.fullmatch(r"-?\$[\d,.]+", t) for t in y_ticks), y_ticks
    x_ticks = chart.locator(".recharts-xAxis-tick-labels text").all_text_contents()
    assert len(x_ticks) >= 2 and len(x_ticks) == len(set(x_ticks)), x_ticks
    shot(page, "grid-dashboard-closed.png")
    assert_fits(page, "dashboard after closes")

    add_wide_trades(running_app, address)
    page.goto(running_app.frontend_url + "/history")
    expect(page.get_by_role("heading", name="Trade history")).to_be_visible(timeout=FIRST_LOAD)
    trades = page.locator("#closed-trades tbody tr")
    expect(trades).to_have_count(5, timeout=FIRST_LOAD)
    expect(trades.filter(has_text="SOL-USD")).to_contain_text("150.00")
    widest = trades.filter(has_text="Protection failed")
    for text in ("12.3456", "97,260.6", "98,260.6", "-$12,345.67", "$1,234.57", "2d 3h"):
        expect(widest).to_contain_text(text)
    for header in ("Reason", "Held"):
        cell = page.locator("#closed-trades th", has_text=header)
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= WIDTH, (header, box)
    shot(page, "grid-history.png")
    assert_fits(page, "history")

    page.goto(running_app.frontend_url + "/alerts")
    expect(page.get_by_role("heading", name="Alert log")).to_be_visible(timeout=FIRST_LOAD)
    expect(page.locator("#alert-log tbody tr")).to_have_count(5, timeout=FIRST_LOAD)
    shot(page, "grid-alerts.png")
    assert_fits(page, "alert log")
    context.close()
