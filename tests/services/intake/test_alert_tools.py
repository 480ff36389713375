"""The settings page's alert tools against real parts: market rules from the paper venue priced by
FakeIndexer, the real webhook path and the real engine (PostgreSQL and SQLite)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.fakes.indexer import FakeIndexer
from tests.services.settings_support import (
    _close_pools,  # noqa: F401 - autouse fixture
    make_user,
    new_address,
)
from trading_app.db.engine import session_scope
from trading_app.services.accounts.account import UnknownUser
from trading_app.services.engine import executor
from trading_app.services.intake import alert_tools, dispatch
from trading_app.services.intake.alert_tools import (
    SECRET_PLACEHOLDER,
    build_alert,
    parse_choices,
    send_test_alert,
)

FORM = {
    "market": "BTCUSDT.P",
    "action": "strategy",
    "size_mode": "size",
    "size_value": "0.001",
    "sl_pct": "1",
    "tp_pct": "",
    "rr": "2",
    "order_type": "market",
    "limit_price": "",
}


@pytest.fixture
async def engine_wired() -> AsyncIterator[None]:
    """The composition root's wiring of the hand-off to the engine (as jobs.py does)."""
    dispatch.set_executor(executor.execute_signal)
    yield
    await dispatch.drain()
    dispatch.set_executor(None)


async def sql(query: str, **params: object) -> list[tuple]:
    async with session_scope() as session:
        result = await session.execute(text(query), params)
        return [tuple(r) for r in result.all()] if result.returns_rows else []


# -- parsing the form -------------------------------------------------------------------------
def test_the_form_parses_to_exact_choices_and_names_bad_input() -> None:
    choices, problems = parse_choices(FORM)
    assert problems == []
    assert (choices.size_value, choices.sl_pct, choices.rr, choices.tp_pct) == (
        alert_tools.Decimal("0.001"),
        1,
        2,
        None,
    )
    _, problems = parse_choices({**FORM, "sl_pct": "1e3", "size_mode": "lots"})
    assert any("sl_pct must be a plain positive number" in p for p in problems)
    assert any("size mode must be one of" in p for p in problems)
    default, problems = parse_choices({**FORM, "size_mode": "default", "size_value": ""})
    assert problems == [] and default.size_mode is None and default.size_value is None
    _, problems = parse_choices({**FORM, "size_value": ""})
    assert problems == ["Enter a size value, or choose the account default."]


def test_the_builder_takes_take_profit_levels_separated_by_commas() -> None:
    form = {
        **FORM,
        "rr": "",
        "tp_pct": "1, 3",
        "tp_split": "50,50",
        "be_after_tp": "1",
        "trail_pct": "1",
        "trail_after_tp": "1",
    }
    choices, problems = parse_choices(form)
    assert problems == []
    assert (choices.tp_pct, choices.tp_more, choices.tp_split) == (1, (3,), (50, 50))
    assert (choices.be_after_tp, choices.trail_pct, choices.trail_after_tp) == (1, 1, 1)
    _, problems = parse_choices({**form, "tp_pct": "1, x", "be_after_tp": "٣", "tp_split": "1,2,3,4,5"})
    assert problems == [
        "tp_pct must be up to 4 plain positive numbers separated by commas, like 1, 3.",
        "tp_split must be up to 4 plain positive numbers separated by commas, like 1, 3.",
        "be_after_tp must be a take-profit level number from 0 to 4.",
    ]


def test_a_concrete_alert_fills_every_tradingview_placeholder() -> None:
    message = (
        '{"secret": "x", "action": "{{strategy.order.action}}", "market": "BTC-USD", '
        '"alert_id": "{{strategy.order.id}}-{{timenow}}", "timestamp": "{{timenow}}"}'
    )
    body = json.loads(
        alert_tools.concrete_alert(
            message, side="buy", alert_id="test-1", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        )
    )
    assert body == {
        "secret": "x",
        "action": "buy",
        "market": "BTC-USD",
        "alert_id": "test-1",
        "timestamp": "2026-01-02T03:04:05Z",
    }


