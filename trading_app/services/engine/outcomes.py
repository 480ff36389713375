"""How a signal ended, read off the position its execution left behind.

Pure: the engine's moves settle a position; these functions say what that means for the signal
(its status in the alert log and the reason the trader reads). `SignalEnd` commits that outcome
in the same transaction as the position, so the alert log and the books never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from trading_app.db.models import Position
from trading_app.domain.enums import PositionStatus, SignalStatus
from trading_app.domain.story import end_phase
from trading_app.services.engine.claims import RESTING, Claim, cancelled_reason, finish_in
from trading_app.services.engine.timeline import Timeline


class InDoubt(Exception):
    """An order's outcome is not known yet: nothing is decided, the signal is resumed later."""

    def __init__(self, message: str, position_id: int | None) -> None:
        super().__init__(message)
        self.position_id = position_id


@dataclass(frozen=True)
class Outcome:
    """How a signal ended: status, reason and the position it touched."""

    status: SignalStatus
    reason: str | None = None
    position_id: int | None = None


class Move(StrEnum):
    """What the signal asked the position to do."""

    OPEN = "open"
    CLOSE = "close"


def opened(position: Position) -> Outcome:
    """The outcome of an opening move, from the position it left."""
    if position.status == PositionStatus.FAILED.value:
        return Outcome(SignalStatus.FAILED, "entry_not_filled: the entry order did not fill", position.id)
    if position.status == PositionStatus.CANCELLED.value:
        return Outcome(SignalStatus.CANCELLED, cancelled_reason(position.close_reason), position.id)
    if position.status in (PositionStatus.FAILED_PROTECTION.value, PositionStatus.CLOSED.value):
        return Outcome(
            SignalStatus.FAILED,
            "protection_failed: the stop-loss could not be placed; position flattened",
            position.id,
        )
    if position.status == PositionStatus.OPENING.value:
        return Outcome(SignalStatus.EXECUTED, RESTING, position.id)
    return Outcome(SignalStatus.EXECUTED, None, position.id)


def closed(position: Position) -> Outcome:
    """The outcome of a closing move, from the position it left."""
    if position.status in (
        PositionStatus.CLOSED.value,
        PositionStatus.FAILED.value,
        PositionStatus.CANCELLED.value,
    ):
        return Outcome(SignalStatus.EXECUTED, None, position.id)
    return Outcome(
        SignalStatus.FAILED,
        "close_not_filled: the close did not fill yet; the monitor keeps closing it and tells you",
        position.id,
    )


def end_detail(outcome: Outcome) -> dict[str, object]:
    """What the end of a signal's story records: its status, reason and position."""
    return {"status": outcome.status.value, "reason": outcome.reason, "position_id": outcome.position_id}


def outcome_of(move: Move, position: Position) -> Outcome:
    """`opened` or `closed`, by the move."""
    return opened(position) if move is Move.OPEN else closed(position)


@dataclass
class SignalEnd:
    """The executing signal's end, joined to the transaction that settles its position.

    Given to the engine's last move of an execution; `commit_in` is called inside the
    transaction that writes the position's final state, and records there what that state
    means for the signal (nothing is recorded when this worker's claim was lost meanwhile).
    """

    claim: Claim
    move: Move
    outcome: Outcome | None = field(default=None)
    timeline: Timeline | None = None  # the execution's marks, written in the same transaction

    async def commit_in(self, session: AsyncSession, position: Position) -> None:
        """Record the signal's outcome for `position` inside the caller's transaction."""
        outcome = outcome_of(self.move, position)
        if self.timeline is not None:
            signal, phase = self.claim.signal, end_phase(outcome.status.value)
            self.timeline.mark(signal.user_address, signal.id, phase, end_detail(outcome))
            await self.timeline.flush_in(session)
        if await finish_in(session, self.claim.signal, outcome.status, outcome.reason, outcome.position_id):
            # the caller only returns once this transaction committed (a failed commit raises)
            self.outcome = outcome


__all__ = ["InDoubt", "Move", "Outcome", "SignalEnd", "closed", "end_detail", "opened", "outcome_of"]
