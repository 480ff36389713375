"""The TradingView alert format: validation of an already JSON-decoded body into a `ParsedSignal`.

Fields (unknown ones are ignored, `null` counts as absent):

- `secret`: checked by the webhook, never part of the parsed result;
- `action`: buy | long, sell | short, close | flat, reverse (any case);
- `market`: a dYdX ticker (BTC-USD) or a TradingView one (BTCUSDT.P, BINANCE:BTCUSDT.P, ETHUSD);
- sizing, at most one of: `size` (base units), `size_usd` (notional), `risk_pct`
  (percent of equity lost at the stop; needs `sl` or `sl_pct`); none means the user's default;
- `order_type`: market (default) | limit; a limit needs `price` (for a market order `price`
  is only informational, e.g. `{{close}}`);
- protection: `sl` or `sl_pct`, `tp` or `tp_pct` or `rr` (a reward:risk multiple; needs a stop);
  percentages are percent of the entry price (2 means 2 %);
- scaling out (`domain.scale_fields`): the target may be a list of up to 4 levels, with `tp_split`,
  `be_after_tp`, `trail_pct` or `trail`, and `trail_after_tp`;
- `alert_id`: idempotency key, at most 128 characters after trimming (empty means absent);
- `timestamp`: `{{timenow}}` (2019-08-27T09:56:00Z), ISO 8601 with an offset (no offset
  means UTC), or unix seconds / milliseconds.

Numbers may be JSON numbers or numeric strings and become `Decimal` through `str()`, never
through float arithmetic. Every problem found is reported at once in `InvalidSignal.details`.
Whether the market exists is not known here: the venue's market list decides later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from trading_app.domain.enums import OrderType, PositionSide, SignalAction, SizeMode
from trading_app.domain.errors import InvalidSignal
from trading_app.domain.scale_fields import parse_scale_fields
from trading_app.domain.tickers import normalize_market

MAX_ALERT_ID = 128
MAX_NUMBER = Decimal(10) ** 15
MAX_DECIMAL_PLACES = 18  # what the NUMERIC(38, 18) money columns keep
_ACTIONS = {
    "buy": SignalAction.LONG,
    "long": SignalAction.LONG,
    "sell": SignalAction.SHORT,
    "short": SignalAction.SHORT,
    "close": SignalAction.CLOSE,
    "flat": SignalAction.CLOSE,
    "reverse": SignalAction.REVERSE,
}
_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}
_SIZE_FIELDS = {"size": SizeMode.FIXED, "size_usd": SizeMode.USD, "risk_pct": SizeMode.RISK_PCT}
# Exclusive upper bounds of percent fields (a stop 100 % away is at zero)
_UPPER = {"risk_pct": Decimal(100), "sl_pct": Decimal(100)}
_UNIX_DIGITS = re.compile(r"\d{1,16}(\.\d{1,9})?", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MS_THRESHOLD = 10**11  # a unix time in seconds this large would be in the year 5138


@dataclass(frozen=True)
class ParsedSignal:
    """A validated alert. Prices and sizes are exact but not yet on any market's grid."""

    action: SignalAction
    market: str
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    size: Decimal | None = None
    size_usd: Decimal | None = None
    risk_pct: Decimal | None = None
    sl: Decimal | None = None
    sl_pct: Decimal | None = None
    tp: Decimal | None = None
    tp_pct: Decimal | None = None
    rr: Decimal | None = None
    alert_id: str | None = None
    timestamp: datetime | None = None
    # scaling out: `tp` / `tp_pct` / `rr` above are level 1; see `domain.scale_fields`
    tp_more: tuple[Decimal, ...] = ()  # levels 2..4, of the same kind as level 1
    tp_split: tuple[Decimal, ...] = ()  # percent per level, sums to 100; empty: equal parts
    be_after_tp: int | None = None
    trail_pct: Decimal | None = None
    trail: Decimal | None = None
    trail_after_tp: int | None = None

    @property
    def position_side(self) -> PositionSide | None:
        """The direction to open for LONG / SHORT; None for CLOSE and REVERSE."""
        return {SignalAction.LONG: PositionSide.LONG, SignalAction.SHORT: PositionSide.SHORT}.get(self.action)

    @property
    def size_request(self) -> tuple[SizeMode, Decimal] | None:
        """The sizing the alert asks for, or None to use the user's default."""
        for name, mode in _SIZE_FIELDS.items():
            value = getattr(self, name)
            if value is not None:
                return mode, value
        return None

    def to_dict(self) -> dict[str, str | list[str]]:
        """JSON-ready form for the `signals.parsed` column (absent fields left out).

        Every value is a string, except `tp_more` and `tp_split`: lists of strings.
        """
        out: dict[str, str | list[str]] = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if isinstance(value, tuple):
                if value:
                    out[name] = [str(v) for v in value]
            elif value is not None:
                out[name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ParsedSignal:
        """The signal `to_dict` stored (trusted: it was validated when it arrived).

        Raises:
            ValueError, InvalidOperation, TypeError: the stored form is damaged.
        """
        values: dict[str, object] = {}
        for name in _FIELD_NAMES:
            raw = data.get(name)
            if raw is None:
                continue
            if name == "action":
                values[name] = SignalAction(str(raw))
            elif name == "order_type":
                values[name] = OrderType(str(raw))
            elif name == "timestamp":
                values[name] = datetime.fromisoformat(str(raw))
            elif name in ("market", "alert_id"):
                values[name] = raw
            elif name in ("tp_more", "tp_split"):
                if not isinstance(raw, list):
                    raise TypeError(f"{name} is stored as a list")
                values[name] = tuple(Decimal(str(v)) for v in raw)
            elif name in ("be_after_tp", "trail_after_tp"):
                values[name] = int(str(raw))
            else:
                values[name] = Decimal(str(raw))
        return cls(**values)  # type: ignore[arg-type]


_FIELD_NAMES = tuple(f.name for f in fields(ParsedSignal))
# the targets (tp, tp_pct, rr) may be lists: read with the other scale-out fields
_NUMBER_FIELDS = ("price", "size", "size_usd", "risk_pct", "sl", "sl_pct")
_ZERO = Decimal(0)
_NUMERIC = (int, float, str, Decimal)


def _show(value: object) -> str:
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # a huge int (Python 3.11 refuses > 4300 digits), deep nesting
        return "a value too long to show"
    return text if len(text) <= 40 else text[:37] + "..."


def _decimal(value: object) -> Decimal | str:
    """The value as a Decimal, or the reason it is not one."""
    if isinstance(value, bool) or not isinstance(value, _NUMERIC):
        return f"{_show(value)} is not a number"
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64:
            return f"{_show(value)} is not a number"
        try:
            number = Decimal(text)
        except InvalidOperation:
            return f"{_show(value)} is not a number"
    else:
        # str() of a JSON float is its shortest repr ("0.1"), so no binary noise comes along
        number = Decimal(str(value) if isinstance(value, float) else value)
    if not number.is_finite():
        return f"{_show(value)} is not a finite number"
    return number


def _positive(value: object, name: str) -> Decimal | str:
    number = _decimal(value)
    if isinstance(number, str):
        return number
    if number <= _ZERO:
        return f"must be greater than 0, got {_show(value)}"
    if number >= MAX_NUMBER:
        return f"{_show(value)} is too large"
    # normalize() only when needed: trailing zeros ("1.5000...0") do not count as places
    places = -int(number.as_tuple().exponent)
    if places > MAX_DECIMAL_PLACES and -int(number.normalize().as_tuple().exponent) > MAX_DECIMAL_PLACES:
        return f"{_show(value)} has more than {MAX_DECIMAL_PLACES} decimal places"
    upper = _UPPER.get(name)
    if upper is not None and number >= upper:
        return f"must be below {upper} (percent), got {_show(value)}"
    return number


positive_number = _positive  # the format's number rule, for the template builder's checks


def _timestamp(value: object) -> datetime | str:
    if isinstance(value, bool):
        return f"{_show(value)} is not a time"
    numeric_text = isinstance(value, str) and _UNIX_DIGITS.fullmatch(value.strip()) is not None
    if isinstance(value, int | float | Decimal) or numeric_text:
        number = _decimal(value)
        if isinstance(number, str) or number < 0:
            return f"{_show(value)} is not a unix time"
        seconds = number / 1000 if number >= _MS_THRESHOLD else number
        if seconds >= _MS_THRESHOLD:
            return f"{_show(value)} is not a unix time"
        whole = int(seconds)
        micro = int((seconds - whole) * 1_000_000)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=whole, microseconds=micro)
    if not isinstance(value, str):
        return f"{_show(value)} is not a time"
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 shifted to UTC
        return f"{_show(value)} is not an ISO 8601 time"


