"""Averages on the grid: an entry or exit filled at several prices is stored on the market's tick,
while the books (realized PnL) stay what the exact fills say, and every text shows the grid."""

from __future__ import annotations

import asyncio

from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import D, make_signal, make_user, orders, positions
from trading_app.api.signals import story_json
from trading_app.db.models import Order
from trading_app.domain import pnl
from trading_app.domain.enums import PositionSide
from trading_app.domain.quantize import to_usdc
from trading_app.pages.alert_story_views import order_row
from trading_app.services.engine import executor, manual
from trading_app.services.engine.alert_story import alert_story
from trading_app.services.notify.notifier import get_notifier

# 0.1 SOL at 187.49 and 13.2 at 187.50: the average, 187.499924812030075188...
ENTRY_ASKS = [(D("187.49"), D("0.1")), (D("187.50"), D("13.2"))]
EXIT_BIDS = [(D("190.01"), D("0.1")), (D("190.00"), D("13.2"))]


async def test_a_partial_fill_average_is_stored_on_the_tick_and_the_books_use_the_fills(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    token = fake_telegram.add_bot(chats=[31])
    user = await make_user(31, telegram_token=token, chat_id="31")
    paper_market.set_price("SOL-USD", D("187.5"))
    paper_market.set_book("SOL-USD", bids=[(D("187.40"), D("100"))], asks=ENTRY_ASKS)
    body = {"action": "buy", "market": "SOL-USD", "size": "13.3", "sl": "180", "tp": "200"}

    outcome = await executor.execute_signal(await make_signal(user, body))
    await get_notifier().drain(5)

    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    [position] = await positions(user)
    [entry] = [o for o in await orders(user) if o.role == "ENTRY"]
    assert entry.avg_fill_price is not None and str(entry.avg_fill_price).startswith("187.49992481203")
    assert (position.tick_size, position.step_size) == (D("0.01"), D("0.1"))
    assert position.entry_price == D("187.50")  # on the tick, not 187.4999248120300751...
    opened = next(m.plain for m in fake_telegram.messages if "Opened" in m.plain)
    assert "Entry: 187.50" in opened and "Size: 13.3" in opened and "Stop-loss: 180.00" in opened
    # the alert's story (page and REST) shows the entry order's average on the tick too
    story = await alert_story(user, position.signal_id or 0)
    assert story is not None
    [line] = [o for o in story.orders if o.role == "ENTRY"]
    assert order_row(line)["avg"] == "187.50" and order_row(line)["size"] == "13.3"
    [as_json] = [o for o in story_json(story)["orders"] if o["role"] == "ENTRY"]  # type: ignore[union-attr, index]
    assert as_json["avg_fill_price"] == "187.50"  # type: ignore[index]

    paper_market.set_price("SOL-USD", D("190"))
    paper_market.set_book("SOL-USD", bids=EXIT_BIDS, asks=[(D("190.20"), D("100"))])
    await asyncio.sleep(0.6)  # past the paper venue's price cache
    view = await manual.close_position(user, position.id or 0)
    await get_notifier().drain(5)

    [closed] = await positions(user)
    exits = [o for o in await orders(user) if o.role == "CLOSE"]
    exact_exit = pnl.average_price((o.filled_size, o.avg_fill_price or D(0)) for o in exits)
    assert closed.exit_price == D("190.00") and exact_exit != closed.exit_price
    # the books are what the fills made, to the USDC quantum: (190.01 x 0.1 + 190.00 x 13.2)
    # - (187.49 x 0.1 + 187.50 x 13.2) - fees; not from the rounded averages, and without a tail
    fees = entry.fee + sum((o.fee for o in exits), D(0))
    assert closed.realized_pnl == D("33.252") - fees == closed_pnl_from_averages(entry, exits)
    shown = view.to_json()
    assert (shown["entry_price"], shown["exit_price"], shown["size"]) == ("187.50", "190.00", "13.3")
    assert isinstance(shown["realized_pnl"], str) and len(shown["realized_pnl"].split(".")[1]) == 6
    texts = next(m.plain for m in fake_telegram.messages if "Closed" in m.plain)
    assert "Entry: 187.50" in texts and "Exit: 190.00" in texts
    assert f"Realized PnL: +${closed.realized_pnl.quantize(D('0.01')):,}" in texts


def closed_pnl_from_averages(entry: Order, exits: list[Order]) -> D:
    """The same through the exact averages, on the USDC quantum (what the money audit checks)."""
    exact_exit = pnl.average_price((o.filled_size, o.avg_fill_price or D(0)) for o in exits)
    return to_usdc(
        pnl.realized_pnl(
            PositionSide.LONG,
            entry.avg_fill_price or D(0),
            exact_exit,
            D("13.3"),
            entry_fee=entry.fee,
            exit_fee=sum((o.fee for o in exits), D(0)),
        )
    )
