"""Token redaction in logs, safe error descriptions, and the shared client's lifetime."""

from __future__ import annotations

import asyncio
import io
import logging

import httpx
import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut

from tests.fakes.telegram import FakeTelegram
from trading_app.services.notify import telegram_api as tg

TOKEN = "1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # noqa: S105 - made up


def test_redact_removes_tokens_bare_and_in_urls() -> None:
    text = f"POST https://api.telegram.org/bot{TOKEN}/sendMessage and {TOKEN} and /bot12:short/getMe"
    cleaned = tg.redact(text)
    assert TOKEN not in cleaned and "short" not in cleaned
    assert "/bot[REDACTED]/sendMessage" in cleaned and "/bot[REDACTED]/getMe" in cleaned
    assert tg.redact("secret 42:xyzzy-plugh", "42:xyzzy-plugh") == "secret [REDACTED]"
    assert tg.redact("/bottle/42 and 12345:abc") == "/bottle/42 and 12345:abc"  # nothing token-like


def test_filter_on_a_logger_redacts_messages_and_tracebacks() -> None:
    logger = logging.getLogger("test_telegram.redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    tg.install_log_redaction(logger)
    tg.install_log_redaction(logger)  # idempotent
    assert logger.filters.count(tg._FILTER) == 1
    try:
        logger.warning("url %s", f"http://x/bot{TOKEN}/getMe")
        try:
            raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
        except InvalidToken:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "url http://x/bot[REDACTED]/getMe" in output and "InvalidToken" in output
    assert TOKEN not in output


def test_configure_logging_quietens_http_and_covers_library_loggers() -> None:
    tg.configure_logging()
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING
    for name in ("httpx", "telegram.Bot", "httpcore.http11", "trading_app"):
        assert tg._FILTER in logging.getLogger(name).filters, name
    assert tg._FILTER in logging.getLogger().filters


async def test_describe_never_contains_the_token(fake_telegram: FakeTelegram) -> None:
    # the real PTB puts the token in str(InvalidToken) when initialize() fails
    bot = Bot(TOKEN, base_url=fake_telegram.base_url)
    with pytest.raises(InvalidToken) as failed:
        await bot.initialize()
    assert TOKEN in str(failed.value)
    assert tg.describe(failed.value) == "InvalidToken: the bot token was rejected"
    assert tg.describe(NetworkError(f"oops /bot{TOKEN}/x"), TOKEN) == "NetworkError: oops /bot[REDACTED]/x"
    assert tg.describe(RuntimeError(f"has {TOKEN}")) == "RuntimeError: has [REDACTED]"
    assert len(tg.describe(BadRequest("x" * 1000))) == 256


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (RetryAfter(3), "rate_limited"),
        (InvalidToken("Unauthorized"), "bad_token"),
        (Forbidden("Forbidden: bot was blocked by the user"), "bot_blocked"),
        (Forbidden("Forbidden: bot can't initiate conversation with a user"), "forbidden"),
        (BadRequest("Chat not found"), "chat_not_found"),
        (BadRequest("Message is too long"), "bad_request"),
        (TimedOut(), "network_error"),
        (NetworkError("httpx.ConnectError"), "network_error"),
        (ValueError("x"), "error"),
    ],
)
def test_reason_codes(exc: BaseException, code: str) -> None:
    assert tg.reason_code(exc) == code


def test_retry_after_seconds_without_deprecation_noise() -> None:
    assert tg.retry_after_seconds(RetryAfter(3)) == 3.0


def test_pool_builds_one_client_per_event_loop() -> None:
    pool = tg.BotPool(base_url="http://127.0.0.1:9/bot")

    async def use() -> object:
        first = await pool.request()
        bot = await pool.bot(TOKEN)
        assert bot._request[1] is first and bot._request[0] is first  # shared for sends and getUpdates
        assert await pool.request() is first
        await pool.aclose()
        return first

    one, two = asyncio.run(use()), asyncio.run(use())
    assert one is not two and pool.requests_created == 2


async def test_fake_accepts_json_bodies_and_checks_html_like_telegram(fake_telegram: FakeTelegram) -> None:
    token = fake_telegram.add_bot(chats=[5])
    async with httpx.AsyncClient(base_url=fake_telegram.base_url + token) as client:
        ok = await client.post(
            "/sendMessage", json={"chat_id": 5, "text": "<b>a &amp; b</b>", "parse_mode": "HTML"}
        )
        bad = await client.post(
            "/sendMessage", json={"chat_id": 5, "text": "<b>a & b</b>", "parse_mode": "HTML"}
        )
        tag = await client.post("/sendMessage", json={"chat_id": 5, "text": "<x>", "parse_mode": "HTML"})
    assert ok.status_code == 200 and ok.json()["result"]["text"] == "a & b"
    assert bad.status_code == 400 and bad.json()["description"].startswith(
        "Bad Request: can't parse entities"
    )
    assert tag.status_code == 400 and "Unsupported start tag" in tag.json()["description"]
    assert [m.plain for m in fake_telegram.messages] == ["a & b"]
