"""Helpers for monitor tests: a paper market on the fake indexer, positions opened by the engine,
direct access to the paper venue (to act "on the exchange" outside the engine), and a push recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_signal
from trading_app.db.engine import session_scope
from trading_app.db.models import Notification, Order, PaperOrder, Position
from trading_app.domain.clock import utcnow
from trading_app.services.engine import executor
from trading_app.services.notify import events
from trading_app.services.notify.notifier import get_notifier
from trading_app.venues.paper.prices import price_source_from_settings
from trading_app.venues.paper.venue import PaperVenue

D = Decimal


@pytest.fixture
def paper_market(fake_indexer: FakeIndexer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    """The paper venue priced by the fake indexer (BTC-USD 65,000, ETH-USD 3,000, SOL-USD 150)."""
    monkeypatch.setenv("PAPER_PRICE_SOURCE", fake_indexer.url)
    reset_app_caches()
    yield fake_indexer


@pytest.fixture
async def pushes() -> AsyncIterator[list[str]]:
    """Every `events.positions_changed(user)` call, in order."""
    seen: list[str] = []

    async def listener(user: str) -> None:
        seen.append(user)

    events.subscribe(listener)
    yield seen
    events.unsubscribe(listener)


def move(fake: FakeIndexer, market: str, price: Decimal | str) -> None:
    """Move the oracle price and make the price source read it now (it caches for a second)."""
    fake.set_price(market, D(price))
    price_source_from_settings().invalidate()  # type: ignore[attr-defined]


def paper(user: str) -> PaperVenue:
    """The user's paper account as the exchange sees it: a venue instance the engine does not own."""
    return PaperVenue(user, price_source_from_settings())


async def open_position(user: str, body: dict) -> Position:
    """Execute a signal through the engine and return the position it opened."""
    outcome = await executor.execute_signal(await make_signal(user, body))
    assert outcome is not None and outcome.position_id is not None, outcome and outcome.reason
    return await position(outcome.position_id)


async def position(position_id: int) -> Position:
    async with session_scope() as session:
        row = await session.get(Position, position_id)
    assert row is not None
    return row


async def rows(position_id: int) -> dict[str, list[Order]]:
    """The position's order rows by role, oldest first."""
    async with session_scope() as session:
        found = (
            await session.exec(select(Order).where(Order.position_id == position_id).order_by(col(Order.id)))
        ).all()
    by_role: dict[str, list[Order]] = {}
    for row in found:
        by_role.setdefault(row.role, []).append(row)
    return by_role


async def paper_order(user: str, client_id: int) -> PaperOrder:
    async with session_scope() as session:
        row = (
            await session.exec(
                select(PaperOrder).where(PaperOrder.user_address == user, PaperOrder.client_id == client_id)
            )
        ).one()
    return row


async def notifications(user: str, kind: str) -> list[Notification]:
    await get_notifier().drain(10)
    async with session_scope() as session:
        found = await session.exec(
            select(Notification)
            .where(Notification.user_address == user, Notification.kind == kind)
            .order_by(col(Notification.id))
        )
        return list(found.all())


async def age(position_id: int, *, status: str | None = None, seconds: float = 600) -> None:
    """Make a position look as if its last change happened `seconds` ago (a closer that died)."""
    values: dict[str, object] = {"updated_at": utcnow() - timedelta(seconds=seconds)}
    if status is not None:
        values["status"] = status
    async with session_scope() as session:
        stmt = update(Position).where(col(Position.id) == position_id).values(**values)
        await session.exec(stmt)  # type: ignore[call-overload]


LONG = {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl": "60000", "tp": "70000"}
