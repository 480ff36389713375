"""Placing a paper order that takes nothing now, and recognising a resent one (from `venue`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError

from trading_app.db.engine import autocommit_scope
from trading_app.venues.base import OrderRef
from trading_app.venues.errors import OrderRejected, VenueError
from trading_app.venues.paper import rows, store
from trading_app.venues.paper.drafts import Draft
from trading_app.venues.paper.rows import OrderFacts, inserted


def same_order(order: OrderFacts, d: Draft) -> OrderRef:
    """The existing order a resent client id names.

    Raises:
        OrderRejected: a different order under a used client id (a caller's bug).
    """
    if not d.same_as(order):
        raise OrderRejected(f"client id {d.client_id} is already used by another order")
    return store.to_ref(order)


async def rest_order(user: str, d: Draft, now: datetime) -> OrderRef:
    """Place an order that takes nothing now (a limit away from the market, a stop-loss, a
    take-profit): one INSERT that commits by itself, without the account lock.

    The lock orders the writes that move the books (fills, positions, collateral) and stamps
    fill times in commit order; a resting order changes none of them. The unique client id
    still refuses a second row, and whoever fills the order later locks the account and reads
    it afresh, so it can never be filled twice. The caller holds `venue.user_lock`.

    Raises:
        VenueError: the user does not exist, or the used client id names no order.
        OrderRejected: the client id is used by a different order.
    """
    async with autocommit_scope() as session:
        values = d.row_values(user, now)
        try:
            order_id = await rows.insert_order(session, values)
        except IntegrityError:  # only the user's foreign key can fail: the client id is ON CONFLICT
            raise VenueError(f"no user {user}: a paper order belongs to an existing user") from None
        if order_id is None:  # the client id is used: a resend, or a caller's bug
            existing = await rows.find_row(session, user, d.client_id)
            if existing is None:
                raise VenueError(f"paper order {d.client_id} is neither new nor found")
            return same_order(existing, d)
    return store.to_ref(inserted(order_id, values))
