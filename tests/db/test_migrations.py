"""The same Alembic revisions build the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from trading_app.db import models
from trading_app.db.engine import session_scope
from trading_app.domain.clock import utcnow


def _sync_url(url: str) -> str:
    return url


def test_migrations_create_every_table(db_url: str) -> None:
    engine = create_engine(_sync_url(db_url))
    try:
        inspector = inspect(engine)
        tables = set(inspector.get_table_names())
        expected = set(SQLModel.metadata.tables)
        assert expected <= tables, expected - tables
        for name, table in SQLModel.metadata.tables.items():
            migrated = {c["name"] for c in inspector.get_columns(name)}
            assert migrated == {c.name for c in table.columns}, name
        indexes = {ix["name"] for ix in inspector.get_indexes("users")}
        assert "ix_users_webhook_uuid" in indexes
        assert "ix_positions_user_status" in {ix["name"] for ix in inspector.get_indexes("positions")}
        assert "ix_signals_user_received" in {ix["name"] for ix in inspector.get_indexes("signals")}
    finally:
        engine.dispose()


def test_migrations_match_models(db_url: str) -> None:
    """Autogenerate against the migrated database finds nothing to add: models and revisions agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        # type comparisons of custom types are noisy across dialects; structure must match
        structural = [d for d in diff if not (isinstance(d, list) or d[0].startswith("modify_"))]
        assert structural == []
    finally:
        engine.dispose()


async def test_money_and_time_round_trip_exactly(db_url: str) -> None:
    now = utcnow()
    async with session_scope() as s:
        s.add(models.User(address="0x" + "a" * 40, webhook_uuid="u-1", webhook_secret_enc="x"))
        await s.flush()
        s.add(
            models.Position(
                user_address="0x" + "a" * 40,
                network="paper",
                market="BTC-USD",
                side="LONG",
                size=Decimal("0.0003"),
                entry_price=Decimal("65000.123456789012345678"),
                status="OPEN",
                opened_at=now,
            )
        )
    async with session_scope() as s:
        from sqlmodel import select

        pos = (await s.exec(select(models.Position))).one()
    assert pos.size == Decimal("0.0003")
    assert pos.entry_price == Decimal("65000.123456789012345678")
    assert pos.opened_at == now and pos.opened_at.tzinfo is not None


async def test_one_active_position_per_user_and_market(db_url: str) -> None:
    user = "0x" + "b" * 40
    async with session_scope() as s:
        s.add(models.User(address=user, webhook_uuid="u-2", webhook_secret_enc="x"))
    row = dict(user_address=user, network="paper", market="ETH-USD", side="LONG")
    async with session_scope() as s:
        s.add(models.Position(**row, status="OPEN"))
    with pytest.raises(IntegrityError):
        async with session_scope() as s:
            s.add(models.Position(**row, status="OPENING"))
    async with session_scope() as s:  # closed positions do not count
        s.add(models.Position(**row, status="CLOSED"))
        s.add(models.Position(**row, status="CLOSED"))


async def test_float_money_is_refused(db_url: str) -> None:
    with pytest.raises(Exception, match="Decimal"):
        async with session_scope() as s:
            s.add(models.PaperAccount(user_address="0x" + "c" * 40, collateral=1.5))  # type: ignore[arg-type]


async def test_client_ids_use_the_whole_uint32_range(db_url: str) -> None:
    user = "0x" + "d" * 40
    async with session_scope() as s:
        s.add(models.User(address=user, webhook_uuid="u-4", webhook_secret_enc="x"))
        await s.flush()
        s.add(models.Order(user_address=user, network="paper", market="BTC-USD", role="ENTRY",
                           order_type="MARKET", side="BUY", client_id=2**32 - 1, status="PENDING"))
    async with session_scope() as s:
        from sqlmodel import select

        assert (await s.exec(select(models.Order.client_id))).one() == 2**32 - 1


def test_the_story_of_each_alert_has_its_table(db_url: str) -> None:
    """signal_events (an alert's timeline, looked up by signal and time) and signals.stored_at."""
    engine = create_engine(_sync_url(db_url))
    try:
        inspector = inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns("signal_events")}
        assert set(columns) == {"id", "signal_id", "user_address", "phase", "at", "detail"}
        assert not columns["at"]["nullable"] and columns["detail"]["nullable"]
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("signal_events")}
        assert indexes["ix_signal_events_signal"] == ["signal_id", "at"]
        targets = {fk["referred_table"] for fk in inspector.get_foreign_keys("signal_events")}
        assert targets == {"users"}  # no FK to signals: a story line never fails a stop-loss transaction
        stored = next(c for c in inspector.get_columns("signals") if c["name"] == "stored_at")
        assert stored["nullable"]  # alerts stored before it have none
    finally:
        engine.dispose()
