"""The paper venue's books in the database: queries scoped to one user, and row <-> value mapping.

Every mutation of a user's paper books happens inside `lock_account`, which takes that user's
account row for writing first. On PostgreSQL that is a row lock (other users run in parallel);
on SQLite it takes the database's write lock up front, so what the transaction reads afterwards
cannot change under it. Either way two workers can never fill the same order twice.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import session_scope
from trading_app.db.models import PaperAccount, PaperOrder, PaperPosition
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import OrderStatus, OrderType, PositionSide, Side
from trading_app.venues.base import Fill, OrderRef, OrderReport, VenuePosition
from trading_app.venues.errors import VenueError
from trading_app.venues.paper.rows import FillRow, OrderFacts, PositionRow

ACCOUNTS: Table = PaperAccount.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models


# dYdX order flags, so paper refs look like the real venue's: short-term, conditional, long-term
ORDER_FLAGS = {
    OrderType.MARKET: 0,
    OrderType.STOP_MARKET: 32,
    OrderType.TAKE_PROFIT_MARKET: 32,
    OrderType.LIMIT: 64,
}


async def ensure_account(user: str, starting_collateral: Decimal) -> None:
    """Create the user's paper account with its starting collateral unless it exists.

    Raises:
        VenueError: there is no such user.
    """
    async with session_scope() as session:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        now = utcnow()
        stmt = insert(PaperAccount).values(
            user_address=user, collateral=starting_collateral, created_at=now, updated_at=now
        )
        try:
            await session.exec(stmt.on_conflict_do_nothing(index_elements=["user_address"]))
        except IntegrityError:
            raise VenueError(f"no user {user}: a paper account belongs to an existing user") from None


# one Core statement, built once: the UPDATE takes the lock and RETURNING gives the row
_LOCK = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.user_address == bindparam("who"))
    .values(updated_at=bindparam("at"))
    .returning(ACCOUNTS.c.collateral, ACCOUNTS.c.created_at)
)


async def lock_account(session: AsyncSession, user: str) -> PaperAccount | None:
    """Take the user's account row for writing and return it (None if it does not exist).

    The row is a plain object outside the session: changes to it are written by `Books.write`.
    """
    now = utcnow()
    found = (await session.execute(_LOCK, {"who": user, "at": now})).first()
    if found is None:
        return None
    return PaperAccount(user_address=user, collateral=found[0], created_at=found[1], updated_at=now)


async def read_account(session: AsyncSession, user: str) -> PaperAccount | None:
    return (await session.exec(select(PaperAccount).where(PaperAccount.user_address == user))).first()


async def find_order(session: AsyncSession, user: str, client_id: int) -> PaperOrder | None:
    stmt = select(PaperOrder).where(PaperOrder.user_address == user, PaperOrder.client_id == client_id)
    return (await session.exec(stmt)).first()


async def positions(session: AsyncSession, user: str) -> list[PaperPosition]:
    stmt = select(PaperPosition).where(PaperPosition.user_address == user).order_by(col(PaperPosition.market))
    return list((await session.exec(stmt)).all())


async def holders(session: AsyncSession) -> list[str]:
    """Every user holding a paper position (a system-wide read: the monitor's watch list)."""
    # the size is compared here: SQLite keeps money as text, where "0.000" != 0
    found = await session.exec(select(col(PaperPosition.user_address), col(PaperPosition.size)))
    return sorted({user for user, size in found.all() if size != 0})


def to_ref(order: OrderFacts) -> OrderRef:
    kind = OrderType(order.order_type)
    gtbt = int(order.good_til.timestamp()) if order.good_til is not None else None
    return OrderRef(
        client_id=order.client_id,
        market=order.market,
        order_type=kind,
        order_flags=ORDER_FLAGS[kind],
        good_til_block_time=gtbt,
        venue_order_id=str(order.id),
    )


def to_report(order: OrderFacts) -> OrderReport:
    return OrderReport(
        ref=to_ref(order),
        status=OrderStatus(order.status),
        side=Side(order.side),
        size=order.size,
        filled=order.filled,
        avg_fill_price=order.avg_fill_price,
        fee=order.fee,
        trigger_price=order.trigger_price,
        reduce_only=order.reduce_only,
        removal_reason=order.removal_reason,
    )


def to_fill(row: FillRow) -> Fill:
    return Fill(
        fill_id=f"paper-{row.id}",
        client_id=row.client_id,
        market=row.market,
        side=Side(row.side),
        size=row.size,
        price=row.price,
        fee=row.fee,
        time=row.created_at,
        liquidity=row.liquidity,
    )


def to_position(row: PositionRow, oracle: Decimal) -> VenuePosition:
    side = PositionSide.LONG if row.size > 0 else PositionSide.SHORT
    return VenuePosition(
        market=row.market,
        side=side,
        size=abs(row.size),
        entry_price=row.entry_price,
        unrealized_pnl=row.size * (oracle - row.entry_price),
    )
