"""Every worker's Telegram job: without a public API_URL it sets the bots up and answers by polling."""

from __future__ import annotations

import asyncio

from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import make_user
from trading_app import jobs


async def test_the_job_sets_up_and_polls_a_bot(db_url: str, fake_telegram: FakeTelegram) -> None:
    token = fake_telegram.add_bot(chats=[77])
    await make_user(1, telegram_token=token, chat_id="77")  # saved by older code: no link row yet
    fake_telegram.push_message(token, 77, "/help")
    async with jobs.telegram_lifespan():
        for _ in range(100):
            if fake_telegram.messages:
                break
            await asyncio.sleep(0.1)
    [answer] = fake_telegram.messages
    assert answer.chat_id == "77" and "/closeall" in answer.plain
    assert fake_telegram.calls("deleteWebhook")  # set up for polling first
