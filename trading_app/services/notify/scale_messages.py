"""The texts of scaling out: a take-profit level filled, the stop moved, a stop move that came late.

Same rules as `messages`: pure, Telegram HTML with every outside value escaped, prices on the
market's tick and sizes on its step, money in cents, never a float. The monitor decides when to
send them (the trailing stop's messages are rate-limited by `stop_notices`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from trading_app.services.notify.messages import Number, _lines, badge, esc, fmt_grid, fmt_usd, to_decimal

_REASONS = {"BREAK_EVEN": "break-even", "TRAIL": "trailing stop", "RESIZE": "stop resized"}


def _reason(reason: str) -> str:
    return _REASONS.get(str(reason).upper(), esc(str(reason).lower().replace("_", " "), 32))


@dataclass(frozen=True)
class LevelFilled:
    """Take-profit level `level` of `levels` filled: what was sold (or bought back), at what price,
    the PnL it realized and what is left of the position."""

    kind: ClassVar[str] = "level_filled"
    network: str
    market: str
    side: str  # the position's side: a long sells at its levels, a short buys back
    level: int
    levels: int
    size: Number
    price: Number | None
    remaining: Number
    realized_pnl: Number | None
    tick_size: Number | None = None
    step_size: Number | None = None

    def render(self) -> str:
        verb = "bought back" if str(self.side).upper() == "SHORT" else "sold"
        pnl = f" ({fmt_usd(self.realized_pnl, signed=True)})" if self.realized_pnl is not None else ""
        left = (
            f"{fmt_grid(self.remaining, self.step_size)} left"
            if to_decimal(self.remaining) > 0
            else "position closed"
        )
        return _lines(
            f"{badge(self.network)} 🎯 <b>TP{int(self.level)} of {int(self.levels)} filled</b>: "
            f"{verb} {fmt_grid(self.size, self.step_size)} {esc(self.market, 64)} at "
            f"{fmt_grid(self.price, self.tick_size)}{pnl}; {left}",
        )


@dataclass(frozen=True)
class StopMoved:
    """The stop was moved and the new one is live on the exchange. `moves` counts the moves since
    the last message (trailing moves are told at most every few minutes)."""

    kind: ClassVar[str] = "stop_moved"
    network: str
    market: str
    side: str
    reason: str  # BREAK_EVEN, TRAIL, RESIZE
    old_price: Number | None
    new_price: Number
    size: Number
    tick_size: Number | None = None
    step_size: Number | None = None
    moves: int = 1

    def render(self) -> str:
        tick = self.tick_size
        reason = str(self.reason).upper()
        new = f"<code>{fmt_grid(self.new_price, tick)}</code>"
        old = f" (was {fmt_grid(self.old_price, tick)})" if self.old_price is not None else ""
        if reason == "BREAK_EVEN":
            head = f"🛡 <b>Stop moved to break-even</b> — {esc(self.market, 64)}"
            body = f"Your stop is now at your entry price, {new}{old}."
        elif reason == "TRAIL":
            word = "lowered" if str(self.side).upper() == "SHORT" else "raised"
            head = f"📈 <b>Trailing stop {word}</b> — {esc(self.market, 64)}"
            body = f"Trailing stop {word} to {new}{old}."
        else:
            head = f"🔧 <b>Stop moved</b> ({_reason(reason)}) — {esc(self.market, 64)}"
            body = f"Stop now at {new}{old}."
        since = f" Moved {int(self.moves)} times since the last message." if self.moves > 1 else ""
        return _lines(
            f"{badge(self.network)} {head}",
            body + since,
            f"Protects {fmt_grid(self.size, self.step_size)} {esc(str(self.side).upper(), 8)}.",
        )


@dataclass(frozen=True)
class StopMoveLate:
    """A stop move could not be made in time (the venue's order budget had no room, or it refused the
    new stop): the old stop stays live, the position is still protected."""

    kind: ClassVar[str] = "stop_move_late"
    network: str
    market: str
    reason: str  # BREAK_EVEN, TRAIL, RESIZE
    wanted_price: Number
    current_price: Number | None
    why: str  # e.g. "the exchange's order budget is used up for now", the venue's words
    tick_size: Number | None = None

    def render(self) -> str:
        tick = self.tick_size
        current = (
            f"Your stop stays at <code>{fmt_grid(self.current_price, tick)}</code>: still protected."
            if self.current_price is not None
            else "Your previous stop stays in place."
        )
        return _lines(
            f"{badge(self.network)} ⏳ <b>Stop move delayed</b> — {esc(self.market, 64)}",
            f"Could not move the stop ({_reason(self.reason)}) to "
            f"<code>{fmt_grid(self.wanted_price, tick)}</code> in time: {esc(self.why, 200)}.",
            current,
        )
