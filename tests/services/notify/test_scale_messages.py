"""Scaling out in Telegram: a level filled, the stop moved, a move that came late; and the throttle
that keeps a trailing stop from sending a message every few seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from tests.fakes.telegram_html import check_html
from trading_app.services.notify import stop_notices
from trading_app.services.notify.messages import render
from trading_app.services.notify.scale_messages import LevelFilled, StopMoved, StopMoveLate
from trading_app.services.notify.stop_notices import TRAIL_EVERY, StopNotices

EVIL = "<b>BTC&co</b>"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def plain(html_text: str) -> str:
    text, problem = check_html(html_text)
    assert problem is None, problem
    return text


def test_level_filled_says_what_was_sold_the_pnl_and_what_is_left() -> None:
    event = LevelFilled(
        "paper", "BTC-USD", "LONG", 1, 2, D("0.005"), D("97500.04"), D("0.005"), D("4.1249"), "0.1", "0.001"
    )
    assert event.kind == "level_filled"
    text = plain(render(event))
    assert "TP1 of 2 filled: sold 0.005 BTC-USD at 97,500.0 (+$4.12); 0.005 left" in text
    assert text.startswith("📝 PAPER")
    last = LevelFilled("testnet", "ETH-USD", "SHORT", 2, 2, "0.5", "2900", "0", D("-1.5"), "0.1", "0.001")
    text = plain(render(last))
    assert "TP2 of 2 filled: bought back 0.500 ETH-USD at 2,900.0 (-$1.50); position closed" in text


def test_stop_moved_to_break_even_and_trailing() -> None:
    be = StopMoved(
        "paper", "BTC-USD", "LONG", "BREAK_EVEN", D("96000"), D("97262"), D("0.005"), "0.1", "0.001"
    )
    assert be.kind == "stop_moved"
    text = plain(render(be))
    assert "Stop moved to break-even" in text
    assert "Your stop is now at your entry price, 97,262.0 (was 96,000.0)." in text
    assert "Protects 0.005 LONG" in text and "times since" not in text
    trail = StopMoved(
        "paper", "BTC-USD", "LONG", "TRAIL", "97262", "98100.06", "0.005", "0.1", "0.001", moves=4
    )
    text = plain(render(trail))
    assert "Trailing stop raised to 98,100.1 (was 97,262.0). Moved 4 times since the last message." in text
    short = StopMoved("paper", "ETH-USD", "SHORT", "TRAIL", "3100", "3050", "1", "0.1", "0.001")
    assert "Trailing stop lowered to 3,050.0" in plain(render(short))


def test_stop_move_late_keeps_the_old_stop() -> None:
    late = StopMoveLate("mainnet", "BTC-USD", "TRAIL", D("98100"), D("97262"), "order budget used up", "0.1")
    assert late.kind == "stop_move_late"
    text = plain(render(late))
    assert "Stop move delayed" in text and text.startswith("🔴 MAINNET")
    assert "Could not move the stop (trailing stop) to 98,100.0 in time: order budget used up." in text
    assert "Your stop stays at 97,262.0: still protected." in text


@pytest.mark.parametrize("field", ["market", "why", "reason"])
def test_outside_values_are_escaped(field: str) -> None:
    values = {"market": "BTC-USD", "why": "refused", "reason": "BREAK_EVEN", field: EVIL}
    late = StopMoveLate("paper", values["market"], values["reason"], "1", "2", values["why"])
    assert EVIL.lower() in plain(render(late)).lower()  # an unknown reason is shown in lower case
    moved = StopMoved("paper", values["market"], "LONG", values["reason"], "1", "2", "1")
    filled = LevelFilled("paper", values["market"], "LONG", 1, 2, "1", "2", "1", "0")
    for event in (moved, filled):
        text = render(event)
        plain(text)
        assert "<b>BTC&co" not in text.replace("<b>TP", "")  # only our own tags


def test_trailing_moves_are_told_once_per_five_minutes_and_counted() -> None:
    notices = StopNotices()
    user, pid = "0xA", 1
    assert notices.should_tell("TRAIL", user, pid, T0)  # the first one goes at once
    assert notices.moves(user, pid) == 1
    quiet = [notices.should_tell("TRAIL", user, pid, T0 + timedelta(seconds=s)) for s in (10, 60, 120, 299)]
    assert quiet == [False] * 4
    # another position, another trader: their own windows
    assert notices.should_tell("TRAIL", user, 2, T0 + timedelta(seconds=30))
    assert notices.should_tell("TRAIL", "0xB", pid, T0 + timedelta(seconds=30))
    assert notices.should_tell("TRAIL", user, pid, T0 + TRAIL_EVERY)
    assert notices.moves(user, pid) == 5  # itself and the four kept quiet
    assert not notices.should_tell("TRAIL", user, pid, T0 + TRAIL_EVERY + timedelta(seconds=1))


def test_break_even_and_resize_always_go() -> None:
    notices = StopNotices()
    assert notices.should_tell("TRAIL", "0xA", 1, T0)
    assert notices.should_tell("BREAK_EVEN", "0xA", 1, T0 + timedelta(seconds=1))
    assert notices.moves("0xA", 1) == 1
    assert notices.should_tell("RESIZE", "0xA", 1, T0 + timedelta(seconds=2))
    # they do not open the trailing window again
    assert not notices.should_tell("TRAIL", "0xA", 1, T0 + timedelta(seconds=3))


def test_forget_and_the_process_wide_memory() -> None:
    notices = StopNotices()
    assert notices.should_tell("TRAIL", "0xA", 1, T0)
    assert not notices.should_tell("TRAIL", "0xA", 1, T0 + timedelta(seconds=5))
    notices.forget("0xA", 1)  # closed: a new position with the same id would start afresh
    assert notices.should_tell("TRAIL", "0xA", 1, T0 + timedelta(seconds=6))
    assert notices.moves("0xA", 1) == 1
    user = "0xmodule-test"
    assert stop_notices.should_tell("TRAIL", user, 9, T0)
    assert not stop_notices.should_tell("TRAIL", user, 9, T0 + timedelta(seconds=1))
    assert stop_notices.should_tell("TRAIL", user, 9, T0 + timedelta(minutes=6))
    assert stop_notices.moves(user, 9) == 2
    stop_notices.forget(user, 9)


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stop_notices, "MAX_TRACKED", 3)
    notices = StopNotices()
    for pid in range(5):
        assert notices.should_tell("TRAIL", "0xA", pid, T0)
    assert len(notices._told_at) == 3  # the two oldest positions were dropped
    assert notices.should_tell("TRAIL", "0xA", 0, T0 + timedelta(seconds=1))  # forgotten: told again
