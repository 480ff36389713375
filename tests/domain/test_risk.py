"""From a parsed alert to a quantized intent: every sizing mode and every rejection reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_app.domain.enums import OrderType, PositionSide, Side, SizeMode
from trading_app.domain.errors import RejectReason, RiskRejected
from trading_app.domain.intents import AccountFacts, RiskLimits
from trading_app.domain.risk import build_close, build_intent, validate_protection
from trading_app.domain.signals import ParsedSignal, parse_signal
from trading_app.venues.base import MarketSpec

BTC = MarketSpec("BTC-USD", "ACTIVE", D("0.0001"), D("1"), D("65000.37"), 0, -10, 1_000_000, 100_000, -9)
ETH = MarketSpec("ETH-USD", "ACTIVE", D("0.001"), D("0.1"), D("3000"), 1, -9, 1_000_000, 100_000, -9)
RICH = AccountFacts(equity=D("100000"))
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT


def signal(**fields: Any) -> ParsedSignal:
    body = {"action": "buy", "market": "ETH-USD", "sl": "2900", **fields}
    return parse_signal(body, now=datetime(2024, 1, 1, tzinfo=UTC), max_lag_seconds=None)


def rejected(
    sig: ParsedSignal,
    market: MarketSpec | None = ETH,
    limits: RiskLimits | None = None,
    account: AccountFacts = RICH,
    **kw: Any,
) -> RiskRejected:
    with pytest.raises(RiskRejected) as e:
        build_intent(sig, market, limits or RiskLimits(), account, **kw)
    return e.value


def on_grid(value: D, increment: D) -> bool:
    return value % increment == 0


# -- sizing modes --------------------------------------------------------------------


def test_default_usd_size_market_long() -> None:
    intent = build_intent(signal(), ETH, RiskLimits(), RICH)  # default: 100 USD
    assert intent.market == "ETH-USD" and intent.side is LONG and intent.order_type is OrderType.MARKET
    assert intent.size == D("0.033")  # 100 / 3000 = 0.0333.. rounded down
    assert intent.entry_price == D("3000")
    assert intent.worst_price == D("3030.0")  # 1 % above, BUY rounds up
    assert intent.limit_price is None
    assert intent.stop_loss == D("2900") and intent.take_profit is None
    assert intent.notional_usd == D("99.000")
    assert intent.leverage == D("99.000") / D("100000")
    assert intent.entry_side is Side.BUY and intent.exit_side is Side.SELL


def test_fixed_size_from_the_alert() -> None:
    assert build_intent(signal(size="0.0106"), ETH, RiskLimits(), RICH).size == D("0.010")


def test_fixed_size_that_the_float_client_breaks_stays_exact() -> None:
    sig = signal(market="BTCUSDT.P", size="0.0003", sl="60000")
    assert build_intent(sig, BTC, RiskLimits(), RICH).size == D("0.0003")


def test_usd_size_from_the_alert() -> None:
    assert build_intent(signal(size_usd="300"), ETH, RiskLimits(), RICH).size == D("0.100")


def test_equity_percent_from_the_users_default() -> None:
    limits = RiskLimits(size_mode=SizeMode.EQUITY_PCT, size_value=D("3"))
    # 3 % of 100,000 = 3,000 USD at 3,000 -> 1 ETH
    assert build_intent(signal(), ETH, limits, RICH).size == D("1.000")


def test_risk_percent_uses_the_quantized_stop_distance() -> None:
    # oracle 3000, sl_pct 1.55 -> 2953.5 exactly on the grid; 1 % of 10,000 over 46.5 -> 2.150..
    sig = signal(sl=None, sl_pct="1.55", risk_pct="1")
    intent = build_intent(sig, ETH, RiskLimits(max_leverage=D("10")), AccountFacts(equity=D("10000")))
    assert intent.stop_loss == D("2953.5")
    assert intent.size == D("2.150")
    assert intent.size * (intent.entry_price - intent.stop_loss) <= D("100")


def test_risk_percent_stop_is_rounded_away_so_the_loss_stays_within_budget() -> None:
    # short on BTC at 65,000.37 with a 1 % stop: 65,650.3737 rounds UP to 65,651
    sig = signal(action="sell", market="BTC-USD", sl=None, sl_pct="1", risk_pct="2")
    intent = build_intent(sig, BTC, RiskLimits(max_leverage=D("50")), AccountFacts(equity=D("5000")))
    assert intent.stop_loss == D("65651")
    assert intent.size == D("0.1536")  # 100 / 650.63 = 0.15369.. rounded down
    assert intent.size * (intent.stop_loss - intent.entry_price) <= D("100")


def test_risk_percent_as_the_users_default_needs_a_stop_even_when_stops_are_optional() -> None:
    limits = RiskLimits(size_mode=SizeMode.RISK_PCT, size_value=D("1"), require_stop_loss=False)
    assert rejected(signal(sl=None), limits=limits).reason is RejectReason.STOP_REQUIRED


# -- prices on the grid --------------------------------------------------------------


def test_limit_entry_price_rounds_in_the_traders_favour() -> None:
    buy = build_intent(signal(order_type="limit", price="2999.97"), ETH, RiskLimits(), RICH)
    assert buy.limit_price == buy.worst_price == buy.entry_price == D("2999.9")
    sell = build_intent(
        signal(action="sell", order_type="limit", price="2999.91", sl="3100"), ETH, RiskLimits(), RICH
    )
    assert sell.limit_price == D("3000.0") and sell.order_type is OrderType.LIMIT


def test_short_market_worst_price_rounds_down() -> None:
    intent = build_intent(signal(action="sell", market="BTC-USD", sl="66000"), BTC, RiskLimits(), RICH)
    assert intent.worst_price == D("64350")  # 65,000.37 * 0.99 = 64,350.3663 -> down


def test_take_profit_from_reward_to_risk_and_percent() -> None:
    rr = build_intent(signal(rr="2"), ETH, RiskLimits(), RICH)
    assert rr.take_profit == D("3200.0")  # 3000 + 2 * 100
    pct = build_intent(signal(action="short", sl="3050.05", tp_pct="1.5"), ETH, RiskLimits(), RICH)
    assert pct.stop_loss == D("3050.1")  # a short's stop rounds up, away from entry
    assert pct.take_profit == D("2955.0")


def test_protection_worst_prices_are_beyond_the_triggers_on_the_grid() -> None:
    intent = build_intent(signal(tp="3300"), ETH, RiskLimits(protection_slippage_pct=D("5")), RICH)
    assert intent.stop_loss_worst == D("2755.0")  # SELL 5 % under 2900
    assert intent.take_profit_worst == D("3135.0")
    short = build_intent(signal(action="sell", sl="3100", tp="2800"), ETH, RiskLimits(), RICH)
    assert short.stop_loss_worst == D("3255.0") and short.take_profit_worst == D("2940.0")


def test_default_stop_percent_when_the_alert_has_none() -> None:
    intent = build_intent(signal(sl=None), ETH, RiskLimits(default_sl_pct=D("2")), RICH)
    assert intent.stop_loss == D("2940.0")


def test_stop_can_be_made_optional() -> None:
    intent = build_intent(signal(sl=None), ETH, RiskLimits(require_stop_loss=False), RICH)
    assert intent.stop_loss is None and intent.stop_loss_worst is None


def test_reverse_takes_the_side_from_the_caller() -> None:
    sig = signal(action="reverse", sl="3100")
    assert build_intent(sig, ETH, RiskLimits(), RICH, side=SHORT).side is SHORT
    with pytest.raises(ValueError):
        build_intent(sig, ETH, RiskLimits(), RICH)
    with pytest.raises(ValueError):
        build_intent(signal(action="close"), ETH, RiskLimits(), RICH)


# -- every rejection -----------------------------------------------------------------


def test_unknown_market() -> None:
    assert rejected(signal(), market=None).reason is RejectReason.UNKNOWN_MARKET
    assert rejected(signal(), market=BTC).reason is RejectReason.UNKNOWN_MARKET  # spec of another market


def test_inactive_market() -> None:
    paused = replace(ETH, status="PAUSED")
    assert rejected(signal(), market=paused).reason is RejectReason.MARKET_INACTIVE


def test_size_below_minimum() -> None:
    assert rejected(signal(size="0.0009")).reason is RejectReason.SIZE_BELOW_MINIMUM
    assert rejected(signal(size_usd="2")).reason is RejectReason.SIZE_BELOW_MINIMUM  # 2 / 3000 < 0.001


def test_invalid_size_in_a_hand_built_signal() -> None:
    sig = ParsedSignal(action=signal().action, market="ETH-USD", size=D("0"), sl=D("2900"))
    assert rejected(sig).reason is RejectReason.INVALID_SIZE


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sl": "3100"}, RejectReason.SL_WRONG_SIDE),
        ({"sl": "3000"}, RejectReason.SL_WRONG_SIDE),  # at the entry is not below it
        ({"tp": "2950"}, RejectReason.TP_WRONG_SIDE),
        ({"tp": "3000.04"}, RejectReason.TP_WRONG_SIDE),  # rounds onto the entry
        ({"action": "sell", "sl": "2950"}, RejectReason.SL_WRONG_SIDE),
        ({"action": "sell", "sl": "3100", "tp": "3010"}, RejectReason.TP_WRONG_SIDE),
        ({"order_type": "limit", "price": "2800", "sl": "2850"}, RejectReason.SL_WRONG_SIDE),
    ],
)
def test_protection_on_the_wrong_side(fields: dict[str, Any], reason: RejectReason) -> None:
    assert rejected(signal(**fields)).reason is reason


def test_a_wrong_side_reason_names_the_price_on_the_tick() -> None:
    # BTC's oracle is 65000.37 on a 1-dollar tick: the trader reads the price as the venue shows it
    high_stop = rejected(signal(market="BTC-USD", size="0.01", sl="70000"), market=BTC)
    assert high_stop.detail == "a long needs its stop-loss below 65000"
    low_target = rejected(signal(market="BTC-USD", size="0.01", sl="60000", tp="64000"), market=BTC)
    assert low_target.detail == "a long needs its take-profit above 65000"
    with pytest.raises(RiskRejected) as e:
        validate_protection(SHORT, D("187.499924812030075188"), D("180"), None, D("0.01"))
    assert e.value.detail == "a short needs its stop-loss above 187.50"


def test_stop_required() -> None:
    assert rejected(signal(sl=None)).reason is RejectReason.STOP_REQUIRED


def test_notional_limit() -> None:
    error = rejected(signal(size="1"), limits=RiskLimits(max_notional_usd=D("2999")))
    assert error.reason is RejectReason.NOTIONAL_LIMIT
    assert build_intent(signal(size="1"), ETH, RiskLimits(max_notional_usd=D("3000")), RICH).size == 1


def test_leverage_limit_counts_the_positions_already_open() -> None:
    account = AccountFacts(equity=D("1000"), open_notional_usd=D("4000"))
    assert build_intent(signal(size="0.333"), ETH, RiskLimits(), account).leverage == D("4.999")
    error = rejected(signal(size="0.334"), account=account)
    assert error.reason is RejectReason.LEVERAGE_LIMIT and "5.00x" in error.detail


def test_too_many_open_positions() -> None:
    account = AccountFacts(equity=D("1000"), open_positions=3)
    assert rejected(signal(), limits=RiskLimits(max_open_positions=3), account=account).reason is (
        RejectReason.MAX_OPEN_POSITIONS
    )
    assert build_intent(signal(), ETH, RiskLimits(max_open_positions=4), account)


def test_daily_loss_limit() -> None:
    limits = RiskLimits(daily_loss_limit_usd=D("50"))
    at_limit = AccountFacts(equity=D("1000"), realized_pnl_today=D("-50"))
    assert rejected(signal(), limits=limits, account=at_limit).reason is RejectReason.DAILY_LOSS_LIMIT
    assert build_intent(signal(), ETH, limits, AccountFacts(equity=D("1000"), realized_pnl_today=D("-49.99")))
    past = AccountFacts(equity=D("1000"), realized_pnl_today=D("-50.125965000000000081"))
    assert rejected(signal(), limits=limits, account=past).detail == (
        "today's realized PnL -$50.13 reached the limit of -$50.00"
    )  # money in cents, as everywhere the trader reads it


@pytest.mark.parametrize("equity", [D("0"), D("-10"), D("NaN")])
def test_no_equity(equity: D) -> None:
    assert rejected(signal(), account=AccountFacts(equity=equity)).reason is RejectReason.INSUFFICIENT_EQUITY


@pytest.mark.parametrize("price", [D("0"), D("-1"), D("NaN")])
def test_no_oracle_price(price: D) -> None:
    market = replace(ETH, oracle_price=price)
    assert rejected(signal(), market=market).reason is RejectReason.PRICE_UNAVAILABLE


def test_prices_below_one_tick() -> None:
    assert rejected(signal(order_type="limit", price="0.05", sl=None, sl_pct="1")).reason is (
        RejectReason.INVALID_PRICE
    )
    assert rejected(signal(sl="0.05")).reason is RejectReason.INVALID_PRICE


@pytest.mark.parametrize(
    "settings_",
    [
        {"size_value": D("0")},
        {"max_leverage": D("-1")},
        {"max_notional_usd": D("0")},
        {"daily_loss_limit_usd": D("NaN")},
        {"slippage_pct": D("100")},
        {"protection_slippage_pct": D("-1")},
        {"default_sl_pct": D("100")},
        {"max_open_positions": 0},
    ],
)
def test_invalid_settings(settings_: dict[str, Any]) -> None:
    with pytest.raises(RiskRejected) as e:
        RiskLimits(**settings_)
    assert e.value.reason is RejectReason.INVALID_SETTINGS


def test_validate_protection_for_a_fill_price() -> None:
    validate_protection(LONG, D("3000"), D("2990"), D("3010"))
    validate_protection(SHORT, D("3000"), D("3010"), D("2990"))
    with pytest.raises(RiskRejected):
        validate_protection(LONG, D("2985"), D("2990"), None)  # filled below the stop


# -- closing -------------------------------------------------------------------------


def test_close_is_reduce_only_sized_up_with_a_worst_price() -> None:
    close = build_close(BTC, LONG, D("0.00031"), RiskLimits())
    assert close.size == D("0.0004") and close.exit_side is Side.SELL
    assert close.worst_price == D("64350")
    short = build_close(replace(BTC, status="CANCEL_ONLY"), SHORT, D("0.0003"), RiskLimits())
    assert short.worst_price == D("65651") and short.exit_side is Side.BUY


def test_close_needs_the_market_and_a_price() -> None:
    with pytest.raises(RiskRejected) as e:
        build_close(None, LONG, D("1"), RiskLimits())
    assert e.value.reason is RejectReason.UNKNOWN_MARKET
    with pytest.raises(RiskRejected) as e:
        build_close(replace(BTC, oracle_price=D(0)), LONG, D("1"), RiskLimits())
    assert e.value.reason is RejectReason.PRICE_UNAVAILABLE


# -- properties ----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    oracle=st.decimals(min_value=D("1"), max_value=D("200000"), places=4),
    sl_pct=st.decimals(min_value=D("0.1"), max_value=D("20"), places=2),
    risk=st.decimals(min_value=D("0.1"), max_value=D("5"), places=2),
    equity=st.decimals(min_value=D("10"), max_value=D("1000000"), places=2),
    short=st.booleans(),
    market=st.sampled_from([BTC, ETH]),
)
def test_intents_are_on_the_grid_and_the_stop_loss_never_exceeds_the_risk_budget(
    oracle: D, sl_pct: D, risk: D, equity: D, short: bool, market: MarketSpec
) -> None:
    spec = replace(market, oracle_price=oracle)
    action = "sell" if short else "buy"
    sig = signal(action=action, market=market.ticker, sl=None, sl_pct=sl_pct, risk_pct=risk, rr=2)
    try:
        intent = build_intent(sig, spec, RiskLimits(max_leverage=D("1000")), AccountFacts(equity=equity))
    except RiskRejected as e:
        # degenerate corners: the budget buys less than one step, the stop is under a tick,
        # or the whole reward is within half a tick of the entry (a price near one tick)
        allowed = {RejectReason.SIZE_BELOW_MINIMUM, RejectReason.INVALID_PRICE, RejectReason.TP_WRONG_SIDE}
        assert e.reason in allowed
        if e.reason is RejectReason.TP_WRONG_SIDE:
            assert oracle * sl_pct / 100 * 2 < spec.tick_size
        return
    assert intent.stop_loss is not None and intent.take_profit is not None
    for price in (intent.worst_price, intent.stop_loss, intent.take_profit):
        assert on_grid(price, spec.tick_size)
    assert on_grid(intent.size, spec.step_size) and intent.size >= spec.min_size
    loss_at_stop = intent.size * abs(intent.entry_price - intent.stop_loss)
    assert loss_at_stop <= equity * risk / 100
    validate_protection(intent.side, intent.entry_price, intent.stop_loss, intent.take_profit)


# -- scaling out ------------------------------------------------------------------------


def test_an_intent_carries_every_level_and_the_plan() -> None:
    sig = signal(tp_pct=[1, 3], tp_split=[50, 50], be_after_tp=1, trail_pct=1, trail_after_tp=1)
    intent = build_intent(sig, ETH, RiskLimits(), RICH)
    assert intent.targets == (D("3030.0"), D("3090.0")) and intent.take_profit == D("3030.0")
    assert intent.scale.split == (D(50), D(50)) and intent.scale.be_after_tp == 1 and intent.scale.managed


def test_a_plain_intent_has_a_single_level_plan() -> None:
    intent = build_intent(signal(rr=2), ETH, RiskLimits(), RICH)
    assert intent.targets == (D("3200.0"),) and not intent.scale.managed
    assert intent.scale.kind == "rr" and intent.scale.targets == (D(2),)
    bare = build_intent(signal(), ETH, RiskLimits(), RICH)
    assert bare.targets == () and bare.scale.kind is None
    # built by hand without a plan: the single level of `levels`
    assert replace(intent, scale=bare.scale, targets=()).scale == intent.scale


def test_short_levels_and_reward_risk_lists() -> None:
    sig = signal(action="sell", sl="3100", rr=[1, 2])
    intent = build_intent(sig, ETH, RiskLimits(), RICH)
    assert intent.targets == (D("2900.0"), D("2800.0"))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"tp": [3100, 3050]}, RejectReason.INVALID_PRICE),
        ({"tp": [3100, 2990]}, RejectReason.TP_WRONG_SIDE),
        ({"action": "sell", "sl": "3100", "tp": [2900, 3050]}, RejectReason.TP_WRONG_SIDE),
        ({"trail": 5000}, RejectReason.INVALID_PRICE),
    ],
)
def test_absolute_levels_and_trails_are_checked_against_the_side(
    fields: dict[str, Any], reason: RejectReason
) -> None:
    error = rejected(signal(**fields))
    assert error.reason is reason and error.detail
