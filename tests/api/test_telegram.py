"""`POST /api/telegram/{hook_id}`: commands by webhook with a public API_URL.

Our API runs in a real HTTP server (uvicorn, in a thread); the fake Bot API POSTs each update to
the URL the app gave setWebhook (the public https name mapped to that server), with the secret
token header, exactly as Telegram does. The whole story runs through it, and a wrong or missing
secret runs nothing.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tests.api.webhook_support import client, make_hook
from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import make_user
from tests.services.notify.telegram_support import OTHER, OWN, Remote, other_commands, scenario
from trading_app.api.app import build_api
from trading_app.db.engine import dispose_engines
from trading_app.services.notify.telegram_delivery import (
    RECHECK_EVERY,
    delivery_status,
    sync_delivery,
    sync_stale,
)
from trading_app.settings import get_settings

PUBLIC = "https://trader.example.com"


@pytest.fixture
def public_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Our API on a loopback port while API_URL names a public https host."""
    monkeypatch.setenv("API_URL", PUBLIC)
    get_settings.cache_clear()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(build_api(), log_level="warning", lifespan="off"))

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:  # the pools this loop opened close with it (no stray aiosqlite thread later)
            await dispose_engines()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    get_settings.cache_clear()


async def _linked(fake: FakeTelegram, n: int, local: str) -> tuple[str, str]:
    fake.reach(PUBLIC, local)
    token = fake.add_bot(chats=[OWN, OTHER])
    user = await make_user(n, telegram_token=token, chat_id=str(OWN))
    status = await sync_delivery(user)
    assert (status.mode, status.reachable) == ("webhook", True), status
    return user, token


async def test_the_whole_story_by_webhook(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram, public_api: str
) -> None:
    user, token = await _linked(fake_telegram, 1, public_api)
    hook = fake_telegram.webhook(token)
    assert hook is not None and hook["url"].startswith(f"{PUBLIC}/api/telegram/")
    assert hook["secret_token"] and len(hook["secret_token"]) >= 32
    assert hook["allowed_updates"] == ["message", "callback_query"]
    await scenario(Remote(fake_telegram, token, "webhook"), user)
    assert fake_telegram.deliveries and all(status == 200 for _, status in fake_telegram.deliveries)
    # getUpdates is refused while the webhook is set: nothing polls it
    assert fake_telegram.calls("getUpdates") == []


async def test_pnl_closeall_and_help_by_webhook(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram, public_api: str
) -> None:
    user, token = await _linked(fake_telegram, 7, public_api)
    await other_commands(Remote(fake_telegram, token, "webhook"), user)
    assert fake_telegram.deliveries and all(status == 200 for _, status in fake_telegram.deliveries)


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "SECRET_WITH_ONE_MORE_CHARACTER"])
async def test_a_wrong_secret_runs_nothing(
    db_url: str, fake_telegram: FakeTelegram, public_api: str, secret: str | None
) -> None:
    user, token = await _linked(fake_telegram, 2, public_api)
    hook = fake_telegram.webhook(token)
    assert hook is not None
    path = hook["url"].removeprefix(PUBLIC)
    given = secret.replace("SECRET", hook["secret_token"]) if secret else secret
    update = {
        "update_id": 5,
        "message": {
            "message_id": 5, "date": 0, "chat": {"id": OWN, "type": "private"}, "text": "/pause",
            "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
        },
    }
    headers = {} if given is None else {"X-Telegram-Bot-Api-Secret-Token": given}
    async with client(build_api()) as http:
        answer = await http.post(path, json=update, headers=headers)
        right = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]}
        unknown = await http.post("/api/telegram/nobody", json=update, headers=right)
    assert answer.status_code == 401 and unknown.status_code == 401
    assert fake_telegram.messages == []
    status = await delivery_status(user)
    assert status.mode == "webhook"
    async with httpx.AsyncClient(base_url=public_api) as http:  # the real server agrees
        assert (await http.post(path, json=update, headers=headers)).status_code == 401


async def test_a_changed_token_removes_the_old_webhook(
    db_url: str, fake_telegram: FakeTelegram, public_api: str
) -> None:
    from trading_app.services.accounts.telegram import save_telegram

    user, old = await _linked(fake_telegram, 3, public_api)
    new = fake_telegram.add_bot(chats=[OWN])
    await save_telegram(user, new, None)
    assert fake_telegram.webhook(old) is None
    hook = fake_telegram.webhook(new)
    assert hook is not None and hook["url"].startswith(f"{PUBLIC}/api/telegram/")


async def test_a_paused_account_refuses_alerts_at_the_door(db_url: str) -> None:
    from prometheus_client import REGISTRY

    from trading_app.db.engine import session_scope
    from trading_app.db.models import Signal
    from trading_app.services.accounts.pause import set_paused

    hook = await make_hook()
    await set_paused(hook.address, True)
    counted = REGISTRY.get_sample_value("trading_alerts_total", {"outcome": "paused"}) or 0.0
    async with client() as http:
        answer = await http.post(hook.path, json=hook.body())
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
    assert REGISTRY.get_sample_value("trading_alerts_total", {"outcome": "paused"}) == counted + 1
    assert answer.json()["reason"].startswith("paused:")
    async with session_scope() as session:
        row = await session.get(Signal, answer.json()["signal_id"])
    assert row is not None and row.status == "REJECTED" and (row.reason or "").startswith("paused: ")
    await set_paused(hook.address, False)
    async with client() as http:
        answer = await http.post(hook.path, json=hook.body(alert_id="after-resume"))
    assert answer.status_code == 202


