"""Who executes a signal, and in what order: claims, their heartbeat, and how a signal ends.

A signal is executed by the one worker whose conditional UPDATE wins its claim (ACCEPTED ->
EXECUTING, even across processes). Signals of one trader's market are executed one after
another, in the order they arrived: a signal cannot be claimed while an earlier one of the same
user and market is still waiting or executing. Without that, a `close` that arrives right after
a `buy` could run while the buy's entry is still in flight and close a position whose size the
books do not know yet (or be refused as "no position" and leave the buy's position open), and
two entries could race for one market.

A claim lives as long as its worker keeps it fresh (`Claim.keep`, while it waits for the venue);
one not kept for `STALE_CLAIM` belongs to a worker that died and the sweep takes it over. Every
status change goes through the SIGNAL transition table (`domain.lifecycle`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, bindparam, exists, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.core_rows import execute, table_of, update_returning
from trading_app.db.engine import autocommit_connection, autocommit_scope, session_scope
from trading_app.db.models import Signal
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import SignalStatus
from trading_app.domain.lifecycle import SIGNAL, transition
from trading_app.domain.story import Phase
from trading_app.services.engine.timeline import Timeline

# a claim not kept fresh this long belongs to a dead worker
STALE_CLAIM = timedelta(seconds=60)
# how often a worker waiting on the venue renews its claim (well inside STALE_CLAIM)
KEEP_EVERY = timedelta(seconds=15)
_WAITING = (SignalStatus.ACCEPTED.value, SignalStatus.EXECUTING.value)
# the statements below are Core on the table: the ORM's bulk UPDATE cost about 1.5 ms of CPU each
_SIGNALS = table_of(Signal)


@dataclass
class Claim:
    """A worker's hold on one executing signal; `keep()` renews it while the work goes on."""

    signal: Signal
    kept_at: datetime = field(default_factory=utcnow)
    lost: bool = False

    async def keep(self) -> bool:
        """Renew the claim if it is due; False once another worker has taken it over."""
        now = utcnow()
        if self.lost or now - self.kept_at < KEEP_EVERY:
            return not self.lost
        async with autocommit_scope() as session:
            result = await session.execute(
                update(_SIGNALS)
                .where(
                    _SIGNALS.c.id == self.signal.id,
                    _SIGNALS.c.status == SignalStatus.EXECUTING.value,
                    _SIGNALS.c.claimed_at == self.signal.claimed_at,
                )
                .values(claimed_at=now, updated_at=now)
                .returning(_SIGNALS.c.claimed_at)
            )
            renewed = result.scalars().first()
        if renewed is None:
            self.lost = True
            return False
        self.signal.claimed_at, self.kept_at = renewed, now
        return True


# one alias for every claim: a new alias per call would make each statement a new cache entry
# (compiled again every time: several ms of CPU per claim)
_EARLIER = _SIGNALS.alias("earlier")


def _claimable(signal_id: int, now: datetime) -> list[ColumnElement[bool]]:
    earlier, signals = _EARLIER.c, _SIGNALS.c
    waiting_before = exists().where(
        earlier.user_address == signals.user_address,
        earlier.market == signals.market,
        earlier.id < signals.id,
        earlier.status.in_(_WAITING),
    )
    return [
        signals.id == signal_id,
        or_(
            signals.status == SignalStatus.ACCEPTED.value,
            and_(signals.status == SignalStatus.EXECUTING.value, signals.claimed_at < now - STALE_CLAIM),
        ),
        ~waiting_before,
    ]


async def claim_in(session: AsyncSession, signal_id: int) -> Signal | None:
    """Take the signal for execution; None when another worker has it, it is finished, or an
    earlier signal of the same user and market has not finished yet."""
    # one conditional UPDATE ... RETURNING: only one worker's statement can match the row
    now = utcnow()
    transition(SIGNAL, SignalStatus.ACCEPTED, SignalStatus.EXECUTING)
    return await update_returning(
        session,
        Signal,
        _claimable(signal_id, now),
        {
            "status": SignalStatus.EXECUTING.value,
            "claimed_at": now,
            "attempts": _SIGNALS.c.attempts + 1,
            "updated_at": now,
        },
    )


async def claim(signal_id: int) -> Signal | None:
    """`claim_in` in its own transaction."""
    async with session_scope() as session:
        return await claim_in(session, signal_id)


async def finish_in(
    session: AsyncSession, signal: Signal, status: SignalStatus, reason: str | None, position_id: int | None
) -> bool:
    """End an executing signal, only while this worker's claim still holds; False otherwise."""
    transition(SIGNAL, SignalStatus.EXECUTING, status)
    result = await execute(
        session,
        update(_SIGNALS)
        .where(
            _SIGNALS.c.id == signal.id,
            _SIGNALS.c.status == SignalStatus.EXECUTING.value,
            _SIGNALS.c.claimed_at == signal.claimed_at,
        )
        .values(
            status=status.value,
            reason=reason,
            position_id=position_id,
            finished_at=utcnow(),
            updated_at=utcnow(),
        )
        .returning(_SIGNALS.c.id),
    )
    return result.scalars().first() is not None


