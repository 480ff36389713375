"""Which stop moves are worth a Telegram message: the trailing stop may move every few seconds.

BREAK_EVEN and RESIZE moves are always told (at most one per take-profit level), and so is every
level fill (`LevelFilled` needs no check here). TRAIL moves are told at most once per position per
`TRAIL_EVERY`; the ones kept quiet are counted, so the next message says "moved 4 times since".

The memory is in-process on purpose: one worker owns an account's monitoring at a time (the
monitor lease), so the moves of a position are decided in one process. When the lease moves to
another worker (a restart, a crash), the new owner starts with an empty memory: its first trailing
move is told at once, and the count of moves the old owner kept quiet is lost. That is the whole
cost (one message early, a count too small), so nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

TRAIL_EVERY = timedelta(minutes=5)
THROTTLED = frozenset({"TRAIL"})
MAX_TRACKED = 10_000  # positions remembered at once; old entries go first (a bounded memory)

Key = tuple[str, int]


@dataclass
class StopNotices:
    """The throttle's memory: when each position's trailing stop was last told, and how many moves
    were kept quiet since."""

    every: timedelta = TRAIL_EVERY
    _told_at: dict[Key, datetime] = field(default_factory=dict)
    _quiet: dict[Key, int] = field(default_factory=dict)
    _covered: dict[Key, int] = field(default_factory=dict)

    def should_tell(self, move_reason: str, user: str, position_id: int, now: datetime) -> bool:
        """Whether this stop move gets a message now. A move kept quiet is counted for the next one.

        Args:
            move_reason: BREAK_EVEN, TRAIL or RESIZE (the `stop_moves.reason`).
            user: the trader's address (positions are counted per user and id).
            position_id: the position whose stop moved.
            now: the time of the move (aware).
        """
        key = (user, position_id)
        if str(move_reason).upper() not in THROTTLED:
            self._covered[key] = 1
            return True
        last = self._told_at.get(key)
        if last is not None and now - last < self.every:
            self._quiet[key] = self._quiet.get(key, 0) + 1
            return False
        self._remember(key, now)
        self._covered[key] = self._quiet.pop(key, 0) + 1
        return True

    def moves(self, user: str, position_id: int) -> int:
        """How many moves the message just allowed by `should_tell` covers (itself and the ones kept
        quiet before it): `StopMoved(moves=...)`."""
        return self._covered.get((user, position_id), 1)

    def forget(self, user: str, position_id: int) -> None:
        """The position closed: nothing more to count for it."""
        key = (user, position_id)
        for memory in (self._told_at, self._quiet, self._covered):
            memory.pop(key, None)

    def _remember(self, key: Key, now: datetime) -> None:
        self._told_at.pop(key, None)  # re-inserted last: the dict's order is the age order
        self._told_at[key] = now
        while len(self._told_at) > MAX_TRACKED:
            oldest = next(iter(self._told_at))
            self.forget(*oldest)


_NOTICES = StopNotices()


def should_tell(move_reason: str, user: str, position_id: int, now: datetime) -> bool:
    """`StopNotices.should_tell` on this process's memory."""
    return _NOTICES.should_tell(move_reason, user, position_id, now)


def moves(user: str, position_id: int) -> int:
    """`StopNotices.moves` on this process's memory."""
    return _NOTICES.moves(user, position_id)


def forget(user: str, position_id: int) -> None:
    """`StopNotices.forget` on this process's memory."""
    _NOTICES.forget(user, position_id)
