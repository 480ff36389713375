"""PaperVenue behaviour beyond the shared contract: exact fees, book walking, expiry, margin, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import event

from tests.venues.paper.support import IndexerDriver, make_user, open_paper_market
from trading_app.db.engine import dispose_engines, get_engine, session_scope
from trading_app.domain.enums import OrderStatus, OrderType, PositionSide, Side
from trading_app.venues.base import OrderRef
from trading_app.venues.errors import OrderNotFound, OrderRejected, VenueError, VenueUnavailable
from trading_app.venues.paper import IndexerPriceSource, PaperVenue, SyntheticPriceSource, store

ETH = "ETH-USD"
GTS = 3600


@pytest.fixture
async def market(sqlite_url: str) -> AsyncIterator[tuple[IndexerPriceSource, IndexerDriver]]:
    async with open_paper_market("indexer") as pair:
        yield pair  # type: ignore[misc]
    await dispose_engines()


@pytest.fixture
async def venue(market: tuple[IndexerPriceSource, IndexerDriver]) -> PaperVenue:
    return PaperVenue(await make_user(), market[0])


def ref_of(cid: int, kind: OrderType = OrderType.MARKET) -> OrderRef:
    return OrderRef(client_id=cid, market=ETH, order_type=kind)


async def test_a_market_order_pays_the_taker_fee_at_the_best_ask(venue: PaperVenue) -> None:
    # the fake's default book: one tick of spread around the oracle price 3000
    ref = await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
    [fill] = await venue.fills()
    assert (fill.price, fill.size, fill.fee, fill.liquidity, fill.fill_id) == (
        D("3000.1"),
        D("0.01"),
        D("0.015000"),  # 3000.1 x 0.01 x 0.05%, in USDC quanta
        "TAKER",
        fill.fill_id,
    )
    assert ref.venue_order_id and ref.order_flags == 0 and fill.fill_id.startswith("paper-")
    account = await venue.account()
    assert account.equity == D("10000") - D("0.015") + D("0.01") * (D("3000") - D("3000.1"))
    assert account.free_collateral == account.equity - D("0.01") * D("3000") * D("0.02")


async def test_fee_rates_are_configurable(market: tuple[IndexerPriceSource, IndexerDriver]) -> None:
    venue = PaperVenue(await make_user(), market[0], taker_fee=D("0.001"), starting_collateral=D("500"))
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
    assert (await venue.order_status(ref_of(1))).fee == D("0.030001")
    assert (await venue.account()).equity == D("500") - D("0.030001") - D("0.001")


async def test_a_market_order_walks_the_book_and_cancels_what_is_past_its_worst_price(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    market[1].fake.set_book(
        ETH,
        bids=[(D("2999"), D("5"))],
        asks=[(D("3001"), D("0.005")), (D("3002"), D("0.005")), (D("3005"), D("5"))],
    )
    await venue.place_market_order(ETH, Side.BUY, D("0.02"), worst_price=D("3003"), client_id=7)
    report = await venue.order_status(ref_of(7))
    assert (report.status, report.filled, report.avg_fill_price) == (
        OrderStatus.CANCELED,
        D("0.01"),
        D("3001.5"),
    )
    assert report.removal_reason == "IMMEDIATE_OR_CANCEL_WOULD_REST_ON_BOOK"
    assert [(f.price, f.size) for f in await venue.fills()] == [
        (D("3001"), D("0.005")),
        (D("3002"), D("0.005")),
    ]
    assert (await venue.account()).positions[ETH].size == D("0.01")


async def test_a_crossing_limit_takes_liquidity_then_rests_and_fills_as_maker(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    fake = market[1].fake
    fake.set_book(ETH, bids=[(D("2999"), D("5"))], asks=[(D("3000.5"), D("0.005")), (D("3002"), D("5"))])
    await venue.place_limit_order(ETH, Side.BUY, D("0.02"), D("3001"), client_id=9, good_til_seconds=GTS)
    async with session_scope() as session:  # the state right after placing, before any later read
        order = await store.find_order(session, venue.user, 9)
    assert (order.status, order.filled) == (OrderStatus.PARTIALLY_FILLED.value, D("0.005"))
    report = await venue.order_status(ref_of(9, OrderType.LIMIT))  # oracle 3000 <= 3001: the rest fills
    assert (report.status, report.filled, report.avg_fill_price) == (
        OrderStatus.FILLED,
        D("0.02"),
        D("3000.875"),
    )
    fills = await venue.fills()
    assert [(f.price, f.liquidity) for f in fills] == [(D("3000.5"), "TAKER"), (D("3001"), "MAKER")]
    assert fills[1].fee == D("0.004502")  # 3001 x 0.015 x 0.01% = 0.0045015, to the USDC quantum


async def test_orders_expire_at_their_good_til_time(market: tuple[IndexerPriceSource, IndexerDriver]) -> None:
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    venue = PaperVenue(await make_user(), market[0], clock=lambda: now[0])
    limit = await venue.place_limit_order(
        ETH, Side.BUY, D("0.01"), D("2900"), client_id=1, good_til_seconds=60
    )
    stop = await venue.place_stop_loss(
        ETH, Side.SELL, D("0.01"), D("2800"), worst_price=D("2700"), client_id=2, good_til_seconds=120
    )
    assert limit.good_til_block_time == int((now[0] + timedelta(seconds=60)).timestamp())
    now[0] += timedelta(seconds=61)
    assert (await venue.order_status(limit)).status is OrderStatus.EXPIRED
    assert (await venue.order_status(stop)).status is OrderStatus.UNTRIGGERED
    now[0] += timedelta(seconds=60)
    report = await venue.order_status(stop)
    assert (report.status, report.removal_reason) == (OrderStatus.EXPIRED, "EXPIRED")
    assert (await venue.account_state()).open_orders == []


async def test_a_resend_is_answered_even_while_the_indexer_is_down(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    first = await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=5)
    await market[1].down()
    try:
        again = await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=5)
        assert again == first
        assert (await venue.order_status(first)).status is OrderStatus.FILLED  # reads the books
        assert len(await venue.fills()) == 1
        with pytest.raises(VenueUnavailable):
            await venue.account_state()
    finally:
        await market[1].up()


async def test_a_client_id_cannot_be_reused_for_another_order(venue: PaperVenue) -> None:
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=5)
    with pytest.raises(OrderRejected, match="already used"):
        await venue.place_market_order(ETH, Side.SELL, D("0.01"), worst_price=D("2990"), client_id=5)
    with pytest.raises(OrderRejected, match="already used"):
        await venue.place_limit_order(ETH, Side.BUY, D("0.01"), D("2900"), client_id=5, good_til_seconds=GTS)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"client_id": -1}, "client id"),
        ({"client_id": 2**32}, "client id"),
        ({"client_id": True}, "client id"),
        ({"side": "LONG"}, "side"),
        ({"good_til_seconds": 0}, "good_til_seconds"),
        ({"good_til_seconds": 96 * 86400}, "good_til_seconds"),
        ({"size": 0.01}, "Decimal"),
    ],
)
async def test_malformed_requests_are_refused(venue: PaperVenue, kwargs: dict, reason: str) -> None:
    args = {"client_id": 1, "side": Side.BUY, "size": D("0.01"), "good_til_seconds": GTS, **kwargs}
    with pytest.raises(OrderRejected, match=reason):
        await venue.place_limit_order(
            ETH,
            args["side"],
            args["size"],
            D("2900"),
            client_id=args["client_id"],
            good_til_seconds=args["good_til_seconds"],
        )
    assert (await venue.account_state()).open_orders == []


async def test_orders_that_need_more_margin_than_the_equity_are_refused(sqlite_url: str) -> None:
    source = SyntheticPriceSource(1, step_seconds=None)  # no book: fills at the oracle, any size
    venue = PaperVenue(await make_user(), source)  # 10,000 USD; ETH margin 2% of notional
    with pytest.raises(OrderRejected, match="undercollateralized"):
        await venue.place_market_order(ETH, Side.BUY, D("200"), worst_price=D("3100"), client_id=1)
    await venue.place_market_order(ETH, Side.BUY, D("100"), worst_price=D("3100"), client_id=2)
    with pytest.raises(OrderRejected, match="undercollateralized"):
        await venue.place_market_order(ETH, Side.BUY, D("100"), worst_price=D("3100"), client_id=3)
    with pytest.raises(OrderNotFound):
        await venue.order_status(ref_of(3))
    # a resting limit that can no longer be margined is cancelled when it would fill
    await venue.place_limit_order(ETH, Side.BUY, D("100"), D("2900"), client_id=4, good_til_seconds=GTS)
    source.set_price(ETH, D("2900"))
    report = await venue.order_status(ref_of(4, OrderType.LIMIT))
    assert (report.status, report.removal_reason) == (OrderStatus.CANCELED, "UNDERCOLLATERALIZED")
    # reducing is always allowed
    await venue.place_market_order(
        ETH, Side.SELL, D("100"), worst_price=D("2800"), client_id=5, reduce_only=True
    )
    assert (await venue.account()).positions == {}
    await dispose_engines()


async def test_an_unknown_user_has_no_paper_account(market: tuple[IndexerPriceSource, IndexerDriver]) -> None:
    stranger = PaperVenue("0x" + "ab" * 20, market[0])
    with pytest.raises(VenueError, match="no user"):
        await stranger.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)


async def test_an_inactive_market_refuses_orders_and_fires_nothing(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
    stop = await venue.place_stop_loss(
        ETH, Side.SELL, D("0.01"), D("2900"), worst_price=D("2800"), client_id=2, good_til_seconds=GTS
    )
    market[1].fake.set_market(ETH, status="PAUSED")
    with pytest.raises(OrderRejected, match="PAUSED"):
        await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=3)
    market[1].fake.set_price(ETH, D("2850"))
    assert (await venue.order_status(stop)).status is OrderStatus.UNTRIGGERED
    market[1].fake.set_market(ETH, status="ACTIVE")
    assert (await venue.order_status(stop)).status is OrderStatus.FILLED


async def test_a_stop_that_gaps_past_its_worst_price_is_cancelled_and_the_position_stays(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
    stop = await venue.place_stop_loss(
        ETH, Side.SELL, D("0.01"), D("2900"), worst_price=D("2890"), client_id=2, good_til_seconds=GTS
    )
    market[1].fake.set_price(ETH, D("2800"))
    report = await venue.order_status(stop)
    assert (report.status, report.filled) == (OrderStatus.CANCELED, 0)
    assert (await venue.account()).positions[ETH].size == D("0.01")


async def test_cancelling_an_order_the_price_has_already_fired_finds_it_filled(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
    take = await venue.place_take_profit(
        ETH, Side.SELL, D("0.01"), D("3100"), worst_price=D("3050"), client_id=2, good_til_seconds=GTS
    )
    market[1].fake.set_price(ETH, D("3150"))  # nobody has read since: the exchange would have filled it
    await venue.cancel(take)
    assert (await venue.order_status(take)).status is OrderStatus.FILLED


async def test_cancel_many_cancels_the_live_ones_and_reports_each_as_order_status_would(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    await venue.place_market_order(ETH, Side.BUY, D("0.02"), worst_price=D("3010"), client_id=1)
    stop = await venue.place_stop_loss(
        ETH, Side.SELL, D("0.01"), D("2900"), worst_price=D("2890"), client_id=2, good_til_seconds=GTS
    )
    take = await venue.place_take_profit(
        ETH, Side.SELL, D("0.01"), D("3100"), worst_price=D("3050"), client_id=3, good_til_seconds=GTS
    )
    other = await venue.place_stop_loss(
        ETH, Side.SELL, D("0.01"), D("2700"), worst_price=D("2690"), client_id=4, good_til_seconds=GTS
    )
    market[1].fake.set_price(ETH, D("3150"))  # the take-profit fires first: filled, not cancelled
    found = await venue.cancel_many([stop, take, ref_of(99)])
    assert found[2] is None  # never placed: no report, and no guess
    assert [(r.status, r.ref.client_id) for r in found if r is not None] == [
        (OrderStatus.CANCELED, 2),
        (OrderStatus.FILLED, 3),
    ]
    for ref, report in zip((stop, take), found, strict=False):
        assert report == await venue.order_status(ref)
    assert (await venue.order_status(other)).status is OrderStatus.UNTRIGGERED  # not in the batch
    assert await venue.cancel_many([stop]) == [await venue.order_status(stop)]  # again: still cancelled


async def test_a_fired_stop_waits_while_its_market_has_no_book(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    fake = market[1].fake
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
    stop = await venue.place_stop_loss(
        ETH, Side.SELL, D("0.01"), D("2900"), worst_price=D("2800"), client_id=2, good_til_seconds=GTS
    )
    fake.register("GET", r"/v4/orderbooks/perpetualMarket/ETH-USD", lambda req: (404, {"errors": []}))
    fake.set_price(ETH, D("2850"))
    assert (await venue.order_status(stop)).status is OrderStatus.UNTRIGGERED
    fake.unregister("GET", r"/v4/orderbooks/perpetualMarket/ETH-USD")
    assert (await venue.order_status(stop)).status is OrderStatus.FILLED


async def test_a_stop_without_a_position_is_cancelled_when_it_fires(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    stop = await venue.place_take_profit(
        ETH, Side.SELL, D("0.01"), D("3100"), worst_price=D("3050"), client_id=2, good_til_seconds=GTS
    )
    assert await venue.process_triggers() == 0
    market[1].fake.set_price(ETH, D("3150"))
    assert await venue.process_triggers() == 1
    report = await venue.order_status(stop)
    assert (report.status, report.removal_reason) == (OrderStatus.CANCELED, "REDUCE_ONLY_RESIZE")
    assert await venue.process_triggers() == 0 and (await venue.account()).positions == {}


async def test_positions_net_realize_and_flip(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    fake = market[1].fake
    await venue.place_market_order(ETH, Side.BUY, D("0.02"), worst_price=D("3010"), client_id=1)  # 3000.1
    fake.set_price(ETH, D("3100"))
    await venue.place_market_order(ETH, Side.SELL, D("0.03"), worst_price=D("3000"), client_id=2)  # 3100
    position = (await venue.account()).positions[ETH]
    assert (position.side, position.size, position.entry_price) == (PositionSide.SHORT, D("0.01"), D("3100"))
    async with session_scope() as session:
        [row] = await store.positions(session, venue.user)
    assert row.realized_pnl == D("0.02") * (D("3100") - D("3000.1"))
    fees = sum(f.fee for f in await venue.fills())
    assert (await venue.account()).equity == D("10000") + row.realized_pnl - fees


async def test_users_are_isolated(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    other = PaperVenue(await make_user(), market[0])
    mine = await venue.place_limit_order(
        ETH, Side.BUY, D("0.01"), D("2900"), client_id=42, good_til_seconds=GTS
    )
    theirs = await other.place_limit_order(
        ETH, Side.SELL, D("0.02"), D("3100"), client_id=42, good_til_seconds=GTS
    )
    assert mine.venue_order_id != theirs.venue_order_id
    await other.cancel(mine)  # same client id, other user: cancels only their own order
    assert (await venue.order_status(mine)).status is OrderStatus.OPEN
    assert (await other.order_status(theirs)).status is OrderStatus.CANCELED
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=43)
    assert await other.fills() == [] and (await other.account()).positions == {}


async def test_state_survives_a_restart(db_url: str) -> None:
    user = await make_user()
    async with open_paper_market("indexer") as (source, driver):
        before = PaperVenue(user, source)
        entry = await before.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
        stop = await before.place_stop_loss(
            ETH, Side.SELL, D("0.01"), D("2900"), worst_price=D("2800"), client_id=2, good_til_seconds=GTS
        )
        state = await before.account_state()
        await source.close()
        await dispose_engines()  # a new process: new pools, new HTTP client, new venue
        after = PaperVenue(user, IndexerPriceSource(driver.fake.url, cache_seconds=0))
        assert await after.account_state() == state
        assert (
            await after.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
            == entry
        )
        driver.fake.set_price(ETH, D("2890"))
        assert (await after.order_status(stop)).status is OrderStatus.FILLED
        assert (await after.account()).positions == {}
        await after.prices.close()
    await dispose_engines()


async def test_describe_source_names_the_live_source(
    market: tuple[IndexerPriceSource, IndexerDriver], venue: PaperVenue
) -> None:
    await venue.market(ETH)
    status = venue.describe_source()
    assert (status.kind, status.source, status.live) == ("indexer", market[1].fake.url, True)
    assert status.last_update is not None and status.last_update.tzinfo is not None


async def test_a_resend_is_the_existing_order_even_when_the_request_would_now_be_refused(
    venue: PaperVenue,
) -> None:
    first = await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=5)
    # off the size grid: a new order would be refused, a resend of client id 5 is that order
    again = await venue.place_market_order(ETH, Side.BUY, D("0.0100001"), worst_price=D("3010"), client_id=5)
    assert again == first
    with pytest.raises(OrderRejected, match="not a multiple"):
        await venue.place_market_order(ETH, Side.BUY, D("0.0100001"), worst_price=D("3010"), client_id=6)


async def test_placing_and_reading_cost_few_statements(venue: PaperVenue) -> None:
    await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
    sent: list[str] = []

    def count(_conn, _cursor, statement: str, *_args) -> None:  # noqa: ANN001
        sent.append(statement.split()[0].upper())

    def begin(conn) -> None:  # noqa: ANN001 - a connection in AUTOCOMMIT sends no BEGIN
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            sent.append("BEGIN")

    engine = get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "begin", begin)
    try:
        await venue.place_stop_loss(
            ETH, Side.SELL, D("0.01"), D("2900"), worst_price=D("2800"), client_id=2, good_til_seconds=GTS
        )
        stop = list(sent)
        sent.clear()
        await venue.order_status(ref_of(2, OrderType.STOP_MARKET))
        status = list(sent)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "begin", begin)
    assert stop == ["INSERT"]  # a resting order is one row: no account lock, no transaction
    assert status == ["SELECT"]  # live orders and this one, no transaction


async def test_a_fill_writes_the_books_in_one_statement_on_postgresql(db_url: str) -> None:
    user = await make_user()
    sent: list[str] = []

    def count(_conn, _cursor, statement: str, *_args) -> None:  # noqa: ANN001
        sent.append(statement.split()[0].upper())

    async with open_paper_market("indexer") as (source, driver):
        venue = PaperVenue(user, source)
        await venue.place_market_order(ETH, Side.BUY, D("0.01"), worst_price=D("3010"), client_id=1)
        stop = await venue.place_stop_loss(
            ETH, Side.SELL, D("0.01"), D("2900"), worst_price=D("2800"), client_id=2, good_til_seconds=GTS
        )
        engine = get_engine().sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            entry = await venue.place_market_order(
                ETH, Side.BUY, D("0.02"), worst_price=D("3010"), client_id=3
            )
            placed = list(sent)
            sent.clear()
            driver.fake.set_price(ETH, D("2890"))  # the stop fires: a reduce-only fill by a read
            assert (await venue.order_status(stop)).status is OrderStatus.FILLED
            fired = list(sent)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        # the order, the position, the fill and the collateral: one statement on PostgreSQL
        one = get_engine().dialect.name == "postgresql"
        books = ["WITH"] if one else ["UPDATE", "UPDATE", "INSERT", "UPDATE"]
        assert placed == ["UPDATE", "INSERT", "SELECT", *books]  # lock, order, positions, books
        # the read locks the account, reads the live orders and positions afresh, writes the books
        assert fired[1:4] == ["UPDATE", "SELECT", "SELECT"] and fired[4 : 4 + len(books)] == books
        assert (await venue.order_status(entry)).filled == D("0.02")
        fills = await venue.fills()
        assert [(f.client_id, f.size) for f in fills] == [(1, D("0.01")), (3, D("0.02")), (2, D("0.01"))]
        assert (await venue.account()).positions[ETH].size == D("0.02")
        await source.close()
    await dispose_engines()
