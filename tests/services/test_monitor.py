"""The position monitor against the paper venue on the fake indexer: fills close the books, drift
is repaired, and one batched venue read is all a quiet account costs."""

from __future__ import annotations

from decimal import Decimal

from tests.fakes.indexer import FakeIndexer, fake_indexer  # noqa: F401 - fixture
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import make_user
from tests.services.monitor_support import (  # noqa: F401 - fixtures
    LONG,
    age,
    move,
    notifications,
    open_position,
    paper,
    paper_market,
    paper_order,
    position,
    pushes,
    rows,
)
from trading_app.domain.enums import Side
from trading_app.services.monitor import monitor_tick, reconcile_account

D = Decimal
TAKER = D("0.0005")


def fee(price: Decimal, size: Decimal) -> Decimal:
    return (price * size * TAKER).quantize(D("0.000001"))


async def test_take_profit_fill_closes_the_books_cancels_the_stop_and_tells(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram, pushes: list[str]
) -> None:
    token = fake_telegram.add_bot(chats=[11])
    user = await make_user(11, telegram_token=token, chat_id="11")
    opened = await open_position(user, LONG)
    assert opened.status == "OPEN" and opened.entry_price == D("65001")  # best ask of the default book

    move(paper_market, "BTC-USD", "70500")
    report = await monitor_tick("w1")

    closed = await position(opened.id)
    assert (closed.status, closed.close_reason) == ("CLOSED", "TAKE_PROFIT")
    assert closed.exit_price == D("70500")  # the triggered IOC sold into the best bid
    entry_fee, exit_fee = fee(D("65001"), D("0.01")), fee(D("70500"), D("0.01"))
    assert closed.fees == entry_fee + exit_fee
    assert closed.realized_pnl == (D("70500") - D("65001")) * D("0.01") - entry_fee - exit_fee
    orders = await rows(opened.id)
    assert orders["TAKE_PROFIT"][-1].status == "FILLED"
    assert orders["STOP_LOSS"][-1].status == "CANCELED"
    assert (await paper_order(user, orders["STOP_LOSS"][-1].client_id)).status == "CANCELED"
    assert user in pushes
    assert report.outcomes["take_profit"] == 1 and report.failed == 0
    [message] = await notifications(user, "closed")
    assert message.status == "sent" and "take-profit hit" in message.text
    assert any("Closed" in m.plain and "54.31" in m.plain for m in fake_telegram.messages)

    again = await monitor_tick("w1")  # nothing left to do, nothing done twice
    assert again.owned == 0 and len(await notifications(user, "closed")) == 1


async def test_stop_loss_fill_closes_the_books(sqlite_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(12)
    opened = await open_position(user, LONG)
    move(paper_market, "BTC-USD", "59000")
    await monitor_tick("w1")
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason, closed.exit_price) == ("CLOSED", "STOP_LOSS", D("59000"))
    fees = fee(D("65001"), D("0.01")) + fee(D("59000"), D("0.01"))
    assert closed.realized_pnl == (D("59000") - D("65001")) * D("0.01") - fees
    assert (await rows(opened.id))["TAKE_PROFIT"][-1].status == "CANCELED"


async def test_a_quiet_account_costs_one_venue_call(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(13)
    opened = await open_position(user, LONG)
    result = await reconcile_account(user, "paper")
    assert result.calls == {"account_state": 1} and not result.changed
    assert (await position(opened.id)).status == "OPEN"


async def test_position_closed_by_hand_on_the_venue_is_booked_external(
    db_url: str, paper_market: FakeIndexer, pushes: list[str]
) -> None:
    user = await make_user(14)
    opened = await open_position(user, LONG)
    move(paper_market, "BTC-USD", "66000")
    # the trader sells on the exchange themselves, under a client id the engine does not use
    # (below 2**31: the client_id columns are 32-bit signed integers)
    venue = paper(user)
    await venue.place_market_order("BTC-USD", Side.SELL, D("0.01"), worst_price=D("60000"),
                                   client_id=1_999_999_999, reduce_only=True)
    report = await monitor_tick("w1")
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason, closed.exit_price) == ("CLOSED", "EXTERNAL", D("66000"))
    fees = fee(D("65001"), D("0.01")) + fee(D("66000"), D("0.01"))
    assert closed.fees == fees and closed.realized_pnl == (D("66000") - D("65001")) * D("0.01") - fees
    orders = await rows(opened.id)
    for role in ("STOP_LOSS", "TAKE_PROFIT"):  # the orphaned protection is gone from the venue too
        assert orders[role][-1].status == "CANCELED"
        assert (await paper_order(user, orders[role][-1].client_id)).status == "CANCELED"
    assert report.outcomes["external"] == 1 and user in pushes
