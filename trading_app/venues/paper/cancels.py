"""Cancelling several orders of one paper account at once (`PaperVenue.cancel_many`).

When a price sweeps through many take-profits of one account, the monitor cancels as many siblings
at once. One `cancel` and one `order_status` per order each read the live orders (the trigger
check), and each cancel locks the account in a transaction of its own. Here the whole batch costs
one trigger check, then ONE transaction under the account lock: the orders still live cancelled
by one UPDATE, and every order of the batch read back by one SELECT.

Same rules as `PaperVenue.cancel`: triggers are processed first (an order the price has already
filled is filled, not cancelled), and the decision is taken again under the lock (only an order
still live is cancelled). The answer per order is what `order_status` would say after the cancel.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from sqlalchemy import BindParameter, bindparam, select, update

from trading_app.db.engine import session_scope
from trading_app.domain.enums import OrderStatus
from trading_app.venues.base import OrderRef, OrderReport
from trading_app.venues.errors import VenueUnavailable
from trading_app.venues.paper import store
from trading_app.venues.paper.rows import LIVE_STATUSES, ORDER_COLUMNS, ORDERS, OrderRow

if TYPE_CHECKING:
    from trading_app.venues.paper.venue import PaperVenue

# built once; the client ids are one expanding parameter
_CIDS: BindParameter[int] = bindparam("cids", expanding=True)
_CANCEL_MANY = (
    update(ORDERS)
    .where(
        ORDERS.c.user_address == bindparam("who"),
        ORDERS.c.client_id.in_(_CIDS),
        ORDERS.c.status.in_(LIVE_STATUSES),
    )
    .values(status=OrderStatus.CANCELED.value, removal_reason="USER_CANCELED", updated_at=bindparam("at"))
)
_READ_MANY = select(*ORDER_COLUMNS).where(
    ORDERS.c.user_address == bindparam("who"), ORDERS.c.client_id.in_(_CIDS)
)

MAX_BATCH = 500  # client ids per statement: well below the databases' parameter limits


async def cancel_many(venue: PaperVenue, refs: Sequence[OrderRef]) -> list[OrderReport | None]:
    """Cancel `refs` (orders of `venue`'s user) and report each as `order_status` would after it.

    Returns:
        Per ref, in order: its report, or None for a client id this user never placed.
    """
    from trading_app.venues.paper.venue import user_lock  # the venue module imports this one

    if not refs:
        return []
    ids = {r.client_id for r in refs}
    wanted = sorted(ids)
    live: list[OrderRow] | None = None
    with suppress(VenueUnavailable):  # prices down: still cancelled, decided under the lock
        live = (await venue._triggered())[1]  # noqa: SLF001 - the venue's own trigger pass
    found: dict[int, OrderRow] = {}
    async with user_lock(venue.user):
        async with session_scope() as session:
            if live is None or any(o.client_id in ids for o in live):
                await venue._locked_account(session)  # noqa: SLF001 - every write under the account lock
                at = venue._clock()  # noqa: SLF001 - under the lock, as in cancel
                for start in range(0, len(wanted), MAX_BATCH):
                    chunk = wanted[start : start + MAX_BATCH]
                    await session.execute(_CANCEL_MANY, {"who": venue.user, "cids": chunk, "at": at})
            for start in range(0, len(wanted), MAX_BATCH):
                chunk = wanted[start : start + MAX_BATCH]
                rows = await session.execute(_READ_MANY, {"who": venue.user, "cids": chunk})
                found.update({row.client_id: row for row in (OrderRow(*r) for r in rows.all())})
    return [store.to_report(found[r.client_id]) if r.client_id in found else None for r in refs]


__all__ = ["cancel_many"]
