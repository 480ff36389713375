"""Scaling out on paper priced by the indexer fake: several take-profits, break-even, trailing stop.

Each step runs the real engine and monitor tick against the paper venue, and ends with the money
audit (every open position behind a live stop sized to what is left, nothing stray on the venue).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from sqlmodel import col, select

from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import make_user
from tests.services.monitor_support import move, notifications, open_position, paper, position, rows
from trading_app.db.engine import session_scope
from trading_app.db.models import StopMove
from trading_app.services.monitor.tick import monitor_tick
from trading_app.services.ops.audit import audit_account

D = Decimal
TAKER = D("0.0005")  # the paper venue's taker fee rate


async def _moves(position_id: int) -> list[StopMove]:
    async with session_scope() as session:
        found = await session.exec(
            select(StopMove).where(StopMove.position_id == position_id).order_by(col(StopMove.id))
        )
        return list(found.all())


async def _clean(user: str) -> None:
    assert await audit_account(user, "paper", paper(user)) == []


async def test_two_levels_take_half_move_the_stop_to_break_even_then_close_the_rest(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    token = fake_telegram.add_bot(chats=[21])
    user = await make_user(21, telegram_token=token, chat_id="21")
    opened = await open_position(
        user,
        {
            "action": "buy",
            "market": "BTC-USD",
            "size": "0.02",
            "sl": "60000",
            "tp": [68000, 70000],
            "tp_split": [50, 50],
            "be_after_tp": 1,
        },
    )
    assert opened.status == "OPEN" and opened.entry_price == D("65001")
    orders = await rows(opened.id)
    [stop] = orders["STOP_LOSS"]
    assert (stop.size, stop.trigger_price, stop.status) == (D("0.02"), D("60000"), "UNTRIGGERED")
    levels = sorted((o.level, o.trigger_price, o.size, o.status) for o in orders["TAKE_PROFIT"])
    assert levels == [(1, D("68000"), D("0.01"), "UNTRIGGERED"), (2, D("70000"), D("0.01"), "UNTRIGGERED")]
    assert len({o.client_id for o in orders["TAKE_PROFIT"]}) == 2  # each level its own venue order
    await _clean(user)

    move(paper_market, "BTC-USD", "68500")  # TP1 triggers; TP2 and the stop wait
    await monitor_tick("w1")
    after = await position(opened.id)
    assert after.status == "OPEN" and after.levels_done == 1
    orders = await rows(opened.id)
    assert {o.level: o.status for o in orders["TAKE_PROFIT"]} == {1: "FILLED", 2: "UNTRIGGERED"}
    # break-even: the entry plus its fee and the exit's taker fee, rounded up to the tick (1)
    break_even = (D("65001") * (1 + TAKER) / (1 - TAKER)).to_integral_value(ROUND_CEILING)
    live = [o for o in orders["STOP_LOSS"] if o.status == "UNTRIGGERED"]
    assert [(o.trigger_price, o.size) for o in live] == [(break_even, D("0.01"))]
    assert orders["STOP_LOSS"][0].status == "CANCELED"  # the old one went after the new one was live
    assert after.sl_price == break_even
    [moved] = await _moves(opened.id)
    assert (moved.reason, moved.outcome, moved.old_price, moved.new_price) == (
        "BREAK_EVEN",
        "MOVED",
        D("60000"),
        break_even,
    )
    assert len(await notifications(user, "level_filled")) == 1
    assert len(await notifications(user, "stop_moved")) == 1
    await _clean(user)

    await monitor_tick("w1")  # nothing new: no second move, no second message
    assert len(await _moves(opened.id)) == 1 and len(await notifications(user, "level_filled")) == 1

    move(paper_market, "BTC-USD", "70500")  # TP2 closes the rest
    await monitor_tick("w1")
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason) == ("CLOSED", "TAKE_PROFIT")
    fills = [(D("0.01"), D("68500")), (D("0.01"), D("70500"))]
    fees = D("65001") * D("0.02") * TAKER + sum(p * s * TAKER for s, p in fills)
    made = sum((p - D("65001")) * s for s, p in fills) - fees
    assert abs(closed.realized_pnl - made) < D("0.00001")
    orders = await rows(opened.id)
    assert all(o.status != "UNTRIGGERED" for o in orders["STOP_LOSS"])  # the break-even stop cancelled
    await _clean(user)


async def test_a_trailing_stop_follows_a_rising_price_and_closes_on_the_pullback(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(22)
    opened = await open_position(
        user,
        {
            "action": "buy",
            "market": "BTC-USD",
            "size": "0.01",
            "sl_pct": 2,
            "trail_pct": 1,
            "trail_after_tp": 0,
        },
    )
    assert opened.status == "OPEN" and opened.trail_best == D("65001")
    first_stop = opened.sl_price
    assert first_stop is not None and first_stop < D("65001")

    stops = []
    for price in ("66000", "66100", "67000"):
        move(paper_market, "BTC-USD", price)
        await monitor_tick("w1")
        now = await position(opened.id)
        stops.append(now.sl_price)
        await _clean(user)
    # 66,000 -> 65,340 (1 % under the best); 66,100 would move it by 99, under a quarter of the
    # 661 distance: not worth an order; 67,000 -> 66,330
    assert stops == [D("65340"), D("65340"), D("66330")]
    assert [(m.reason, m.outcome) for m in await _moves(opened.id)] == [("TRAIL", "MOVED")] * 2
    move(paper_market, "BTC-USD", "66500")  # a dip: the stop never loosens
    await monitor_tick("w1")
    assert (await position(opened.id)).sl_price == D("66330")

    move(paper_market, "BTC-USD", "66000")  # the pullback through the trailing stop
    await monitor_tick("w1")
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason) == ("CLOSED", "STOP_LOSS")
    assert closed.realized_pnl is not None and closed.realized_pnl > 0  # the trail locked in a profit
    await _clean(user)


async def test_a_short_scales_out_the_same_way_mirrored(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(23)
    opened = await open_position(
        user,
        {
            "action": "sell",
            "market": "ETH-USD",
            "size": "1",
            "sl": "3100",
            "tp_pct": [1, 2],
            "tp_split": [40, 60],
            "be_after_tp": 1,
        },
    )
    entry = opened.entry_price
    assert opened.status == "OPEN" and entry is not None
    levels = sorted((o.level, o.size, o.side) for o in (await rows(opened.id))["TAKE_PROFIT"])
    assert levels == [(1, D("0.4"), "BUY"), (2, D("0.6"), "BUY")]  # a short buys back at its levels
    tp1, tp2 = sorted((o.trigger_price for o in (await rows(opened.id))["TAKE_PROFIT"]), reverse=True)
    assert tp1 < entry and tp2 < tp1  # 1 % and 2 % under the fill

    move(paper_market, "ETH-USD", tp1 - 1)
    await monitor_tick("w1")
    after = await position(opened.id)
    assert after.status == "OPEN" and after.levels_done == 1
    # a short's break-even is under the entry (its fee and the exit's), and above the price now
    assert after.sl_price is not None and tp1 - 1 < after.sl_price < entry
    [moved] = await _moves(opened.id)
    assert (moved.reason, moved.outcome, moved.size) == ("BREAK_EVEN", "MOVED", D("0.6"))
    await _clean(user)

    move(paper_market, "ETH-USD", tp2 - 1)
    await monitor_tick("w1")
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason) == ("CLOSED", "TAKE_PROFIT")
    assert closed.realized_pnl is not None and closed.realized_pnl > 0
    await _clean(user)
