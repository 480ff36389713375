"""The end of a signal that opened no position (refused, failed), written in one round trip.

A refused alert is the engine's most frequent outcome in a burst of repeated alerts (every alert
of a market whose position is open is refused `position_exists`), and its cost was mostly round
trips: BEGIN, the story rows, the UPDATE that ends the signal, COMMIT, then the "pushed" row on
its own. On PostgreSQL all of it is one statement: the story's INSERT rides in a data-modifying
WITH of the UPDATE, so both land together or not at all (one statement is one transaction, with
no BEGIN/COMMIT round trips), exactly as the transaction did. The INSERT runs whether or not the
UPDATE matches (PostgreSQL always runs a WITH's INSERT), again as before: the story keeps what
this worker did even if its claim was lost meanwhile, and the signal row is only ended while the
claim holds. SQLite has no data-modifying WITH; there the same two statements run in one
transaction (an in-process database: no round trips to save).

The statements are built once per number of story rows, with bound parameters: building and
compiling them per call cost more CPU than sending them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, insert, select, union_all, update

from trading_app.db.core_rows import table_of
from trading_app.db.engine import autocommit_connection, get_engine, session_scope
from trading_app.db.models import Signal, SignalEvent
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import SignalStatus
from trading_app.domain.lifecycle import SIGNAL, transition
from trading_app.services.engine.claims import finish_in, next_in_line, next_in_line_on
from trading_app.services.engine.timeline import Timeline

_SIGNALS = table_of(Signal)
_EVENTS: Table = table_of(SignalEvent)
_STORY_COLUMNS = ("signal_id", "user_address", "phase", "at", "detail")  # Timeline's row keys


@cache
def _statement(rows: int) -> Update:
    """UPDATE signals ... RETURNING id, WITH an INSERT of `rows` story rows (PostgreSQL)."""
    # INSERT ... SELECT of UNION ALL, not a multi-row VALUES: SQLAlchemy caches the compiled form
    # of this one, never of a multi-row VALUES (compiled again on every call)
    each = [
        select(*(bindparam(f"{name}_{i}", type_=_EVENTS.c[name].type) for name in _STORY_COLUMNS))
        for i in range(rows)
    ]
    story = insert(_EVENTS).from_select(list(_STORY_COLUMNS), union_all(*each)).cte("story")
    s = _SIGNALS.c
    return (
        update(_SIGNALS)
        .where(
            s.id == bindparam("signal_id_"),
            s.status == SignalStatus.EXECUTING.value,
            s.claimed_at == bindparam("claimed_at_"),
        )
        .values(
            status=bindparam("status_", type_=s.status.type),
            reason=bindparam("reason_", type_=s.reason.type),
            position_id=bindparam("position_id_", type_=s.position_id.type),
            finished_at=bindparam("finished_at_", type_=s.finished_at.type),
            updated_at=bindparam("updated_at_", type_=s.updated_at.type),
        )
        .returning(s.id)
        .add_cte(story)
    )


@dataclass(frozen=True)
class Finished:
    """What ending the signal found: whether it ended, and the signal next in line behind it."""

    ended: bool
    follower: int | None


async def finish_with_story(
    signal: Signal, status: SignalStatus, reason: str | None, position_id: int | None, timeline: Timeline
) -> Finished:
    """End the executing signal and write the timeline's pending marks, together; then read the
    next signal of its market waiting behind it (`next_in_line`, after the end committed: one
    arriving meanwhile either sees this one ended or is seen here).

    Returns:
        `ended` False when this worker's claim no longer holds (the story rows are written
        either way, as `finish_in` inside a transaction did).
    """
    transition(SIGNAL, SignalStatus.EXECUTING, status)
    rows, timeline.pending = timeline.pending, []
    if not rows or get_engine().dialect.name != "postgresql":
        timeline.pending = rows
        async with session_scope() as session:
            await timeline.flush_in(session)
            ended = await finish_in(session, signal, status, reason, position_id)
        return Finished(ended, await next_in_line(signal.user_address, signal.market))
    now = utcnow()
    params: dict[str, Any] = {
        "signal_id_": signal.id,
        "claimed_at_": signal.claimed_at,
        "status_": status.value,
        "reason_": reason,
        "position_id_": position_id,
        "finished_at_": now,
        "updated_at_": now,
    }
    for i, row in enumerate(rows):
        for name in _STORY_COLUMNS:
            params[f"{name}_{i}"] = row[name]
    # one checkout for both statements; each commits on its own (autocommit)
    async with autocommit_connection() as connection:
        done = (await connection.execute(_statement(len(rows)), params)).first()
        follower = await next_in_line_on(connection, signal.user_address, signal.market)
    return Finished(done is not None, follower)


__all__ = ["Finished", "finish_with_story"]
