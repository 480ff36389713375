"""The settings page's Telegram checks, against the fake Bot API with the real PTB client."""

from __future__ import annotations

import pytest

from tests.fakes.telegram import FakeTelegram
from trading_app.services.notify.telegram_setup import (
    TelegramCheckFailed,
    bot_username,
    discover_chat_id,
    send_test_message,
)


async def test_ok_sends_a_real_message(fake_telegram: FakeTelegram) -> None:
    token = fake_telegram.add_bot(chats=[4242])
    result = await send_test_message(token, " 4242 ")
    assert (result.ok, result.reason_code) == (True, "ok")
    [sent] = fake_telegram.messages
    assert (sent.token, sent.chat_id, sent.parse_mode) == (token, "4242", "HTML")
    assert sent.plain.startswith("✅ Connected.")


def _configure(fake: FakeTelegram, case: str) -> tuple[str, str, dict[str, float]]:
    token = fake.add_bot(chats=[1])
    kwargs: dict[str, float] = {}
    chat = "1"
    if case == "unknown_token":
        token = "123456789:" + "U" * 35
    elif case == "token_404":
        fake.fail(token, None, 404, "Not Found")
    elif case == "no_chat":
        chat = "2"
    elif case == "blocked":
        fake.block(token, 1)
    elif case == "cannot_initiate":
        fake.fail(token, 1, 403, "Forbidden: bot can't initiate conversation with a user")
    elif case == "flood":
        fake.flood(token, 1, retry_after=7)
    elif case == "timeout":
        fake.slow(token, 1, 1.0)
        kwargs["http_timeout"] = 0.3
    elif case == "other_400":
        fake.fail(token, 1, 400, "Bad Request: message thread not found")
    return token, chat, kwargs


@pytest.mark.parametrize(
    ("case", "reason", "words"),
    [
        ("unknown_token", "bad_token", "rejected the bot token"),
        ("token_404", "bad_token", "rejected the bot token"),
        ("no_chat", "chat_not_found", "press Start"),
        ("blocked", "bot_blocked", "blocked"),
        ("cannot_initiate", "forbidden", "may not write"),
        ("flood", "rate_limited", "in 7 seconds"),
        ("timeout", "network_error", "Could not reach Telegram"),
        ("other_400", "bad_request", "Message thread not found"),
    ],
)
async def test_each_failure_has_its_reason(
    fake_telegram: FakeTelegram, case: str, reason: str, words: str
) -> None:
    token, chat, kwargs = _configure(fake_telegram, case)
    result = await send_test_message(token, chat, **kwargs)
    assert (result.ok, result.reason_code) == (False, reason)
    assert words in result.message
    assert token not in result.message and token.split(":")[1] not in result.message
    assert fake_telegram.messages == []


async def test_nothing_listening_is_a_network_error() -> None:
    result = await send_test_message("123456789:" + "A" * 35, "1", base_url="http://127.0.0.1:9/bot")
    assert (result.ok, result.reason_code) == (False, "network_error")


@pytest.mark.parametrize(
    ("given", "chat", "reason"),
    [
        ("not a token", "1", "bad_token"),
        ("", "1", "bad_token"),
        (None, "1", "bad_token"),
        ("VALID", "12ab", "chat_not_found"),
        ("VALID", "", "chat_not_found"),
    ],
)
async def test_malformed_input_is_refused_before_any_call(
    fake_telegram: FakeTelegram, given: str | None, chat: str, reason: str
) -> None:
    valid = fake_telegram.add_bot(chats=[1])
    result = await send_test_message(valid if given == "VALID" else given, chat)  # type: ignore[arg-type]
    assert (result.ok, result.reason_code) == (False, reason)
    assert fake_telegram.requests == []


async def test_discovers_the_chat_that_pressed_start(fake_telegram: FakeTelegram) -> None:
    token = fake_telegram.add_bot(username="alice_bot")
    fake_telegram.set_webhook(token)  # getUpdates answers 409 until the webhook is deleted
    fake_telegram.push_start(token, 777, "other-code")
    assert await discover_chat_id(token, "Lk3vQ9xT2mPa") is None
    fake_telegram.push_start(token, 4242, "Lk3vQ9xT2mPa")
    assert await discover_chat_id(token, "Lk3vQ9xT2mPa") == "4242"
    assert len(fake_telegram.calls("deleteWebhook")) == 1
    # the match was acknowledged: it is not delivered (nor matched) again
    assert await discover_chat_id(token, "Lk3vQ9xT2mPa") is None
    offsets = [c.params.get("offset") for c in fake_telegram.calls("getUpdates")]
    assert any(offsets), offsets


async def test_discovery_refuses_bad_codes_and_tokens(fake_telegram: FakeTelegram) -> None:
    token = fake_telegram.add_bot()
    for code in ("", "has space", "x" * 65, "semi;colon"):
        with pytest.raises(ValueError):
            await discover_chat_id(token, code)
    with pytest.raises(TelegramCheckFailed) as failed:
        await discover_chat_id("123456789:" + "Z" * 35, "abc")
    assert failed.value.reason_code == "bad_token" and "Z" * 35 not in str(failed.value)


async def test_bot_username_for_the_deep_link(fake_telegram: FakeTelegram) -> None:
    token = fake_telegram.add_bot(username="alice_bot")
    assert await bot_username(token) == "alice_bot"
    with pytest.raises(TelegramCheckFailed) as failed:
        await bot_username("123456789:" + "Z" * 35)
    assert failed.value.reason_code == "bad_token"
    with pytest.raises(TelegramCheckFailed) as failed:
        await bot_username(token, base_url="http://127.0.0.1:9/bot")
    assert failed.value.reason_code == "network_error"
