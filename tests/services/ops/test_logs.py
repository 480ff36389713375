"""Structured logs: the ids of the running request / signal / account on each line, and never a secret.

The secret tests drive the real paths a secret travels (a Telegram token saved and used over real
HTTP against the fake Bot API, a dYdX mnemonic saved and a wrong one refused, webhook alerts with
their secret, right and wrong) with the chatty loggers open, then read every line the app's handler
wrote, in both formats.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.api.webhook_support import client, make_hook
from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import LONG_BTC, make_signal
from tests.services.engine_support import make_user as make_trader
from tests.services.ops.log_support import captured_logs, json_lines
from tests.services.settings_support import (  # noqa: F401 - _close_pools is autouse
    _close_pools,
    bad_checksum_mnemonic,
    make_user,
    new_mnemonic,
)
from trading_app.api.app import build_api
from trading_app.api.request_context import request_context
from trading_app.api.security import security_headers
from trading_app.services.accounts import credentials
from trading_app.services.accounts import telegram as tg
from trading_app.services.accounts.account import SettingsInvalid
from trading_app.services.engine import executor
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.ops.logs import configure_logging, log_context, short_address

FORMATS = ["text", "json"]


def test_short_address_keeps_both_ends() -> None:
    assert short_address("0x12ab34cd56ef78ab90cd12ab34cd56ef78abcdef") == "0x12ab…cdef"
    assert short_address(None) is None and short_address("0x12") == "0x12"


def test_json_lines_carry_time_level_logger_worker_and_the_ids_of_the_block() -> None:
    log = logging.getLogger("trading_app.test_logs")
    with captured_logs("json") as stream:
        with log_context(request_id="req-1", user="0x12ab34cd56ef78ab90cd12ab34cd56ef78abcdef"):
            with log_context(signal_id=7, position_id=9):
                log.info("inner %s", 1)
            log.warning("outer")
        log.error("outside")
    inner, outer, outside = json_lines(stream)
    assert inner["message"] == "inner 1" and inner["level"] == "info" and inner["logger"] == log.name
    assert {inner[k] for k in ("request_id", "user", "signal_id", "position_id")} == {
        "req-1",
        "0x12ab…cdef",
        "7",
        "9",
    }
    assert str(inner["time"]).endswith("+00:00") and ":" in str(inner["worker"])
    assert outer["request_id"] == "req-1" and "signal_id" not in outer  # the inner block is over
    assert "request_id" not in outside and "user" not in outside


def test_text_lines_name_the_worker_and_ids() -> None:
    with captured_logs("text") as stream:
        with log_context(request_id="abc", signal_id=12):
            logging.getLogger("trading_app.x").info("hello")
    line = stream.getvalue().strip()
    assert line.endswith("hello") and "INFO trading_app.x [" in line
    assert "request_id=abc signal_id=12]" in line


def test_configure_logging_installs_one_handler_in_the_configured_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        configure_logging("text")
        handler = configure_logging("json")
        ours = [h for h in root.handlers if h.get_name() == handler.get_name()]
        assert ours == [handler]  # idempotent: replaced, never stacked
        assert type(handler.formatter).__name__ == "JsonFormatter"
        assert logging.getLogger("httpx").level == logging.WARNING
        assert logging.getLogger("apscheduler.executors.default").getEffectiveLevel() == logging.WARNING
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])


@pytest.mark.parametrize("fmt", FORMATS)
async def test_no_secret_reaches_a_log_line_on_the_paths_secrets_travel(
    fmt: str, db_url: str, fake_telegram: FakeTelegram
) -> None:
    token = fake_telegram.add_bot(chats=[4242])
    phrase = new_mnemonic()
    wrong_phrase = bad_checksum_mnemonic(phrase)
    hook = await make_hook()
    address, _ = await make_user()
    app = request_context()(security_headers(False)(build_api()))
    with captured_logs(fmt) as stream:
        await tg.save_telegram(address, token, "4242")
        result = await tg.send_telegram_test(address)
        assert result.ok, result
        await tg.send_telegram_test(address, token=token + "x")  # a wrong token: an error path
        await credentials.save_dydx_mnemonic(address, phrase)
        with pytest.raises(SettingsInvalid):
            await credentials.save_dydx_mnemonic(address, wrong_phrase)
        async with client(app) as c:
            wrong = hook.body(secret="not-" + hook.secret)
            assert (await c.post(hook.path, json=wrong)).status_code == 401
            refused = hook.body(market=None, action="fly")  # authenticated, invalid: stored as rejected
            assert (await c.post(hook.path, json=refused)).status_code == 422
        # what a careless library does with a request it did not like
        logging.getLogger("some.library").error(
            "bad request %s cookie: ta_session=abc123def456; token=%s", json.dumps(hook.body()), token
        )
        try:
            raise RuntimeError(f"could not use {phrase} / bot{token}")
        except RuntimeError:
            logging.getLogger("some.library").exception("failed")
        await get_notifier().drain(5)
    output = stream.getvalue()
    for secret in (token, phrase, wrong_phrase, hook.secret, "abc123def456"):
        assert secret not in output, f"{fmt}: a secret reached the logs"
    assert "/bot[REDACTED]/sendMessage" in output  # httpx's request line was there, redacted
    assert "[REDACTED]" in output and "RuntimeError" in output
    if fmt == "json":
        json_lines(stream)  # every line one JSON object


async def test_an_execution_names_its_signal_and_user_in_its_lines_even_in_its_tasks(
    db_url: str, fake_telegram: FakeTelegram, fake_indexer: FakeIndexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPER_PRICE_SOURCE", fake_indexer.url)
    reset_app_caches()
    token = fake_telegram.add_bot(chats=[77])
    user = await make_trader(901, telegram_token=token, chat_id="77")
    sid = await make_signal(user, LONG_BTC)
    with captured_logs("json") as stream:
        outcome = await executor.execute_signal(sid)
        await get_notifier().drain(5)
        await asyncio.sleep(0)
    assert outcome is not None and outcome.status.value == "EXECUTED"
    lines = json_lines(stream)
    sql = [line for line in lines if line["logger"].startswith("sqlalchemy")]  # type: ignore[union-attr]
    sent = [line for line in lines if "sendMessage" in str(line["message"])]
    assert sql and sent  # the engine's statements and the notifier's request (a task of its own)
    assert all(line.get("signal_id") == str(sid) for line in sql)
    assert any(line.get("user") == short_address(user) for line in sql)  # once the claim named the user
    for line in sent:
        assert line.get("signal_id") == str(sid) and line.get("user") == short_address(user), line
    assert token not in stream.getvalue()


async def test_an_alert_by_webhook_ends_in_one_line_with_its_request_signal_user_and_position(
    db_url: str, paper_market: FakeIndexer
) -> None:
    """A webhook request that trades writes no warning; its execution's end is still one INFO line,
    so an operator can follow the alert by the request id the caller sent."""
    from trading_app.services.intake import dispatch

    hook = await make_hook()
    app = request_context()(security_headers(False)(build_api()))
    dispatch.set_executor(executor.execute_signal)
    try:
        with captured_logs("json") as stream:
            async with client(app) as c:
                answer = await c.post(
                    hook.path,
                    json=hook.body(size_usd=100, sl_pct=1, rr=2),
                    headers={"x-request-id": "tv-alert-1"},
                )
                assert answer.status_code == 202
            await dispatch.drain(10)
    finally:
        dispatch.set_executor(None)
    sid = answer.json()["signal_id"]
    lines = json_lines(stream)
    ends = [line for line in lines if line["logger"] == executor.__name__ and line["level"] == "info"]
    assert len(ends) == 1, ends
    [end] = ends
    ids = (end["request_id"], end["signal_id"], end["user"])
    assert ids == ("tv-alert-1", str(sid), short_address(hook.address))
    assert end.get("position_id") and "EXECUTED" in str(end["message"])
    assert hook.secret not in stream.getvalue()
