"""Paper order rows through Core: read-only views for the reads that never write, and the few
writes that need no ORM object (a new order's INSERT, a cancel).

Most calls only read a user's live orders (is anything due? what is this order's state?). Loading
them as ORM objects costs far more CPU than the query itself, so those reads select the table's
columns with Core and keep them in `OrderRow`, a plain frozen value. Writes still load `PaperOrder`
objects, under the account lock. `OrderFacts` is what both offer to code that only reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.models import PaperFill, PaperOrder, PaperPosition
from trading_app.domain.enums import OrderStatus


class OrderFacts(Protocol):
    """What a read needs of an order: a `PaperOrder` or an `OrderRow`."""

    @property
    def id(self) -> int | None: ...
    @property
    def client_id(self) -> int: ...
    @property
    def market(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def order_type(self) -> str: ...
    @property
    def size(self) -> Decimal: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def trigger_price(self) -> Decimal | None: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def status(self) -> str: ...
    @property
    def filled(self) -> Decimal: ...
    @property
    def avg_fill_price(self) -> Decimal | None: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def removal_reason(self) -> str | None: ...
    @property
    def good_til(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One paper_orders row as a read saw it (the columns `OrderFacts` names, and its owner)."""

    id: int | None
    user_address: str
    client_id: int
    market: str
    side: str
    order_type: str
    size: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    status: str
    filled: Decimal
    avg_fill_price: Decimal | None
    fee: Decimal
    removal_reason: str | None
    good_til: datetime | None


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One paper_positions row as a read saw it (what an account read needs)."""

    user_address: str
    market: str
    size: Decimal
    entry_price: Decimal


@dataclass(frozen=True, slots=True)
class FillRow:
    """One paper_fills row as a read saw it."""

    id: int
    user_address: str
    client_id: int
    market: str
    side: str
    size: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    created_at: datetime


ORDERS: Table = PaperOrder.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
LIVE_STATUSES = (OrderStatus.OPEN.value, OrderStatus.UNTRIGGERED.value, OrderStatus.PARTIALLY_FILLED.value)
_FIELDS = list(OrderRow.__dataclass_fields__)  # "id" first
_COLUMNS = [ORDERS.c[name] for name in _FIELDS]

POSITIONS: Table = PaperPosition.__table__  # type: ignore[attr-defined]
FILLS: Table = PaperFill.__table__  # type: ignore[attr-defined]
POSITION_COLUMNS = [POSITIONS.c[name] for name in PositionRow.__dataclass_fields__]
FILL_COLUMNS = [FILLS.c[name] for name in FillRow.__dataclass_fields__]
ORDER_COLUMNS = _COLUMNS

# built once, with bound parameters: building and hashing a statement per call costs more CPU
# than running it
_OWNER = ORDERS.c.user_address == bindparam("who")
_LIVE = ORDERS.c.status.in_(LIVE_STATUSES)
_ONE = ORDERS.c.client_id == bindparam("cid")
_LIVE_ROWS = select(*_COLUMNS).where(_OWNER, _LIVE).order_by(ORDERS.c.id)
_LIVE_AND_ONE = select(*_COLUMNS).where(_OWNER, or_(_LIVE, _ONE)).order_by(ORDERS.c.id)
_FIND = select(*_COLUMNS).where(_OWNER, _ONE)
_CANCEL = (
    update(ORDERS)
    .where(_OWNER, _ONE, _LIVE)
    .values(status=OrderStatus.CANCELED.value, removal_reason="USER_CANCELED", updated_at=bindparam("at"))
)
_INSERTS = {
    dialect: insert(ORDERS)
    .on_conflict_do_nothing(index_elements=["user_address", "client_id"])
    .returning(ORDERS.c.id)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


async def live_rows(session: AsyncSession, user: str, client_id: int | None = None) -> list[OrderRow]:
    """The user's open, partially filled and untriggered orders, oldest first, with the order of
    `client_id` too (live or not): one query."""
    if client_id is None:
        found = await session.execute(_LIVE_ROWS, {"who": user})
    else:
        found = await session.execute(_LIVE_AND_ONE, {"who": user, "cid": client_id})
    return [OrderRow(*r) for r in found.all()]


async def find_row(session: AsyncSession, user: str, client_id: int) -> OrderRow | None:
    """The user's order `client_id`, None if there is none."""
    found = (await session.execute(_FIND, {"who": user, "cid": client_id})).first()
    return OrderRow(*found) if found is not None else None


async def insert_order(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert a new order row (every column but its id) unless its client id is used: its id, or
    None when used. The caller holds the account lock, so nothing else inserts that client id."""
    stmt = _INSERTS[session.get_bind().dialect.name]
    found = (await session.execute(stmt, values)).first()
    return None if found is None else int(found[0])


async def cancel_live(session: AsyncSession, user: str, client_id: int, now: datetime) -> None:
    """Cancel the user's order `client_id` if it is still live (the caller holds the account lock)."""
    await session.execute(_CANCEL, {"who": user, "cid": client_id, "at": now})


def inserted(order_id: int, values: Mapping[str, Any]) -> OrderRow:
    """The `OrderRow` of an order just inserted with `values` (every column but its id)."""
    return OrderRow(order_id, *(values[name] for name in _FIELDS[1:]))


async def fill_rows(
    session: AsyncSession, user: str, market: str | None, since: datetime | None
) -> list[FillRow]:
    """The user's fills (in `market`, if given) after `since` (exclusive), oldest first."""
    stmt = select(*FILL_COLUMNS).where(FILLS.c.user_address == user)
    if market is not None:
        stmt = stmt.where(FILLS.c.market == market)
    if since is not None:
        stmt = stmt.where(FILLS.c.created_at > since)
    found = await session.execute(stmt.order_by(FILLS.c.created_at, FILLS.c.id))
    return [FillRow(*r) for r in found.all()]
