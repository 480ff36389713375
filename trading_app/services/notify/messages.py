"""The texts of trader notifications: pure functions from facts to Telegram HTML.

Every value that can come from outside (markets, reasons, strategy text, error details) goes
through `html.escape` before it is wrapped in tags. Numbers are Decimals (or their exact text) and
are formatted without ever passing through float: prices on the market's tick and sizes on its
step when the event carries them, money in cents. Every result fits one Telegram message.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import ClassVar, Protocol

from trading_app.domain.quantize import on_grid_nearest
from trading_app.domain.reasons import explain

MAX_MESSAGE_CHARS = 4096  # Telegram's limit, counted here in UTF-16 units to be safe
_FIELD_CHARS = 600  # one outside value never crowds out the rest of the message
_BADGES = {"paper": "📝 PAPER", "testnet": "🧪 TESTNET", "mainnet": "🔴 MAINNET"}
_CLOSE_REASONS = {
    "TAKE_PROFIT": "take-profit hit",
    "STOP_LOSS": "stop-loss hit",
    "MANUAL": "closed manually",
    "SIGNAL": "closed by an alert",
    "REVERSED": "reversed by an alert",
    "EXTERNAL": "closed on the exchange",
    "LIQUIDATED": "liquidated",
    "PROTECTION_FAILED": "protection could not be placed",
}

Number = Decimal | str | int
_CENT = Decimal("0.01")


class Event(Protocol):
    """Something worth telling a trader; `render()` gives safe Telegram HTML."""

    kind: ClassVar[str]

    def render(self) -> str: ...


def to_decimal(value: Number) -> Decimal:
    """Read an exact number. Floats are refused: they would smuggle binary rounding into money."""
    if isinstance(value, float) or isinstance(value, bool):
        raise TypeError("amounts must be Decimal, int or str, not float")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise ValueError("amounts must be finite")
    return number


def fmt_number(value: Number | None, min_places: int = 0, max_places: int = 10) -> str:
    """`64123.5` -> `64,123.5`; at least `min_places` decimals, rounded half-even past `max_places`."""
    if value is None:
        return "—"
    number = to_decimal(value)
    if number.as_tuple().exponent < -max_places:  # type: ignore[operator]
        number = number.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_EVEN)
    sign = "-" if number < 0 else ""  # a negative that rounded to zero compares equal to 0
    whole, _, frac = format(abs(number), "f").partition(".")
    frac = frac.rstrip("0").ljust(min_places, "0")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")


def fmt_grid(value: Number | None, increment: Number | None) -> str:
    """A price on its tick or a size on its step, with the grid's decimals: `3,000.0` on a 0.1 tick.

    Without a known grid (`increment` None) the number is shown exactly, as `fmt_number` does.
    """
    if value is None:
        return "—"
    if increment is None:
        return fmt_number(value)
    return format(on_grid_nearest(to_decimal(value), to_decimal(increment)), ",f")


def fmt_usd(value: Number | None, signed: bool = False) -> str:
    """`-12.3` -> `-$12.30` (`+$12.30` when signed and positive): always in cents, half-even."""
    if value is None:
        return "—"
    cents = to_decimal(value).quantize(_CENT, rounding=ROUND_HALF_EVEN)
    shown = f"{abs(cents):,.2f}"
    if cents < 0:
        return f"-${shown}"
    if signed and cents > 0:
        return f"+${shown}"
    return f"${shown}"


def esc(value: object, limit: int = _FIELD_CHARS) -> str:
    """Escape one outside value for HTML, shortened first so a tag is never cut."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text)


def badge(network: str) -> str:
    """The network label every trade message starts with (PAPER / TESTNET / MAINNET)."""
    key = str(network).lower()
    return f"<b>{_BADGES.get(key, esc(key.upper(), 16))}</b>"


