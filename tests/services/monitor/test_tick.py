"""The position monitor against the paper venue on the fake indexer: fills close the books, drift
is repaired, and one batched venue read is all a quiet account costs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlmodel import col

from tests.fakes.indexer import FakeIndexer
from tests.fakes.telegram import FakeTelegram
from tests.services.engine_support import make_user
from tests.services.monitor_support import (
    LONG,
    age,
    move,
    notifications,
    open_position,
    paper,
    paper_order,
    position,
    rows,
)
from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import Side
from trading_app.services.engine.order_rows import ref_of
from trading_app.services.monitor.leases import lease_of
from trading_app.services.monitor.tick import monitor_tick, reconcile_account

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
    await venue.place_market_order(
        "BTC-USD", Side.SELL, D("0.01"), worst_price=D("60000"), client_id=1_999_999_999, reduce_only=True
    )
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


async def test_protection_cancelled_on_the_venue_is_placed_again(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    token = fake_telegram.add_bot(chats=[15])
    user = await make_user(15, telegram_token=token, chat_id="15")
    opened = await open_position(user, LONG)
    before = await rows(opened.id)
    venue = paper(user)
    await venue.cancel(ref_of(before["STOP_LOSS"][0]))
    await venue.cancel(ref_of(before["TAKE_PROFIT"][0]))

    report = await monitor_tick("w1")

    after = await rows(opened.id)
    assert report.outcomes["protected"] == 1
    for role, trigger in (("STOP_LOSS", D("60000")), ("TAKE_PROFIT", D("70000"))):
        old, new = after[role]
        assert old.status == "CANCELED" and new.status == "UNTRIGGERED" and new.client_id != old.client_id
        live = await paper_order(user, new.client_id)
        assert (live.status, live.size, live.trigger_price, live.reduce_only) == (
            "UNTRIGGERED",
            D("0.01"),
            trigger,
            True,
        )
    assert (await position(opened.id)).status == "OPEN"
    [notice] = await notifications(user, "error")
    assert "stop-loss" in notice.text
    assert (await monitor_tick("w1")).outcomes == {}  # protected now: nothing more to do


async def test_partial_take_profit_resizes_the_stop_then_the_stop_closes_the_rest(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(16)
    opened = await open_position(user, LONG)
    # the take-profit fires into a thin book: only 0.004 BTC of bids within its worst price
    paper_market.set_book("BTC-USD", bids=[(D("70000"), D("0.004"))], asks=[(D("70001"), D("1"))])
    move(paper_market, "BTC-USD", "70000")
    await paper(user).process_triggers()  # the exchange matches it before our next tick
    paper_market.set_book("BTC-USD", None)
    move(paper_market, "BTC-USD", "65000")

    report = await monitor_tick("w1")

    # the take-profit is placed again for what is left; the stop (reduce-only: it can never close
    # more than is open) is resized by a move at the next tick, the new one before the old one goes
    assert report.outcomes["protected"] == 1
    orders = await rows(opened.id)
    assert [(o.status, o.filled_size) for o in orders["TAKE_PROFIT"]] == [
        ("CANCELED", D("0.004")),
        ("UNTRIGGERED", 0),
    ]
    assert (await monitor_tick("w1")).outcomes["stop_moved"] == 1
    orders = await rows(opened.id)
    assert [(o.status, o.size) for o in orders["STOP_LOSS"]] == [
        ("CANCELED", D("0.01")),
        ("UNTRIGGERED", D("0.006")),
    ]
    assert (await paper_order(user, orders["STOP_LOSS"][1].client_id)).size == D("0.006")
    assert (await paper_order(user, orders["TAKE_PROFIT"][1].client_id)).size == D("0.006")
    assert (await position(opened.id)).status == "OPEN"

    move(paper_market, "BTC-USD", "59000")
    await monitor_tick("w1")
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason) == ("CLOSED", "STOP_LOSS")
    assert closed.exit_price == (D("0.004") * 70000 + D("0.006") * 59000) / D("0.01")
    fees = fee(D("65001"), D("0.01")) + fee(D("70000"), D("0.004")) + fee(D("59000"), D("0.006"))
    assert closed.fees == fees
    gross = D("0.004") * (70000 - D("65001")) + D("0.006") * (59000 - D("65001"))
    assert closed.realized_pnl == gross - fees
    assert (await rows(opened.id))["TAKE_PROFIT"][-1].status == "CANCELED"


async def test_a_resting_limit_entry_gets_its_protection_when_it_fills(
    db_url: str, paper_market: FakeIndexer, fake_telegram: FakeTelegram
) -> None:
    token = fake_telegram.add_bot(chats=[17])
    user = await make_user(17, telegram_token=token, chat_id="17")
    resting = await open_position(user, {**LONG, "order_type": "limit", "price": "64000"})
    assert resting.status == "OPENING" and "STOP_LOSS" not in await rows(resting.id)

    assert (await monitor_tick("w1")).outcomes == {}  # still resting: nothing to do
    move(paper_market, "BTC-USD", "63900")
    report = await monitor_tick("w1")

    opened = await position(resting.id)
    assert report.outcomes["opened"] == 1
    assert (opened.status, opened.size, opened.entry_price) == ("OPEN", D("0.01"), D("64000"))
    orders = await rows(resting.id)
    assert orders["ENTRY"][0].status == "FILLED"
    assert orders["STOP_LOSS"][0].status == "UNTRIGGERED" and orders["STOP_LOSS"][0].size == D("0.01")
    assert orders["TAKE_PROFIT"][0].status == "UNTRIGGERED"
    assert len(await notifications(user, "opened")) == 1


async def test_a_flatten_that_died_is_retried(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(18)
    opened = await open_position(user, LONG)
    await age(opened.id, status="FAILED_PROTECTION")  # its flatten gave up (or its worker died)
    assert (await monitor_tick("w1")).outcomes["flattened"] == 1
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason) == ("CLOSED", "PROTECTION_FAILED")
    assert closed.exit_price is not None and closed.realized_pnl is not None
    assert (await paper(user).account()).positions == {}
    orders = await rows(opened.id)
    assert orders["CLOSE"][-1].status == "FILLED"
    assert {orders[r][-1].status for r in ("STOP_LOSS", "TAKE_PROFIT")} == {"CANCELED"}


async def test_a_close_stuck_in_closing_is_retried(sqlite_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(19)
    opened = await open_position(user, LONG)
    await age(opened.id, status="CLOSING", seconds=5)
    assert (await monitor_tick("w1")).outcomes == {}  # a close this recent belongs to its closer
    await age(opened.id, seconds=600)
    assert (await monitor_tick("w1")).outcomes["flattened"] == 1
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason) == ("CLOSED", "MANUAL")
    assert (await paper(user).account()).positions == {}


async def test_protection_left_behind_by_a_closed_position_is_cancelled(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(20)
    opened = await open_position(user, LONG)
    await age(opened.id, status="CLOSED")  # a closer that died after the books, before the cancels
    async with session_scope() as session:  # ... a while ago: its orders were last touched then
        await session.exec(
            update(Order)
            .where(col(Order.position_id) == opened.id)  # type: ignore[call-overload]
            .values(updated_at=utcnow() - timedelta(minutes=10))
        )
    report = await monitor_tick("w1")
    assert report.owned == 1 and report.results[0].orphans == 2
    orders = await rows(opened.id)
    for role in ("STOP_LOSS", "TAKE_PROFIT"):
        assert orders[role][0].status == "CANCELED"
        assert (await paper_order(user, orders[role][0].client_id)).status == "CANCELED"
    assert (await monitor_tick("w1")).owned == 0


@pytest.mark.breaks_invariants("books that say open while the venue holds nothing stay so until a fill shows")
async def test_no_position_on_the_venue_and_no_fill_to_show_closes_nothing(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(21)
    async with session_scope() as session:  # our books say open; the exchange never heard of it
        row = Position(
            user_address=user,
            network="paper",
            market="ETH-USD",
            side="LONG",
            size=D("1"),
            entry_price=D("3000"),
            sl_price=D("2900"),
            status="OPEN",
        )
        session.add(row)
    result = await reconcile_account(user, "paper")
    assert result.outcomes == {"unconfirmed": 1}
    assert (await position(row.id)).status == "OPEN" and await rows(row.id) == {}


@pytest.mark.breaks_invariants("the broken account has no venue to audit")
async def test_one_failing_account_does_not_stop_the_others(db_url: str, paper_market: FakeIndexer) -> None:
    good = await make_user(22)
    opened = await open_position(good, LONG)
    broken = await make_user(23, network="testnet")  # dYdX chosen, no credentials saved
    async with session_scope() as session:
        session.add(
            Position(
                user_address=broken,
                network="testnet",
                market="BTC-USD",
                side="LONG",
                size=D("0.01"),
                status="OPEN",
            )
        )
    move(paper_market, "BTC-USD", "70500")

    report = await monitor_tick("w1")

    assert (await position(opened.id)).status == "CLOSED"
    assert report.failed == 1 and report.owned == 2
    lease = await lease_of(broken, "testnet")
    assert lease is not None and (lease.failures, lease.last_error) == (1, "VenueNotConfigured")
    await monitor_tick("w1")
    lease = await lease_of(broken, "testnet")
    assert lease is not None and lease.failures == 2
    good_lease = await lease_of(good, "paper")
    assert good_lease is not None and good_lease.failures == 0 and good_lease.last_tick_at is not None