def _alert_id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a string")
    if isinstance(value, int) and not -(10**MAX_ALERT_ID) < value < 10**MAX_ALERT_ID:
        raise ValueError(f"longer than {MAX_ALERT_ID} characters")
    text = str(value).strip()
    if len(text) > MAX_ALERT_ID:
        raise ValueError(f"longer than {MAX_ALERT_ID} characters")
    if _CONTROL.search(text):
        raise ValueError("contains control characters")
    return text or None


def _combination_problems(given: set[str], order_type: object) -> list[str]:
    problems = []
    has_stop = bool(given & {"sl", "sl_pct"})
    if len(given & set(_SIZE_FIELDS)) > 1:
        problems.append("size, size_usd, risk_pct: give at most one")
    if "risk_pct" in given and not has_stop:
        problems.append("risk_pct: needs sl or sl_pct (the risk is measured to the stop)")
    if {"sl", "sl_pct"} <= given:
        problems.append("sl, sl_pct: give at most one")
    if {"tp", "tp_pct"} <= given:
        problems.append("tp, tp_pct: give at most one")
    if "rr" in given and given & {"tp", "tp_pct"}:
        problems.append("rr: cannot be combined with tp or tp_pct")
    if "rr" in given and not has_stop:
        problems.append("rr: needs sl or sl_pct (the reward is a multiple of the risk)")
    if order_type is OrderType.LIMIT and "price" not in given:
        problems.append("price: required for a limit order")
    return problems


