"""Column helpers shared by the table modules: exact money and UTC timestamps."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field

from trading_app.db.types import Money, UTCDateTime
from trading_app.domain.clock import utcnow

__all__ = ["money_field", "time_field"]


# Both return what SQLModel's own `Field` returns, `Any`: the value is a FieldInfo at class creation,
# and the annotation beside it (`Decimal`, `datetime | None`) is the attribute's type on an instance.
def money_field(nullable: bool = False, default: Decimal | None = None) -> Any:
    return Field(default=default, sa_column=Column(Money(), nullable=nullable))


def time_field(nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index))
