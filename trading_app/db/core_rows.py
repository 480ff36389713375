"""Writes on the hot path as SQLAlchemy Core statements on a model's table, answered with model
objects built straight from the returned row.

An ORM `update(Model)...returning(Model)` goes through the ORM's bulk machinery and its row
loading: about 1.5 ms of CPU per statement, most of the engine's cost per signal. The same
statement on the Table (`table_of(Model)`) is plain Core; only the columns' types (Money,
UTCDateTime) still apply, so values round-trip exactly as through the ORM.

What the ORM version did to the session is kept: an object the session already holds for that
row is refreshed with the returned values (as `populate_existing` did), otherwise a new object is
placed in the session as persistent (as a loaded row is), so later reads in that session
(`session.get`) see the new values and a later change to the object flushes as an UPDATE, never
an INSERT. Pending ORM changes are flushed first, as the ORM's autoflush did before its statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Executable,
    Insert,
    Result,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession as SAAsyncSession
from sqlalchemy.orm import Mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

M = TypeVar("M", bound=SQLModel)

__all__ = [
    "execute",
    "insert_objects",
    "insert_params",
    "mark_stored",
    "object_from_row",
    "select_objects",
    "select_rows",
    "select_statement",
    "table_of",
    "update_by",
    "update_params",
    "update_returning",
    "update_statement",
]


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model (SQLModel declares no `__table__` for type checkers)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


@cache
def _shape(model: type[SQLModel]) -> tuple[Mapper[Any], tuple[str, ...], tuple[int, ...]]:
    """The model's mapper, its attribute key per table column (in column order), and the
    positions of the primary key columns."""
    mapper: Mapper[Any] = inspect(model)
    table = table_of(model)
    keys = tuple(mapper.get_property_by_column(column).key for column in table.columns)
    primary = tuple(
        i for i, column in enumerate(table.columns) if any(column is key for key in mapper.primary_key)
    )
    return mapper, keys, primary


@cache
def _statements(model: type[SQLModel]) -> tuple[Update, Select[Any], Insert]:
    """UPDATE ... RETURNING *, SELECT * and INSERT ... RETURNING * of the model's table, built once:
    coercing every column of the RETURNING or SELECT list again cost more than the rest."""
    table = table_of(model)
    return (
        update(table).returning(*table.columns),
        select(*table.columns),
        insert(table).returning(*table.columns, sort_by_parameter_order=True),
    )


async def update_returning(
    session: AsyncSession,
    model: type[M],
    where: Iterable[ColumnElement[bool]],
    values: Mapping[str, object],
) -> M | None:
    """`UPDATE model's table SET values WHERE where RETURNING *`, as a Core statement, in the
    session's transaction; the row as a `model` object of the session, or None when no row matched.

    Args:
        where: conditions on the table's columns (`table_of(model).c`): an ORM attribute here
            would make the statement ORM-enabled again. The statement must match at most one row.
        values: new values by column name; expressions on the table's columns are allowed.
    """
    statement = _statements(model)[0].where(*where).values(dict(values))
    row = (await execute(session, statement)).first()
    return None if row is None else object_from_row(session, model, row)


async def update_by(
    session: AsyncSession,
    model: type[M],
    where: Mapping[str, object],
    values: Mapping[str, object],
) -> M | None:
    """`update_returning` with the conditions as column = value by column name: the statement is
    built once per model and set of column names, with bound parameters, so a call costs only its
    execution (building the statement and its cache key again cost about as much as running it).

    Args:
        where: column name -> value the row must have (never None: `= NULL` matches nothing).
        values: new values by column name; an SQL expression among them is built per call instead.
    """
    if any(isinstance(v, ClauseElement) for v in values.values()):
        columns = table_of(model).c
        return await update_returning(session, model, [columns[k] == v for k, v in where.items()], values)
    assert all(v is not None for v in where.values()), "a None condition would match no row"
    statement = update_statement(model, tuple(where), tuple(values))
    row = (await execute(session, statement, update_params(where, values))).first()
    return None if row is None else object_from_row(session, model, row)


@lru_cache(maxsize=1024)  # a few dozen shapes in practice: one per caller and set of changed columns
def update_statement(
    model: type[SQLModel], where: tuple[str, ...], values: tuple[str, ...], prefix: str = ""
) -> Update:
    """`update_by`'s statement: UPDATE ... WHERE each `where` column = its bound value SET each of
    `values` RETURNING *, with bound parameters named as `update_params(..., prefix)` names them."""
    # bound parameters take other names than the columns (SQLAlchemy reserves those in an UPDATE)
    columns = table_of(model).c
    return (
        _statements(model)[0]
        .where(*(columns[k] == bindparam(f"{prefix}w_{k}") for k in where))
        .values({k: bindparam(f"{prefix}v_{k}", type_=columns[k].type) for k in values})
    )


def update_params(
    where: Mapping[str, object], values: Mapping[str, object], prefix: str = ""
) -> dict[str, Any]:
    """The bound values of `update_statement(model, tuple(where), tuple(values), prefix)`."""
    params = {f"{prefix}w_{k}": v for k, v in where.items()}
    params.update({f"{prefix}v_{k}": v for k, v in values.items()})
    return params


def select_statement(model: type[SQLModel]) -> Select[Any]:
    """SELECT every column of the model's table, in table order (the row `object_from_row` takes):
    for statements built once with bound parameters (`select_rows` runs them)."""
    return _statements(model)[1]


async def select_rows(
    session: AsyncSession, model: type[M], statement: Executable, params: Mapping[str, Any]
) -> list[M]:
    """Run a statement built from `select_statement(model)` with `params`; the rows as the session's
    `model` objects, as `select_objects` answers them."""
    rows = (await execute(session, statement, params)).all()
    return [object_from_row(session, model, row, refresh=False) for row in rows]


async def select_objects(
    session: AsyncSession,
    model: type[M],
    where: Iterable[ColumnElement[bool]],
    order_by: Iterable[ColumnElement[Any]] = (),
) -> list[M]:
    """`SELECT * FROM model's table WHERE where ORDER BY order_by` as a Core statement; the rows
    as the session's `model` objects (one it already holds is returned as it is, like an ORM load).

    Args:
        where: conditions on the table's columns (`table_of(model).c`).
    """
    statement = _statements(model)[1].where(*where).order_by(*order_by)
    rows = (await execute(session, statement)).all()
    return [object_from_row(session, model, row, refresh=False) for row in rows]


async def insert_objects(session: AsyncSession, objects: Sequence[SQLModel]) -> None:
    """INSERT new objects of one model as one Core statement, in the session's transaction; each
    then carries what the database stored (its id, server defaults) and is persistent in the session.

    The objects must be new and not added to any session (`session.add` would insert them again at
    the flush). A None primary key or a None in a column with a server default is left out (the
    database fills it), as the ORM's flush does.
    """
    if not objects:
        return
    model = type(objects[0])
    params = []
    for obj in objects:
        assert type(obj) is model, "insert_objects takes objects of one model"
        params.append(insert_params(obj))
    statement = _statements(model)[2]
    if all(p.keys() == params[0].keys() for p in params):
        stored = (await execute(session, statement, params)).all()
    else:  # rows leaving out different columns cannot share one statement
        stored = [(await execute(session, statement.values(p))).one() for p in params]
    for obj, row in zip(objects, stored, strict=True):
        mark_stored(session, obj, row)


def insert_params(obj: SQLModel) -> dict[str, Any]:
    """The INSERT values of a new object by column key: a None primary key or a None in a column
    with a server default is left out (the database fills it), as the ORM's flush does."""
    _, keys, _ = _shape(type(obj))
    values = obj.__dict__
    return {
        c.key: values[k]
        for k, c in zip(keys, table_of(type(obj)).columns, strict=True)
        if k in values and not (values[k] is None and (c.primary_key or c.server_default is not None))
    }


