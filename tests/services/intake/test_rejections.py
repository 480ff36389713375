"""Every alert the webhook refuses reaches the trader's Telegram (through the fake Bot API), in plain
words with the code second, named as the trader wrote it; unauthorized requests never do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update

from tests.api.webhook_support import TV_IP, Hook, make_hook
from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from trading_app.db.engine import session_scope
from trading_app.db.models import User
from trading_app.domain.clock import utcnow
from trading_app.services.intake.inbox import IncomingAlert, Receipt, Verdict, receive_alert
from trading_app.services.intake.rejections import NOTICES_PER_MINUTE
from trading_app.services.notify import events
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.security.secrets import seal
from trading_app.settings import get_settings


@pytest.fixture
def paper_list(fake_indexer: FakeIndexer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    """The paper venue's market list is the fake indexer's (BTC-USD, ETH-USD, ...)."""
    monkeypatch.setenv("PAPER_PRICE_SOURCE", fake_indexer.url)
    reset_app_caches()
    yield fake_indexer


async def told_hook(fake_telegram: FakeTelegram, chat: int, allowlist: bool = False) -> Hook:
    hook = await make_hook(allowlist=allowlist)
    token = fake_telegram.add_bot(chats=[chat])
    async with session_scope() as session:
        await session.execute(
            update(User)
            .where(User.address == hook.address)  # type: ignore[arg-type]
            .values(
                telegram_token_enc=seal(hook.address, "telegram_token_enc", token),
                telegram_chat_id_enc=seal(hook.address, "telegram_chat_id_enc", str(chat)),
            )
        )
    return hook


async def send(hook: Hook, text: str, ip: str = TV_IP) -> Receipt:
    receipt = await receive_alert(IncomingAlert(hook.uuid, text.encode(), utcnow(), ip, "application/json"))
    await get_notifier().drain(5)
    return receipt


def told(fake_telegram: FakeTelegram, chat: int) -> list[str]:
    return [m.plain for m in fake_telegram.messages if m.chat_id == str(chat)]


async def test_an_unknown_market_is_told_as_the_trader_wrote_it(
    db_url: str, paper_list: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    hook = await told_hook(fake_telegram, 41)
    receipt = await send(hook, hook.text(market="xyzceausdt.p", size="1", sl_pct="1"))
    assert receipt.outcome is Verdict.INVALID
    assert receipt.details == ("market: xyzceausdt.p (read as XYZCEA-USD) is not listed on your venue",)
    [text] = told(fake_telegram, 41)
    assert f"Alert #{receipt.signal_id} rejected — xyzceausdt.p" in text
    assert "Reason: This market is not listed on your venue" in text
    assert text.index("not listed on your venue") < text.index("(unknown_market)")


@pytest.mark.parametrize(
    ("fields", "plain", "code"),
    [
        ({"action": "hold"}, "The alert could not be read", "(invalid_payload)"),
        ({"size": "-1"}, "The alert could not be read", "(invalid_payload)"),
    ],
)
async def test_an_invalid_alert_is_told(
    db_url: str, fake_telegram: FakeTelegram, fields: dict, plain: str, code: str
) -> None:
    hook = await told_hook(fake_telegram, 42)
    receipt = await send(hook, hook.text(**fields))
    assert receipt.outcome is Verdict.INVALID
    [text] = told(fake_telegram, 42)
    assert "rejected — BTC-USD" in text and plain in text and code in text


async def test_an_alert_over_the_cap_is_told(
    db_url: str, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_PER_MINUTE_CAP", "1")
    get_settings.cache_clear()
    hook = await told_hook(fake_telegram, 43)
    assert (await send(hook, hook.text())).outcome is Verdict.ACCEPTED
    assert told(fake_telegram, 43) == []  # accepted: the engine tells what becomes of it
    capped = await send(hook, hook.text())
    assert capped.outcome is Verdict.CAPPED
    [text] = told(fake_telegram, 43)
    assert "Too many alerts in one minute" in text and "(per_minute_cap)" in text


async def test_an_alert_from_outside_the_allowlist_is_told(db_url: str, fake_telegram: FakeTelegram) -> None:
    hook = await told_hook(fake_telegram, 44, allowlist=True)
    assert (await send(hook, hook.text(), ip="203.0.113.9")).outcome is Verdict.FORBIDDEN
    [text] = told(fake_telegram, 44)
    assert "Sent from an address that is not TradingView's" in text and "203.0.113.9" in text


async def test_unauthorized_requests_and_duplicates_are_never_told(
    db_url: str, fake_telegram: FakeTelegram
) -> None:
    hook = await told_hook(fake_telegram, 45)
    wrong = hook.text(secret="not-the-secret", action="hold")
    assert (await send(hook, wrong)).outcome is Verdict.UNAUTHORIZED
    body = hook.text(alert_id="once")
    assert (await send(hook, body)).outcome is Verdict.ACCEPTED
    assert (await send(hook, body)).outcome is Verdict.DUPLICATE
    assert told(fake_telegram, 45) == []


async def test_a_flood_of_refusals_is_told_at_most_the_limit_per_minute(
    db_url: str, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = await told_hook(fake_telegram, 46)
    monkeypatch.setattr(get_notifier(), "min_interval", 0.0)  # the fake Bot API has no flood control
    for _ in range(NOTICES_PER_MINUTE + 3):
        assert (await send(hook, hook.text(action="hold"))).outcome is Verdict.INVALID
    assert len(told(fake_telegram, 46)) == NOTICES_PER_MINUTE


async def test_a_refusal_tells_the_alert_log_listeners_of_that_trader(db_url: str) -> None:
    hook = await make_hook()
    heard: list[str] = []

    async def listener(user: str) -> None:
        heard.append(user)

    events.subscribe_alerts(listener)
    try:
        await send(hook, hook.text(action="hold"))
        await send(hook, hook.text())  # accepted: the execution pushes when it has run
    finally:
        events.unsubscribe_alerts(listener)
    assert heard == [hook.address]
