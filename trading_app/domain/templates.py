"""The TradingView alert-message builder: the trader's choices -> a message, checked against
the market's minimum size, step and tick before it ever reaches TradingView.

Pure: the market's rules come in as `MarketRules`; nothing here talks to a venue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

from trading_app.domain.enums import SizeMode
from trading_app.domain.intents import MarketRules
from trading_app.domain.scale_fields import parse_scale_fields
from trading_app.domain.signals import positive_number
from trading_app.domain.tickers import normalize_market

STRATEGY_ACTION = "{{strategy.order.action}}"
ACTIONS = ("strategy", "buy", "sell", "close", "reverse")
_SIZE_FIELDS = {SizeMode.FIXED: "size", SizeMode.USD: "size_usd", SizeMode.RISK_PCT: "risk_pct"}


@dataclass(frozen=True)
class TemplateChoices:
    """What the trader picked on the settings page."""

    market: str
    action: str = "strategy"  # strategy = TradingView fills in buy/sell
    size_mode: SizeMode | None = SizeMode.USD  # None: use the account default
    size_value: Decimal | None = Decimal(100)
    sl_pct: Decimal | None = Decimal(1)
    tp_pct: Decimal | None = None
    rr: Decimal | None = Decimal(2)
    order_type: str = "market"
    limit_price: Decimal | None = None
    # scaling out: `tp_pct` or `rr` above is level 1, `tp_more` levels 2..4 of the same kind
    tp_more: tuple[Decimal, ...] = ()
    tp_split: tuple[Decimal, ...] = ()  # percent per level; empty: equal parts
    be_after_tp: int | None = None
    trail_pct: Decimal | None = None
    trail_after_tp: int | None = None


@dataclass(frozen=True)
class BuiltTemplate:
    """The message, and what is wrong with it (errors) or worth knowing (notes)."""

    message: str
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _number(value: Decimal) -> Decimal:
    return Decimal(format(value.normalize(), "f"))


def _json(value: object) -> str:
    # Decimals are written as bare JSON numbers from their exact text (never through float)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    return json.dumps(value)


def _render(message: dict[str, object]) -> str:
    return "{" + ", ".join(f"{json.dumps(key)}: {_json(value)}" for key, value in message.items()) + "}"


def _scale_fields(choices: TemplateChoices) -> dict[str, object]:
    """The target and scale-out fields of the message (a target with several levels as a list)."""
    out: dict[str, object] = {}
    for name in ("tp_pct", "rr"):
        value = getattr(choices, name)
        if value is not None:
            out[name] = [_number(v) for v in (value, *choices.tp_more)] if choices.tp_more else _number(value)
    if choices.tp_split:
        out["tp_split"] = [_number(v) for v in choices.tp_split]
    if choices.be_after_tp is not None:
        out["be_after_tp"] = choices.be_after_tp
    if choices.trail_pct is not None:
        out["trail_pct"] = _number(choices.trail_pct)
    if choices.trail_after_tp is not None:
        out["trail_after_tp"] = choices.trail_after_tp
    return out


def _check_size(choices: TemplateChoices, market: MarketRules, errors: list[str], notes: list[str]) -> None:
    if choices.size_mode is None or choices.size_value is None:
        notes.append("No size in the message: your default size from Settings is used.")
        return
    value = choices.size_value
    if value <= 0:
        errors.append("The size must be positive.")
    elif choices.size_mode is SizeMode.FIXED:
        if value < market.min_size:
            errors.append(f"{value} is below the {market.ticker} minimum of {market.min_size}.")
        elif value % market.step_size != 0:
            errors.append(f"{value} is not a multiple of the {market.ticker} step {market.step_size}.")
    elif choices.size_mode is SizeMode.USD:
        base = value / market.oracle_price
        if base < market.min_size:
            least = (market.min_size * market.oracle_price).quantize(Decimal("0.01"))
            coin = market.ticker.split("-")[0]
            errors.append(
                f"{value} USD is {base:.8f} {coin} at {market.oracle_price}, "
                f"below the minimum {market.min_size}: use at least about {least} USD."
            )
        else:
            size, coin = (base // market.step_size) * market.step_size, market.ticker.split("-")[0]
            notes.append(
                f"{value} USD is about {size} {coin} at {market.oracle_price} (rounded down to the step)."
            )
    elif choices.size_mode is SizeMode.RISK_PCT and value >= 100:
        errors.append("risk_pct must be below 100.")


def _check_protection(choices: TemplateChoices, errors: list[str]) -> None:
    if choices.sl_pct is None:
        errors.append("A stop-loss is required: set sl_pct.")
    elif not Decimal(0) < choices.sl_pct < Decimal(100):
        errors.append("sl_pct must be between 0 and 100.")
    if choices.tp_pct is not None and choices.rr is not None:
        errors.append("Choose tp_pct or rr, not both.")
        return
    for name in ("tp_pct", "rr"):
        value = getattr(choices, name)
        if value is not None and value <= 0:
            errors.append(f"{name} must be positive.")
            return
    if choices.tp_more and choices.tp_pct is None and choices.rr is None:
        errors.append("Take-profit levels need tp_pct or rr.")
        return
    # the webhook's own rules, so the builder never makes a message the webhook refuses
    given = _scale_fields(choices)
    if choices.sl_pct is not None:
        given["sl_pct"] = choices.sl_pct
    errors.extend(f"{e}." for e in parse_scale_fields(given, positive_number)[1])


def build_template(choices: TemplateChoices, market: MarketRules | None, secret: str) -> BuiltTemplate:
    """Build the alert message for `choices` and check it against `market`.

    Args:
        choices: The trader's picks.
        market: The venue's rules for the market, or None when it is not listed.
        secret: The trader's webhook secret (the message must carry it).

    Returns:
        The JSON message with TradingView placeholders, plus errors and notes.
    """
    errors: list[str] = []
    notes: list[str] = []
    ticker = normalize_market(choices.market)
    if ticker is None or market is None or market.ticker != ticker:
        errors.append(f"{choices.market!r} is not a market on this venue.")
    elif not market.is_active:
        errors.append(f"{ticker} is not active right now.")
    if choices.action not in ACTIONS:
        errors.append(f"action must be one of {', '.join(ACTIONS)}.")
    message: dict[str, object] = {
        "secret": secret,
        "action": STRATEGY_ACTION if choices.action == "strategy" else choices.action,
        "market": ticker or choices.market,
    }
    opening = choices.action not in ("close",)
    if opening and market is not None and ticker is not None and market.ticker == ticker:
        _check_size(choices, market, errors, notes)
        if choices.order_type == "limit":
            if choices.limit_price is None or choices.limit_price <= 0:
                errors.append("A limit order needs a positive price.")
            elif choices.limit_price % market.tick_size != 0:
                errors.append(f"{choices.limit_price} is not on the {ticker} tick {market.tick_size}.")
    if opening:
        _check_protection(choices, errors)
        if choices.size_mode is not None and choices.size_value is not None:
            message[_SIZE_FIELDS.get(choices.size_mode, "size_usd")] = _number(choices.size_value)
        if choices.order_type == "limit":
            message["order_type"] = "limit"
            if choices.limit_price is not None:
                message["price"] = _number(choices.limit_price)
        if choices.sl_pct is not None:
            message["sl_pct"] = _number(choices.sl_pct)
        message.update(_scale_fields(choices))
    strategy = choices.action == "strategy"
    message["alert_id"] = "{{strategy.order.id}}-{{timenow}}" if strategy else "{{timenow}}"
    message["timestamp"] = "{{timenow}}"
    notes.append(
        "In TradingView set the alert to 'Once per bar close' and paste this exactly (no extra text)."
    )
    return BuiltTemplate(_render(message), errors, notes)
