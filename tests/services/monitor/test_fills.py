"""Mass fills: all of an account's positions whose exits filled in a tick are closed together, their
siblings cancelled, the books committed in one transaction, each close told once, one push."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy import create_engine, text

from tests.db.engine_events import listening
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_user
from tests.services.monitor_support import (
    move,
    notifications,
    open_position,
    paper,
    paper_order,
    position,
    rows,
)
from trading_app.db.models import Position
from trading_app.services.engine.order_rows import ref_of
from trading_app.services.monitor.tick import monitor_tick

D = Decimal
TAKER = D("0.0005")
BTC = {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl": "60000", "tp": "70000"}
ETH = {"action": "buy", "market": "ETH-USD", "size": "0.1", "sl": "2800", "tp": "3300"}
SOL = {"action": "sell", "market": "SOL-USD", "size": "1", "sl": "170", "tp": "120"}


def fee(price: Decimal, size: Decimal) -> Decimal:
    return (price * size * TAKER).quantize(D("0.000001"))


async def _three(user: str) -> list[Position]:
    return [await open_position(user, body) for body in (BTC, ETH, SOL)]


def _sweep(fake: FakeIndexer) -> None:
    """BTC and ETH through their take-profits, SOL (short) through its stop-loss, all at once."""
    move(fake, "BTC-USD", "70500")
    move(fake, "ETH-USD", "3400")
    move(fake, "SOL-USD", "175")


@contextmanager
def statements() -> Iterator[Counter[str]]:
    """Count the SELECTs the app's engine sends, by the first table they read."""
    seen: Counter[str] = Counter()

    def on_sql(sql: str) -> None:
        found = re.search(r"\bFROM\s+(\w+)", sql)
        if sql.lstrip().upper().startswith("SELECT") and found:
            seen[found.group(1)] += 1

    with listening(on_sql):
        yield seen