# -- the builder --------------------------------------------------------------------------------
async def test_the_builder_checks_the_live_market_and_hides_the_secret(
    db_url: str, paper_market: FakeIndexer
) -> None:
    address, secret = await make_user()
    small = await build_alert(address, {**FORM, "size_value": "0.00001"})
    assert small.errors == ["0.00001 is below the BTC-USD minimum of 0.0001."]

    usd = await build_alert(address, {**FORM, "size_mode": "size_usd", "size_value": "5"})
    assert "use at least about 6.50 USD" in usd.errors[0]

    built = await build_alert(address, FORM)
    assert built.ok, built.errors
    assert secret not in built.message and json.loads(built.message)["secret"] == SECRET_PLACEHOLDER
    assert json.loads(built.message)["market"] == "BTC-USD" and '"size": 0.001' in built.message
    revealed = await build_alert(address, FORM, reveal=True)
    assert json.loads(revealed.message)["secret"] == secret
    assert revealed.message.replace(secret, SECRET_PLACEHOLDER) == built.message

    limit = await build_alert(address, {**FORM, "order_type": "limit", "limit_price": "64000.5"})
    assert limit.errors == ["64000.5 is not on the BTC-USD tick 1."]
    unknown = await build_alert(address, {**FORM, "market": "NOSUCH-USD"})
    assert unknown.errors == ["'NOSUCH-USD' is not a market on this venue."]


async def test_a_venue_that_cannot_answer_is_shown_as_such(db_url: str, paper_market: FakeIndexer) -> None:
    address, secret = await make_user()
    paper_market.down(503)
    built = await build_alert(address, FORM)
    assert built.message == ""
    assert built.errors[0].startswith("Could not read the market from the paper venue: ")
    # a dYdX network without credentials: the account's own venue is asked, not paper's
    await sql("UPDATE trading_accounts SET network = 'testnet' WHERE address = :a", a=address)
    paper_market.up()
    built = await build_alert(address, FORM)
    assert built.errors[0].startswith("Could not read the market from dYdX testnet: no dYdX credentials")
    assert all(secret not in e for e in built.errors)


async def test_strangers_get_nothing(db_url: str) -> None:
    with pytest.raises(UnknownUser):
        await build_alert(new_address(), FORM)
    with pytest.raises(UnknownUser):
        await send_test_alert(new_address(), FORM)


# -- the test alert -------------------------------------------------------------------------------
async def test_a_test_alert_from_a_mainnet_account_runs_on_paper_only(
    db_url: str, paper_market: FakeIndexer, engine_wired: None
) -> None:
    address, secret = await make_user()
    await sql("UPDATE trading_accounts SET network = 'mainnet' WHERE address = :a", a=address)

    result = await send_test_alert(address, FORM)
    assert result.ok, result
    assert result.message == (
        f"Test alert #{result.signal_id} accepted: watch it on the dashboard / alert log."
    )
    await dispatch.drain()

    [(status, paper, source, raw, reason, position_id)] = await sql(
        "SELECT status, paper, source_ip, raw_body, reason, position_id FROM signals WHERE user_address = :a",
        a=address,
    )
    assert (status, bool(paper), source, reason) == ("EXECUTED", True, "settings-page", None), reason
    assert secret not in raw
    body = json.loads(raw)
    assert body["action"] == "buy" and body["alert_id"].startswith("test-") and body["size"] == 0.001
    positions = await sql(
        "SELECT id, network, market, side, status FROM positions WHERE user_address = :a", a=address
    )
    assert positions == [(position_id, "paper", "BTC-USD", "LONG", "OPEN")]
    elsewhere = "SELECT count(*) FROM orders WHERE user_address = :a AND network != 'paper'"
    assert await sql(elsewhere, a=address) == [(0,)]


async def test_a_template_with_errors_is_not_sent(db_url: str, paper_market: FakeIndexer) -> None:
    address, _ = await make_user()
    result = await send_test_alert(address, {**FORM, "size_value": "0.00001"})
    assert not result.ok and result.message.startswith("Fix the template first: 0.00001 is below")
    assert await sql("SELECT count(*) FROM signals WHERE user_address = :a", a=address) == [(0,)]


async def test_a_rejection_by_the_webhook_is_reported_with_its_reason(
    db_url: str, paper_market: FakeIndexer
) -> None:
    address, _ = await make_user()
    # the trader only accepts TradingView's own addresses: the settings page is not one of them
    await sql("UPDATE users SET webhook_ip_allowlist = true WHERE address = :a", a=address)
    result = await send_test_alert(address, {**FORM, "action": "sell"})
    assert not result.ok
    assert result.message == (
        f"Test alert #{result.signal_id} rejected (forbidden): source address "
        "settings-page is not one of TradingView's webhook addresses"
    )
    [(status, paper, action)] = await sql(
        "SELECT status, paper, action FROM signals WHERE id = :i", i=result.signal_id
    )
    assert (status, bool(paper), action) == ("REJECTED", True, None)