async def test_the_hourly_look_restores_a_removed_webhook_and_tells_a_revoked_token(
    db_url: str, fake_telegram: FakeTelegram, public_api: str
) -> None:
    user, token = await _linked(fake_telegram, 4, public_api)
    assert await sync_stale() == []  # just checked: nothing to do
    fake_telegram.handle(token, "deleteWebhook", {}, 0)  # removed behind our back
    await _checked_long_ago(user)
    assert await sync_stale() == [user]
    assert fake_telegram.webhook(token) is not None
    assert (await delivery_status(user)).reachable is True

    fake_telegram.fail(token, None, 401, "Unauthorized")  # revoked in @BotFather
    await _checked_long_ago(user)
    assert await sync_stale() == [user]
    status = await delivery_status(user)
    assert status.reachable is False and "rejected the bot token" in status.message
    assert token not in status.message and token.split(":")[1] not in status.message


async def _checked_long_ago(user: str) -> None:
    from sqlalchemy import update

    from trading_app.db.engine import session_scope
    from trading_app.db.models import TelegramLink
    from trading_app.domain.clock import utcnow

    async with session_scope() as session:
        await session.execute(
            update(TelegramLink)
            .where(TelegramLink.user_address == user)  # type: ignore[arg-type]
            .values(checked_at=utcnow() - RECHECK_EVERY * 2)
        )


async def test_one_traders_secret_does_not_open_anothers_hook(
    db_url: str, fake_telegram: FakeTelegram, public_api: str
) -> None:
    alice, alice_token = await _linked(fake_telegram, 5, public_api)
    bob, bob_token = await _linked(fake_telegram, 6, public_api)
    alice_hook, bob_hook = fake_telegram.webhook(alice_token), fake_telegram.webhook(bob_token)
    assert alice_hook is not None and bob_hook is not None
    assert alice_hook["url"] != bob_hook["url"] and alice_hook["secret_token"] != bob_hook["secret_token"]
    update = {"update_id": 9, "message": {"message_id": 9, "date": 0, "chat": {"id": OWN, "type": "private"},
                                          "text": "/status"}}
    async with client(build_api()) as http:
        crossed = await http.post(
            alice_hook["url"].removeprefix(PUBLIC),
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": bob_hook["secret_token"]},
        )
    assert crossed.status_code == 401 and fake_telegram.messages == []


async def test_turning_telegram_off_removes_the_webhook_and_its_secret(
    db_url: str, fake_telegram: FakeTelegram, public_api: str
) -> None:
    from trading_app.services.accounts.telegram import remove_telegram

    user, token = await _linked(fake_telegram, 8, public_api)
    hook = fake_telegram.webhook(token)
    assert hook is not None
    await remove_telegram(user)
    assert fake_telegram.webhook(token) is None
    assert (await delivery_status(user)).mode == "off"
    chat = {"id": OWN, "type": "private"}
    update = {"update_id": 11, "message": {"message_id": 11, "date": 0, "chat": chat, "text": "/pause"}}
    async with client(build_api()) as http:  # a delivery already on its way: the old secret opens nothing
        late = await http.post(
            hook["url"].removeprefix(PUBLIC), json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]},
        )
    assert late.status_code == 401 and fake_telegram.messages == []


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_the_webhook_secret_and_the_token_reach_no_log_line(
    fmt: str, db_url: str, fake_telegram: FakeTelegram, public_api: str
) -> None:
    import logging

    from tests.services.ops.log_support import captured_logs

    with captured_logs(fmt) as stream:
        logging.getLogger("telegram").setLevel(logging.DEBUG)  # each Bot API call with its parameters
        user, token = await _linked(fake_telegram, 9, public_api)
        await Remote(fake_telegram, token, "webhook").say(OWN, "/status")
    hook = fake_telegram.webhook(token)
    assert hook is not None
    output = stream.getvalue()
    set_webhook = [line for line in output.splitlines() if "Calling Bot API endpoint `setWebhook`" in line]
    assert set_webhook and "secret_token" in set_webhook[0]  # the call was logged, with its parameters
    assert hook["secret_token"] not in output and token not in output


async def test_a_token_our_keys_cannot_open_is_answered_200_and_told(
    db_url: str, fake_telegram: FakeTelegram, public_api: str
) -> None:
    """A token saved under a master key retired since: a delivery is answered 200 (a 5xx would
    make Telegram repeat it for nothing), nothing is run, and the hourly look tells Settings."""
    import os

    from trading_app.db.engine import session_scope
    from trading_app.db.models import User
    from trading_app.services.notify.telegram_delivery import check_delivery
    from trading_app.services.security.crypto import Keyring
    from trading_app.services.security.secrets import seal

    user, token = await _linked(fake_telegram, 9, public_api)
    hook = fake_telegram.webhook(token)
    assert hook is not None
    async with session_scope() as session:
        row = await session.get(User, user)
        assert row is not None
        row.telegram_token_enc = seal(user, "telegram_token_enc", token, Keyring({99: os.urandom(32)}, 99))
        session.add(row)
    update = {
        "update_id": 5,
        "message": {
            "message_id": 5, "date": 0, "chat": {"id": OWN, "type": "private"}, "text": "/pause",
            "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
        },
    }
    right = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]}
    async with httpx.AsyncClient(base_url=public_api) as http:
        answer = await http.post(hook["url"].removeprefix(PUBLIC), json=update, headers=right)
    assert answer.status_code == 200 and fake_telegram.messages == []
    status = await check_delivery(user)
    assert status.reachable is False and "can no longer be read" in status.message
