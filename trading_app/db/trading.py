"""Tenant-scoped queries over positions and orders. Every function takes the user's address."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Select, and_, bindparam, case, func, or_
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_rows import execute, object_from_row, select_rows, select_statement, table_of
from trading_app.db.models import ACTIVE_POSITION_STATUSES, Order, Position, TradingAccount, User
from trading_app.domain.enums import Network

# the engine's reads per signal are Core on the tables (the ORM's row loading cost more CPU than the
# database round trip); the rows still come back as the session's model objects
_POSITIONS = table_of(Position)
_ORDERS = table_of(Order)
_ACCOUNTS = table_of(TradingAccount)
_USERS = table_of(User)
PAPER = Network.PAPER.value  # the network a test alert, or a user without an account, trades on


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


def _account_and_positions() -> Select[Any]:
    """`account_and_positions`'s statement, built once: the user's row, their account if any and
    positions_for_execution's rows (with a signal) on the network the account decides."""
    a, p = _ACCOUNTS.c, _POSITIONS.c
    network = case((or_(bindparam("paper", type_=Boolean), a.address.is_(None)), PAPER), else_=a.network)
    live_or_recent = or_(p.status.in_(ACTIVE_POSITION_STATUSES), p.closed_at >= bindparam("since"))
    wanted = or_(p.signal_id == bindparam("sid"), and_(p.network == network, live_or_recent))
    return (
        core_select(*_ACCOUNTS.columns, *_POSITIONS.columns)
        .select_from(
            _USERS.outerjoin(_ACCOUNTS, a.address == _USERS.c.address)
            .outerjoin(_POSITIONS, and_(p.user_address == _USERS.c.address, wanted))
        )
        .where(_USERS.c.address == bindparam("who"))
        .order_by(p.id)
    )


_ACCOUNT_AND_POSITIONS = _account_and_positions()


async def account_and_positions(
    session: AsyncSession, user: str, paper: bool, signal_id: int | None, since: datetime
) -> tuple[TradingAccount | None, str, list[Position]]:
    """In one query, what executing a signal reads: the user's trading account (None without
    one), the network the signal trades on (paper for a test alert or without an account, else the
    account's) and `positions_for_execution`'s rows for that network."""
    params = {"who": user, "paper": paper, "sid": signal_id, "since": since}
    rows = (await execute(session, _ACCOUNT_AND_POSITIONS, params)).all()
    width = len(_ACCOUNTS.columns)
    account = None
    if rows and rows[0][0] is not None:
        account = object_from_row(session, TradingAccount, tuple(rows[0][:width]), refresh=False)
    network = PAPER if paper or account is None else account.network
    # a user without positions to read still has the one row (its position columns NULL)
    found = [tuple(r[width:]) for r in rows if r[width] is not None]
    positions = [object_from_row(session, Position, row, refresh=False) for row in found]
    return account, network, positions


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
