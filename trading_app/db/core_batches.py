"""Several writes of the hot path in one round trip: on PostgreSQL, one statement whose parts are
data-modifying WITH queries (all or nothing by itself, like any statement); elsewhere the same
writes one after the other in the caller's transaction.

Each statement is built once per shape (the models, the column names) with bound parameters, like
`core_rows.update_by`, and answers the session's model objects as `core_rows` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import Any, TypeVar

from sqlalchemy import CompoundSelect, Select, bindparam, insert, select, union_all
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_rows import (
    execute,
    insert_objects,
    insert_params,
    mark_stored,
    object_from_row,
    table_of,
    update_by,
    update_params,
    update_statement,
)
from trading_app.db.engine import get_engine

M = TypeVar("M", bound=SQLModel)

__all__ = ["insert_linked", "one_statement_links", "update_each_by"]


def _one_statement(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def one_statement_links() -> bool:
    """Whether `insert_linked` is one statement on the configured database (PostgreSQL): then it is
    atomic by itself and may run in an autocommit session; elsewhere it needs a transaction."""
    return get_engine().dialect.name == "postgresql"


async def insert_linked(session: AsyncSession, parent: SQLModel, child: SQLModel, link: str) -> None:
    """INSERT a new `parent` and a new `child` whose column `link` refers to the parent's id, as
    `insert_objects` does for each (both then carry what was stored and are persistent).

    On PostgreSQL this is one statement (a data-modifying WITH: the child is inserted from the
    parent's RETURNING row), so it is all or nothing by itself; elsewhere two INSERTs in the
    caller's transaction (`one_statement_links` tells which).
    """
    if not _one_statement(session):
        await insert_objects(session, [parent])
        setattr(child, link, getattr(parent, _id_key(type(parent))))
        await insert_objects(session, [child])
        return
    parent_values = insert_params(parent)
    child_values = {k: v for k, v in insert_params(child).items() if k != link}
    statement = _linked_statement(
        type(parent), type(child), link, tuple(parent_values), tuple(child_values)
    )
    params = {f"p_{k}": v for k, v in parent_values.items()}
    params.update({f"c_{k}": v for k, v in child_values.items()})
    row = (await execute(session, statement, params)).one()
    width = len(table_of(type(parent)).columns)
    mark_stored(session, parent, row[:width])
    mark_stored(session, child, row[width:])


def _id_key(model: type[SQLModel]) -> str:
    primary = [c for c in table_of(model).columns if c.primary_key]
    assert len(primary) == 1, "a linked parent has a one-column primary key"
    return primary[0].key


@cache
def _linked_statement(
    parent: type[SQLModel],
    child: type[SQLModel],
    link: str,
    parent_keys: tuple[str, ...],
    child_keys: tuple[str, ...],
) -> Select[Any]:
    """WITH p AS (INSERT parent RETURNING *), c AS (INSERT child SELECT ..., p.id FROM p RETURNING *)
    SELECT p.*, c.*: built once per model pair and set of columns, with bound parameters."""
    parents, children = table_of(parent), table_of(child)
    p_cte = (
        insert(parents)
        .values({k: bindparam(f"p_{k}", type_=parents.c[k].type) for k in parent_keys})
        .returning(*parents.columns)
        .cte("p")
    )
    parent_id = p_cte.c[_id_key(parent)]
    values = [bindparam(f"c_{k}", type_=children.c[k].type) for k in child_keys]
    c_cte = (
        insert(children)
        .from_select([*child_keys, link], select(*values, parent_id))
        .returning(*children.columns)
        .cte("c")
    )
    return select(*p_cte.c, *c_cte.c).select_from(p_cte.join(c_cte, c_cte.c[link] == parent_id))


async def update_each_by(
    session: AsyncSession,
    model: type[M],
    changes: Sequence[tuple[Mapping[str, object], Mapping[str, object]]],
) -> list[M | None]:
    """`core_rows.update_by` for each (where, values) of `changes`, rows of one model: on PostgreSQL
    in one statement (each UPDATE a WITH query, their RETURNING rows together), elsewhere one
    statement each. Answers in the order of `changes`: the row as the session's object, or None
    where the conditions did not hold (that row is unchanged).

    Each `where` names the row by its primary key ("id"), so the answers can be told apart; the
    rows must be different ones (one statement cannot change a row twice).
    """
    if len(changes) < 2 or not _one_statement(session):
        return [await update_by(session, model, where, values) for where, values in changes]
    assert all(where.get("id") is not None for where, _ in changes), "each change names its row by id"
    assert len({where["id"] for where, _ in changes}) == len(changes), "one change per row"
    shape = tuple((tuple(where), tuple(values)) for where, values in changes)
    params: dict[str, Any] = {}
    for i, (where, values) in enumerate(changes):
        params.update(update_params(where, values, f"u{i}_"))
    rows = (await execute(session, _updates_statement(model, shape), params)).all()
    found = {row.id: object_from_row(session, model, row) for row in rows}
    return [found.get(where["id"]) for where, _ in changes]


@lru_cache(maxsize=256)
def _updates_statement(
    model: type[SQLModel], shape: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
) -> CompoundSelect[Any]:
    """WITH u0 AS (UPDATE ... RETURNING *), u1 AS (...) SELECT * FROM u0 UNION ALL SELECT * FROM u1."""
    ctes = [
        update_statement(model, where, values, f"u{i}_").cte(f"u{i}")
        for i, (where, values) in enumerate(shape)
    ]
    return union_all(*(select(*cte.c) for cte in ctes))
