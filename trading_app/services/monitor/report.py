"""What the monitor reports: one account's reconcile, and one tick of one worker (for the
dashboard, the health check and the bench)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from trading_app.venues.errors import VenueTemporaryError

log = logging.getLogger("trading_app.services.monitor.tick")  # where these lines were always logged

QUIET = {None, "unconfirmed", "resize_pending", "in_doubt"}  # reconcile outcomes that change nothing


@dataclass
class AccountResult:
    """What one reconcile of one account did."""

    user: str
    network: str
    outcomes: Counter[str] = field(default_factory=Counter)
    synced: int = 0  # order rows updated from the venue
    orphans: int = 0  # orders of closed positions cancelled
    errors: int = 0  # positions whose reconcile failed
    venue_calls: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    cursor: datetime | None = None
    error: str | None = None  # the account failed as a whole (exception class)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.synced or self.orphans or any(k not in QUIET for k in self.outcomes))


@dataclass
class TickReport:
    """One tick of one worker, for the dashboard, the health check and the bench."""

    worker_id: str
    started_at: datetime
    seconds: float = 0.0
    watched: int = 0  # accounts with something to watch
    owned: int = 0  # accounts whose lease this worker holds
    started: int = 0  # reconciles started this tick
    busy: int = 0  # owned accounts still reconciling from an earlier tick
    streamed: int = 0  # owned dYdX accounts not read: their stream says nothing changed
    results: list[AccountResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.error is not None or r.errors)

    @property
    def outcomes(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.results:
            total.update(r.outcomes)
        return total

    @property
    def venue_calls(self) -> int:
        return sum(r.venue_calls for r in self.results)

    def summary(self) -> dict[str, object]:
        return {
            "worker": self.worker_id,
            "at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "watched": self.watched,
            "owned": self.owned,
            "reconciled": len(self.results),
            "failed": self.failed,
            "busy": self.busy,
            "streamed": self.streamed,
            "venue_calls": self.venue_calls,
            "outcomes": dict(self.outcomes),
        }


def failed(account: tuple[str, str], cursor: datetime | None, e: BaseException) -> AccountResult:
    """An account whose reconcile failed as a whole this tick, logged (with a traceback for a bug)."""
    log.warning(
        "monitor: account %s/%s failed: %s",
        account[0],
        account[1],
        type(e).__name__,
        # an unreachable venue is an expected state, not a bug: no traceback per tick
        exc_info=not isinstance(e, (TimeoutError, OSError, VenueTemporaryError)),
    )
    return AccountResult(account[0], account[1], cursor=cursor, error=type(e).__name__)


__all__ = ["QUIET", "AccountResult", "TickReport", "failed"]
