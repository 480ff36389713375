"""The settings page in Chromium against the real app: every kind of setting saved through the
page, the Telegram test against FakeTelegram, webhook secret rotation, what the browser receives
over the websocket, and two signed-in traders who never touch each other's rows."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import SHOTS, RunningApp
from tests.e2e.wallet import sign_in_via_api
from tests.fakes import telegram as telegram_fake
from tests.fakes.telegram import FakeTelegram
from trading_app.services.security.secrets import open_secret
from trading_app.venues.dydx.credentials import derive_dydx_address

fake_telegram = telegram_fake.fake_telegram  # the fixture, used by name
FIRST_LOAD = 90_000  # the dev server compiles a page on its first visit
WAIT = 20_000


# -- helpers ------------------------------------------------------------------------------
def rows(app: RunningApp, address: str) -> dict[str, dict]:
    """The trader's users and trading_accounts rows, as stored."""
    out = {}
    with psycopg.connect(
        app.database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as conn:
        for table in ("users", "trading_accounts"):
            cur = conn.execute(f"SELECT * FROM {table} WHERE address = %s", (address,))  # noqa: S608 - fixed names
            names = [c.name for c in cur.description]
            found = cur.fetchone()
            out[table] = dict(zip(names, found, strict=True)) if found else {}
    return out


def webhook_secret(app: RunningApp, address: str) -> str:
    return open_secret(address, "webhook_secret_enc", rows(app, address)["users"]["webhook_secret_enc"])


class Frames:
    """Every websocket frame the browser receives (the state Reflex sends it)."""

    def __init__(self, page: Page) -> None:
        self.received: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, frame: str | bytes) -> None:
        self.received.append(frame if isinstance(frame, str) else frame.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "\n".join(self.received)


def open_settings(app: RunningApp, page: Page) -> str:
    """Sign in a fresh wallet and open /settings; returns the wallet's address."""
    account = sign_in_via_api(page.context, app)
    page.goto(app.frontend_url + "/settings")
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible(timeout=FIRST_LOAD)
    return account.address


def mnemonic() -> str:
    return str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))


def owner_address() -> str:
    return derive_dydx_address(mnemonic())


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


# -- tests --------------------------------------------------------------------------------
def test_settings_needs_a_session(running_app: RunningApp, page: Page) -> None:
    page.goto(running_app.frontend_url + "/settings")
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=FIRST_LOAD)
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_have_count(0)


def test_trading_account_credentials_and_network(running_app: RunningApp, page: Page) -> None:
    frames = Frames(page)
    address = open_settings(running_app, page)
    expect(page.locator("#current-network")).to_have_text("Paper")

    # a dYdX network without credentials is refused
    page.get_by_label("dYdX testnet").click()
    page.get_by_role("button", name="Save network").click()
    expect(page.locator("#network-error")).to_contain_text("Save your dYdX credentials", timeout=WAIT)
    assert rows(running_app, address)["trading_accounts"]["network"] == "paper"

    # a malformed API key changes nothing and keeps the other inputs for a retry
    owner, key = owner_address(), secrets.token_bytes(32).hex()
    page.get_by_label("API key private key (hex)").fill("abc123")
    page.get_by_label("Owner dYdX address").fill(owner)
    page.get_by_label("Authenticator id").fill("7")
    page.get_by_role("button", name="Save API key").click()
    expect(page.locator("#credentials-error")).to_contain_text("64 hexadecimal characters", timeout=WAIT)
    assert rows(running_app, address)["users"]["dydx_credentials_enc"] is None
    expect(page.get_by_label("Owner dYdX address")).to_have_value(owner)

    page.get_by_label("API key private key (hex)").fill(key)
    page.get_by_role("button", name="Save API key").click()
    expect(page.locator("#dydx-credentials-status")).to_contain_text("API trading key saved on", timeout=WAIT)
    expect(page.locator("#dydx-address")).to_have_text(owner)
    expect(page.get_by_label("API key private key (hex)")).to_have_value("")  # the form was cleared
    expect(page.locator("#credentials-error")).to_have_count(0)
    account = rows(running_app, address)["trading_accounts"]
    assert (account["credential_kind"], account["dydx_address"], account["authenticator_id"]) == (
        "api_key",
        owner,
        7,
    )

    # the secret phrase: the dydx1 address shown is the one derived from it
    phrase = mnemonic()
    page.get_by_role("tab", name="Secret phrase").click()
    page.get_by_label("Secret phrase (24 words)").fill(" ".join(phrase.split()[:23]))
    page.get_by_role("button", name="Save secret phrase").click()
    expect(page.locator("#credentials-error")).to_contain_text("24 words, it has 23", timeout=WAIT)
    page.get_by_label("Secret phrase (24 words)").fill(phrase)
    page.get_by_role("button", name="Save secret phrase").click()
    expect(page.locator("#dydx-address")).to_have_text(derive_dydx_address(phrase), timeout=WAIT)
    expect(page.get_by_label("Secret phrase (24 words)")).to_have_value("")
    assert rows(running_app, address)["trading_accounts"]["credential_kind"] == "mnemonic"

    # testnet now works; mainnet needs the explicit confirmation
    page.get_by_label("dYdX testnet").click()
    page.get_by_role("button", name="Save network").click()
    expect(page.locator("#current-network")).to_have_text("dYdX testnet", timeout=WAIT)
    page.get_by_label("dYdX mainnet").click()
    page.get_by_role("button", name="Save network").click()
    expect(page.locator("#network-error")).to_contain_text("real money is at risk", timeout=WAIT)
    assert rows(running_app, address)["trading_accounts"]["network"] == "testnet"
    page.get_by_label("I understand real money is at risk").click()
    page.get_by_role("button", name="Save network").click()
    expect(page.locator("#current-network")).to_have_text("dYdX mainnet", timeout=WAIT)
    assert rows(running_app, address)["trading_accounts"]["network"] == "mainnet"
    shot(page, "settings-mainnet.png")

    # removing the credentials goes back to paper
    page.get_by_role("button", name="Remove dYdX credentials").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Remove").click()
    expect(page.locator("#current-network")).to_have_text("Paper", timeout=WAIT)
    assert rows(running_app, address)["users"]["dydx_credentials_enc"] is None

    for secret in (key, phrase, " ".join(phrase.split()[:3])):
        assert secret not in frames.text