# why an EXECUTED alert has not opened its position yet (cleared when the entry fills)
RESTING = "entry resting: the limit order waits on the book"
# why an alert ended CANCELLED, by the `close_reason` of its position (code first, like every reason)
_CANCELLED_BY = {
    "MANUAL": "you cancelled the resting limit entry before it filled",
    "SIGNAL": "a close alert cancelled the resting limit entry before it filled",
    "REVERSED": "a reverse alert cancelled the resting limit entry before it filled",
    "EXTERNAL": "the resting limit entry was cancelled on the exchange before it filled",
    "EXPIRED": "the resting limit entry expired (its good-til passed) before it filled",
}


def cancelled_reason(close_reason: str | None) -> str:
    """The alert log's reason for an alert whose resting entry was cancelled."""
    why = _CANCELLED_BY.get(str(close_reason), "the limit entry was cancelled before it filled")
    return "entry_cancelled: " + why


async def cancel_executed_in(
    session: AsyncSession, user: str, signal_id: int, reason: str, position_id: int | None = None
) -> bool:
    """Mark an EXECUTED alert CANCELLED (its resting entry ended unfilled), in the caller's
    transaction, with a "cancelled" step in its story (the alert ended again, later: its story
    says when); False when it is not EXECUTED (still executing: its own end records it)."""
    transition(SIGNAL, SignalStatus.EXECUTED, SignalStatus.CANCELLED)
    result = await execute(
        session,
        update(_SIGNALS)
        .where(
            _SIGNALS.c.id == signal_id,
            _SIGNALS.c.user_address == user,
            _SIGNALS.c.status == SignalStatus.EXECUTED.value,
        )
        .values(status=SignalStatus.CANCELLED.value, reason=reason, updated_at=utcnow())
        .returning(_SIGNALS.c.id),
    )
    if result.scalars().first() is None:
        return False
    story = Timeline()
    ended = {"status": SignalStatus.CANCELLED.value, "reason": reason, "position_id": position_id}
    story.mark(user, signal_id, Phase.CANCELLED, ended)
    await story.flush_in(session)
    return True


async def entry_filled_in(session: AsyncSession, user: str, signal_id: int) -> None:
    """An EXECUTED alert whose resting entry filled after it ended: its reason said the order
    waits on the book, which is no longer true (the alert log would say so beside an open
    position). Cleared in the caller's transaction, the one that opens the position."""
    await session.execute(
        update(Signal)
        .where(
            col(Signal.id) == signal_id,
            col(Signal.user_address) == user,
            col(Signal.status) == SignalStatus.EXECUTED.value,
            col(Signal.reason).startswith(RESTING),
        )
        .values(reason=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def note_in_doubt(
    signal: Signal, reason: str, position_id: int | None, timeline: Timeline | None = None
) -> None:
    """Leave the signal EXECUTING with why (the trader sees it in the alert log) and let its claim
    go at once: the sweep resumes it at its next run and asks the venue again (an unreachable venue
    is asked again a tick later, not a claim's lifetime later)."""
    released = utcnow() - STALE_CLAIM - timedelta(seconds=1)
    async with autocommit_scope() as session:
        await session.execute(
            update(_SIGNALS)
            .where(
                _SIGNALS.c.id == signal.id,
                _SIGNALS.c.status == SignalStatus.EXECUTING.value,
                _SIGNALS.c.claimed_at == signal.claimed_at,
            )
            .values(reason=reason, position_id=position_id, claimed_at=released, updated_at=utcnow())
        )
        if timeline is not None:
            await timeline.flush_in(session)


# built once: a statement built per call cost about as much CPU as its round trip
_NEXT_IN_LINE = (
    select(_SIGNALS.c.id)
    .where(
        _SIGNALS.c.user_address == bindparam("user"),
        _SIGNALS.c.market == bindparam("market"),
        _SIGNALS.c.status == SignalStatus.ACCEPTED.value,
    )
    .order_by(_SIGNALS.c.id)
    .limit(1)
)


async def next_in_line_on(connection: AsyncConnection, user: str, market: str | None) -> int | None:
    """`next_in_line` on the caller's connection (after the caller's end of a signal committed)."""
    if market is None:
        return None
    first: int | None = (await connection.execute(_NEXT_IN_LINE, {"user": user, "market": market})).scalar()
    return first


async def next_in_line(user: str, market: str | None) -> int | None:
    """The earliest signal of this user's market still waiting to be executed, if any."""
    if market is None:
        return None
    async with autocommit_connection() as connection:
        return await next_in_line_on(connection, user, market)


async def unfinished(older_than: timedelta, limit: int) -> list[int]:
    """Signals accepted but not picked up for `older_than`, and claims gone stale: oldest first."""
    now = utcnow()
    async with session_scope() as session:
        rows = await session.exec(
            select(Signal.id)
            .where(
                or_(
                    and_(
                        col(Signal.status) == SignalStatus.ACCEPTED.value,
                        col(Signal.received_at) < now - older_than,
                    ),
                    and_(
                        col(Signal.status) == SignalStatus.EXECUTING.value,
                        col(Signal.claimed_at) < now - STALE_CLAIM,
                    ),
                )
            )
            .order_by(col(Signal.id))
            .limit(limit)
        )
        return [i for i in rows.all() if i is not None]


__all__ = [
    "RESTING",
    "STALE_CLAIM",
    "Claim",
    "cancel_executed_in",
    "entry_filled_in",
    "cancelled_reason",
    "claim",
    "claim_in",
    "finish_in",
    "next_in_line",
    "next_in_line_on",
    "note_in_doubt",
    "unfinished",
]