def fit(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Shorten Telegram HTML to `limit` UTF-16 units without cutting a tag or an entity."""
    if _units(text) <= limit:
        return text
    room = limit - 40  # space for the ellipsis and the closing tags
    cut = text
    while _units(cut) > room:
        cut = cut[: max(0, len(cut) - max(1, (_units(cut) - room) // 2))]
    # never end inside a tag or an entity
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    if cut.rfind("&") > cut.rfind(";"):
        cut = cut[: cut.rfind("&")]
    open_tags: list[str] = []
    for closing, tag in re.findall(r"<(/?)([a-z-]+)[^>]*>", cut):
        if closing and open_tags and open_tags[-1] == tag:
            open_tags.pop()
        elif not closing:
            open_tags.append(tag)
    return cut + "…" + "".join(f"</{tag}>" for tag in reversed(open_tags))


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _position(side: str, market: str) -> str:
    return f"{esc(str(side).upper(), 16)} {esc(market, 64)}"


def _lines(*lines: str | None) -> str:
    return fit("\n".join(line for line in lines if line is not None))


@dataclass(frozen=True)
class PositionOpened:
    """An entry filled and its protection is in place."""

    kind: ClassVar[str] = "opened"
    network: str
    market: str
    side: str
    size: Number
    entry: Number | None
    tp: Number | None = None
    sl: Number | None = None
    tick: Number | None = None  # the market's grid: prices and sizes are shown on it
    step: Number | None = None

    def render(self) -> str:
        tick = self.tick
        return _lines(
            f"{badge(self.network)} ✅ <b>Opened {_position(self.side, self.market)}</b>",
            f"Size: <code>{fmt_grid(self.size, self.step)}</code>",
            f"Entry: <code>{fmt_grid(self.entry, tick)}</code>",
            f"Take-profit: <code>{fmt_grid(self.tp, tick)}</code>"
            if self.tp is not None
            else "Take-profit: none",
            f"Stop-loss: <code>{fmt_grid(self.sl, tick)}</code>"
            if self.sl is not None
            else "Stop-loss: none",
        )


@dataclass(frozen=True)
class PositionClosed:
    """A position was closed and its books are final."""

    kind: ClassVar[str] = "closed"
    network: str
    market: str
    side: str
    size: Number
    exit_price: Number | None
    reason: str
    realized_pnl: Number | None
    fees: Number = Decimal(0)
    entry: Number | None = None
    tick: Number | None = None  # the market's grid: prices and sizes are shown on it
    step: Number | None = None

    def render(self) -> str:
        reason = _CLOSE_REASONS.get(str(self.reason).upper(), None)
        pnl = None if self.realized_pnl is None else to_decimal(self.realized_pnl)
        icon = "🏁" if pnl is None or pnl == 0 else ("🟢" if pnl > 0 else "🔻")
        return _lines(
            f"{badge(self.network)} {icon} <b>Closed {_position(self.side, self.market)}</b>",
            f"Reason: {html.escape(reason) if reason else esc(self.reason)}",
            f"Size: <code>{fmt_grid(self.size, self.step)}</code>",
            f"Entry: <code>{fmt_grid(self.entry, self.tick)}</code>" if self.entry is not None else None,
            f"Exit: <code>{fmt_grid(self.exit_price, self.tick)}</code>",
            f"Realized PnL: <b>{fmt_usd(self.realized_pnl, signed=True)}</b>",
            f"Fees: <code>{fmt_usd(self.fees)}</code>",
        )


@dataclass(frozen=True)
class SignalRejected:
    """An alert was refused; the trader sees which one and why."""

    kind: ClassVar[str] = "rejected"
    network: str
    signal_id: int | str | None
    market: str | None
    reason: str
    detail: str | None = None

    @classmethod
    def of(
        cls, network: str, signal_id: int | None, market: str | None, stored: str | None, status: str
    ) -> SignalRejected:
        """The message for a stored reason: the plain sentence, then the detail and the code."""
        why = explain(stored, status)
        detail = " ".join(p for p in (why.detail, f"({why.code})" if why.code else "") if p)
        return cls(network, signal_id, market, why.plain or "no reason recorded", detail or None)

    def render(self) -> str:
        alert = f"Alert #{esc(self.signal_id, 40)}" if self.signal_id is not None else "Alert"
        market = f" — {esc(self.market, 64)}" if self.market else ""
        return _lines(
            f"{badge(self.network)} ⛔ <b>{alert} rejected</b>{market}",
            f"Reason: <b>{esc(self.reason, 200)}</b>",
            esc(self.detail) if self.detail else None,
        )


@dataclass(frozen=True)
class TradingError:
    """Something failed; says what failed and what the service did about it."""

    kind: ClassVar[str] = "error"
    network: str
    what_failed: str
    action_taken: str
    market: str | None = None
    detail: str | None = None

    def render(self) -> str:
        market = f" — {esc(self.market, 64)}" if self.market else ""
        return _lines(
            f"{badge(self.network)} ⚠️ <b>Error{market}</b>",
            f"What failed: {esc(self.what_failed)}",
            f"What we did: <b>{esc(self.action_taken)}</b>",
            f"Details: <code>{esc(self.detail)}</code>" if self.detail else None,
        )


@dataclass(frozen=True)
class ProtectionFailed:
    """A stop-loss or take-profit could not be placed for a filled entry."""

    kind: ClassVar[str] = "protection_failed"
    network: str
    market: str
    side: str
    size: Number
    order: str  # which protection failed, e.g. "stop-loss"
    flattened: bool
    detail: str | None = None
    step: Number | None = None  # the market's step: the size is shown on it

    def render(self) -> str:
        outcome = (
            "The position was flattened (closed at market)."
            if self.flattened
            else "Flattening FAILED: the position may be unprotected. Check the exchange now."
        )
        return _lines(
            f"{badge(self.network)} 🚨 <b>Protection failed — {_position(self.side, self.market)}</b>",
            f"Could not place the {esc(self.order, 64)} for <code>{fmt_grid(self.size, self.step)}</code>.",
            f"<b>{html.escape(outcome)}</b>",
            f"Details: <code>{esc(self.detail)}</code>" if self.detail else None,
        )


def render(text_or_event: str | Event) -> str:
    """Safe Telegram HTML for an event, or for a plain text (which is escaped whole)."""
    if isinstance(text_or_event, str):
        return fit(html.escape(text_or_event))
    return fit(text_or_event.render())


@dataclass(frozen=True)
class EntryCancelled:
    """A resting limit entry ended without any fill, without the trader asking: cancelled on the
    exchange, or its good-til passed. Nothing was opened."""

    kind: ClassVar[str] = "entry_cancelled"
    network: str
    market: str
    side: str
    size: Number
    limit_price: Number | None
    expired: bool
    tick_size: Number | None = None
    step_size: Number | None = None

    def render(self) -> str:
        why = "expired (its good-til passed)" if self.expired else "was cancelled on the exchange"
        return _lines(
            f"{badge(self.network)} 🚫 <b>Entry cancelled — {esc(self.market, 64)}</b>",
            f"Your limit {esc(self.side.lower(), 8)} entry of {fmt_grid(self.size, self.step_size)} at "
            f"{fmt_grid(self.limit_price, self.tick_size)} {why} before it filled.",
            "Nothing was opened.",
        )
