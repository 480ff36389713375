"""The landing page renders in Chromium and the app is healthy."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import SHOTS, RunningApp


def test_landing_page_shows_the_product(running_app: RunningApp, page: Page) -> None:
    page.goto(running_app.frontend_url + "/")
    expect(page.get_by_role("heading", name="dYdX Alert Trader")).to_be_visible(timeout=60_000)
    expect(
        page.get_by_text("Turn TradingView alerts into protected dYdX v4 perpetual positions.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Sign in with your wallet")).to_be_visible()
    expect(page.get_by_text("Paper trading is the default")).to_be_visible()
    expect(page.get_by_text("Exactly once")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "landing.png"), full_page=True)


def test_health_on_the_running_app(running_app: RunningApp) -> None:
    live = httpx.get(running_app.api_url + "/health/live", timeout=5)
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = httpx.get(running_app.api_url + "/health/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["components"]["database"] == {"status": "ok", "kind": "postgresql"}
    assert ready.headers["x-content-type-options"] == "nosniff"
    assert ready.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in ready.headers["content-security-policy"]
