"""What the reason codes of the alert log mean, in words a trader reads first.

A stored reason is `code: detail` (the engine's `RejectReason` values and outcome codes such as
`venue_rejected`), or one of the door's texts (the webhook's validation problems, the per-minute
cap, the source allowlist), which carry no code. `explain` turns either into a plain sentence,
the detail, and the code: the alert log and Telegram show the sentence first and the code
second, so a trader never has to decode `sl_wrong_side` and support can still grep for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trading_app.domain.errors import RejectReason

__all__ = ["PLAIN", "Explained", "explain"]

# code -> what happened, in a sentence (no trailing full stop: the detail may follow)
PLAIN: dict[str, str] = {
    RejectReason.UNKNOWN_MARKET.value: "This market is not listed on your venue",
    RejectReason.MARKET_INACTIVE.value: "This market is not trading right now",
    RejectReason.SIZE_BELOW_MINIMUM.value: "The size is below the market's minimum order",
    RejectReason.INVALID_SIZE.value: "The size is not a usable amount",
    RejectReason.SL_WRONG_SIDE.value: "The stop-loss is on the wrong side of the price",
    RejectReason.TP_WRONG_SIDE.value: "The take-profit is on the wrong side of the price",
    RejectReason.STOP_REQUIRED.value: "A stop-loss is required (send sl or sl_pct)",
    RejectReason.LEVERAGE_LIMIT.value: "It would take the account above your leverage limit",
    RejectReason.NOTIONAL_LIMIT.value: "The position would be larger than your notional limit",
    RejectReason.MAX_OPEN_POSITIONS.value: "You already have the most open positions you allowed",
    RejectReason.DAILY_LOSS_LIMIT.value: "Today's loss limit is reached: no new positions today",
    RejectReason.INSUFFICIENT_EQUITY.value: "The account has no equity to trade with",
    RejectReason.POSITION_EXISTS.value: "A position in this market is already open",
    RejectReason.NO_POSITION.value: "There is no open position in this market",
    RejectReason.PRICE_UNAVAILABLE.value: "No current price for this market",
    RejectReason.INVALID_PRICE.value: "A price is not usable",
    RejectReason.OFF_GRID.value: "A size or price was not on the market's grid",
    RejectReason.INVALID_SETTINGS.value: "Your risk settings cannot be used; check Settings",
    RejectReason.STALE.value: "The alert is too old to trade",
    RejectReason.PAUSED.value: "Trading is paused (Telegram /resume or Settings turns it back on)",
    RejectReason.ORDER_LIMIT.value: (
        "The exchange allows this account too few open stop and take-profit orders for this plan"
    ),
    # the engine's outcomes
    "venue_rejected": "The exchange refused the order",
    "venue_error": "The exchange answered with an error",
    "venue_unavailable": "The exchange could not be reached; nothing was traded",
    "internal_error": "The app failed while executing this alert",
    "in_doubt": "Waiting for the exchange to confirm the order",
    "entry_not_filled": "The entry order did not fill",
    "protection_failed": "The stop-loss could not be placed, so the position was closed",
    "close_not_filled": "The close has not filled yet; the app keeps closing",
    "reverse": "The open position could not be closed to reverse it",
    "entry resting": "The limit order is waiting on the book",
    "entry_cancelled": "The limit entry was cancelled before it filled",
    # the webhook's own refusals (stored without a code, recognised below)
    "invalid_payload": "The alert could not be read",
    "per_minute_cap": "Too many alerts in one minute: not executed",
    "source_not_allowed": "Sent from an address that is not TradingView's",
}

# codes whose stored detail is already a whole sentence for the trader: shown instead of the
# generic one (not after it: "waiting on the book: the limit order waits on the book")
_SELF_EXPLAINED = frozenset({"entry resting", "entry_cancelled"})

_CODED = re.compile(r"^([a-z][a-z_ ]*[a-z]): (.*)$", re.DOTALL)
_UNLISTED = re.compile(r"^market: .* is not listed on your venue$", re.DOTALL)
_NOT_LISTED = re.compile(r" is not listed on (your|this) venue$")


@dataclass(frozen=True)
class Explained:
    """A stored reason taken apart: `plain` first, then `detail`, then `code` ("" when none)."""

    plain: str
    detail: str
    code: str

    @property
    def sentence(self) -> str:
        """The plain sentence and the detail after a colon ("" when there is no reason)."""
        return f"{self.plain}: {self.detail}" if self.detail else self.plain

    @property
    def text(self) -> str:
        """One line: the sentence, then the code in brackets."""
        return f"{self.sentence} ({self.code})" if self.code else self.sentence


def _door(reason: str) -> str | None:
    """The code of a reason the webhook stored (it writes none), or None."""
    if _UNLISTED.match(reason) and ";" not in reason:
        return RejectReason.UNKNOWN_MARKET.value
    if reason.startswith("per-minute cap:"):
        return "per_minute_cap"
    if reason.startswith("source address ") and "TradingView" in reason:
        return "source_not_allowed"
    return None


def explain(reason: str | None, status: str | None = None) -> Explained:
    """The plain sentence, detail and code of a stored reason.

    Args:
        reason: The `signals.reason` text (None or "" for no reason).
        status: The alert's status; a REJECTED reason the table does not know is the webhook's
            list of validation problems ("invalid_payload").

    Returns:
        The parts; a reason nobody coded is kept whole as the sentence.
    """
    if not reason:
        return Explained("", "", "")
    found = _CODED.match(reason)
    if found and found.group(1) in PLAIN:
        code, detail = found.group(1), found.group(2).strip()
    elif (door := _door(reason)) is not None:
        code, detail = door, reason
    elif status == "REJECTED":
        code, detail = "invalid_payload", reason
    else:
        return Explained(reason, "", "")
    if code == RejectReason.UNKNOWN_MARKET.value:
        # the sentence says it already: the detail keeps only which market
        detail = _NOT_LISTED.sub("", detail.removeprefix("market: "))
    shown_code = code if " " not in code else ""
    if code in _SELF_EXPLAINED and detail:
        return Explained(detail[0].upper() + detail[1:], "", shown_code)
    return Explained(PLAIN[code], detail, shown_code)
