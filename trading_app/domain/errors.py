"""The domain's error hierarchy. Every rejection carries a machine-readable reason."""

from __future__ import annotations

from enum import StrEnum


class DomainError(Exception):
    """Base class of every error raised by pure domain code."""


class InvalidTransition(DomainError):
    """A lifecycle was asked to make a move its transition table does not allow."""

    def __init__(self, machine: str, current: str, target: str) -> None:
        super().__init__(f"{machine}: {current} -> {target} is not allowed")
        self.machine = machine
        self.current = current
        self.target = target


class RejectReason(StrEnum):
    """Why the risk checks refused an intent. Shown to the trader as-is."""

    UNKNOWN_MARKET = "unknown_market"
    MARKET_INACTIVE = "market_inactive"
    SIZE_BELOW_MINIMUM = "size_below_minimum"
    INVALID_SIZE = "invalid_size"
    SL_WRONG_SIDE = "sl_wrong_side"
    TP_WRONG_SIDE = "tp_wrong_side"
    STOP_REQUIRED = "stop_required"
    LEVERAGE_LIMIT = "leverage_limit"
    NOTIONAL_LIMIT = "notional_limit"
    MAX_OPEN_POSITIONS = "max_open_positions"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    INSUFFICIENT_EQUITY = "insufficient_equity"
    POSITION_EXISTS = "position_exists"
    NO_POSITION = "no_position"
    PRICE_UNAVAILABLE = "price_unavailable"
    INVALID_PRICE = "invalid_price"
    OFF_GRID = "off_grid"  # a value reached the venue boundary without being quantized
    INVALID_SETTINGS = "invalid_settings"  # the trader's own risk settings are unusable
    STALE = "stale"  # an opening alert that waited longer than an alert may be old: not traded late
    PAUSED = "paused"  # the trader paused trading (Telegram /pause or the Settings switch)
    ORDER_LIMIT = "order_limit"  # the exchange's cap on open conditional orders (dYdX: by equity)


class RiskRejected(DomainError):
    """An intent failed a risk or validation check."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class InvalidSignal(DomainError):
    """An alert body failed validation. `details` lists every problem, each naming its field."""

    def __init__(self, details: list[str]) -> None:
        super().__init__("; ".join(details))
        self.details = list(details)


class ClientIdOverflow(DomainError):
    """Our ids no longer fit the venue's 32-bit client id; never wrap silently into old orders."""
