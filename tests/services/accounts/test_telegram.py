"""Telegram settings against FakeTelegram (the real python-telegram-bot over real HTTP)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from tests.fakes import telegram as telegram_fake
from tests.fakes.telegram import FakeTelegram
from tests.services.settings_support import (
    _close_pools,  # noqa: F401 - autouse fixture
    make_user,
    new_address,
    raw_rows,
)
from trading_app.db.engine import session_scope
from trading_app.db.models import Notification
from trading_app.services.accounts import telegram as tg
from trading_app.services.accounts.account import SettingsInvalid, UnknownUser, get_overview
from trading_app.services.security.secrets import open_secret

fake_telegram = telegram_fake.fake_telegram  # the fixture, used by name


async def _notifications(address: str) -> list[Notification]:
    async with session_scope() as session:
        return list(
            (await session.exec(select(Notification).where(Notification.user_address == address))).all()
        )


async def test_token_and_chat_are_sealed_and_only_their_dates_are_shown(db_url: str) -> None:
    address, _ = await make_user()
    await tg.save_telegram(address, " 123456789:AAE_abcdefghijklmnopqrstuvwxyz012 ", "")
    rows = (await raw_rows(address))["users"]
    assert (
        open_secret(address, "telegram_token_enc", rows["telegram_token_enc"])
        == "123456789:AAE_abcdefghijklmnopqrstuvwxyz012"
    )
    assert rows["telegram_chat_id_enc"] is None and rows["telegram_chat_id_set_at"] is None
    await tg.save_telegram(address, chat_id="-1001234567890")
    view = await get_overview(address)
    assert view.telegram_token_set_at is not None and view.telegram_chat_id_set_at is not None
    rows = (await raw_rows(address))["users"]
    assert open_secret(address, "telegram_chat_id_enc", rows["telegram_chat_id_enc"]) == "-1001234567890"
    await tg.remove_telegram(address)
    rows = (await raw_rows(address))["users"]
    assert rows["telegram_token_enc"] is None and rows["telegram_chat_id_enc"] is None


BAD_VALUES = [
    ("not-a-token", "", "telegram_token"),
    ("123456789:short", "", "telegram_token"),
    ("", "12ab", "telegram_chat_id"),
    ("", "", "telegram_token"),
    ("123456789:AAE_abcdefghijklmnopqrstuvwxyz012", "chat me", "telegram_chat_id"),
    ("123456789:" + "A" * 200, "", "telegram_token"),
]


async def test_bad_values_change_nothing(db_url: str) -> None:
    address, _ = await make_user()
    await tg.save_telegram(address, "123456789:AAE_savedsavedsavedsavedsaved01", "42")
    before = await raw_rows(address)
    for token, chat, field in BAD_VALUES:
        with pytest.raises(SettingsInvalid) as err:
            await tg.save_telegram(address, token, chat)
        assert err.value.field == field
        assert not token or token not in err.value.message
    assert await raw_rows(address) == before


async def test_test_message_with_saved_values(db_url: str, fake_telegram: FakeTelegram) -> None:
    address, _ = await make_user()
    token = fake_telegram.add_bot(username="alice_bot", chats=[424242])
    await tg.save_telegram(address, token, "424242")
    result = await tg.send_telegram_test(address)
    assert (result.ok, result.reason_code) == (True, "ok")
    assert fake_telegram.messages[-1].chat_id == "424242" and "Connected" in fake_telegram.messages[-1].plain
    assert [(n.kind, n.status) for n in await _notifications(address)] == [("test", "sent")]


async def test_typed_values_win_over_saved_ones(db_url: str, fake_telegram: FakeTelegram) -> None:
    address, _ = await make_user()
    saved = fake_telegram.add_bot(username="old_bot", chats=[1111])
    typed = fake_telegram.add_bot(username="new_bot", chats=[2222])
    await tg.save_telegram(address, saved, "1111")
    result = await tg.send_telegram_test(address, f" {typed} ", "2222")
    assert result.ok and fake_telegram.messages[-1].token == typed
    # a typed chat id alone is combined with the saved token
    fake_telegram.add_chat(saved, 3333)
    assert (await tg.send_telegram_test(address, "", "3333")).ok
    assert fake_telegram.messages[-1].token == saved


async def test_each_failure_has_its_exact_reason(db_url: str, fake_telegram: FakeTelegram) -> None:
    address, _ = await make_user()
    token = fake_telegram.add_bot(chats=[5555])
    unknown = "999999999:AAE_abcdefghijklmnopqrstuvwxyz012"
    assert (await tg.send_telegram_test(address, unknown, "5555")).reason_code == "bad_token"
    assert (await tg.send_telegram_test(address, token, "6666")).reason_code == "chat_not_found"
    fake_telegram.block(token, 5555)
    blocked = await tg.send_telegram_test(address, token, "5555")
    assert (blocked.ok, blocked.reason_code) == (False, "bot_blocked") and "blocked" in blocked.message
    assert token not in blocked.message
    assert [n.error for n in await _notifications(address)] == ["bad_token", "chat_not_found", "bot_blocked"]


async def test_unreachable_telegram_is_a_network_error(db_url: str) -> None:
    # the test settings point the Bot API at a closed port
    address, _ = await make_user()
    result = await tg.send_telegram_test(address, "123456789:AAE_abcdefghijklmnopqrstuvwxyz012", "77")
    assert (result.ok, result.reason_code) == (False, "network_error")


async def test_nothing_to_test_with(db_url: str) -> None:
    address, _ = await make_user()
    result = await tg.send_telegram_test(address, "", "")
    assert (result.ok, result.reason_code) == (False, "not_configured")
    assert await _notifications(address) == []


async def test_chat_id_discovery_saves_the_chat(db_url: str, fake_telegram: FakeTelegram) -> None:
    address, _ = await make_user()
    token = fake_telegram.add_bot(username="alice_bot")
    discovery = await tg.start_chat_discovery(address, token)
    assert discovery.link == f"https://t.me/alice_bot?start={discovery.code}"
    assert await tg.finish_chat_discovery(address, discovery.code, token) is False
    assert (await raw_rows(address))["users"]["telegram_token_enc"] is None  # not found: nothing saved
    fake_telegram.push_start(token, 31337, discovery.code)
    assert await tg.finish_chat_discovery(address, discovery.code, token) is True
    rows = (await raw_rows(address))["users"]
    assert open_secret(address, "telegram_chat_id_enc", rows["telegram_chat_id_enc"]) == "31337"
    assert open_secret(address, "telegram_token_enc", rows["telegram_token_enc"]) == token
    assert (await tg.send_telegram_test(address)).ok


async def test_discovery_needs_a_working_token(db_url: str, fake_telegram: FakeTelegram) -> None:
    address, _ = await make_user()
    with pytest.raises(SettingsInvalid, match="bot token first"):
        await tg.start_chat_discovery(address)
    with pytest.raises(SettingsInvalid, match="rejected the bot token"):
        await tg.start_chat_discovery(address, "999999999:AAE_abcdefghijklmnopqrstuvwxyz012")


async def test_one_user_never_uses_or_changes_anothers_bot(db_url: str, fake_telegram: FakeTelegram) -> None:
    alice, _ = await make_user()
    bob, _ = await make_user()
    bob_token = fake_telegram.add_bot(username="bob_bot", chats=[8888])
    await tg.save_telegram(bob, bob_token, "8888")
    bob_before = await raw_rows(bob)
    # alice has nothing saved: her test must not fall back to bob's bot
    assert (await tg.send_telegram_test(alice)).reason_code == "not_configured"
    with pytest.raises(SettingsInvalid):
        await tg.start_chat_discovery(alice)
    await tg.save_telegram(alice, "123456789:AAE_abcdefghijklmnopqrstuvwxyz012", "1")
    await tg.remove_telegram(alice)
    assert await raw_rows(bob) == bob_before
    assert fake_telegram.messages == []
    for call in (
        tg.save_telegram(new_address(), chat_id="1"),
        tg.remove_telegram(new_address()),
        tg.send_telegram_test(new_address()),
    ):
        with pytest.raises(UnknownUser):
            await call
