"""One user's paper books inside one locked transaction: read once, changed in memory, written once.

`Ledger` changes the account, positions and orders it is given and books new fills. Tracking those
changes through the ORM's unit of work cost more CPU than the whole SQL; here the rows are plain
objects outside the session, and `Books.write` sends what changed with Core statements built once
(each an UPDATE or INSERT by primary key, several rows per statement). Only ever used after
`store.lock_account`: nothing else writes these rows meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.models import PaperAccount, PaperFill, PaperOrder, PaperPosition
from trading_app.venues.paper.rows import ORDERS, OrderRow

POSITIONS: Table = PaperPosition.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
ACCOUNTS: Table = PaperAccount.__table__  # type: ignore[attr-defined]
FILLS: Table = PaperFill.__table__  # type: ignore[attr-defined]

_ORDER_STATE = ("status", "filled", "avg_fill_price", "fee", "removal_reason", "updated_at")
_POSITION_STATE = ("size", "entry_price", "realized_pnl", "updated_at")
_FILL_COLUMNS = tuple(c.name for c in FILLS.columns if c.name != "id")

_READ_POSITIONS = select(POSITIONS).where(POSITIONS.c.user_address == bindparam("who"))
_NEW_POSITION_COLUMNS = ("user_address", "market", *_POSITION_STATE)


def _bound(table: Table, names: tuple[str, ...], prefix: str, named: str = "") -> dict[str, Any]:
    return {n: bindparam(f"{prefix}{named}{n}", type_=table.c[n].type) for n in names}


# how each kind of write is built, its bound parameters' names after `prefix`; bound parameters take
# other names than the columns (SQLAlchemy reserves those in an UPDATE)
_BUILD: dict[str, Callable[[str], Any]] = {
    "order": lambda pre: update(ORDERS)
    .where(ORDERS.c.id == bindparam(f"{pre}v_id"))
    .values(_bound(ORDERS, _ORDER_STATE, pre, "v_")),
    "new_position": lambda pre: insert(POSITIONS).values(_bound(POSITIONS, _NEW_POSITION_COLUMNS, pre)),
    "position": lambda pre: update(POSITIONS)
    .where(POSITIONS.c.user_address == bindparam(f"{pre}who"))
    .where(POSITIONS.c.market == bindparam(f"{pre}v_market"))
    .values(_bound(POSITIONS, _POSITION_STATE, pre, "v_")),
    "fill": lambda pre: insert(FILLS).values(_bound(FILLS, _FILL_COLUMNS, pre)),
    "account": lambda pre: update(ACCOUNTS)
    .where(ACCOUNTS.c.user_address == bindparam(f"{pre}who"))
    .values(_bound(ACCOUNTS, ("collateral", "updated_at"), pre, "v_")),
}
_SINGLE = {kind: build("") for kind, build in _BUILD.items()}  # built once
MAX_ONE_STATEMENT = 8  # rows written by one statement at most (a mass fill writes statement by statement)


@lru_cache(maxsize=128)
def _one_statement(kinds: tuple[str, ...]) -> Any:
    """On PostgreSQL: every write of `kinds` (one row each, in order) as one statement, the first
    ones as data-modifying WITH queries of the last; the parameters of write j are named `wj_...`."""
    *first, last = (_BUILD[kind](f"w{j}_") for j, kind in enumerate(kinds))
    statement = last
    for j, part in enumerate(first):
        statement = statement.add_cte(part.cte(f"w{j}"))
    return statement


async def _send(session: AsyncSession, writes: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Send `writes` (kind, rows): on PostgreSQL in one round trip when they are few (one statement
    is all or nothing, like the transaction around it; its parts change different rows, and every
    value was decided before, so their order inside it does not matter); else one statement a kind."""
    rows = [(kind, row) for kind, batch in writes for row in batch]
    if len(rows) < 2 or len(rows) > MAX_ONE_STATEMENT or session.get_bind().dialect.name != "postgresql":
        for kind, batch in writes:
            await session.execute(_SINGLE[kind], batch if len(batch) > 1 else batch[0])
        return
    params: dict[str, Any] = {}
    for j, (_, row) in enumerate(rows):
        params.update({f"w{j}_{k}": v for k, v in row.items()})
    await session.execute(_one_statement(tuple(kind for kind, _ in rows)), params)


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
        """Send every change: orders, positions, fills, then the account (one statement on PostgreSQL
        when they are few)."""
        writes: list[tuple[str, list[dict[str, Any]]]] = []
        orders = [
            {"v_id": o.id, **{f"v_{n}": getattr(o, n) for n in _ORDER_STATE}}
            for o, was in self._orders
            if _state(o, _ORDER_STATE) != was
        ]
        if orders:
            writes.append(("order", orders))
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
            writes.append(("new_position", new))
        if changed:
            writes.append(("position", changed))
        if self._fills:
            writes.append(("fill", self._fills))
            self._fills = []
        a = self.account
        if (a.collateral, a.updated_at) != self._account_was:
            account = {"who": self.user, "v_collateral": a.collateral, "v_updated_at": a.updated_at}
            writes.append(("account", [account]))
        if writes:
            await _send(self.session, writes)


def editable(row: OrderRow) -> PaperOrder:
    """A `PaperOrder` (outside any session) with the values of `row`, for the ledger to change."""
    return PaperOrder(**{name: getattr(row, name) for name in OrderRow.__dataclass_fields__})


__all__ = ["Books", "editable"]
