"""The paper venue's own books: the simulated exchange's tables (they survive restarts)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from trading_app.db.columns import money_field as _money
from trading_app.db.columns import time_field as _time

__all__ = ["PaperAccount", "PaperFill", "PaperOrder", "PaperPosition"]


class PaperAccount(SQLModel, table=True):
    """A user's paper collateral in USD."""

    __tablename__ = "paper_accounts"

    user_address: str = Field(foreign_key="users.address", primary_key=True, max_length=42)
    collateral: Decimal = _money(default=Decimal("10000"))
    created_at: datetime = _time()
    updated_at: datetime = _time()


class PaperOrder(SQLModel, table=True):
    """An order resting on, or filled by, the paper venue."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        UniqueConstraint("user_address", "client_id", name="uq_paper_orders_client"),
        Index("ix_paper_orders_user_status", "user_address", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_address: str = Field(foreign_key="users.address", max_length=42)
    client_id: int = Field(sa_column=Column(BigInteger, nullable=False))  # uint32: above int4's range
    market: str = Field(max_length=32)
    side: str = Field(max_length=8)
    order_type: str = Field(max_length=24)
    size: Decimal = _money(default=Decimal(0))
    price: Decimal | None = _money(nullable=True)
    trigger_price: Decimal | None = _money(nullable=True)
    reduce_only: bool = Field(default=False)
    status: str = Field(max_length=20)
    filled: Decimal = _money(default=Decimal(0))
    avg_fill_price: Decimal | None = _money(nullable=True)
    fee: Decimal = _money(default=Decimal(0))
    removal_reason: str | None = Field(default=None, max_length=64)
    good_til: datetime | None = _time(nullable=True)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class PaperFill(SQLModel, table=True):
    """One paper execution."""

    __tablename__ = "paper_fills"
    __table_args__ = (Index("ix_paper_fills_user_time", "user_address", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_address: str = Field(foreign_key="users.address", max_length=42)
    order_id: int = Field(foreign_key="paper_orders.id")
    client_id: int = Field(sa_column=Column(BigInteger, nullable=False))  # uint32: above int4's range
    market: str = Field(max_length=32)
    side: str = Field(max_length=8)
    size: Decimal = _money(default=Decimal(0))
    price: Decimal = _money(default=Decimal(0))
    fee: Decimal = _money(default=Decimal(0))
    liquidity: str = Field(default="TAKER", max_length=8)
    created_at: datetime = _time()


class PaperPosition(SQLModel, table=True):
    """A net paper position per user and market; size is signed (negative is short)."""

    __tablename__ = "paper_positions"

    user_address: str = Field(foreign_key="users.address", primary_key=True, max_length=42)
    market: str = Field(primary_key=True, max_length=32)
    size: Decimal = _money(default=Decimal(0))
    entry_price: Decimal = _money(default=Decimal(0))
    realized_pnl: Decimal = _money(default=Decimal(0))
    updated_at: datetime = _time()
