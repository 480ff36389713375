"""The trader's saved risk defaults: the one list of their fields, and the conversions everyone needs.

`RiskSettings` names the fields once. The `trading_accounts` columns, the account overview, the
settings form and the engine's `RiskLimits` all carry these values; instead of copying the field
list, they go through `RiskSettings.of(row)`, `.columns()`, `.texts()` and `.limits()`. Validating
the form (bounds, messages) is the accounts service's job; this module only says what the fields are.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from trading_app.domain.enums import SizeMode
from trading_app.domain.intents import RiskLimits

__all__ = ["RISK_FIELDS", "RiskSettings"]


@dataclass(frozen=True)
class RiskSettings:
    """A trader's risk defaults, as saved. Values are exact; None means "no limit".

    Attributes:
        size_mode, size_value: The sizing of an alert that does not give one.
        max_open_positions: Entries are refused once this many positions are open.
        max_leverage: Ceiling on (open notional + new notional) / equity.
        max_notional_usd: Ceiling on one entry's notional.
        daily_loss_limit_usd: Entries stop once today's realized PnL reaches minus this.
        slippage_pct: Worst-price distance of market entries and closes, percent.
        same_market_policy: What an opposite-side alert does while a position in its market is
            open: "reject" or "reverse".
    """

    size_mode: SizeMode
    size_value: Decimal
    max_open_positions: int
    max_leverage: Decimal
    max_notional_usd: Decimal | None
    daily_loss_limit_usd: Decimal | None
    slippage_pct: Decimal
    same_market_policy: str = "reject"

    @classmethod
    def of(cls, source: object) -> RiskSettings:
        """Read the fields by name from anything that carries them (a `trading_accounts` row, the
        account overview); a size mode stored as text becomes a `SizeMode`.

        Args:
            source: An object with an attribute per field.

        Returns:
            The settings it holds.

        Raises:
            AttributeError: A field is missing from `source`.
            ValueError: Its size mode is not a `SizeMode` value.
        """
        values = {name: getattr(source, name) for name in RISK_FIELDS}
        values["size_mode"] = SizeMode(values["size_mode"])
        return cls(**values)

    def columns(self) -> dict[str, object]:
        """The values as the `trading_accounts` columns store them (the size mode as its text).

        Returns:
            Field name -> column value, for every field.
        """
        values = {name: getattr(self, name) for name in RISK_FIELDS}
        values["size_mode"] = self.size_mode.value
        return values

    def texts(self) -> dict[str, str]:
        """The values as the settings form shows them: plain decimals, "" for no limit.

        Returns:
            Field name -> text, for every field.
        """
        return {name: _text(getattr(self, name)) for name in RISK_FIELDS}

    def limits(self) -> RiskLimits:
        """The engine's view: these defaults, and the engine's own values for everything else.

        Returns:
            `RiskLimits` with every field the two share taken from these settings.

        Raises:
            RiskRejected: INVALID_SETTINGS, when a saved value is out of the engine's bounds.
        """
        shared = {f.name for f in dataclasses.fields(RiskLimits)} & set(RISK_FIELDS)
        return RiskLimits(**{name: getattr(self, name) for name in shared})


RISK_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RiskSettings))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SizeMode):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