def test_telegram_settings_and_test_message(
    running_app: RunningApp, page: Page, fake_telegram: FakeTelegram
) -> None:
    frames = Frames(page)
    address = open_settings(running_app, page)
    chat = "7461902385"
    token = fake_telegram.add_bot(username="alice_alerts_bot", chats=[int(chat)])
    expect(page.locator("#telegram-token-status")).to_have_text("Bot token not set")

    # typed values are tested before they are saved
    page.get_by_label("Bot token").fill(token)
    page.get_by_label("Chat id").fill(chat)
    page.get_by_role("button", name="Send test message").click()
    expect(page.locator("#telegram-test-result")).to_have_text(
        "Test message sent. Check your Telegram.", timeout=WAIT
    )
    assert fake_telegram.messages[-1].chat_id == chat and fake_telegram.messages[-1].token == token
    assert rows(running_app, address)["users"]["telegram_token_enc"] is None

    page.get_by_role("button", name="Save Telegram").click()
    expect(page.locator("#telegram-token-status")).to_contain_text("Bot token set on", timeout=WAIT)
    expect(page.locator("#telegram-chat-status")).to_contain_text("Chat id set on")
    expect(page.get_by_label("Bot token")).to_have_value("")
    expect(page.get_by_label("Chat id")).to_have_value("")
    saved = rows(running_app, address)["users"]
    assert open_secret(address, "telegram_token_enc", saved["telegram_token_enc"]) == token
    assert open_secret(address, "telegram_chat_id_enc", saved["telegram_chat_id_enc"]) == chat

    # the saved values, and each failure with its exact reason
    fake_telegram.block(token, chat)
    page.get_by_role("button", name="Send test message").click()
    expect(page.locator("#telegram-test-result")).to_contain_text(
        "The bot is blocked in this chat", timeout=WAIT
    )
    page.get_by_label("Bot token").fill("999999999:AAE_abcdefghijklmnopqrstuvwxyz012")
    page.get_by_role("button", name="Send test message").click()
    expect(page.locator("#telegram-test-result")).to_contain_text(
        "Telegram rejected the bot token", timeout=WAIT
    )
    page.get_by_label("Bot token").fill(token)
    page.get_by_label("Chat id").fill("1234")
    page.get_by_role("button", name="Send test message").click()
    expect(page.locator("#telegram-test-result")).to_contain_text("Chat not found", timeout=WAIT)
    page.get_by_label("Chat id").fill("12ab")
    page.get_by_role("button", name="Save Telegram").click()
    expect(page.locator("#telegram-error")).to_contain_text("A chat id is a number", timeout=WAIT)
    assert rows(running_app, address)["users"] == saved

    # chat id discovery: the deep link, Start in Telegram, then Check
    page.get_by_label("Chat id").fill("")
    page.get_by_role("button", name="Find my chat id").click()
    link = page.locator("#discovery-link")
    expect(link).to_contain_text("https://t.me/alice_alerts_bot?start=", timeout=WAIT)
    code = link.inner_text().rsplit("=", 1)[1]
    fake_telegram.push_start(token, 5550001, code)
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#discovery-link")).to_have_count(0, timeout=WAIT)
    found = rows(running_app, address)["users"]
    assert open_secret(address, "telegram_chat_id_enc", found["telegram_chat_id_enc"]) == "5550001"
    shot(page, "settings-telegram.png")

    for secret in (token, token.split(":")[1], chat, "5550001"):
        assert secret not in frames.text


