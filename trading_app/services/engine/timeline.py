"""Recording the story of each alert (`signal_events`) without costing the engine a transaction.

The engine marks each phase in memory the moment it happens (`Timeline.mark`: a clock read and
an append), and the marks are written by `flush_in` inside a transaction the engine opens
anyway: the one that records the stop-loss and take-profit (`protection.protect`), the one that
ends the signal (`outcomes.SignalEnd`, the executor's own finish). So an execution that opens a
protected position writes its whole timeline in one extra statement of a transaction it already
has. "Pushed" happens after that last commit: it is written by a background task
(`write_soon`), so the execution never waits for it.

A worker that dies mid-execution loses the marks it had not flushed; the execution that resumes
the signal records its own (a second "claimed" shows the takeover).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Table, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.engine import autocommit_scope
from trading_app.db.models import SignalEvent
from trading_app.domain.clock import utcnow
from trading_app.domain.story import Phase
from trading_app.services.ops import metrics

log = logging.getLogger(__name__)

# the table, not the ORM entity: a Core executemany skips the ORM's bulk-insert machinery
_EVENTS: Table = SignalEvent.__table__  # type: ignore[attr-defined]  # SQLModel types no __table__
_INSERT = insert(_EVENTS)

_writes: set[asyncio.Task[None]] = set()


def _text(detail: Mapping[str, object] | None) -> str | None:
    if not detail:
        return None
    # Decimals as their exact strings; None stays null
    return json.dumps({k: (str(v) if isinstance(v, Decimal) else v) for k, v in detail.items()})


@dataclass
class Timeline:
    """The phases marked by one execution (or one monitor pass) and not written yet.

    Attributes:
        facts: what the risk step read (equity), kept for the rejection's record.
    """

    pending: list[dict[str, object]] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    claimed: dict[int, datetime] = field(default_factory=dict)  # for the phase latency metrics

    def mark(
        self,
        user: str,
        signal_id: int | None,
        phase: Phase,
        detail: Mapping[str, object] | None = None,
        *,
        at: datetime | None = None,
    ) -> None:
        """Remember that `phase` of the user's signal happened now (or `at`)."""
        if not signal_id:
            return  # an order of no signal (a manual close, a repair): no alert to tell about
        when = at or utcnow()
        self.pending.append(
            {
                "signal_id": signal_id,
                "user_address": user,
                "phase": phase.value,
                "at": when,
                "detail": _text(detail),
            }
        )
        if phase is Phase.CLAIMED:
            self.claimed[signal_id] = when
        elif (claimed := self.claimed.get(signal_id)) is not None:
            metrics.phase(phase.value, (when - claimed).total_seconds())

    async def flush_in(self, session: AsyncSession) -> None:
        """Write the pending marks in the caller's transaction (one statement)."""
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        await session.execute(_INSERT, rows)


def write_soon(
    user: str, signal_id: int | None, phase: Phase, detail: Mapping[str, object] | None = None
) -> None:
    """Record a phase that happened now, in a background task of its own (nothing waits for it)."""
    timeline = Timeline()
    timeline.mark(user, signal_id, phase, detail)
    if not timeline.pending:
        return
    task = asyncio.get_running_loop().create_task(_write(timeline), name=f"signal-event-{signal_id}")
    _writes.add(task)
    task.add_done_callback(_writes.discard)


async def _write(timeline: Timeline) -> None:
    try:
        async with autocommit_scope() as session:
            await timeline.flush_in(session)
    except Exception as e:  # noqa: BLE001 - the story misses one step; trading goes on
        log.warning("could not record an alert's phase (%s)", type(e).__name__)


async def drain(timeout: float = 5.0) -> None:  # noqa: ASYNC109 - waits at most, then returns
    """Wait for the background writes started so far (tests, shutdown)."""
    pending = [t for t in _writes if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


__all__ = ["Timeline", "drain", "write_soon"]
