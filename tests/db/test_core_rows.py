"""Core UPDATE ... RETURNING on a model's table, answered with the session's model objects."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import event, update

from trading_app.db.core_rows import (
    insert_objects,
    select_objects,
    table_of,
    update_by,
    update_returning,
)
from trading_app.db.engine import get_engine, session_scope
from trading_app.db.models import Order, User
from trading_app.services.security.secrets import seal

_ORDERS = table_of(Order)


async def _order(n: int = 1) -> Order:
    address = "0x" + f"{n:040x}"
    async with session_scope() as session:
        session.add(
            User(
                address=address,
                webhook_uuid=str(uuid.uuid4()),
                webhook_secret_enc=seal(address, "webhook_secret_enc", "s"),
            )
        )
        await session.flush()
        row = Order(
            user_address=address,
            network="paper",
            market="BTC-USD",
            role="ENTRY",
            order_type="MARKET",
            side="BUY",
            size=Decimal("0.000000000000000001"),
            client_id=4_000_000_000,
            status="PENDING",
        )
        session.add(row)
    return row


def _mine(row: Order) -> list:
    return [_ORDERS.c.id == row.id, _ORDERS.c.user_address == row.user_address]


async def test_money_round_trips_exactly_and_the_object_is_a_persistent_copy(db_url: str) -> None:
    row = await _order()
    price = Decimal("1234567890.123456789012345678")  # 28 digits: the decimal context's precision
    async with session_scope() as session:
        done = await update_returning(
            session, Order, _mine(row), {"avg_fill_price": price, "status": "FILLED"}
        )
        assert done is not None and done is not row
        assert done.avg_fill_price == price and isinstance(done.avg_fill_price, Decimal)
        assert done.size == Decimal("0.000000000000000001") and done.client_id == 4_000_000_000
        assert done.created_at.tzinfo is not None
        # the session knows the row: a read answers this object, a change flushes as an UPDATE
        assert await session.get(Order, row.id) is done
        done.fee = Decimal("0.5")
    async with session_scope() as session:
        again = await session.get(Order, row.id)
        assert again is not None and again.fee == Decimal("0.5") and again.avg_fill_price == price
        assert again.status == "FILLED"
    # added to another session later (detached, not transient): an UPDATE, never a second row
    done.fee = Decimal("0.25")
    async with session_scope() as session:
        session.add(done)
    async with session_scope() as session:
        rows = (await session.exec(_ORDERS.select().where(_ORDERS.c.user_address == row.user_address))).all()  # type: ignore[call-overload]
        assert len(rows) == 1 and rows[0].fee == Decimal("0.25")


async def test_no_match_changes_nothing(db_url: str) -> None:
    row = await _order()
    async with session_scope() as session:
        mine = [*_mine(row), _ORDERS.c.status == "OPEN"]  # the guard does not hold
        assert await update_returning(session, Order, mine, {"status": "FILLED"}) is None
        held = await session.get(Order, row.id)
        assert held is not None and held.status == "PENDING"


async def test_an_object_the_session_holds_is_refreshed_not_duplicated(db_url: str) -> None:
    row = await _order()
    async with session_scope() as session:
        held = await session.get(Order, row.id)
        assert held is not None
        done = await update_returning(
            session, Order, _mine(row), {"filled_size": _ORDERS.c.filled_size + Decimal("1.5")}
        )
        assert done is held and held.filled_size == Decimal("1.5")
        # refreshed as committed state: nothing left to flush for it
        assert held not in session.dirty


async def test_pending_changes_are_flushed_before_the_statement(db_url: str) -> None:
    row = await _order()
    async with session_scope() as session:
        held = await session.get(Order, row.id)
        assert held is not None
        held.status = "OPEN"  # not flushed yet: the guard below must see it, as the ORM's autoflush did
        done = await update_returning(session, Order, [*_mine(row), _ORDERS.c.status == "OPEN"], {"fee": 1})
        assert done is held and held.fee == Decimal(1) and held.status == "OPEN"


async def test_another_users_row_is_not_touched(db_url: str) -> None:
    row = await _order(1)
    other = "0x" + f"{2:040x}"
    async with session_scope() as session:
        where = [_ORDERS.c.id == row.id, _ORDERS.c.user_address == other]
        assert await update_returning(session, Order, where, {"status": "FILLED"}) is None


def _new_order(address: str, client_id: int, trigger_price: Decimal) -> Order:
    return Order(
        user_address=address,
        network="paper",
        market="ETH-USD",
        role="STOP_LOSS",
        order_type="STOP_MARKET",
        side="SELL",
        size=Decimal("2.5"),
        client_id=client_id,
        status="PENDING",
        trigger_price=trigger_price,
    )


async def test_inserted_objects_get_their_ids_in_order_and_stay_persistent(db_url: str) -> None:
    first = await _order()
    rows = [_new_order(first.user_address, 7 + i, Decimal(f"{i}.000000000000000001")) for i in range(3)]
    async with session_scope() as session:
        await insert_objects(session, rows)
        assert [r.id for r in rows] == [first.id + 1, first.id + 2, first.id + 3]  # type: ignore[operator]
        assert await session.get(Order, rows[1].id) is rows[1]
        rows[2].status = "OPEN"  # a change after the insert is an UPDATE of the same row
    async with session_scope() as session:
        stored = await select_objects(
            session, Order, [_ORDERS.c.user_address == first.user_address], [_ORDERS.c.id]
        )
    assert [(o.client_id, o.trigger_price, o.status) for o in stored] == [
        (4_000_000_000, None, "PENDING"),
        (7, Decimal("0.000000000000000001"), "PENDING"),
        (8, Decimal("1.000000000000000001"), "PENDING"),
        (9, Decimal("2.000000000000000001"), "OPEN"),
    ]


async def test_server_defaults_are_filled_by_the_database(db_url: str) -> None:
    address = "0x" + f"{3:040x}"
    user = User(address=address, webhook_uuid=str(uuid.uuid4()), webhook_secret_enc="x")
    assert user.repair_seq == 0
    user.__dict__["repair_seq"] = None  # as an object built without it: the column's default applies
    async with session_scope() as session:
        await insert_objects(session, [user])
    assert user.repair_seq == 0


async def test_a_select_returns_held_objects_as_they_are(db_url: str) -> None:
    row = await _order()
    async with session_scope() as session:
        held = await session.get(Order, row.id)
        assert held is not None
        mine = [_ORDERS.c.user_address == row.user_address, _ORDERS.c.id == row.id]
        await session.execute(update(_ORDERS).where(*mine).values(status="OPEN"))
        # an ORM select does not refresh what the session holds either (no populate_existing)
        found = await select_objects(session, Order, mine)
        assert len(found) == 1 and found[0] is held and held.status == "PENDING"
        other = [_ORDERS.c.user_address == "0x" + f"{9:040x}"]
        assert await select_objects(session, Order, other) == []


async def test_update_by_column_names_reuses_one_statement(db_url: str) -> None:
    row = await _order()
    other = await _order(2)
    statements: list[object] = []

    def seen(_conn, clauseelement, *_args) -> None:  # noqa: ANN001
        statements.append(clauseelement)

    engine = get_engine().sync_engine
    event.listen(engine, "before_execute", seen)
    try:
        async with session_scope() as session:
            held = await session.get(Order, row.id)
            mine = {"id": row.id, "user_address": row.user_address, "status": "PENDING"}
            done = await update_by(session, Order, mine, {"status": "OPEN", "fee": Decimal("0.1")})
            assert done is held and held is not None and held.status == "OPEN"  # refreshed, not duplicated
            assert await update_by(session, Order, mine, {"status": "FILLED", "fee": Decimal("0.2")}) is None
            theirs = {"id": other.id, "user_address": row.user_address, "status": "PENDING"}
            assert await update_by(session, Order, theirs, {"status": "OPEN", "fee": Decimal("0.3")}) is None
            again = {**mine, "status": "OPEN"}
            price = Decimal("1234567890.123456789012345678")
            done = await update_by(session, Order, again, {"status": "FILLED", "fee": price})
            assert done is held and held.fee == price and held.status == "FILLED"
    finally:
        event.remove(engine, "before_execute", seen)
    updates = [s for s in statements if getattr(s, "is_dml", False)]
    assert len(updates) == 4 and all(s is updates[0] for s in updates)  # built once, values bound
    async with session_scope() as session:
        (untouched,) = await select_objects(session, Order, [_ORDERS.c.id == other.id])
        (stored,) = await select_objects(session, Order, [_ORDERS.c.id == row.id])
    assert untouched.status == "PENDING" and (stored.status, stored.fee) == ("FILLED", price)