def _transactions_that_closed(db_url: str, ids: list[int]) -> int:
    """PostgreSQL: rows written by one transaction share its id (xmin)."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT count(DISTINCT xmin::text) FROM positions WHERE id = ANY(:ids)"), {"ids": ids}
        ).scalar_one()
    engine.dispose()
    return found


async def test_an_accounts_fills_close_together_in_one_transaction_with_one_push(
    db_url: str, paper_market: FakeIndexer, pushes: list[str]
) -> None:
    user = await make_user(31)
    opened = await _three(user)
    _sweep(paper_market)
    pushes.clear()  # the opens' own

    report = await monitor_tick("w1")

    closed = [await position(p.id) for p in opened]
    assert [(p.status, p.close_reason) for p in closed] == [
        ("CLOSED", "TAKE_PROFIT"),
        ("CLOSED", "TAKE_PROFIT"),
        ("CLOSED", "STOP_LOSS"),
    ]
    btc = closed[0]
    fees = fee(btc.entry_price, D("0.01")) + fee(D("70500"), D("0.01"))
    assert btc.exit_price == D("70500") and btc.fees == fees
    assert btc.realized_pnl == (D("70500") - btc.entry_price) * D("0.01") - fees
    for p, sibling in zip(opened, ("STOP_LOSS", "STOP_LOSS", "TAKE_PROFIT"), strict=True):
        row = (await rows(p.id))[sibling][-1]
        assert row.status == "CANCELED"
        assert (await paper_order(user, row.client_id)).status == "CANCELED"
    [result] = report.results
    # the three siblings in ONE batched venue call (paper), no cancel of its own for any of them
    assert result.calls.get("cancel_many") == 1 and "cancel" not in result.calls and result.errors == 0
    assert report.outcomes["take_profit"] == 2 and report.outcomes["stop_loss"] == 1
    assert pushes.count(user) == 1  # one push for the account's three closes
    assert len(await notifications(user, "closed")) == 3
    if db_url.startswith("postgresql"):
        assert _transactions_that_closed(db_url, [p.id for p in opened]) == 1

    again = await monitor_tick("w1")  # nothing left to do, nothing told twice
    assert again.owned == 0 and len(await notifications(user, "closed")) == 3


async def test_a_tick_that_died_after_cancelling_the_siblings_is_finished_by_the_next(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(32)
    opened = await _three(user)
    _sweep(paper_market)
    venue = paper(user)
    # what the dead tick did before its transaction: the siblings cancelled on the venue, nothing written
    for p, sibling in zip(opened, ("STOP_LOSS", "STOP_LOSS", "TAKE_PROFIT"), strict=True):
        await venue.cancel(ref_of((await rows(p.id))[sibling][-1]))

    report = await monitor_tick("w1")

    assert [(await position(p.id)).status for p in opened] == ["CLOSED"] * 3
    for p, sibling in zip(opened, ("STOP_LOSS", "STOP_LOSS", "TAKE_PROFIT"), strict=True):
        assert (await rows(p.id))[sibling][-1].status == "CANCELED"
    assert report.failed == 0 and len(await notifications(user, "closed")) == 3


async def test_a_position_closed_meanwhile_by_another_closer_is_left_as_it_is(
    db_url: str, paper_market: FakeIndexer
) -> None:
    """Only the positions still in the status the tick read are closed by its transaction."""
    user = await make_user(33)
    btc, eth, _ = await _three(user)
    move(paper_market, "BTC-USD", "70500")
    move(paper_market, "ETH-USD", "3400")
    from trading_app.services.monitor.books import load_books
    from trading_app.services.monitor.tick import read_account, settle_account

    read = await read_account(user, "paper")
    books = await load_books(user, "paper")
    await monitor_tick("w1")  # another owner closes both first
    first = (await position(btc.id)).closed_at
    result = await settle_account(read, books)  # the stale tick, with the books it read before
    assert result.errors == 0
    assert (await position(btc.id)).closed_at == first  # not booked a second time
    assert (await position(eth.id)).status == "CLOSED"


async def test_the_watch_reads_a_crowd_of_crossed_accounts_together_and_loads_their_books_once(
    db_url: str, paper_market: FakeIndexer, pushes: list[str]
) -> None:
    from trading_app.services.monitor import tick

    users = [await make_user(50 + n) for n in range(tick.WATCH_ALONE + 1)]
    opened = [await open_position(user, BTC) for user in users]
    await tick.monitor_tick("crowd")  # the full tick: the watch now knows every trigger
    move(paper_market, "BTC-USD", "70500")
    pushes.clear()
    with statements() as seen:
        started = await tick.watch_tick("crowd", wait=None)
    assert sorted(started) == sorted((u, "paper") for u in users)
    assert [(await position(p.id)).status for p in opened] == ["CLOSED"] * len(users)
    assert sorted(pushes) == sorted(users)  # one push each
    assert seen["positions"] == 1  # one read of the live positions for all of them, not one each


@contextmanager
def order_writes() -> Iterator[list[str]]:
    """Every statement the app's engine sends that changes `orders` rows."""
    seen: list[str] = []
    with listening(lambda sql: seen.append(sql) if re.search(r"\bUPDATE orders\b", sql) else None):
        yield seen


async def test_an_accounts_filled_exits_and_cancelled_siblings_are_written_in_one_statement_each(
    db_url: str, paper_market: FakeIndexer
) -> None:
    """Three fills in one account: the sync writes the three filled exits together and the close
    writes the three cancelled siblings together (PostgreSQL: one statement each, not six)."""
    user = await make_user(34)
    opened = await _three(user)
    _sweep(paper_market)

    with order_writes() as writes:
        await monitor_tick("w1")

    assert [(await position(p.id)).status for p in opened] == ["CLOSED"] * 3
    for p, exit_role, sibling in zip(
        opened,
        ("TAKE_PROFIT", "TAKE_PROFIT", "STOP_LOSS"),
        ("STOP_LOSS", "STOP_LOSS", "TAKE_PROFIT"),
        strict=True,
    ):
        found = await rows(p.id)
        assert found[exit_role][-1].status == "FILLED" and found[exit_role][-1].filled_size == p.size
        assert found[sibling][-1].status == "CANCELED"
    assert len(writes) == (2 if db_url.startswith("postgresql") else 6)
