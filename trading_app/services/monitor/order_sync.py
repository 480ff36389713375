"""Our order rows kept in step with the venue's batched read, and orders nobody needs cancelled.

The batched read lists the venue's working orders. A row of ours that is working but not in that
list has finished on the venue (filled, cancelled, expired) or is not visible yet: only then is
the venue asked about that one order, so a quiet account costs no call beyond the batched read.
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from trading_app.db.engine import session_scope
from trading_app.db.models import Order
from trading_app.domain import pnl
from trading_app.domain.enums import OrderRole, OrderStatus, PositionStatus, Side
from trading_app.domain.lifecycle import ORDER, is_terminal
from trading_app.services.engine.order_flow import apply_report, apply_reports, cancel_quietly, differs_from
from trading_app.services.engine.order_rows import forget_sent, is_sent, ref_of
from trading_app.services.monitor.books import Books
from trading_app.venues.base import AccountState, Fill, OrderReport, Venue
from trading_app.venues.errors import OrderNotFound, VenueTemporaryError

log = logging.getLogger(__name__)


class CountingVenue:
    """A venue that counts the calls made through it (the monitor's cost per account per tick)."""

    def __init__(self, venue: Venue) -> None:
        self._venue = venue
        self.calls: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def venue(self) -> Venue:
        """The venue counted."""
        return self._venue

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._venue, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await attr(*args, **kwargs)

        return counted if inspect.iscoroutinefunction(attr) else attr


def _key(client_id: int, market: str) -> tuple[int, str]:
    return client_id, market


def _from_fills(row: Order, fills: Sequence[Fill]) -> OrderReport | None:
    """A report for a row whose whole size shows in the read's fills: no need to ask the venue."""
    size = sum((f.size for f in fills), Decimal(0))
    if not fills or size != row.size:
        return None  # partly filled (maybe before the cursor), or cancelled: ask the venue
    return OrderReport(
        ref=ref_of(row),
        status=OrderStatus.FILLED,
        side=Side(row.side),
        size=row.size,
        filled=size,
        avg_fill_price=pnl.average_price((f.size, f.price) for f in fills),
        fee=sum((f.fee for f in fills), Decimal(0)),
        trigger_price=row.trigger_price,
        reduce_only=row.reduce_only,
    )


def resendable(books: Books) -> frozenset[int]:
    """The rows someone will send again if the venue says they never existed: the entry of an
    OPENING position, the stop-loss and take-profit of one that is open or closing."""
    found: set[int] = set()
    for p in books.positions:
        wanted = (
            {OrderRole.ENTRY.value}
            if p.status == PositionStatus.OPENING.value
            else {OrderRole.STOP_LOSS.value, OrderRole.TAKE_PROFIT.value}
        )
        found.update(r.id for r in books.rows_of(p.id) if r.role in wanted and r.id is not None)
    return frozenset(found)


async def sync_orders(
    venue: Venue,
    rows: list[Order],
    state: AccountState,
    now: datetime,
    pending_grace: timedelta,
    resendable: frozenset[int] = frozenset(),
) -> int:
    """Bring every working row in `rows` (in place) to the venue's state; returns how many changed.

    A row missing from the open orders whose fills in the read cover it is filled; any other
    missing row costs one `order_status` call. A row the venue guarantees never existed is made
    ready to be sent again under its id when someone will (its id in `resendable`: the protection
    of a live position, the entry of an opening one), and is recorded as never placed (EXPIRED)
    otherwise, so nothing waits on it for ever.

    The reports are written together once every row is decided (`apply_reports`: one statement on
    PostgreSQL for the account, where a mass fill used to cost one UPDATE per filled row); a row
    that moved on meanwhile is read afresh and decided again. Nothing here sends an order, so
    recording the venue's state a few venue calls later changes no guarantee.
    """
    listed = {_key(r.ref.client_id, r.ref.market): r for r in state.open_orders}
    filled: dict[tuple[int, str], list[Fill]] = {}
    for f in state.fills:
        filled.setdefault(_key(f.client_id, f.market), []).append(f)
    changed = 0
    writes: list[tuple[int, OrderReport]] = []  # (index in rows, the venue's report to record)
    for i, row in enumerate(rows):
        if is_terminal(ORDER, row.status):
            continue
        key = _key(row.client_id, row.market)
        report = listed.get(key) or _from_fills(row, filled.get(key, []))
        if report is None:
            if row.status == OrderStatus.PENDING.value and now - row.updated_at < pending_grace:
                continue  # just committed: its sender is placing it
            try:
                report = await venue.order_status(ref_of(row))
            except OrderNotFound:
                if row.id in resendable:
                    if row.status == OrderStatus.PENDING.value and is_sent(row):
                        rows[i] = await forget_sent(row)  # sent again, same id, by whoever needs it
                        changed += 1
                    continue
                never = OrderReport(
                    ref=ref_of(row),
                    status=OrderStatus.EXPIRED,
                    side=Side(row.side),
                    size=row.size,
                    removal_reason="NEVER_PLACED",
                )
                writes.append((i, never))
                continue
            except VenueTemporaryError:
                log.warning("order %s: status unavailable this tick", row.id)
                continue
        if differs_from(row, report):  # a PENDING report may still carry what the venue learnt
            writes.append((i, report))
    for (i, _), written in zip(writes, await apply_reports([(rows[i], r) for i, r in writes]), strict=True):
        rows[i] = written
    return changed + len(writes)


async def cancel_orphans(
    venue: Venue, books: Books, reports: Sequence[OrderReport], now: datetime, pending_grace: timedelta
) -> int:
    """Cancel working orders whose position is closed (ours only: other orders are the trader's)."""
    live_ids = {p.id for p in books.positions}
    cancelled = 0
    for row in books.rows:
        if row.position_id in live_ids or is_terminal(ORDER, row.status):
            continue
        if now - row.updated_at < pending_grace:
            continue  # just sent, or just cancelled: a stateful cancel is committed a block later
        if row.status == OrderStatus.PENDING.value and not is_sent(row) and await _never_placed(venue, row):
            # the venue guarantees it does not exist, and its position is gone: it will never be sent
            await apply_report(
                row,
                OrderReport(ref=ref_of(row), status=OrderStatus.CANCELED, side=Side(row.side), size=row.size),
            )
        else:
            await cancel_quietly(venue, row)  # its final state is whatever the venue then reports
        cancelled += 1
    known = {_key(r.client_id, r.market) for r in books.rows}
    unknown = [r for r in reports if _key(r.ref.client_id, r.ref.market) not in known]
    for row, report in await _ours(books, unknown):
        # a row of a closed position (live ones are all in books.rows) still working on the venue
        await venue.cancel(report.ref)
        log.info("order %s of closed position %s was still on the venue: cancelled", row.id, row.position_id)
        cancelled += 1
    return cancelled


async def _never_placed(venue: Venue, row: Order) -> bool:
    try:
        await venue.order_status(ref_of(row))
    except OrderNotFound:
        return True
    except VenueTemporaryError:
        return False
    return False


async def _ours(books: Books, unknown: Sequence[OrderReport]) -> list[tuple[Order, OrderReport]]:
    if not unknown:
        return []
    ids = sorted({r.ref.client_id for r in unknown})
    async with session_scope() as session:
        rows = (
            await session.exec(
                select(Order).where(
                    Order.user_address == books.user,
                    Order.network == books.network,
                    col(Order.client_id).in_(ids),
                )
            )
        ).all()
    by_key = {_key(r.client_id, r.market): r for r in rows}
    return [(by_key[k], r) for r in unknown if (k := _key(r.ref.client_id, r.ref.market)) in by_key]


__all__ = ["CountingVenue", "cancel_orphans", "sync_orders"]
