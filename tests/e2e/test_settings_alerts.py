"""The settings page's alert builder and test alert in Chromium against the real app: market rules from
the paper venue priced by FakeIndexer, the secret kept out of the page's state, and a test alert that
goes through the real webhook path and is executed on paper by the running app, even on a mainnet account.

The `running_app` fixture takes /tmp/trading_app_browser.lock itself (the harness compiles into .web).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningApp
from tests.e2e.test_settings import Frames, open_settings, webhook_secret
from tests.fakes.indexer import FakeIndexer
from trading_app.settings import get_settings

WAIT = 20_000


@pytest.fixture
def paper_prices(running_app: RunningApp, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    """Paper trading priced by a FakeIndexer (the app runs in this process and reads settings live)."""
    with FakeIndexer() as fake:
        monkeypatch.setenv("PAPER_PRICE_SOURCE", fake.url)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


def query(app: RunningApp, sql: str, *args: object) -> list[tuple]:
    url = app.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, args)
        return cursor.fetchall() if cursor.description else []


def wait_signal(app: RunningApp, signal_id: int, status: str) -> tuple:
    deadline = time.monotonic() + 30
    row: tuple = ()
    while time.monotonic() < deadline:
        [row] = query(app, "SELECT status, paper, reason, position_id FROM signals WHERE id = %s", signal_id)
        if row[0] == status:
            return row
        time.sleep(0.2)
    raise AssertionError(f"signal {signal_id} never became {status}: {row}")


def test_build_copy_and_send_a_test_alert(
    running_app: RunningApp, page: Page, paper_prices: FakeIndexer
) -> None:
    frames = Frames(page)
    address = open_settings(running_app, page)
    secret = webhook_secret(running_app, address)
    card = page.locator("#alert-builder")
    build = card.get_by_role("button", name="Build", exact=True)

    # below the market's minimum (BTC-USD: 0.0001 at 65,000 is 6.50 USD): the error, no message
    page.get_by_label("Market", exact=True).fill("BTCUSDT.P")
    page.get_by_label("Size value").fill("5")
    build.click()
    expect(card.get_by_role("alert")).to_contain_text("use at least about 6.50 USD", timeout=WAIT)
    expect(page.locator("#built-message")).to_have_count(0)

    page.get_by_label("Size value").fill("100")
    build.click()
    message = page.locator("#built-message")
    expect(message).to_contain_text('"market": "BTC-USD"', timeout=WAIT)
    expect(message).to_contain_text("<your webhook secret>")
    expect(message).to_contain_text('"size_usd": 100')
    expect(card.get_by_role("alert")).to_have_count(0)
    assert secret not in frames.text

    # Copy puts the real message on the clipboard
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=running_app.frontend_url)
    card.get_by_role("button", name="Copy message").click()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not page.evaluate("navigator.clipboard.readText()").startswith("{"):
        time.sleep(0.2)
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["secret"] == secret and copied["market"] == "BTC-USD"

    # a test alert on an account that trades mainnet: through the webhook path, executed on paper only
    query(running_app, "UPDATE trading_accounts SET network = 'mainnet' WHERE address = %s", address)
    card.get_by_role("button", name="Send a test alert").click()
    outcome = page.locator("#test-alert-outcome")
    expect(outcome).to_contain_text("accepted: watch it on the dashboard / alert log", timeout=WAIT)
    found = re.search(r"Test alert #(\d+) accepted", outcome.inner_text())
    assert found, outcome.inner_text()
    status, paper, reason, position_id = wait_signal(running_app, int(found.group(1)), "EXECUTED")
    assert paper is True and reason is None
    assert query(running_app, "SELECT network, market, side FROM positions WHERE id = %s", position_id) == [
        ("paper", "BTC-USD", "LONG")
    ]
    [(raw, source)] = query(running_app, "SELECT raw_body, source_ip FROM signals WHERE id = %s", found[1])
    assert secret not in raw and source == "settings-page"
