"""The story of one alert: the phases it went through, in order, with the time of each.

Pure. The engine records phases as they happen (`services.engine.timeline`); "received" and
"stored" come from the signal row itself (its `received_at` and `stored_at`), and an alert
refused at the door has its "rejected" at the moment it was stored (the refusal was stored
with it). `timeline` puts both together in the order a trader reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Phase(StrEnum):
    """A step of an alert's life. The declaration order breaks ties between equal times."""

    RECEIVED = "received"
    STORED = "stored"
    CLAIMED = "claimed"
    RISK_PASSED = "risk_passed"
    ENTRY_SENT = "entry_sent"
    FILLED = "filled"
    STOP_PLACED = "stop_placed"
    TP_PLACED = "tp_placed"
    REJECTED = "rejected"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"
    CANCELLED = "cancelled"
    EXECUTED = "executed"
    ENDED = "ended"
    PUSHED = "pushed"


LABELS: dict[Phase, str] = {
    Phase.RECEIVED: "Received by your webhook",
    Phase.STORED: "Stored",
    Phase.CLAIMED: "Picked up by the engine",
    Phase.RISK_PASSED: "Risk checks passed, size computed",
    Phase.ENTRY_SENT: "Entry order sent",
    Phase.FILLED: "Entry filled",
    Phase.STOP_PLACED: "Stop-loss placed",
    Phase.TP_PLACED: "Take-profit placed",
    Phase.REJECTED: "Rejected",
    Phase.FAILED: "Failed",
    Phase.IN_DOUBT: "Waiting for the venue's answer",
    Phase.CANCELLED: "Cancelled",
    Phase.EXECUTED: "Done",
    Phase.ENDED: "Ended",
    Phase.PUSHED: "Pushed to your open tabs",
}
_RANK = {phase: n for n, phase in enumerate(Phase)}
# a signal's final status -> the phase that records it
END_PHASES: dict[str, Phase] = {
    "EXECUTED": Phase.EXECUTED,
    "REJECTED": Phase.REJECTED,
    "FAILED": Phase.FAILED,
    "EXECUTING": Phase.IN_DOUBT,
    "CANCELLED": Phase.CANCELLED,
}


def end_phase(status: str) -> Phase:
    """The phase that records a signal ending in `status` (ENDED for a status this table lacks)."""
    return END_PHASES.get(status, Phase.ENDED)


@dataclass(frozen=True)
class Step:
    """One phase with its time and what it recorded (`detail`: strings, as stored)."""

    phase: Phase
    at: datetime
    detail: Mapping[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The phase in words."""
        return LABELS[self.phase]


def phase_of(name: str) -> Phase | None:
    """The phase called `name`, None for a name this version does not know (a newer writer)."""
    try:
        return Phase(name)
    except ValueError:
        return None


def timeline(
    received_at: datetime,
    stored_at: datetime | None,
    status: str,
    reason: str | None,
    recorded: Iterable[Step],
) -> list[Step]:
    """Every step of one alert, oldest first (equal times in the phases' own order).

    Args:
        received_at, stored_at: the signal row's times (`stored_at` None for rows older than it).
        status, reason: the signal's status and reason now.
        recorded: the steps the engine recorded for it.
    """
    steps = [Step(Phase.RECEIVED, received_at)]
    if stored_at is not None:
        steps.append(Step(Phase.STORED, stored_at))
    steps.extend(recorded)
    refused_at_door = status == "REJECTED" and not any(s.phase is Phase.CLAIMED for s in steps)
    if refused_at_door and not any(s.phase is Phase.REJECTED for s in steps):
        steps.append(Step(Phase.REJECTED, stored_at or received_at, {"reason": reason or ""}))
    return sorted(steps, key=lambda s: (s.at, _RANK[s.phase]))


__all__ = ["END_PHASES", "LABELS", "Phase", "Step", "end_phase", "phase_of", "timeline"]