def test_webhook_reveal_copy_and_rotate(running_app: RunningApp, page: Page) -> None:
    frames = Frames(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=running_app.frontend_url)
    address = open_settings(running_app, page)
    stored = rows(running_app, address)["users"]
    old = webhook_secret(running_app, address)
    url = running_app.api_url + "/api/webhooks/signal/" + stored["webhook_uuid"]
    expect(page.get_by_label("Webhook URL", exact=True)).to_have_value(url)
    secret_box = page.get_by_label("Webhook secret", exact=True)
    expect(secret_box).to_have_value("")
    page.get_by_role("button", name="Copy webhook URL").click()
    _wait_clipboard(page, lambda text: text == url)
    shot(page, "settings.png")
    assert old not in frames.text  # nothing sent the secret until its owner asks

    page.get_by_role("button", name="Reveal").click()
    expect(secret_box).to_have_value(old, timeout=WAIT)
    page.get_by_role("button", name="Hide").click()
    expect(secret_box).to_have_value("")
    page.get_by_role("button", name="Copy alert message").click()
    _wait_clipboard(page, lambda text: text.startswith("{"))
    alert = json.loads(_clipboard(page))
    assert alert["secret"] == old and alert["action"] == "{{strategy.order.action}}"
    assert alert["market"] == "{{ticker}}" and alert["alert_id"] == "{{strategy.order.id}}-{{timenow}}"

    page.get_by_role("button", name="Reveal").click()
    expect(secret_box).to_have_value(old, timeout=WAIT)
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Rotate").click()
    expect(secret_box).to_have_value("", timeout=WAIT)
    new = _poll_new_secret(running_app, address, old)
    assert rows(running_app, address)["users"]["webhook_uuid"] == stored["webhook_uuid"]
    assert old not in rows(running_app, address)["users"]["webhook_secret_enc"]
    page.get_by_role("button", name="Copy webhook secret").click()
    _wait_clipboard(page, lambda text: text == new)

    # leaving the page drops a revealed secret; coming back shows it hidden
    page.get_by_role("button", name="Reveal").click()
    expect(secret_box).to_have_value(new, timeout=WAIT)
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=FIRST_LOAD)
    page.go_back()
    expect(page.get_by_label("Webhook secret", exact=True)).to_have_value("", timeout=WAIT)
    expect(page.get_by_role("button", name="Reveal")).to_be_visible()


def _clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def _wait_clipboard(page: Page, ok: Callable[[str], bool]) -> None:
    for _ in range(100):
        if ok(_clipboard(page)):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the clipboard never got the expected text")


def _poll_new_secret(app: RunningApp, address: str, old: str) -> str:
    for _ in range(100):
        current = webhook_secret(app, address)
        if current != old:
            return current
        time.sleep(0.1)
    raise AssertionError("the secret was not rotated")


def test_risk_defaults(running_app: RunningApp, page: Page) -> None:
    address = open_settings(running_app, page)
    expect(page.get_by_label("Max open positions")).to_have_value("10")
    page.get_by_label("Default size mode").click()
    page.get_by_role("option", name="Percent of equity at risk (to the stop)").click()
    page.get_by_label("Default size", exact=True).fill("0.75")
    page.get_by_label("Max open positions").fill("4")
    page.get_by_label("Max leverage").fill("3")
    page.get_by_label("Max notional per position (USD)").fill("25000")
    page.get_by_label("Daily loss limit (USD)").fill("400")
    page.get_by_label("Slippage (%)").fill("0.4")
    page.get_by_role("button", name="Save risk defaults").click()
    expect(page.get_by_text("Risk defaults saved.")).to_be_visible(timeout=WAIT)
    account = rows(running_app, address)["trading_accounts"]
    assert (account["size_mode"], str(account["size_value"].normalize())) == ("risk_pct", "0.75")
    assert account["max_open_positions"] == 4 and str(account["max_leverage"].normalize()) == "3"
    assert str(account["max_notional_usd"].normalize()) == "2.5E+4"
    assert str(account["daily_loss_limit_usd"].normalize()) == "4E+2"
    assert str(account["slippage_pct"].normalize()) == "0.4"

    page.get_by_label("Max leverage").fill("500")
    page.get_by_role("button", name="Save risk defaults").click()
    expect(page.locator("#risk-error")).to_contain_text("Max leverage must be at most 50", timeout=WAIT)
    assert rows(running_app, address)["trading_accounts"] == account
    page.reload()
    expect(page.get_by_label("Max leverage")).to_have_value("3", timeout=FIRST_LOAD)
    expect(page.get_by_label("Default size mode")).to_contain_text("Percent of equity at risk")


