"""Read-only views of paper order rows, for the reads that never write.

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

from sqlalchemy import Select, Table, select

from trading_app.db.models import PaperOrder


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


ORDERS: Table = PaperOrder.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
_FIELDS = list(OrderRow.__dataclass_fields__)  # "id" first
_COLUMNS = [ORDERS.c[name] for name in _FIELDS]


def select_rows() -> Select[Any]:
    """A Core SELECT of the columns `OrderRow` keeps (add the WHERE and ORDER BY)."""
    return select(*_COLUMNS)


def to_row(found: Any) -> OrderRow:
    """An `OrderRow` from one row of `select_rows()`."""
    return OrderRow(*found)


def inserted(order_id: int, values: Mapping[str, Any]) -> OrderRow:
    """The `OrderRow` of an order just inserted with `values` (every column but its id)."""
    return OrderRow(order_id, *(values[name] for name in _FIELDS[1:]))
