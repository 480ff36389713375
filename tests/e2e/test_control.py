"""Pause from the Settings switch in Chromium: the flag is stored, the dashboard says "Paused", and
the bot's delivery mode is shown (polling: the harness has no public API_URL)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import SHOTS, RunningApp
from tests.e2e.test_settings import FIRST_LOAD, WAIT, open_settings, rows, shot


def test_pause_switch_and_the_paused_dashboard(running_app: RunningApp, page: Page) -> None:
    address = open_settings(running_app, page)
    expect(page.locator("#pause-state")).to_have_text("Trading on", timeout=WAIT)
    expect(page.locator("#bot-mode")).to_have_text("Off")
    page.locator("#pause-switch").click()
    expect(page.locator("#pause-state")).to_have_text("Paused", timeout=WAIT)
    assert rows(running_app, address)["trading_accounts"]["paused_at"] is not None
    page.locator("#control").scroll_into_view_if_needed()
    shot(page, "tgcmd-settings-paused.png")
    page.locator("#control").screenshot(path=str(SHOTS / "tgcmd-control-card.png"))

    page.goto(running_app.frontend_url + "/dashboard")
    expect(page.locator("#paused-badge")).to_contain_text("Trading is paused since", timeout=FIRST_LOAD)
    shot(page, "tgcmd-dashboard-paused.png")

    page.goto(running_app.frontend_url + "/settings")
    expect(page.locator("#pause-state")).to_have_text("Paused", timeout=FIRST_LOAD)
    page.locator("#pause-switch").click()
    expect(page.locator("#pause-state")).to_have_text("Trading on", timeout=WAIT)
    assert rows(running_app, address)["trading_accounts"]["paused_at"] is None
    page.goto(running_app.frontend_url + "/dashboard")
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible(timeout=FIRST_LOAD)
    expect(page.locator("#paused-badge")).to_have_count(0)