@pytest.fixture
def second_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    yield context
    context.close()


def test_two_traders_only_change_their_own_rows(
    running_app: RunningApp, page: Page, second_context: BrowserContext
) -> None:
    alice = open_settings(running_app, page)
    bob_page = second_context.new_page()
    bob = open_settings(running_app, bob_page)
    assert alice != bob
    bob_page.get_by_label("Max open positions").fill("2")
    bob_page.get_by_role("button", name="Save risk defaults").click()
    expect(bob_page.get_by_text("Risk defaults saved.")).to_be_visible(timeout=WAIT)
    bob_before = rows(running_app, bob)
    bob_secret = webhook_secret(running_app, bob)

    # alice does everything she can on her page
    page.get_by_label("Max open positions").fill("9")
    page.get_by_role("button", name="Save risk defaults").click()
    expect(page.get_by_text("Risk defaults saved.")).to_be_visible(timeout=WAIT)
    page.get_by_label("API key private key (hex)").fill(secrets.token_bytes(32).hex())
    page.get_by_label("Owner dYdX address").fill(owner_address())
    page.get_by_label("Authenticator id").fill("3")
    page.get_by_role("button", name="Save API key").click()
    expect(page.locator("#dydx-credentials-status")).to_contain_text("API trading key saved on", timeout=WAIT)
    page.get_by_label("Bot token").fill("123456789:AAE_abcdefghijklmnopqrstuvwxyz012")
    page.get_by_label("Chat id").fill("42")
    page.get_by_role("button", name="Save Telegram").click()
    expect(page.locator("#telegram-token-status")).to_contain_text("set on", timeout=WAIT)
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Rotate").click()
    expect(page.get_by_text("New webhook secret active")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Reveal").click()
    alice_secret = webhook_secret(running_app, alice)
    expect(page.get_by_label("Webhook secret", exact=True)).to_have_value(alice_secret, timeout=WAIT)

    assert rows(running_app, bob) == bob_before
    assert rows(running_app, alice)["trading_accounts"]["max_open_positions"] == 9
    # each page shows its own trader's data
    bob_page.reload()
    expect(bob_page.get_by_label("Max open positions")).to_have_value("2", timeout=FIRST_LOAD)
    expect(bob_page.locator("#dydx-credentials-status")).to_contain_text("No dYdX credentials")
    bob_page.get_by_role("button", name="Reveal").click()
    expect(bob_page.get_by_label("Webhook secret", exact=True)).to_have_value(bob_secret, timeout=WAIT)
    assert alice_secret != bob_secret


def test_a_revoked_session_saves_nothing(running_app: RunningApp, page: Page) -> None:
    # every handler re-checks the session in the database, not just the page load
    address = open_settings(running_app, page)
    before = rows(running_app, address)
    with psycopg.connect(running_app.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("UPDATE sessions SET revoked_at = now() WHERE address = %s", (address,))
    page.get_by_label("Max open positions").fill("3")
    page.get_by_role("button", name="Save risk defaults").click()
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=WAIT)
    assert rows(running_app, address) == before


def _live_sessions(app: RunningApp, address: str) -> int:
    with psycopg.connect(app.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(
            "SELECT count(*) FROM sessions WHERE address = %s AND revoked_at IS NULL", (address,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_tradingview_only_switch_and_sign_out_everywhere(running_app: RunningApp, page: Page) -> None:
    address = open_settings(running_app, page)
    switch = page.locator("#webhook-allowlist")
    expect(page.locator("#tradingview-addresses")).to_contain_text("52.89.214.238")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    expect(page.get_by_text("Only TradingView's addresses can send alerts now.")).to_be_visible(timeout=WAIT)
    assert rows(running_app, address)["users"]["webhook_ip_allowlist"] is True
    page.reload()
    expect(page.locator("#webhook-allowlist")).to_have_attribute("aria-checked", "true", timeout=FIRST_LOAD)
    page.locator("#webhook-allowlist").click()
    expect(page.get_by_text("Alerts are accepted from any address again.")).to_be_visible(timeout=WAIT)
    assert rows(running_app, address)["users"]["webhook_ip_allowlist"] is False

    assert _live_sessions(running_app, address) == 1
    page.get_by_role("button", name="Sign out everywhere").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=WAIT)
    assert _live_sessions(running_app, address) == 0
    page.goto(running_app.frontend_url + "/settings")
    expect(page).to_have_url(running_app.frontend_url + "/login", timeout=FIRST_LOAD)
