"""Pause from the Settings switch in Chromium: the flag is stored, the dashboard says "Paused", and
the bot's delivery mode is shown (polling: the harness has no public API_URL)."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.e2e.conftest import SHOTS, RunningApp
from tests.e2e.test_settings import FIRST_LOAD, WAIT, open_settings, rows, shot
from tests.fakes import telegram as telegram_fake
from tests.fakes.telegram import FakeTelegram
from trading_app.services.notify.commands import NOT_LINKED

fake_telegram = telegram_fake.fake_telegram  # the fixture, used by name


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


def test_saved_bot_polls_and_answers_from_the_running_app(
    running_app: RunningApp, page: Page, fake_telegram: FakeTelegram
) -> None:
    address = open_settings(running_app, page)
    chat = 7461900001
    token = fake_telegram.add_bot(username="ctl_bot", chats=[chat, 4040])
    page.get_by_label("Bot token").fill(token)
    page.get_by_label("Chat id").fill(str(chat))
    page.get_by_role("button", name="Save Telegram").click()
    expect(page.locator("#bot-mode")).to_have_text("Polling", timeout=WAIT)
    expect(page.locator("#bot-reachable")).to_have_text("Reachable")
    page.locator("#control").screenshot(path=str(SHOTS / "tgcmd-control-polling.png"))

    # the app's own worker polls the bot: /pause from the saved chat pauses, a stranger learns nothing
    fake_telegram.push_message(token, 4040, "/status")
    fake_telegram.push_message(token, chat, "/pause")
    deadline = time.monotonic() + 20
    while len(fake_telegram.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    by_chat = {m.chat_id: m.plain for m in fake_telegram.messages}
    assert by_chat["4040"] == NOT_LINKED
    assert "Trading paused" in by_chat[str(chat)]
    assert rows(running_app, address)["trading_accounts"]["paused_at"] is not None
    page.goto(running_app.frontend_url + "/dashboard")
    expect(page.locator("#paused-badge")).to_be_visible(timeout=FIRST_LOAD)


def test_a_revoked_token_is_told_in_settings(
    running_app: RunningApp, page: Page, fake_telegram: FakeTelegram
) -> None:
    open_settings(running_app, page)
    token = fake_telegram.add_bot(username="revoked_bot", chats=[7461900002])
    page.get_by_label("Bot token").fill(token)
    page.get_by_label("Chat id").fill("7461900002")
    page.get_by_role("button", name="Save Telegram").click()
    expect(page.locator("#bot-reachable")).to_have_text("Reachable", timeout=WAIT)
    fake_telegram.fail(token, None, 401, "Unauthorized")  # revoked in @BotFather
    # the app's poller meets the 401 at its next getUpdates (a long poll lasts at most 10 s); the
    # page shows what the last check stored when it loads
    deadline = time.monotonic() + 40
    while True:
        page.reload()
        try:
            expect(page.locator("#bot-reachable")).to_have_text("Not reachable", timeout=3000)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    expect(page.locator("#bot-reachable")).to_have_text("Not reachable", timeout=WAIT)
    expect(page.locator("#bot-message")).to_contain_text("rejected the bot token")
    assert token not in page.content()
