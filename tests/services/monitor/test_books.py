"""Books.rows_of: a position's rows from an index built once, kept right while the tick replaces
rows in place (a synced row answered as its new version) and rebuilt for a list of another length."""

from __future__ import annotations

from trading_app.db.models import Order
from trading_app.services.monitor.books import Books


def _row(row_id: int, position_id: int | None, status: str = "UNTRIGGERED") -> Order:
    return Order(
        id=row_id,
        user_address="0xabc",
        position_id=position_id,
        network="paper",
        market="BTC-USD",
        role="STOP_LOSS",
        order_type="STOP_MARKET",
        side="SELL",
        client_id=row_id,
        status=status,
    )


def test_rows_of_follows_rows_replaced_in_place_and_a_new_list() -> None:
    books = Books("0xabc", "paper", None, [], [_row(1, 10), _row(2, 11), _row(3, 10), _row(4, None)], {})
    assert [r.id for r in books.rows_of(10)] == [1, 3]
    assert [r.id for r in books.rows_of(None)] == [4]
    assert books.rows_of(12) == []

    books.rows[2] = _row(3, 10, status="FILLED")  # what sync_orders does with a row it wrote
    assert [(r.id, r.status) for r in books.rows_of(10)] == [(1, "UNTRIGGERED"), (3, "FILLED")]

    books.rows.append(_row(5, 11))  # another length: indexed afresh
    assert [r.id for r in books.rows_of(11)] == [2, 5]
    books.rows[:] = [_row(6, 11), _row(7, 10)]  # other rows in the old places: indexed afresh
    assert [r.id for r in books.rows_of(10)] == [7]
    assert [r.id for r in books.rows_of(11)] == [6]
