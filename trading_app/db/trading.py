"""Tenant-scoped queries over positions and orders. Every function takes the user's address."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_rows import select_rows, select_statement, table_of
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Order, Position

# the engine's reads per signal are Core on the tables (the ORM's row loading cost more CPU than the
# database round trip); the rows still come back as the session's model objects
_POSITIONS = table_of(Position)
_ORDERS = table_of(Order)


def _for_execution() -> tuple[Select[Any], Select[Any]]:
    """`positions_for_execution`'s two statements (without and with a signal), built once."""
    p = _POSITIONS.c
    live_or_recent = or_(p.status.in_(ACTIVE_POSITION_STATUSES), p.closed_at >= bindparam("since"))
    on_network = and_(p.network == bindparam("net"), live_or_recent)
    mine = select_statement(Position).where(p.user_address == bindparam("who")).order_by(p.id)
    return mine.where(on_network), mine.where(or_(p.signal_id == bindparam("sid"), on_network))


# built once, with bound parameters: building the statement and its cache key per call cost more
# CPU than running it
_ON_NETWORK, _FOR_SIGNAL = _for_execution()
_ORDERS_OF = (
    select_statement(Order)
    .where(_ORDERS.c.user_address == bindparam("who"), _ORDERS.c.position_id == bindparam("pid"))
    .order_by(_ORDERS.c.id)
)


async def get_position(
    session: AsyncSession, user: str, position_id: int, *, for_update: bool = False
) -> Position | None:
    """One of the user's positions, or None (also when it belongs to someone else)."""
    query = select(Position).where(Position.id == position_id, Position.user_address == user)
    if for_update:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def active_position(session: AsyncSession, user: str, network: str, market: str) -> Position | None:
    """The user's live position in `market` on `network` (at most one exists)."""
    query = select(Position).where(
        Position.user_address == user,
        Position.network == network,
        Position.market == market,
        col(Position.status).in_(ACTIVE_POSITION_STATUSES),
    )
    return (await session.exec(query)).first()


async def position_for_signal(session: AsyncSession, user: str, signal_id: int) -> Position | None:
    """The position a signal opened, if any (used to resume after a crash)."""
    query = select(Position).where(Position.user_address == user, Position.signal_id == signal_id)
    return (await session.exec(query.order_by(col(Position.id).desc()))).first()


async def positions_for_execution(
    session: AsyncSession, user: str, network: str, signal_id: int | None, since: datetime
) -> list[Position]:
    """In one query, what executing a signal reads: the positions `signal_id` opened (any
    network), the user's live positions on `network`, and those closed there since `since`."""
    params = {"who": user, "net": network, "since": since}
    if signal_id is None:
        return await select_rows(session, Position, _ON_NETWORK, params)
    return await select_rows(session, Position, _FOR_SIGNAL, {**params, "sid": signal_id})


async def active_positions(session: AsyncSession, user: str, network: str | None = None) -> list[Position]:
    """The user's live positions, oldest first."""
    query = select(Position).where(
        Position.user_address == user, col(Position.status).in_(ACTIVE_POSITION_STATUSES)
    )
    if network is not None:
        query = query.where(Position.network == network)
    return list((await session.exec(query.order_by(col(Position.id)))).all())


async def count_active(session: AsyncSession, user: str, network: str) -> int:
    """How many live positions the user has on `network`."""
    query = select(func.count()).select_from(Position).where(
        Position.user_address == user,
        Position.network == network,
        col(Position.status).in_(ACTIVE_POSITION_STATUSES),
    )
    return int((await session.exec(query)).one())


async def realized_since(session: AsyncSession, user: str, network: str, since: datetime) -> Decimal:
    """Sum of realized PnL (fees included) of positions closed since `since`."""
    query = select(col(Position.realized_pnl)).where(
        Position.user_address == user,
        Position.network == network,
        col(Position.closed_at) >= since,
        col(Position.realized_pnl).is_not(None),
    )
    return sum((pnl for pnl in (await session.exec(query)).all() if pnl is not None), Decimal(0))


async def orders_of(session: AsyncSession, user: str, position_id: int) -> list[Order]:
    """Every order of one of the user's positions, in placement order."""
    return await select_rows(session, Order, _ORDERS_OF, {"who": user, "pid": position_id})


async def order_by_client_id(session: AsyncSession, user: str, network: str, client_id: int) -> Order | None:
    """The user's order with this client id on `network`."""
    query = select(Order).where(
        Order.user_address == user, Order.network == network, Order.client_id == client_id
    )
    return (await session.exec(query)).first()
