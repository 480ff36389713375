"""Several writes in one round trip on PostgreSQL (data-modifying WITH), one by one elsewhere."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from tests.db.test_core_rows import _new_order, _order
from trading_app.db.core_batches import insert_linked, one_statement_links, update_each_by
from trading_app.db.core_rows import select_objects, table_of
from trading_app.db.engine import autocommit_scope, get_engine, session_scope
from trading_app.db.models import Order, Position

_ORDERS = table_of(Order)
_POSITIONS = table_of(Position)


class _Sent:
    """The first word of every statement sent while it is open."""

    def __init__(self) -> None:
        self.words: list[str] = []

    def _count(self, _conn, _cursor, statement: str, *_args) -> None:  # noqa: ANN001
        self.words.append(statement.split()[0].upper())

    def __enter__(self) -> list[str]:
        event.listen(get_engine().sync_engine, "before_cursor_execute", self._count)
        return self.words

    def __exit__(self, *_exc: object) -> None:
        event.remove(get_engine().sync_engine, "before_cursor_execute", self._count)


def _opening(address: str, market: str = "ETH-USD") -> Position:
    return Position(
        user_address=address,
        network="paper",
        market=market,
        side="LONG",
        size=Decimal(0),
        sl_price=Decimal("0.000000000000000001"),
        status="OPENING",
    )


async def _linked_scope():  # noqa: ANN202 - how the engine runs insert_linked
    return autocommit_scope() if one_statement_links() else session_scope()


async def test_a_linked_insert_stores_both_rows_with_the_link(db_url: str) -> None:
    first = await _order()
    position = _opening(first.user_address)
    entry = _new_order(first.user_address, 11, None)
    with _Sent() as sent:
        async with await _linked_scope() as session:
            await insert_linked(session, position, entry, "position_id")
            assert await session.get(Position, position.id) is position  # persistent in the session
    assert sent == (["WITH"] if one_statement_links() else ["INSERT", "INSERT"])
    assert position.id is not None and entry.id is not None and entry.position_id == position.id
    assert position.opened_at.tzinfo is not None and entry.created_at.tzinfo is not None
    async with session_scope() as session:
        (stored,) = await select_objects(session, Position, [_POSITIONS.c.id == position.id])
        orders = await select_objects(session, Order, [_ORDERS.c.position_id == position.id])
    assert stored.sl_price == Decimal("0.000000000000000001") and stored.status == "OPENING"
    assert [(o.id, o.client_id, o.user_address) for o in orders] == [(entry.id, 11, first.user_address)]


async def test_a_linked_insert_that_fails_stores_neither_row(db_url: str) -> None:
    first = await _order()  # client id 4_000_000_000 is taken
    with pytest.raises(IntegrityError):
        async with await _linked_scope() as session:
            taken = _new_order(first.user_address, 4_000_000_000, None)
            await insert_linked(session, _opening(first.user_address), taken, "position_id")
    async with session_scope() as session:
        mine = [_POSITIONS.c.user_address == first.user_address]
        assert await select_objects(session, Position, mine) == []


async def test_each_update_applies_only_where_its_conditions_hold(db_url: str) -> None:
    first = await _order()
    rows = [_new_order(first.user_address, 20 + i, Decimal(i)) for i in range(3)]
    async with session_scope() as session:
        session.add_all(rows)
    price = Decimal("1234567890.123456789012345678")
    changes = [
        ({"id": rows[0].id, "user_address": first.user_address, "status": "PENDING"}, {"status": "OPEN"}),
        ({"id": rows[1].id, "user_address": first.user_address, "status": "OPEN"}, {"status": "FILLED"}),
        ({"id": rows[2].id, "user_address": first.user_address}, {"fee": price, "status": "UNTRIGGERED"}),
    ]
    async with session_scope() as session:
        held = await session.get(Order, rows[2].id)
        with _Sent() as sent:
            done = await update_each_by(session, Order, changes)
    assert sent == (["WITH"] if one_statement_links() else ["UPDATE", "UPDATE", "UPDATE"])
    assert done[1] is None  # its status guard did not hold: that row is unchanged
    assert done[0] is not None and (done[0].id, done[0].status) == (rows[0].id, "OPEN")
    assert done[2] is held and held is not None and (held.fee, held.status) == (price, "UNTRIGGERED")
    async with session_scope() as session:
        ids = [_ORDERS.c.id.in_([r.id for r in rows])]
        stored = await select_objects(session, Order, ids, [_ORDERS.c.id])
    assert [(o.status, o.fee) for o in stored] == [
        ("OPEN", Decimal(0)),
        ("PENDING", Decimal(0)),
        ("UNTRIGGERED", price),
    ]


async def test_each_update_is_scoped_to_its_user(db_url: str) -> None:
    mine, theirs = await _order(), await _order(2)
    changes = [
        ({"id": mine.id, "user_address": mine.user_address}, {"status": "OPEN"}),
        ({"id": theirs.id, "user_address": mine.user_address}, {"status": "OPEN"}),
    ]
    async with session_scope() as session:
        done = await update_each_by(session, Order, changes)
    assert done[0] is not None and done[1] is None
    async with session_scope() as session:
        (stored,) = await select_objects(session, Order, [_ORDERS.c.id == theirs.id])
    assert stored.status == "PENDING"