def _lag_problem(stamp: datetime, now: datetime, max_lag: float | None, max_future: float) -> str | None:
    age = (now - stamp).total_seconds()
    if max_lag is not None and age > max_lag:
        return f"the alert is {age:.0f} s old (at most {max_lag:g} s allowed)"
    if -age > max_future:
        return f"{-age:.0f} s in the future (check the clock)"
    return None


def parse_signal(
    payload: object,
    *,
    now: datetime,
    max_lag_seconds: float | None,
    max_future_seconds: float = 10,
) -> ParsedSignal:
    """Validate a decoded alert body.

    Args:
        payload: What `json.loads` returned for the body.
        now: The receive time (timezone-aware), injected so tests are deterministic.
        max_lag_seconds: Refuse alerts whose `timestamp` is older than this; None to skip.
        max_future_seconds: Refuse alerts whose `timestamp` is further ahead than this
            (a small allowance for TradingView's and our clocks disagreeing).

    Returns:
        The parsed signal, without the secret.

    Raises:
        InvalidSignal: listing every problem found, each naming its field.
        ValueError: `now` is naive (a programming error, not bad input).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if type(payload) is not dict and not isinstance(payload, Mapping):  # the ABC check is slow
        raise InvalidSignal(["body: expected a JSON object"])
    data = {k: v for k, v in payload.items() if isinstance(k, str) and v is not None}
    errors: list[str] = []
    values: dict[str, object] = {}

    action = data.get("action")
    if action is None:
        errors.append("action: required (buy, sell, long, short, close, flat or reverse)")
    elif not isinstance(action, str) or action.strip().lower() not in _ACTIONS:
        errors.append(f"action: {_show(action)} is not one of buy, sell, long, short, close, flat, reverse")
    else:
        values["action"] = _ACTIONS[action.strip().lower()]

    market = data.get("market")
    ticker = normalize_market(market) if isinstance(market, str) else None
    if market is None:
        errors.append("market: required, e.g. BTC-USD or BTCUSDT.P")
    elif ticker is None:
        errors.append(f"market: {_show(market)} is not a USD perpetual (e.g. BTC-USD, BTCUSDT.P)")
    else:
        values["market"] = ticker

    order_type = data.get("order_type", "market")
    if not isinstance(order_type, str) or order_type.strip().lower() not in _ORDER_TYPES:
        errors.append(f"order_type: {_show(order_type)} is not market or limit")
    else:
        values["order_type"] = _ORDER_TYPES[order_type.strip().lower()]

    for name in _NUMBER_FIELDS:
        if name in data:
            number = _positive(data[name], name)
            if isinstance(number, str):
                errors.append(f"{name}: {number}")
            else:
                values[name] = number

    scale_values, scale_errors = parse_scale_fields(data, _positive)
    values.update(scale_values)
    errors.extend(scale_errors)
    errors.extend(_combination_problems(set(data), values.get("order_type")))
    if "alert_id" in data:
        try:
            values["alert_id"] = _alert_id(data["alert_id"])
        except ValueError as e:
            errors.append(f"alert_id: {e}")
    if "timestamp" in data:
        stamp = _timestamp(data["timestamp"])
        if isinstance(stamp, str):
            problem: str | None = stamp
        else:
            problem = _lag_problem(stamp, now, max_lag_seconds, max_future_seconds)
        if problem:
            errors.append(f"timestamp: {problem}")
        else:
            values["timestamp"] = stamp

    if errors:
        raise InvalidSignal(errors)
    return ParsedSignal(**values)  # type: ignore[arg-type]
