"""The TradingView alert format: what is accepted, and every problem reported at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_app.domain.enums import OrderType, PositionSide, SignalAction, SizeMode
from trading_app.domain.errors import InvalidSignal
from trading_app.domain.signals import ParsedSignal, parse_signal

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def parse(body: Any, max_lag: float | None = 60, **kw: Any) -> ParsedSignal:
    return parse_signal(body, now=NOW, max_lag_seconds=max_lag, **kw)


def problems(body: Any, max_lag: float | None = 60) -> list[str]:
    with pytest.raises(InvalidSignal) as e:
        parse(body, max_lag)
    assert str(e.value) == "; ".join(e.value.details)
    return e.value.details


def base(**extra: Any) -> dict[str, Any]:
    return {"action": "buy", "market": "BTC-USD", "sl": "60000", **extra}


def test_a_full_alert() -> None:
    signal = parse(
        {
            "secret": "s3cr3t-value",
            "action": "Long",
            "market": "BINANCE:BTCUSDT.P",
            "order_type": "LIMIT",
            "price": "65000.5",
            "size": 0.0003,
            "sl": 64000,
            "tp_pct": "2.5",
            "alert_id": "  strat-1-42  ",
            "timestamp": "2024-05-01T11:59:30Z",
            "comment": "ignored",
        }
    )
    assert signal == ParsedSignal(
        action=SignalAction.LONG,
        market="BTC-USD",
        order_type=OrderType.LIMIT,
        price=D("65000.5"),
        size=D("0.0003"),
        sl=D("64000"),
        tp_pct=D("2.5"),
        alert_id="strat-1-42",
        timestamp=datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC),
    )
    assert signal.position_side is PositionSide.LONG
    assert signal.size_request == (SizeMode.FIXED, D("0.0003"))
    assert "s3cr3t" not in repr(signal) and "secret" not in signal.to_dict()


@pytest.mark.parametrize(
    ("word", "action"),
    [
        ("buy", SignalAction.LONG),
        ("LONG", SignalAction.LONG),
        ("Sell", SignalAction.SHORT),
        ("short", SignalAction.SHORT),
        ("close", SignalAction.CLOSE),
        ("FLAT", SignalAction.CLOSE),
        (" reverse ", SignalAction.REVERSE),
    ],
)
def test_actions_are_normalised(word: str, action: SignalAction) -> None:
    assert parse({"action": word, "market": "ETHUSDT"}).action is action


def test_close_and_reverse_have_no_side_of_their_own() -> None:
    assert parse({"action": "close", "market": "ETH-USD"}).position_side is None
    assert parse({"action": "sell", "market": "ETH-USD"}).position_side is PositionSide.SHORT


def test_minimal_alert_uses_the_defaults() -> None:
    signal = parse({"action": "sell", "market": "eth-usd"})
    assert signal.order_type is OrderType.MARKET and signal.size_request is None
    assert signal.market == "ETH-USD" and signal.alert_id is None and signal.timestamp is None


@pytest.mark.parametrize(
    ("field", "mode"), [("size", SizeMode.FIXED), ("size_usd", SizeMode.USD), ("risk_pct", SizeMode.RISK_PCT)]
)
def test_each_size_field_becomes_a_size_request(field: str, mode: SizeMode) -> None:
    assert parse(base(**{field: "1.5"})).size_request == (mode, D("1.5"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.1, D("0.1")),
        ("0.1", D("0.1")),
        (3, D("3")),
        (" 2.50 ", D("2.50")),
        ("1e-3", D("0.001")),
        (D("7"), D("7")),
    ],
)
def test_numbers_become_exact_decimals(raw: Any, expected: D) -> None:
    value = parse(base(size=raw)).size
    assert value == expected and isinstance(value, D)


def test_json_float_never_brings_binary_noise() -> None:
    body = json.loads('{"action":"buy","market":"ETH-USD","price":32.3,"order_type":"limit","size":0.0003}')
    signal = parse(body)
    assert str(signal.price) == "32.3" and str(signal.size) == "0.0003"


@pytest.mark.parametrize(
    "bad",
    [
        *(True, False, "abc", "", "  ", "NaN", "nan", "Infinity", "-inf", float("nan"), float("inf")),
        *([1], {"a": 1}, "{{close}}", 0, "0", -1, "-0.5", "1" * 70, 10**15, "1e20", "0.0000000000000000001"),
    ],
)
def test_bad_numbers_are_refused_by_field_name(bad: Any) -> None:
    details = problems(base(size_usd=bad))
    assert len(details) == 1 and details[0].startswith("size_usd: ")


def test_enormous_integers_are_refused_without_crashing() -> None:
    assert problems(base(size=10**5000)) == ["size: a value too long to show is too large"]
    assert problems(base(action=[10**5000]))[0].startswith("action: a value too long to show")
    assert problems(base(timestamp=10**5000), max_lag=None) == [
        "timestamp: a value too long to show is not a unix time"
    ]


def test_null_is_absent() -> None:
    signal = parse(base(tp=None, size=None, alert_id=None, timestamp=None))
    assert signal.tp is None and signal.size_request is None


@pytest.mark.parametrize(("field", "value"), [("risk_pct", 100), ("sl_pct", "100"), ("sl_pct", 150)])
def test_percentages_that_reach_zero_are_refused(field: str, value: Any) -> None:
    details = problems(base(**{field: value}))
    assert any(d.startswith(f"{field}: must be below 100") for d in details)


def test_every_problem_is_reported_not_just_the_first() -> None:
    details = problems(
        {
            "action": "hold",
            "market": "ETHBTC",
            "size": True,
            "size_usd": "-1",
            "risk_pct": "abc",
            "order_type": "stop",
            "tp": 1,
            "rr": 2,
            "alert_id": "x" * 129,
            "timestamp": "yesterday",
        }
    )
    fields = [d.split(":", 1)[0] for d in details]
    assert fields == [
        "action",
        "market",
        "order_type",
        "size",
        "size_usd",
        "risk_pct",
        "size, size_usd, risk_pct",
        "risk_pct",
        "rr",
        "rr",
        "alert_id",
        "timestamp",
    ]


def test_missing_required_fields() -> None:
    assert problems({}) == [
        "action: required (buy, sell, long, short, close, flat or reverse)",
        "market: required, e.g. BTC-USD or BTCUSDT.P",
    ]


@pytest.mark.parametrize("body", [[], "buy BTC", 42, None, ["action", "buy"]])
def test_body_must_be_an_object(body: Any) -> None:
    assert problems(body) == ["body: expected a JSON object"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"size": 1, "size_usd": 100}, "size, size_usd, risk_pct: give at most one"),
        ({"risk_pct": 1, "sl": None}, "risk_pct: needs sl or sl_pct (the risk is measured to the stop)"),
        ({"sl_pct": 1}, "sl, sl_pct: give at most one"),
        ({"tp": 70000, "tp_pct": 3}, "tp, tp_pct: give at most one"),
        ({"rr": 2, "tp": 70000}, "rr: cannot be combined with tp or tp_pct"),
        ({"rr": 2, "sl": None}, "rr: needs sl or sl_pct (the reward is a multiple of the risk)"),
        ({"order_type": "limit"}, "price: required for a limit order"),
        ({"order_type": 1}, "order_type: 1 is not market or limit"),
        ({"market": 5}, "market: 5 is not a USD perpetual (e.g. BTC-USD, BTCUSDT.P)"),
        ({"action": ["buy"]}, "action: ['buy'] is not one of buy, sell, long, short, close, flat, reverse"),
    ],
)
def test_combination_rules(extra: dict[str, Any], message: str) -> None:
    assert message in problems(base(**extra))


def test_risk_pct_with_a_stop_percentage_is_fine() -> None:
    signal = parse({"action": "short", "market": "ETH-USD", "risk_pct": "0.5", "sl_pct": 1, "rr": 3})
    assert signal.size_request == (SizeMode.RISK_PCT, D("0.5")) and signal.rr == D("3")


def test_market_order_keeps_price_as_information() -> None:
    assert parse(base(price="{{close}}".replace("{{close}}", "65000"))).price == D("65000")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (True, "must be a string"),
        (1.5, "must be a string"),
        ({"id": 1}, "must be a string"),
        ("x" * 129, "longer than 128 characters"),
        (10**200, "longer than 128 characters"),
        ("bad\x00id", "contains control characters"),
        ("line\nbreak", "contains control characters"),
    ],
)
def test_bad_alert_ids(raw: Any, problem: str) -> None:
    assert problems(base(alert_id=raw)) == [f"alert_id: {problem}"]


def test_alert_id_trimmed_length_and_forms() -> None:
    assert parse(base(alert_id="  " + "x" * 128 + "  ")).alert_id == "x" * 128
    assert parse(base(alert_id=12345)).alert_id == "12345"
    assert parse(base(alert_id="   ")).alert_id is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01T11:59:30Z", datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC)),
        ("2024-05-01T13:59:30+02:00", datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC)),
        ("2024-05-01T11:59:30", datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC)),  # naive is UTC
        (1714564770, datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC)),
        ("1714564770", datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC)),
        (1714564770500, datetime(2024, 5, 1, 11, 59, 30, 500000, tzinfo=UTC)),
        ("1714564770.25", datetime(2024, 5, 1, 11, 59, 30, 250000, tzinfo=UTC)),
    ],
)
def test_timestamp_forms(raw: Any, expected: datetime) -> None:
    stamp = parse(base(timestamp=raw)).timestamp
    assert stamp == expected and stamp is not None and stamp.tzinfo is not None


def test_timestamp_lag_and_future_skew() -> None:
    old = (NOW - timedelta(seconds=61)).isoformat()
    assert problems(base(timestamp=old)) == ["timestamp: the alert is 61 s old (at most 60 s allowed)"]
    assert parse(base(timestamp=old), max_lag=None).timestamp is not None
    assert parse(base(timestamp=(NOW - timedelta(seconds=60)).isoformat())).timestamp is not None
    assert parse(base(timestamp=(NOW + timedelta(seconds=10)).isoformat())).timestamp is not None
    ahead = (NOW + timedelta(seconds=11)).isoformat()
    assert problems(base(timestamp=ahead)) == ["timestamp: 11 s in the future (check the clock)"]
    assert parse_signal(base(timestamp=ahead), now=NOW, max_lag_seconds=60, max_future_seconds=30)


@pytest.mark.parametrize(
    "raw", ["yesterday", "", True, [2024], -5, "0001-01-01T00:00:00+01:00", 10**17, "2024-13-01T00:00:00Z"]
)
def test_bad_timestamps(raw: Any) -> None:
    details = problems(base(timestamp=raw), max_lag=None)
    assert len(details) == 1 and details[0].startswith("timestamp: ")


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        parse_signal(base(), now=datetime(2024, 1, 1), max_lag_seconds=60)


def test_other_timezone_for_now() -> None:
    tokyo_now = NOW.astimezone(timezone(timedelta(hours=9)))
    assert parse_signal(base(timestamp="2024-05-01T11:59:30Z"), now=tokyo_now, max_lag_seconds=60)


def test_to_dict_is_json_ready() -> None:
    signal = parse(base(tp_pct=2, alert_id="a", timestamp="2024-05-01T11:59:30Z"))
    data = signal.to_dict()
    assert json.loads(json.dumps(data)) == {
        "action": "long",
        "market": "BTC-USD",
        "order_type": "MARKET",
        "sl": "60000",
        "tp_pct": "2",
        "alert_id": "a",
        "timestamp": "2024-05-01T11:59:30+00:00",
    }


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["buy", "SELL", "BTCUSDT.P", "limit", "1e9999", "-0", "NaN", "2024-05-01T11:59:30Z"]),
    st.builds(pow, st.just(10), st.just(5000)),  # built, not listed: hypothesis cannot repr it
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=5), inner, max_size=2),
    max_leaves=4,
)
field_names = st.sampled_from(
    [
        *("action", "market", "size", "size_usd", "risk_pct", "order_type", "price", "tp", "sl"),
        *("tp_pct", "sl_pct", "rr", "alert_id", "timestamp", "secret", "other"),
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(field_names, json_value, max_size=10) | json_value)
def test_parse_only_ever_raises_invalid_signal(body: Any) -> None:
    try:
        signal = parse(body)
    except InvalidSignal as e:
        assert e.details and all(isinstance(d, str) and ":" in d for d in e.details)
        return
    assert isinstance(signal, ParsedSignal)
    json.dumps(signal.to_dict())
