"""The exposure repair acts only on what both a venue read and the books read after it agree on: a
tick's venue read can be older than its books (the executor moved in between), and nothing the
engine just did is ever mistaken for exposure without a position."""

from __future__ import annotations

from decimal import Decimal

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_signal, make_user, positions
from tests.services.monitor_support import LONG, open_position, paper
from trading_app.domain.enums import Side
from trading_app.services.engine import executor
from trading_app.services.monitor.books import load_books
from trading_app.services.monitor.tick import read_account, settle_account

D = Decimal
SMALL = {**LONG, "size": "0.01"}


async def test_a_venue_read_older_than_the_books_closes_nothing(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(31)
    await open_position(user, {**LONG, "size": "0.02"})
    read = await read_account(user, "paper")  # the venue read of a tick: 0.02 held
    # between the tick's venue read and its books read, the trader closes and opens again
    assert await executor.execute_signal(await make_signal(user, {"action": "close", "market": "BTC-USD"}))
    reopened = await open_position(user, SMALL)
    result = await settle_account(read, await load_books(user, "paper"))
    assert not {"exposure_closed", "exposure_open"} & set(result.outcomes), result.outcomes
    held = (await paper(user).account()).positions["BTC-USD"]
    assert held.size == D("0.01") and reopened.status == "OPEN"
    assert [p.status for p in await positions(user)] == ["CLOSED", "OPEN"]


async def test_exposure_both_reads_show_is_closed(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(32)
    # a fill the books never heard of (what a lost race or a crash left on the venue)
    await paper(user).place_market_order(
        "BTC-USD", Side.BUY, D("0.01"), worst_price=D("66000"), client_id=901
    )
    read = await read_account(user, "paper")
    result = await settle_account(read, await load_books(user, "paper"))
    assert result.outcomes["exposure_closed"] == 1
    assert (await paper(user).account()).positions == {}