def mark_stored(session: AsyncSession, obj: SQLModel, row: Sequence[Any]) -> None:
    """`obj` now carries the stored row (its table's columns in order) and is persistent in `session`."""
    _, keys, _ = _shape(type(obj))
    obj.__dict__.update(zip(keys, row, strict=True))
    make_transient_to_detached(obj)  # its values are now the stored row
    session.add(obj)  # persistent: a later change flushes as an UPDATE


async def execute(
    session: AsyncSession,
    statement: Executable,
    params: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
) -> Result[*tuple[Any, ...]]:
    """A Core statement in the session's transaction, after the session's pending ORM changes.

    The session autoflushes before an ORM statement, not before a Core one: without this, a row
    added just before would not exist yet for the statement (nor its locks be taken in order).
    """
    if session.new or session.dirty or session.deleted:
        await session.flush()
    # SQLAlchemy's own method: SQLModel's override only wraps it in a deprecation warning per call
    return await SAAsyncSession.execute(session, statement, params)


def object_from_row(
    session: AsyncSession, model: type[M], row: Row[Any] | tuple[Any, ...], *, refresh: bool = True
) -> M:
    """The session's object for a full row of `model`'s table (its columns in table order).

    The object the session already holds for that primary key is returned, refreshed with the
    row's values when `refresh` (its unflushed changes to them are dropped, as an ORM load with
    `populate_existing` does; without it, as a plain ORM load, it is returned as it is); otherwise
    a new persistent object is built without running the model's validation.
    """
    mapper, keys, primary = _shape(model)
    identity = mapper.identity_key_from_primary_key(tuple(row[i] for i in primary))
    held = session.identity_map.get(identity)
    if held is not None and not refresh:
        kept: M = held
        return kept
    if held is not None:
        for key, value in zip(keys, row, strict=True):
            set_committed_value(held, key, value)
        found: M = held
        return found
    fresh: M = mapper.class_manager.new_instance()
    fresh.__dict__.update(zip(keys, row, strict=True))
    make_transient_to_detached(fresh)  # a loaded row: its values are the committed state
    session.add(fresh)  # persistent, in the identity map; adding it issues no SQL
    return fresh
