"""Mass fills: every position of one account whose exits filled this tick, closed in one go.

When a price sweeps through many take-profits or stop-losses, an account has many positions to
close in the same tick. One at a time, each would cost a cancel of its sibling and a status read
(two venue round trips, in turn) and a transaction of its own. Here the account's closes share
the work: the siblings are cancelled together (one batched call on the paper venue, concurrent
single cancels elsewhere), then every cancelled row and every position's books are committed in
ONE transaction, and the trader is told of each close.

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
from decimal import Decimal

from sqlalchemy import bindparam, update
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import PositionStatus
from trading_app.domain.lifecycle import ORDER, POSITION, is_terminal, transition
from trading_app.services.engine.final_books import final_books, leftovers, tell_closed
from trading_app.services.engine.order_flow import cancel_and_report, settle_each_in
from trading_app.services.engine.order_rows import ref_of
from trading_app.services.engine.trader import Trader
from trading_app.services.monitor.books import Books
from trading_app.services.monitor.reconcile import FilledClose, View, filled_close
from trading_app.services.monitor.report import AccountResult
from trading_app.services.ops.logs import log_context
from trading_app.venues.base import OrderReport

log = logging.getLogger(__name__)

# sibling cancels of one account in flight together: a dYdX cancel is a network round trip; a
# paper one waits for the account's lock, holding a pool connection meanwhile
CANCELS_AT_ONCE = 4


async def close_filled(
    trader: Trader, closes: Sequence[FilledClose]
) -> tuple[list[FilledClose], list[Order]]:
    """Close the books of `closes` (all of `trader`'s account): cancel the protection they leave
    behind, concurrently, then commit the cancelled rows and every position's books together.

    Args:
        trader: the account's trader (its venue is the tick's counting venue).
        closes: positions whose exit fills cover their size (`reconcile.filled_close`).

    Returns:
        The closes done (one whose books cannot be computed is logged and left out), and the
        leftover rows as they were written (the caller keeps its books in step with them).

    Raises:
        Exception: the transaction failed: nothing was committed, the next tick closes them.
    """
    todo, books = _closable(closes)
    siblings = [row for c in todo for row in leftovers(c.rows, c.exits) if not is_terminal(ORDER, row.status)]
    reports = await _cancel_siblings(trader, siblings)
    async with session_scope() as session:
        written = await _settle_all(session, reports)
        await _book_all(session, trader, todo, books)
    for close, figures in zip(todo, books, strict=True):
        # each close's line and message carry its position and signal, as a reconcile of its own did
        with log_context(position_id=close.position.id, signal_id=close.position.signal_id):
            log.info("position %s closed: %s", close.position.id, close.reason.value.lower())
            tell_closed(trader, close.position, close.reason, figures)
    return todo, written


Figures = dict[str, Decimal | None]  # a position's final books (`final_books`)


async def _cancel_siblings(trader: Trader, siblings: Sequence[Order]) -> list[tuple[Order, OrderReport]]:
    """Cancel `siblings` (live rows), each with the venue's report after its cancel where there is one.

    A venue with a batched cancel (paper) does them all in one call; any other cancels them one by one,
    concurrently (bounded). A cancel that fails leaves its row as it is: the order sync and the orphan
    sweep of the next ticks read it again and cancel it then.
    """
    if not siblings:
        return []
    try:
        batch = await trader.venue.cancel_many([ref_of(row) for row in siblings])
    except Exception as e:  # noqa: BLE001 - as a failed single cancel: reported, retried by later ticks
        log.warning(
            "monitor: cancelling %d orders of %s failed (%s)", len(siblings), trader.user, type(e).__name__
        )
        return []
    if batch is not None:
        return [(row, r) for row, r in zip(siblings, batch, strict=True) if r is not None]
    gate = asyncio.Semaphore(CANCELS_AT_ONCE)

    async def cancel(row: Order) -> tuple[Order, OrderReport | None]:
        async with gate:
            _, report = await cancel_and_report(trader.venue, row)
            return row, report

    return [(row, r) for row, r in await asyncio.gather(*(cancel(row) for row in siblings)) if r]


def _closable(closes: Sequence[FilledClose]) -> tuple[list[FilledClose], list[Figures]]:
    """The closes whose books can be computed and whose status may become CLOSED, with their books;
    any other is logged and left out (it fails alone, as it would have on its own)."""
    todo, books = [], []
    for c in closes:
        try:
            transition(POSITION, c.position.status, PositionStatus.CLOSED.value)
            figures = final_books(c.position, c.exits, c.rows)
        except Exception:  # noqa: BLE001 - one position must not stop the others
            log.exception("monitor: the books of position %s cannot be closed", c.position.id)
            continue
        todo.append(c)
        books.append(figures)
    return todo, books


async def _book_all(
    session: AsyncSession,
    trader: Trader,
    closes: Sequence[FilledClose],
    books: Sequence[Figures],
) -> None:
    """Every position CLOSED with its books: ONE statement for all (executemany), each row changed only
    while it still has the status the tick read (a position another closer finished is left as it is)."""
    if not closes:
        return
    table = Position.__table__  # type: ignore[attr-defined]  # SQLModel declares it at runtime
    at = utcnow()
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.user_address == trader.user,
            table.c.status == bindparam("b_expect"),
        )
        .values(
            status=PositionStatus.CLOSED.value,
            closed_at=at,
            updated_at=at,
            close_reason=bindparam("b_reason"),
            exit_price=bindparam("b_exit_price"),
            realized_pnl=bindparam("b_realized_pnl"),
            fees=bindparam("b_fees"),
        )
    )
    params = [
        {
            "b_id": c.position.id,
            "b_expect": c.position.status,
            "b_reason": c.reason.value,
            **{f"b_{k}": v for k, v in figures.items()},
        }
        for c, figures in zip(closes, books, strict=True)
    ]
    await session.execute(statement, params)


async def _settle_all(session: AsyncSession, reports: Sequence[tuple[Order, OrderReport]]) -> list[Order]:
    """The cancelled siblings' final reports recorded: their conditional UPDATEs in ONE statement on
    PostgreSQL (`settle_each_in`; one each elsewhere), in the close transaction; a row moved
    meanwhile is read afresh and decided again, as `settle_in` does."""
    return await settle_each_in(session, [(row, None, report) for row, report in reports])


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
        done, rows = await close_filled(view.trader, closes)
    except Exception:  # noqa: BLE001 - nothing was committed: the next tick closes them
        log.exception("monitor: closing %d filled positions of %s failed", len(closes), view.trader.user)
        result.errors += len(closes)
        return {c.position.id for c in closes}
    written = {r.id: r for r in rows}
    books.rows[:] = [written.get(r.id, r) for r in books.rows]
    result.errors += len(closes) - len(done)
    for c in done:
        result.outcomes[c.outcome] += 1
    return {c.position.id for c in closes}


__all__ = ["CANCELS_AT_ONCE", "close_account_fills", "close_filled"]
