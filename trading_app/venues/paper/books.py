"""One user's paper books inside one locked transaction: read once, changed in memory, written once.

`Ledger` changes the account, positions and orders it is given and books new fills. Tracking those
changes through the ORM's unit of work cost more CPU than the whole SQL; here the rows are plain
objects outside the session, and `Books.write` sends what changed with Core statements built once
(each an UPDATE or INSERT by primary key, several rows per statement). Only ever used after
`store.lock_account`: nothing else writes these rows meanwhile.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.models import PaperAccount, PaperFill, PaperOrder, PaperPosition
from trading_app.venues.paper.rows import ORDERS, OrderRow

POSITIONS: Table = PaperPosition.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
ACCOUNTS: Table = PaperAccount.__table__  # type: ignore[attr-defined]
FILLS: Table = PaperFill.__table__  # type: ignore[attr-defined]

_ORDER_STATE = ("status", "filled", "avg_fill_price", "fee", "removal_reason", "updated_at")
_POSITION_STATE = ("size", "entry_price", "realized_pnl", "updated_at")
_FILL_COLUMNS = tuple(c.name for c in FILLS.columns if c.name != "id")

# bound parameters take other names than the columns (SQLAlchemy reserves those in an UPDATE)
_READ_POSITIONS = select(POSITIONS).where(POSITIONS.c.user_address == bindparam("who"))
_WRITE_ACCOUNT = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.user_address == bindparam("who"))
    .values(collateral=bindparam("v_collateral"), updated_at=bindparam("v_updated_at"))
)
_WRITE_ORDER = (
    update(ORDERS)
    .where(ORDERS.c.id == bindparam("v_id"))
    .values({name: bindparam(f"v_{name}") for name in _ORDER_STATE})
)
_WRITE_POSITION = (
    update(POSITIONS)
    .where(POSITIONS.c.user_address == bindparam("who"), POSITIONS.c.market == bindparam("v_market"))
    .values({name: bindparam(f"v_{name}") for name in _POSITION_STATE})
)
_NEW_POSITION = POSITIONS.insert()
_NEW_FILLS = FILLS.insert()


def _state(row: object, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in names)


class Books:
    """The user's rows one execution reads and changes (the caller holds the account lock).

    Args:
        session: the transaction that locked the account.
        account: the locked account row (`store.lock_account`).
    """

    def __init__(self, session: AsyncSession, account: PaperAccount) -> None:
        self.session = session
        self.account = account
        self.user = account.user_address
        self._account_was = (account.collateral, account.updated_at)
        self._positions: dict[str, PaperPosition] | None = None
        self._positions_were: dict[str, tuple[Any, ...]] = {}
        self._orders: list[tuple[PaperOrder, tuple[Any, ...]]] = []
        self._fills: list[dict[str, Any]] = []

    async def positions(self) -> dict[str, PaperPosition]:
        """Every position row of the user (flat ones too) by market, read once."""
        if self._positions is None:
            found = await self.session.execute(_READ_POSITIONS, {"who": self.user})
            self._positions = {r.market: PaperPosition(**r._asdict()) for r in found.all()}
            self._positions_were = {m: _state(p, _POSITION_STATE) for m, p in self._positions.items()}
        return self._positions

    async def position(self, market: str) -> PaperPosition:
        """The user's position in `market`, a new flat one if there is none yet."""
        found = await self.positions()
        row = found.get(market)
        if row is None:
            row = found[market] = PaperPosition(
                user_address=self.user,
                market=market,
                size=Decimal(0),
                entry_price=Decimal(0),
                realized_pnl=Decimal(0),
            )
        return row

    def track(self, order: PaperOrder) -> PaperOrder:
        """Have `write` save whatever the ledger changes in `order` (a row with its id)."""
        self._orders.append((order, _state(order, _ORDER_STATE)))
        return order

    def add_fill(self, fill: PaperFill) -> None:
        """Book a new fill (inserted by `write`)."""
        self._fills.append({name: getattr(fill, name) for name in _FILL_COLUMNS})

    async def write(self) -> None:
        """Send every change: orders, positions, fills, then the account."""
        orders = [
            {"v_id": o.id, **{f"v_{n}": getattr(o, n) for n in _ORDER_STATE}}
            for o, was in self._orders
            if _state(o, _ORDER_STATE) != was
        ]
        if orders:
            await self.session.execute(_WRITE_ORDER, orders)
        changed, new = [], []
        for market, p in (self._positions or {}).items():
            was = self._positions_were.get(market)
            if was is None:
                new.append(
                    {
                        "user_address": self.user,
                        "market": market,
                        **{n: getattr(p, n) for n in _POSITION_STATE},
                    }
                )
            elif _state(p, _POSITION_STATE) != was:
                changed.append(
                    {
                        "who": self.user,
                        "v_market": market,
                        **{f"v_{n}": getattr(p, n) for n in _POSITION_STATE},
                    }
                )
        if new:
            await self.session.execute(_NEW_POSITION, new)
        if changed:
            await self.session.execute(_WRITE_POSITION, changed)
        if self._fills:
            await self.session.execute(_NEW_FILLS, self._fills)
            self._fills = []
        a = self.account
        if (a.collateral, a.updated_at) != self._account_was:
            await self.session.execute(
                _WRITE_ACCOUNT, {"who": self.user, "v_collateral": a.collateral, "v_updated_at": a.updated_at}
            )


def editable(row: OrderRow) -> PaperOrder:
    """A `PaperOrder` (outside any session) with the values of `row`, for the ledger to change."""
    return PaperOrder(**{name: getattr(row, name) for name in OrderRow.__dataclass_fields__})


__all__ = ["Books", "editable"]
