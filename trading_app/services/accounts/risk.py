"""The trader's risk defaults: parsed from the settings form, validated, saved.

The trading engine applies these when an alert does not say otherwise. Values are exact
`Decimal`s parsed from the text the trader typed (never through float), and every bound is
checked before anything is written, so a bad form changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from trading_app.db.engine import session_scope
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import SizeMode
from trading_app.domain.numbers import ascii_int
from trading_app.domain.risk_settings import RiskSettings
from trading_app.services.accounts.account import SettingsInvalid, load_account

_PLAIN_DECIMAL = re.compile(r"^\d{1,12}(\.\d{1,8})?$")

# (lowest allowed, highest allowed) per size mode; the lowest is exclusive (must be > 0)
SIZE_BOUNDS = {
    SizeMode.FIXED: Decimal("1000000"),  # base units
    SizeMode.USD: Decimal("10000000"),  # notional USD
    SizeMode.EQUITY_PCT: Decimal("5000"),  # notional as % of equity (also capped by max leverage)
    SizeMode.RISK_PCT: Decimal("25"),  # % of equity lost at the stop
}
MAX_OPEN_POSITIONS = 100
MAX_LEVERAGE = Decimal("50")  # dYdX's highest initial-margin leverage on any market
MAX_USD_LIMIT = Decimal("100000000")
MAX_SLIPPAGE_PCT = Decimal("10")

# what an alert for the OTHER side does while a position in that market is open
SAME_MARKET_POLICIES = {
    "reject": "Reject it (keep the open position; send close or reverse to change it)",
    "reverse": "Reverse: close the open position, then open the new side",
}

SIZE_MODE_LABELS = {
    SizeMode.FIXED.value: "Fixed size (base units, e.g. 0.01 BTC)",
    SizeMode.USD.value: "Fixed notional (USD)",
    SizeMode.EQUITY_PCT.value: "Percent of equity (notional)",
    SizeMode.RISK_PCT.value: "Percent of equity at risk (to the stop)",
}


def _decimal(
    form: Mapping[str, str], field: str, label: str, high: Decimal, *, optional: bool = False
) -> Decimal | None:
    text = (form.get(field) or "").strip()
    if not text:
        if optional:
            return None
        raise SettingsInvalid(field, f"{label} is required.")
    if not _PLAIN_DECIMAL.match(text):
        raise SettingsInvalid(
            field, f"{label} must be a plain positive number like 12.5 (at most 8 decimals)."
        )
    value = Decimal(text)
    if value <= 0:
        raise SettingsInvalid(field, f"{label} must be greater than 0.")
    if value > high:
        raise SettingsInvalid(field, f"{label} must be at most {high}.")
    return value


def parse_risk(form: Mapping[str, str]) -> RiskSettings:
    """Validate the risk form (field name -> the text typed).

    Optional fields (`max_notional_usd`, `daily_loss_limit_usd`) may be empty, meaning no limit.
    `same_market_policy` is "reject" (the default when the form has no such field) or "reverse".

    Raises:
        SettingsInvalid: The first problem found, naming its field.
    """
    try:
        mode = SizeMode((form.get("size_mode") or "").strip())
    except ValueError:
        raise SettingsInvalid("size_mode", "Choose a size mode.") from None
    size_value = _decimal(form, "size_value", "Default size", SIZE_BOUNDS[mode])
    positions_text = (form.get("max_open_positions") or "").strip()
    max_open = ascii_int(positions_text, 1, MAX_OPEN_POSITIONS)
    if max_open is None:
        raise SettingsInvalid(
            "max_open_positions", f"Max open positions must be a whole number from 1 to {MAX_OPEN_POSITIONS}."
        )
    leverage = _decimal(form, "max_leverage", "Max leverage", MAX_LEVERAGE)
    notional = _decimal(form, "max_notional_usd", "Max notional per position", MAX_USD_LIMIT, optional=True)
    daily = _decimal(form, "daily_loss_limit_usd", "Daily loss limit", MAX_USD_LIMIT, optional=True)
    slippage = _decimal(form, "slippage_pct", "Slippage", MAX_SLIPPAGE_PCT)
    assert size_value is not None and leverage is not None and slippage is not None  # required above
    policy = str(form.get("same_market_policy", "reject")).strip()
    if policy not in SAME_MARKET_POLICIES:
        raise SettingsInvalid(
            "same_market_policy", "Choose what an opposite-side alert does: reject or reverse."
        )
    if mode is SizeMode.EQUITY_PCT and size_value > leverage * 100:
        # a notional above equity x max leverage would be refused on every alert
        raise SettingsInvalid(
            "size_value", f"{size_value}% of equity needs more than the {leverage}x max leverage."
        )
    if mode is SizeMode.USD and notional is not None and size_value > notional:
        raise SettingsInvalid("size_value", "The default size is above your max notional per position.")
    return RiskSettings(mode, size_value, max_open, leverage, notional, daily, slippage, policy)


async def save_risk(address: str, form: Mapping[str, str] | RiskSettings) -> RiskSettings:
    """Validate and save the trader's risk defaults.

    Args:
        address: The trader (from the server-verified session).
        form: The form's text fields, or already validated settings.

    Raises:
        SettingsInvalid: Nothing was saved.
        UnknownUser: The address has no user row.
    """
    risk = form if isinstance(form, RiskSettings) else parse_risk(form)
    async with session_scope() as session:
        _, account = await load_account(session, address, for_update=True)
        for column, value in risk.columns().items():
            setattr(account, column, value)
        account.updated_at = utcnow()
        session.add(account)
    return risk
