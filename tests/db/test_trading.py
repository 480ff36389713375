"""The engine's tenant-scoped reads of positions and orders (statements built once)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import event

from tests.db.test_core_rows import _new_order, _order
from trading_app.db.core_rows import insert_objects
from trading_app.db.engine import get_engine, session_scope
from trading_app.db.models import Position, TradingAccount
from trading_app.db.trading import account_and_positions, orders_of, positions_for_execution
from trading_app.domain.clock import utcnow


def _position(user: str, network: str, market: str, status: str, **extra: object) -> Position:
    return Position(user_address=user, network=network, market=market, side="LONG", size=Decimal(1),
                    status=status, **extra)


async def test_the_reads_of_an_execution_answer_the_users_rows_with_statements_built_once(
    db_url: str,
) -> None:
    me, other = (await _order()).user_address, (await _order(2)).user_address
    since = utcnow() - timedelta(hours=1)
    rows = [
        _position(me, "paper", "BTC-USD", "OPEN"),
        _position(me, "paper", "ETH-USD", "CLOSED", closed_at=since + timedelta(minutes=1)),
        _position(me, "paper", "SOL-USD", "CLOSED", closed_at=since - timedelta(minutes=1)),
        _position(me, "mainnet", "BTC-USD", "OPEN", signal_id=7),
        _position(me, "mainnet", "ETH-USD", "OPEN"),
        _position(other, "paper", "BTC-USD", "OPEN", signal_id=7),
    ]
    async with session_scope() as session:
        await insert_objects(session, rows)
        orders = [_new_order(me, 30 + i, Decimal(i)) for i in range(2)] + [_new_order(other, 40, Decimal(1))]
        for order, position in zip(orders, (rows[0], rows[0], rows[5]), strict=True):
            order.position_id = position.id
        await insert_objects(session, orders)
    ids = [r.id for r in rows]
    statements: list[object] = []

    def seen(_conn, clauseelement, *_args) -> None:  # noqa: ANN001
        statements.append(clauseelement)

    event.listen(get_engine().sync_engine, "before_execute", seen)
    try:
        async with session_scope() as session:
            plain = [await positions_for_execution(session, me, "paper", None, since) for _ in range(2)]
            signal = [await positions_for_execution(session, me, "paper", 7, since) for _ in range(2)]
            theirs = await positions_for_execution(session, other, "paper", None, since)
    finally:
        event.remove(get_engine().sync_engine, "before_execute", seen)
    assert [p.id for p in plain[0]] == [p.id for p in plain[1]] == [ids[0], ids[1]]
    assert [p.id for p in signal[0]] == [ids[0], ids[1], ids[3]]  # the signal's own, on any network
    assert [p.id for p in theirs] == [ids[5]]
    assert statements[0] is statements[1] and statements[2] is statements[3]  # bound, not rebuilt
    async with session_scope() as session:
        assert [o.client_id for o in await orders_of(session, me, ids[0] or 0)] == [30, 31]
        assert await orders_of(session, me, ids[5] or 0) == []  # another user's position
        assert [o.client_id for o in await orders_of(session, other, ids[5] or 0)] == [40]


async def test_the_account_and_the_positions_of_an_execution_in_one_statement(db_url: str) -> None:
    """What the claim reads besides the signal, in one round trip: the account decides the network."""
    me, other = (await _order()).user_address, (await _order(2)).user_address
    since = utcnow() - timedelta(hours=1)
    rows = [
        _position(me, "paper", "BTC-USD", "OPEN"),
        _position(me, "mainnet", "ETH-USD", "OPEN"),
        _position(me, "mainnet", "SOL-USD", "CLOSED", closed_at=since - timedelta(minutes=1)),
        _position(me, "paper", "ETH-USD", "CLOSED", closed_at=since - timedelta(minutes=1), signal_id=9),
        _position(other, "mainnet", "BTC-USD", "OPEN", signal_id=9),
    ]
    async with session_scope() as session:
        await insert_objects(session, rows)
    ids = [r.id for r in rows]
    statements: list[str] = []

    def seen(_conn, _cursor, statement: str, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(get_engine().sync_engine, "before_cursor_execute", seen)
    try:
        async with session_scope() as session:  # no account yet: paper
            none, net, found = await account_and_positions(session, me, False, 9, since)
        assert none is None and net == "paper" and [p.id for p in found] == [ids[0], ids[3]]
        async with session_scope() as session:
            session.add(TradingAccount(address=me, network="mainnet"))
        statements.clear()
        async with session_scope() as session:
            account, net, found = await account_and_positions(session, me, False, 9, since)
            assert account is not None and account.address == me and net == "mainnet"
            assert [p.id for p in found] == [ids[1], ids[3]]  # the signal's own on any network
            assert await session.get(TradingAccount, me) is account  # the session's object
        assert len(statements) == 1, statements
        async with session_scope() as session:  # a test alert trades on paper whatever the account
            account, net, found = await account_and_positions(session, me, True, None, since)
            assert account is not None and net == "paper" and [p.id for p in found] == [ids[0]]
            # another user, no account, nothing of theirs on paper or of signal 1: tenant-scoped
            theirs, net, found = await account_and_positions(session, other, False, 1, since)
            assert theirs is None and net == "paper" and found == []
    finally:
        event.remove(get_engine().sync_engine, "before_cursor_execute", seen)
