"""Mass fills: every position of one account whose exits filled this tick, closed in one go.

When a price sweeps through many take-profits or stop-losses, an account has many positions to
close in the same tick. One at a time, each would cost a cancel of its sibling and a status read
(two venue round trips, in turn) and a transaction of its own. Here the account's closes share
the work: the siblings are cancelled concurrently (bounded), then every cancelled row and every
position's books are committed in ONE transaction, and the trader is told of each close.

Re-entrant like the one-position path (`final_books.close_books`): nothing is written before
the transaction, so a crash before it leaves the positions as they were and the next tick does
it all again (a sibling cancelled by then is read back as CANCELED by the order sync and costs
no second cancel); a position someone else closed meanwhile is left as it is (the UPDATE applies
only while the position still has the status it was read with).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from trading_app.db.engine import session_scope
from trading_app.db.models import Order
from trading_app.services.engine.final_books import book_closed_in, final_books, leftovers, tell_closed
from trading_app.services.engine.order_flow import cancel_and_report, settle_in
from trading_app.services.engine.trader import Trader
from trading_app.services.monitor.books import Books
from trading_app.services.monitor.reconcile import FilledClose, View, filled_close
from trading_app.services.monitor.report import AccountResult
from trading_app.venues.base import OrderReport

log = logging.getLogger(__name__)

CANCELS_AT_ONCE = 10  # sibling cancels of one account in flight together


async def close_filled(trader: Trader, closes: Sequence[FilledClose]) -> list[Order]:
    """Close the books of `closes` (all of `trader`'s account): cancel the protection they leave
    behind, concurrently, then commit the cancelled rows and every position's books together.

    Args:
        trader: the account's trader (its venue is the tick's counting venue).
        closes: positions whose exit fills cover their size (`reconcile.filled_close`).

    Returns:
        The leftover rows as they were written (the caller keeps its books in step with them).

    Raises:
        Exception: the transaction failed: nothing was committed, the next tick closes them.
    """
    gate = asyncio.Semaphore(CANCELS_AT_ONCE)

    async def cancel(row: Order) -> tuple[Order, OrderReport | None]:
        async with gate:
            _, report = await cancel_and_report(trader.venue, row)
            return row, report

    books = [final_books(c.position, c.exits, c.rows) for c in closes]
    siblings = [row for c in closes for row in leftovers(c.rows, c.exits)]
    reports = [(row, r) for row, r in await asyncio.gather(*(cancel(row) for row in siblings)) if r]
    written = []
    async with session_scope() as session:
        for row, report in reports:
            written.append(await settle_in(session, row, report=report))
        for close, figures in zip(closes, books, strict=True):
            await book_closed_in(session, trader, close.position, close.reason, figures)
    for close, figures in zip(closes, books, strict=True):
        tell_closed(trader, close.position, close.reason, figures)
    return written


async def close_account_fills(view: View, books: Books, result: AccountResult) -> set[int | None]:
    """Close the books of every position of `books` its exit fills cover, all together.

    Returns:
        The ids of the positions handled: closed now, or (the batch failed, logged and counted in
        `result.errors`) left to the next tick; the tick does nothing else for them.
    """
    closes = [c for p in books.positions if (c := filled_close(view, p, books.rows_of(p.id))) is not None]
    if not closes:
        return set()
    try:
        written = {r.id: r for r in await close_filled(view.trader, closes)}
    except Exception:  # noqa: BLE001 - nothing was committed: the next tick closes them
        log.exception("monitor: closing %d filled positions of %s failed", len(closes), view.trader.user)
        result.errors += len(closes)
        return {c.position.id for c in closes}
    books.rows[:] = [written.get(r.id, r) for r in books.rows]
    for c in closes:
        result.outcomes[c.outcome] += 1
    return {c.position.id for c in closes}


__all__ = ["CANCELS_AT_ONCE", "close_account_fills", "close_filled"]
