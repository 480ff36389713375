"""The value types of the risk step: what it reads (rules, limits, account) and what it produces.

`domain.risk` builds `Intent` and `CloseIntent`; services hand them to a venue unchanged,
since every size and price in them is already on the market's grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from trading_app.domain.enums import OrderType, PositionSide, Side, SizeMode
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.scale_out import STATEFUL_PER_POSITION, ScalePlan

__all__ = [
    "STATEFUL_PER_POSITION",
    "AccountFacts",
    "CloseIntent",
    "Intent",
    "LevelPlan",
    "MarketRules",
    "RiskLimits",
    "ScalePlan",
]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class MarketRules(Protocol):
    """A market's trading rules and current price (`venues.base.MarketSpec` fits)."""

    @property
    def ticker(self) -> str: ...

    @property
    def step_size(self) -> Decimal: ...

    @property
    def tick_size(self) -> Decimal: ...

    @property
    def oracle_price(self) -> Decimal: ...

    @property
    def min_size(self) -> Decimal: ...

    @property
    def is_active(self) -> bool: ...


@dataclass(frozen=True)
class RiskLimits:
    """A user's risk settings. Invalid settings are refused at construction.

    Attributes:
        size_mode, size_value: The default sizing when an alert does not say.
        max_open_positions: Entries are refused once this many positions are open.
        max_leverage: Ceiling on (open notional + new notional) / equity.
        max_notional_usd: Ceiling on one entry's notional; None for no ceiling.
        daily_loss_limit_usd: Entries stop once today's realized PnL is at or below minus
            this; None for no limit.
        slippage_pct: Worst-price distance of market entries and closes, percent.
        protection_slippage_pct: Worst-price distance of triggered stops and take-profits.
            Wider than entries: a stop that does not fill after a gap leaves the position naked.
        require_stop_loss: Refuse entries without a stop-loss (the default: never naked).
        default_sl_pct: Stop-loss distance used when an alert has none; None for no default.

    Raises:
        RiskRejected: INVALID_SETTINGS, naming the bad setting.
    """

    size_mode: SizeMode = SizeMode.USD
    size_value: Decimal = Decimal(100)
    max_open_positions: int = 10
    max_leverage: Decimal = Decimal(5)
    max_notional_usd: Decimal | None = None
    daily_loss_limit_usd: Decimal | None = None
    slippage_pct: Decimal = Decimal(1)
    protection_slippage_pct: Decimal = Decimal(5)
    require_stop_loss: bool = True
    default_sl_pct: Decimal | None = None

    def __post_init__(self) -> None:
        positive = {
            "size_value": self.size_value,
            "max_leverage": self.max_leverage,
            "max_notional_usd": self.max_notional_usd,
            "daily_loss_limit_usd": self.daily_loss_limit_usd,
            "default_sl_pct": self.default_sl_pct,
        }
        for name, value in positive.items():
            if value is not None and (not value.is_finite() or value <= 0):
                raise RiskRejected(RejectReason.INVALID_SETTINGS, f"{name} must be positive, got {value}")
        slippages = {
            "slippage_pct": self.slippage_pct,
            "protection_slippage_pct": self.protection_slippage_pct,
        }
        for name, value in slippages.items():
            if not value.is_finite() or not _ZERO <= value < _HUNDRED:
                raise RiskRejected(RejectReason.INVALID_SETTINGS, f"{name} must be in [0, 100), got {value}")
        if self.default_sl_pct is not None and self.default_sl_pct >= _HUNDRED:
            raise RiskRejected(RejectReason.INVALID_SETTINGS, "default_sl_pct must be below 100")
        if self.max_open_positions < 1:
            raise RiskRejected(RejectReason.INVALID_SETTINGS, "max_open_positions must be at least 1")


@dataclass(frozen=True)
class AccountFacts:
    """What the risk step needs to know about the account right now.

    Attributes:
        equity: Account equity in USD.
        open_positions: Positions currently open (excluding one a REVERSE is closing).
        realized_pnl_today: Net realized PnL since the start of the user's day (UTC).
        open_notional_usd: Notional of the positions already open, for account leverage.
    """

    equity: Decimal
    open_positions: int = 0
    realized_pnl_today: Decimal = _ZERO
    open_notional_usd: Decimal = _ZERO


