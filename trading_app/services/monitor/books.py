"""What we hold for the accounts a monitor tick reconciles: live positions and their orders.

A tick reads every account's venue first and our books after, in one batch for all of them
(`load_books_many`): a handful of queries per tick instead of a transaction per account, and the
books are at least as new as each venue snapshot they are compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import col, select

from trading_app.db.engine import session_scope
from trading_app.db.models import (
    ACTIVE_POSITION_STATUSES,
    WORKING_ORDER_STATUSES,
    Order,
    Position,
    Signal,
    TradingAccount,
)
from trading_app.domain.enums import PositionStatus
from trading_app.services.monitor.leases import Account

CHUNK = 200  # accounts per query: keeps IN lists well below the databases' parameter limits


@dataclass
class Books:
    """One account: its settings, live positions, their orders, and working orders of closed ones."""

    user: str
    network: str
    account: TradingAccount | None
    positions: list[Position]
    rows: list[Order]
    signals: dict[int, Signal]  # the signals of OPENING positions (is their executor still at it?)
    # where each position's rows are in `rows`: built once, not one scan of every row per position
    _places: dict[int | None, list[int]] | None = field(default=None, init=False, repr=False, compare=False)
    _indexed: int = field(default=-1, init=False, repr=False, compare=False)  # len(rows) when indexed

    def rows_of(self, position_id: int | None) -> list[Order]:
        """The position's rows, in the order of `rows` (as they are now: a row replaced in place by
        its synced version is answered as such)."""
        places = self._places
        if places is None or self._indexed != len(self.rows):
            # `rows` changes in place (rows[i] = its new version), never its length nor which
            # position a place holds; a list of another length is indexed afresh
            places, self._indexed = {}, len(self.rows)
            self._places = places
            for i, row in enumerate(self.rows):
                places.setdefault(row.position_id, []).append(i)
        found = [self.rows[i] for i in places.get(position_id, ())]
        if any(r.position_id != position_id for r in found):  # rows reordered: index them afresh
            self._places = None
            return self.rows_of(position_id)
        return found


async def load_books_many(accounts: Sequence[Account]) -> dict[Account, Books]:
    """The books of every account in `accounts`, each query scoped to those accounts' users."""
    found: dict[Account, Books] = {}
    wanted = sorted(set(accounts))
    for start in range(0, len(wanted), CHUNK):
        found.update(await _load(wanted[start : start + CHUNK]))
    return found


async def _load(accounts: list[Account]) -> dict[Account, Books]:
    users = sorted({u for u, _ in accounts})
    books = {a: Books(a[0], a[1], None, [], [], {}) for a in accounts}
    async with session_scope() as session:
        settings = await session.exec(select(TradingAccount).where(col(TradingAccount.address).in_(users)))
        for row in settings.all():
            for network in {n for u, n in accounts if u == row.address}:
                books[(row.address, network)].account = row
        live = await session.exec(
            select(Position)
            .where(
                col(Position.user_address).in_(users),
                col(Position.status).in_(ACTIVE_POSITION_STATUSES),
            )
            .order_by(col(Position.id))
        )
        for p in live.all():
            if (p.user_address, p.network) in books:
                books[(p.user_address, p.network)].positions.append(p)
        ids = [p.id for b in books.values() for p in b.positions]
        orders = await session.exec(
            select(Order)
            .where(
                col(Order.user_address).in_(users),
                or_(col(Order.position_id).in_(ids), col(Order.status).in_(WORKING_ORDER_STATUSES)),
            )
            .order_by(col(Order.id))
        )
        for o in orders.all():
            if (o.user_address, o.network) in books:
                books[(o.user_address, o.network)].rows.append(o)
        opening = [
            p.signal_id
            for b in books.values()
            for p in b.positions
            if p.status == PositionStatus.OPENING.value and p.signal_id
        ]
        if opening:
            signals = await session.exec(
                select(Signal).where(col(Signal.user_address).in_(users), col(Signal.id).in_(opening))
            )
            for s in signals.all():
                for b in books.values():
                    if b.user == s.user_address and s.id is not None:
                        b.signals[s.id] = s
    return books


async def load_books(user: str, network: str) -> Books:
    """One account's books."""
    return (await load_books_many([(user, network)]))[(user, network)]


async def oldest_open(user: str, network: str) -> datetime | None:
    """When the account's oldest live position was opened (None without one)."""
    async with session_scope() as session:
        found = await session.exec(
            select(func.min(Position.opened_at)).where(
                Position.user_address == user,
                Position.network == network,
                col(Position.status).in_(ACTIVE_POSITION_STATUSES),
            )
        )
        return found.one()


__all__ = ["Books", "load_books", "load_books_many", "oldest_open"]
