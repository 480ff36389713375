"""The alert-message builder checks the trader's choices against the market's rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D

from trading_app.domain.enums import SizeMode
from trading_app.domain.signals import parse_signal
from trading_app.domain.templates import TemplateChoices, build_template
from trading_app.venues.base import MarketSpec

BTC = MarketSpec("BTC-USD", "ACTIVE", D("0.0001"), D("1"), D("65000"))


def test_default_strategy_template_parses_back_once_filled_in() -> None:
    built = build_template(TemplateChoices(market="BTCUSDT.P"), BTC, "s3cret")
    assert built.ok, built.errors
    message = json.loads(built.message)
    assert message == {
        "secret": "s3cret",
        "action": "{{strategy.order.action}}",
        "market": "BTC-USD",
        "size_usd": 100,
        "sl_pct": 1,
        "rr": 2,
        "alert_id": "{{strategy.order.id}}-{{timenow}}",
        "timestamp": "{{timenow}}",
    }
    filled = (
        built.message.replace("{{strategy.order.action}}", "buy")
        .replace("{{strategy.order.id}}", "L1")
        .replace("{{timenow}}", "2026-11-22T01:00:00Z")
    )
    parsed = parse_signal(
        json.loads(filled), now=datetime(2026, 11, 22, 1, 0, 5, tzinfo=UTC), max_lag_seconds=60
    )
    assert parsed.market == "BTC-USD" and parsed.size_usd == D("100") and parsed.rr == D("2")


def test_numbers_are_written_exactly() -> None:
    built = build_template(
        TemplateChoices(
            market="BTC-USD",
            size_mode=SizeMode.FIXED,
            size_value=D("0.0003"),
            sl_pct=D("0.5"),
            rr=None,
            tp_pct=D("1.25"),
        ),
        BTC,
        "x",
    )
    assert '"size": 0.0003' in built.message and '"tp_pct": 1.25' in built.message and built.ok


def test_sizes_below_minimum_or_off_step_are_errors() -> None:
    below = build_template(
        TemplateChoices(market="BTC-USD", size_mode=SizeMode.FIXED, size_value=D("0.00005")), BTC, "x"
    )
    assert any("below the BTC-USD minimum" in e for e in below.errors)
    off = build_template(
        TemplateChoices(market="BTC-USD", size_mode=SizeMode.FIXED, size_value=D("0.00015")), BTC, "x"
    )
    assert any("not a multiple" in e for e in off.errors)
    usd = build_template(
        TemplateChoices(market="BTC-USD", size_mode=SizeMode.USD, size_value=D("5")), BTC, "x"
    )
    assert any("use at least about 6.50 USD" in e for e in usd.errors)


def test_limit_price_must_be_on_the_tick_and_stop_is_required() -> None:
    built = build_template(
        TemplateChoices(market="BTC-USD", order_type="limit", limit_price=D("64000.5"), sl_pct=None), BTC, "x"
    )
    assert any("not on the BTC-USD tick" in e for e in built.errors)
    assert any("stop-loss is required" in e for e in built.errors)


def test_unknown_or_inactive_market() -> None:
    assert not build_template(TemplateChoices(market="NOPE"), None, "x").ok
    paused = MarketSpec("BTC-USD", "PAUSED", D("0.0001"), D("1"), D("65000"))
    assert any(
        "not active" in e for e in build_template(TemplateChoices(market="BTC-USD"), paused, "x").errors
    )


def test_close_needs_no_size_or_stop() -> None:
    built = build_template(
        TemplateChoices(market="ETHUSDT", action="close"),
        MarketSpec("ETH-USD", "ACTIVE", D("0.001"), D("0.1"), D("3000")),
        "x",
    )
    assert built.ok and json.loads(built.message)["action"] == "close" and "sl_pct" not in built.message


def test_a_scale_out_template_uses_lists_and_parses_back() -> None:
    choices = TemplateChoices(
        market="BTC-USD",
        tp_pct=D(1),
        rr=None,
        tp_more=(D(3),),
        tp_split=(D(50), D(50)),
        be_after_tp=1,
        trail_pct=D("0.5"),
        trail_after_tp=1,
    )
    built = build_template(choices, BTC, "s3cret")
    assert built.ok, built.errors
    assert '"tp_pct": [1, 3], "tp_split": [50, 50], "be_after_tp": 1, "trail_pct": 0.5' in built.message
    filled = json.loads(built.message.replace("{{strategy.order.action}}", "buy"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    parsed = parse_signal({**filled, "timestamp": None}, now=now, max_lag_seconds=None)
    assert parsed.tp_pct == D(1) and parsed.tp_more == (D(3),) and parsed.trail_after_tp == 1


def test_the_builder_refuses_what_the_webhook_would_refuse() -> None:
    choices = TemplateChoices(market="BTC-USD", tp_pct=D(3), rr=None, tp_more=(D(1),), be_after_tp=3)
    assert build_template(choices, BTC, "s").errors == ["tp_pct: levels must increase (3, 1)."]
    split = TemplateChoices(
        market="BTC-USD", rr=D(1), tp_more=(D(2),), tp_split=(D(50), D(40)), be_after_tp=3
    )
    assert build_template(split, BTC, "s").errors == [
        "tp_split: must sum to 100, got 90.",
        "be_after_tp: there are only 2 take-profit levels.",
    ]
    lonely = TemplateChoices(market="BTC-USD", trail_after_tp=1)
    assert build_template(lonely, BTC, "s").errors == ["trail_after_tp: needs trail_pct or trail."]