@dataclass(frozen=True)
class LevelPlan:
    """How the trader gave the stop-loss and take-profit: a price, or relative to the entry.

    Relative levels are measured from the planned entry for the risk checks and sizing, and
    again from the average fill before they are placed (`domain.levels.levels_from_fill`).

    Attributes:
        sl, tp: Absolute prices, used as given.
        sl_pct: Stop distance in percent of the entry (the alert's, or the account's default).
        tp_pct: Target distance in percent of the entry.
        rr: Target distance as a multiple of the stop distance.
    """

    sl: Decimal | None = None
    sl_pct: Decimal | None = None
    tp: Decimal | None = None
    tp_pct: Decimal | None = None
    rr: Decimal | None = None

    @classmethod
    def of(
        cls,
        *,
        sl: Decimal | None = None,
        sl_pct: Decimal | None = None,
        tp: Decimal | None = None,
        tp_pct: Decimal | None = None,
        rr: Decimal | None = None,
        default_sl_pct: Decimal | None = None,
    ) -> LevelPlan:
        """The plan of an alert's fields: a price wins over a percent, `tp_pct` over `rr`.

        `default_sl_pct` (the account's setting) stands in when the alert gives no stop at all.
        """
        if sl is None and sl_pct is None:
            sl_pct = default_sl_pct
        return cls(
            sl=sl,
            sl_pct=None if sl is not None else sl_pct,
            tp=tp,
            tp_pct=None if tp is not None else tp_pct,
            rr=None if tp is not None or tp_pct is not None else rr,
        )

    @property
    def has_stop(self) -> bool:
        """Whether a stop-loss was asked for (a price or a percent)."""
        return self.sl is not None or self.sl_pct is not None

    @property
    def has_target(self) -> bool:
        """Whether a take-profit was asked for (a price, a percent or reward:risk)."""
        return self.tp is not None or self.tp_pct is not None or self.rr is not None

    @property
    def relative(self) -> bool:
        """Whether any level moves with the entry price (percent or reward:risk)."""
        return self.sl_pct is not None or self.tp_pct is not None or self.rr is not None


@dataclass(frozen=True)
class Intent:
    """A validated entry with its protection; every size and price is on the market's grid.

    Attributes:
        entry_price: The reference the checks used: the oracle price for a market order
            (not on the grid, never sent), the limit price for a limit order.
        worst_price: The IOC bound of a market entry, or the limit price.
        stop_loss_worst, take_profit_worst: Worst execution prices once triggered.
        notional_usd: size * entry_price.
        leverage: (open notional + this notional) / equity, unrounded.
        levels: How the stop-loss and take-profit were given: the engine measures the relative
            ones again from the average fill.
        scale: The take-profit levels, their split, break-even and trailing (default: the single
            level of `levels`, taking the whole position).
        targets: Every level's price from `entry_price`, on the tick; `take_profit` is level 1.
    """

    market: str
    side: PositionSide
    order_type: OrderType
    size: Decimal
    entry_price: Decimal
    worst_price: Decimal
    limit_price: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    stop_loss_worst: Decimal | None
    take_profit_worst: Decimal | None
    notional_usd: Decimal
    leverage: Decimal
    levels: LevelPlan = field(default_factory=LevelPlan)
    scale: ScalePlan = field(default_factory=lambda: ScalePlan.single(None, None))
    targets: tuple[Decimal, ...] = ()

    def __post_init__(self) -> None:
        # an intent built without a scale plan (older callers, tests) has the single level
        if not self.scale.targets and self.levels.has_target:
            kind = next(k for k in ("tp", "tp_pct", "rr") if getattr(self.levels, k) is not None)
            object.__setattr__(self, "scale", ScalePlan.single(kind, getattr(self.levels, kind)))
        if not self.targets and self.take_profit is not None:
            object.__setattr__(self, "targets", (self.take_profit,))

    @property
    def entry_side(self) -> Side:
        return self.side.entry_side

    @property
    def exit_side(self) -> Side:
        return self.side.exit_side


@dataclass(frozen=True)
class CloseIntent:
    """A reduce-only market order closing a position of `side` (the order's side is `exit_side`)."""

    market: str
    side: PositionSide
    size: Decimal
    worst_price: Decimal

    @property
    def exit_side(self) -> Side:
        return self.side.exit_side
