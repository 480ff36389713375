"""Order rows before they are sent: what to place (`OrderPlan`), the PENDING row committed under a
client id derived from our ids, and the venue reference a row carries.

The row is committed before the venue hears of the order, so a crash at any point leaves a row
whose client id the next attempt reuses (services/engine/order_flow.py sends it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_rows import execute, table_of, update_by
from trading_app.db.engine import autocommit_scope, session_scope
from trading_app.db.models import Order, User
from trading_app.db.trading import order_by_client_id
from trading_app.domain.enums import OrderRole, OrderStatus, OrderType, Side
from trading_app.domain.ids import MAX_ATTEMPT, client_id_for, repair_client_id
from trading_app.venues.base import OrderRef
from trading_app.venues.errors import OrderRejected

_USERS = table_of(User)


@dataclass(frozen=True)
class OrderPlan:
    """What to place, before it has a venue reference."""

    role: OrderRole
    order_type: OrderType
    side: Side
    size: Decimal
    price: Decimal | None = None  # limit price or worst price
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    level: int | None = None  # which take-profit level (scaling out); None for every other order


def required_price(*candidates: Decimal | None) -> Decimal:
    """The first price given. An order is never sent with a made-up one: a worst price of 0 on a
    market sell would accept any fill.

    Raises:
        OrderRejected: none was given (a plan built without its price), so nothing is sent.
    """
    for value in candidates:
        if value:
            return value
    raise OrderRejected("the order has no price; not sent")


async def record_plan(
    *,
    user: str,
    network: str,
    market: str,
    position_id: int | None,
    signal_id: int,
    attempt: int,
    plan: OrderPlan,
    known_new: bool = False,
) -> Order:
    """Commit the order row (PENDING) for `plan`, or return the row a previous try committed.

    `known_new` skips the lookup when the caller has just read the position's orders.
    """
    client_id = client_id_for(signal_id, plan.role, attempt)
    try:
        return await _insert_plan(user, network, market, position_id, signal_id, client_id, plan, known_new)
    except IntegrityError:
        # another worker (the monitor, a takeover) recorded the same order first: use theirs
        async with session_scope() as session:
            existing = await order_by_client_id(session, user, network, client_id)
        assert existing is not None
        return existing


async def _insert_plan(
    user: str,
    network: str,
    market: str,
    position_id: int | None,
    signal_id: int,
    client_id: int,
    plan: OrderPlan,
    known_new: bool,
) -> Order:
    async with session_scope() as session:
        existing = None if known_new else await order_by_client_id(session, user, network, client_id)
        if existing is not None:
            return existing
        row = _row(user, network, market, position_id, signal_id, client_id, plan)
        session.add(row)
    return row


def new_row(
    *,
    user: str,
    network: str,
    market: str,
    position_id: int | None,
    signal_id: int,
    attempt: int,
    plan: OrderPlan,
) -> Order:
    """The PENDING row for `plan`, not yet added: the caller commits it with its other writes."""
    client_id = client_id_for(signal_id, plan.role, attempt)
    return _row(user, network, market, position_id, signal_id, client_id, plan)


async def new_row_in(
    session: AsyncSession,
    *,
    user: str,
    network: str,
    market: str,
    position_id: int | None,
    signal_id: int,
    attempt: int,
    plan: OrderPlan,
) -> Order:
    """`new_row`, also past the signal's own attempts (or with no signal): then the row takes a
    fresh repair id from the user's sequence, in the caller's transaction."""
    if signal_id and attempt <= MAX_ATTEMPT:
        return new_row(
            user=user,
            network=network,
            market=market,
            position_id=position_id,
            signal_id=signal_id,
            attempt=attempt,
            plan=plan,
        )
    taken = await execute(
        session,
        update(_USERS)
        .where(_USERS.c.address == user)
        .values(repair_seq=_USERS.c.repair_seq + 1)
        .returning(_USERS.c.repair_seq),
    )
    return _row(
        user, network, market, position_id, signal_id, repair_client_id(int(taken.scalar_one())), plan
    )


def is_sent(row: Order) -> bool:
    """Whether the row says its order reached the venue (it carries the venue's reference). A
    `commit_by` alone does not: it is the venue's bound on an order it cannot say was ever sent
    (after a crash), or the deadline a dropped one missed."""
    return bool(row.venue_order_id or row.tx_hash or row.good_til_block or row.good_til_block_time)


async def forget_sent(row: Order) -> Order:
    """The venue guarantees this PENDING order does not exist (`OrderNotFound`): clear what said it
    was sent, so whoever needs it sends it again under the same client id. The missed `commit_by` is
    kept: asked again, the venue then answers OrderNotFound at once instead of a fresh bound."""
    async with autocommit_scope() as session:
        fresh = await update_by(
            session,
            Order,
            {"id": row.id, "user_address": row.user_address, "status": OrderStatus.PENDING.value},
            # updated_at is kept: nobody is sending this order now, so whoever needs it may at once
            {"tx_hash": None, "good_til_block": None, "good_til_block_time": None, "venue_order_id": None},
        )
        return fresh or row


def _row(
    user: str,
    network: str,
    market: str,
    position_id: int | None,
    signal_id: int,
    client_id: int,
    plan: OrderPlan,
) -> Order:
    return Order(
        user_address=user,
        position_id=position_id,
        signal_id=signal_id,
        network=network,
        market=market,
        role=plan.role.value,
        order_type=plan.order_type.value,
        side=plan.side.value,
        size=plan.size,
        price=plan.price,
        trigger_price=plan.trigger_price,
        reduce_only=plan.reduce_only,
        level=plan.level,
        client_id=client_id,
        status=OrderStatus.PENDING.value,
    )


def ref_of(row: Order) -> OrderRef:
    """The venue reference stored on an order row."""
    return OrderRef(
        client_id=row.client_id,
        market=row.market,
        order_type=OrderType(row.order_type),
        order_flags=row.order_flags,
        clob_pair_id=row.clob_pair_id,
        subaccount=row.subaccount,
        good_til_block=row.good_til_block,
        good_til_block_time=row.good_til_block_time,
        venue_order_id=row.venue_order_id or "",
        tx_hash=row.tx_hash or "",
        commit_by=row.commit_by,
    )
