"""Tenant-scoped queries over positions and orders. Every function takes the user's address."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_rows import select_objects, table_of
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Order, Position

# the engine's reads per signal are Core on the tables (the ORM's row loading cost more CPU than the
# database round trip); the rows still come back as the session's model objects
_POSITIONS = table_of(Position)
_ORDERS = table_of(Order)


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
    p = _POSITIONS.c
    live_or_recent = or_(p.status.in_(ACTIVE_POSITION_STATUSES), p.closed_at >= since)
    on_network = and_(p.network == network, live_or_recent)
    wanted = on_network if signal_id is None else or_(p.signal_id == signal_id, on_network)
    return await select_objects(session, Position, [p.user_address == user, wanted], [p.id])


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
    o = _ORDERS.c
    mine = [o.user_address == user, o.position_id == position_id]
    return await select_objects(session, Order, mine, [o.id])


async def order_by_client_id(session: AsyncSession, user: str, network: str, client_id: int) -> Order | None:
    """The user's order with this client id on `network`."""
    query = select(Order).where(
        Order.user_address == user, Order.network == network, Order.client_id == client_id
    )
    return (await session.exec(query)).first()
