"""`/alerts/[signal_id]`: the alert story's state (one trader's alert only) and its display strings."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import reflex as rx
from reflex.istate.data import RouterData

from tests.pages.support import ALICE, BOB, memory_app, sign_in
from tests.services.engine_support import make_signal
from trading_app.api.socket_session import socket_cookie
from trading_app.domain.story import Phase, Step, timeline
from trading_app.pages import alert_story_views as views
from trading_app.pages.alert_detail import AlertDetailState, _id_from_path
from trading_app.services.auth.sessions import SESSION_COOKIE
from trading_app.services.engine.alert_story import AlertStory, OrderLine

T0 = datetime(2026, 12, 3, 1, 2, 3, 4000, tzinfo=UTC)
D = Decimal


@contextlib.asynccontextmanager
async def _tab(app: rx.App, client: str, token: str | None, path: str) -> AsyncIterator[AlertDetailState]:
    cookie = socket_cookie(f"{SESSION_COOKIE}={token}" if token else "")
    async with app.modify_state(rx.BaseStateToken(ident=client, cls=AlertDetailState)) as root:
        root.router = RouterData.from_router_data(
            {
                "token": client,
                "headers": {"cookie": cookie},
                "pathname": "/alerts/[signal_id]",
                "asPath": path,
            }
        )
        yield await root.get_state(AlertDetailState)


async def _load(app: rx.App, client: str, token: str | None, path: str) -> AlertDetailState:
    async with _tab(app, client, token, path) as state:
        await AlertDetailState.load.fn(state)
        return state


async def test_a_trader_sees_the_story_of_their_own_alert_only(pg_url: str) -> None:
    alice, bob = await sign_in(ALICE), await sign_in(BOB)
    sid = await make_signal(
        ALICE, {"secret": "hunter2-xyz", "action": "buy", "market": "BTC-USD", "size": "0.01"}
    )
    async with memory_app() as app:
        mine = await _load(app, "alice-1", alice, f"/alerts/{sid}")
        assert mine.loaded and mine.found and mine.head["id"] == str(sid)
        assert (mine.head["action"], mine.head["market"], mine.head["status_text"]) == (
            "LONG",
            "BTC-USD",
            "Accepted",
        )
        assert "hunter2" not in mine.payload and "***" in mine.payload
        assert {"field": "size", "value": "0.01"} in mine.parsed
        assert [s["phase"] for s in mine.steps] == ["received"] and mine.orders == [] and mine.sizing == []

        theirs = await _load(app, "bob-1", bob, f"/alerts/{sid}")
        assert theirs.loaded and not theirs.found and theirs.head == {} and theirs.payload == ""
        for path in ("/alerts/0", "/alerts/abc", "/alerts/", f"/alerts/{sid}9999"):
            assert not (await _load(app, "alice-2", alice, path)).found, path

        signed_out = await _load(app, "anon-1", None, f"/alerts/{sid}")
        assert not signed_out.loaded and signed_out.head == {}


def test_the_route_names_the_alert() -> None:
    assert _id_from_path("/alerts/12") == 12 and _id_from_path("/prefix/alerts/7/") == 7
    for path in ("/alerts/", "/alerts/x1", "/alerts/-1", "/alerts/٣", "/alerts/" + "9" * 30, "/alerts/0"):
        assert _id_from_path(path) in (None, 0), path


def _story() -> AlertStory:
    sizing = {
        "equity": "10000",
        "size_mode": "risk_pct",
        "size_value": "1",
        "size": "0.0950",
        "reference_price": "65012.5",
        "notional_usd": "6176.1875",
        "risk_usd": "95.1875",
        "leverage": "0.6176",
        "stop_loss": "64000",
        "take_profit": "67000",
        "order_type": "MARKET",
    }
    recorded = [
        Step(Phase.CLAIMED, T0 + timedelta(milliseconds=3), {"attempt": 1}),
        Step(Phase.RISK_PASSED, T0 + timedelta(milliseconds=5), sizing),
        Step(
            Phase.ENTRY_SENT,
            T0 + timedelta(milliseconds=6),
            {"client_id": 11, "venue_order_id": "41", "order_type": "MARKET"},
        ),
        Step(
            Phase.FILLED,
            T0 + timedelta(milliseconds=8),
            {"size": "0.0950", "price": "65020.1", "fee": "3.0884"},
        ),
        Step(
            Phase.STOP_PLACED,
            T0 + timedelta(milliseconds=9),
            {"trigger_price": "64000", "venue_order_id": "42"},
        ),
        Step(
            Phase.EXECUTED,
            T0 + timedelta(seconds=12),
            {"status": "EXECUTED", "reason": None, "position_id": 3},
        ),
    ]
    order = OrderLine(
        id=5,
        position_id=3,
        role="STOP_LOSS",
        order_type="STOP_MARKET",
        side="SELL",
        size=D("0.0950"),
        price=D("60800.0"),
        trigger_price=D("64000"),
        status="UNTRIGGERED",
        filled_size=D(0),
        avg_fill_price=None,
        client_id=12,
        venue_order_id="42",
        tx_hash=None,
        created_at=T0,
        updated_at=T0,
    )
    return AlertStory(
        id=9,
        received_at=T0,
        status="EXECUTED",
        action="long",
        market="BTC-USD",
        reason=None,
        position_id=3,
        payload='{"secret": "hunter2", "action": "buy"}',
        content_type="application/json",
        source_ip="1.2.3.4",
        paper=False,
        parsed={"size": "0.1", "market": "BTC-USD", "action": "long", "zeta": "1"},
        sizing=sizing,
        orders=[order],
        timeline=timeline(T0, T0 + timedelta(milliseconds=1), "EXECUTED", None, recorded),
    )


def test_the_story_in_words() -> None:
    story = _story()
    assert views.payload(story) == '{"secret": "***", "action": "buy"}'
    assert [r["field"] for r in views.parsed_rows(story)] == ["action", "market", "size", "zeta"]
    # take-profit levels are shown as the trader wrote them: one field, every level
    scaled = dataclasses.replace(story, parsed={"tp_pct": "1", "tp_more": "2, 3", "tp_split": "50, 25, 25"})
    assert {r["field"]: r["value"] for r in views.parsed_rows(scaled)} == {
        "tp_pct": "1, 2, 3",
        "tp_split": "50, 25, 25",
    }
    sizing = {r["label"]: r["value"] for r in views.sizing_rows(story.sizing)}
    assert sizing["Equity used"] == "$10,000.00" and sizing["Sizing"] == "% of equity at risk: 1"
    assert sizing["Size"] == "0.095" and sizing["Risk at the stop-loss"] == "$95.19"
    assert sizing["Notional"] == "$6,176.19" and sizing["Account leverage after"] == "0.6176x"
    [order] = [views.order_row(o) for o in story.orders]
    assert (order["role"], order["trigger"], order["venue_id"], order["avg"]) == (
        "Stop loss",
        "64,000",
        "42",
        "—",
    )
    steps = views.step_rows(story)
    assert [s["phase"] for s in steps] == [
        "received",
        "stored",
        "claimed",
        "risk_passed",
        "entry_sent",
        "filled",
        "stop_placed",
        "executed",
    ]
    assert steps[0]["at"] == "01:02:03.004 UTC" and steps[0]["since"] == "+0 ms"
    assert steps[5]["since"] == "+8 ms" and steps[5]["detail"] == "0.095 at 65,020.1 · fee $3.09"
    assert steps[4]["detail"] == "Market · venue id 41 · client id 11"
    assert steps[-1]["since"] == "+12.00 s" and steps[-1]["label"] == "Done"
    assert steps[-1]["detail"] == "Executed · position #3"
    assert views.sizing_rows(None) == []


def test_an_alert_refused_at_the_door_is_rejected_when_stored() -> None:
    steps = timeline(T0, T0 + timedelta(milliseconds=2), "REJECTED", "action: 'hold' is not one of", [])
    assert [(s.phase, s.at) for s in steps] == [
        (Phase.RECEIVED, T0),
        (Phase.STORED, T0 + timedelta(milliseconds=2)),
        (Phase.REJECTED, T0 + timedelta(milliseconds=2)),
    ]
    assert steps[-1].detail == {"reason": "action: 'hold' is not one of"}
    # refused by the engine: its own record, not a second one
    engine = [Step(Phase.CLAIMED, T0), Step(Phase.REJECTED, T0, {"reason": "x"})]
    assert [s.phase for s in timeline(T0, None, "REJECTED", "x", engine)] == [
        Phase.RECEIVED,
        Phase.CLAIMED,
        Phase.REJECTED,
    ]


def test_an_alert_that_never_parsed_shows_what_was_sent() -> None:
    story = _story()
    body = '{"secret": "***", "action": "hold", "ticker": "XYZ-USD"}'
    refused = dataclasses.replace(story, action=None, market=None, parsed=None, payload=body)
    assert (views.header(refused)["action"], views.header(refused)["market"]) == ("HOLD", "XYZ-USD")
    for body in ("not json", "[1]", '{"action": 3}', ""):
        assert views.sent(body) == ("", ""), body
    assert views.header(story)["action"] == "LONG"  # parsed: the parsed alert's words


def test_a_rejection_reads_in_plain_words_with_the_code_second() -> None:
    story = _story()
    reason = "position_exists: a long BTC-USD position is open"
    rejected = dataclasses.replace(
        story,
        status="REJECTED",
        reason=reason,
        timeline=timeline(T0, None, "REJECTED", reason, [Step(Phase.REJECTED, T0, {"reason": reason})]),
    )
    head = views.header(rejected)["reason"]
    assert not head.startswith("position_exists") and head.endswith("(position_exists)")
    assert "a long BTC-USD position is open" in head
    assert views.step_rows(rejected)[-1]["detail"] == head


def test_the_sizing_shows_prices_and_sizes_on_the_grid_it_was_made_on() -> None:
    sizing = {
        "equity": "10000",
        "size_mode": "size_usd",
        "size_value": "150",
        "size": "0.0023",
        "reference_price": "65096.284",  # the oracle price, between ticks
        "stop_loss": "64445",
        "take_profit": "66399",
        "tick_size": "1",
        "step_size": "0.0001",
    }
    rows = {r["label"]: r["value"] for r in views.sizing_rows(sizing)}
    assert (rows["Reference price"], rows["Size"]) == ("65,096", "0.0023")
    assert rows["Planned stop-loss"] == "64,445"
    # measured from the reference price before the trade: sl_pct, tp_pct and rr are measured again
    # from the fill, so the placed triggers (the orders) may differ by a tick or more
    assert rows["Planned take-profit"] == "66,399" and "Stop-loss" not in rows
    older = {k: v for k, v in sizing.items() if k not in ("tick_size", "step_size")}
    assert {r["label"]: r["value"] for r in views.sizing_rows(older)}["Reference price"] == "65,096.284"


def test_the_timeline_shows_prices_and_sizes_on_the_markets_grid() -> None:
    # ETH-USD (tick 0.1, step 0.001): the engine records the numbers as it had them ("0.05", "3000")
    grid = {"tick_size": "0.1", "step_size": "0.001"}
    recorded = [
        Step(Phase.RISK_PASSED, T0, {"size": "0.05", "equity": "10000", **grid}),
        Step(Phase.FILLED, T0 + timedelta(seconds=26), {"size": "0.05", "price": "3000", "fee": "0.015"}),
        Step(Phase.STOP_PLACED, T0 + timedelta(seconds=27), {"trigger_price": "2970", "venue_order_id": "3"}),
    ]
    story = dataclasses.replace(
        _story(),
        sizing={"size": "0.05", **grid},
        timeline=timeline(T0, T0, "EXECUTED", None, recorded),
        orders=[],
    )
    details = {s["phase"]: s["detail"] for s in views.step_rows(story)}
    assert details["risk_passed"] == "size 0.050 · equity $10,000.00"
    assert details["filled"] == "0.050 at 3,000.0 · fee $0.02"
    assert details["stop_placed"] == "trigger 2,970.0 · venue id 3"  # an older row: no size, no level
    # a story without its sizing (older rows) takes the grid from its orders, else shows as stored
    order = dataclasses.replace(_story().orders[0], tick_size=D("0.1"), step_size=D("0.001"))
    from_orders = dataclasses.replace(story, sizing=None, orders=[order])
    assert {s["phase"]: s["detail"] for s in views.step_rows(from_orders)}["filled"] == (
        "0.050 at 3,000.0 · fee $0.02"
    )
    bare = dataclasses.replace(story, sizing=None, orders=[])
    assert {s["phase"]: s["detail"] for s in views.step_rows(bare)}["filled"] == "0.05 at 3,000 · fee $0.02"


def test_each_take_profit_of_a_scaled_position_names_its_level_and_size() -> None:
    grid = {"tick_size": "0.1", "step_size": "0.001"}
    recorded = [
        Step(
            Phase.STOP_PLACED, T0, {"trigger_price": "2970", "size": "0.05", "level": None, "client_id": "9"}
        ),
        *(
            Step(
                Phase.TP_PLACED,
                T0,
                {"trigger_price": price, "size": "0.025", "level": n, "venue_order_id": str(n)},
            )
            for n, price in ((1, "3030"), (2, "3060"))
        ),
    ]
    story = dataclasses.replace(
        _story(),
        sizing={"size": "0.05", **grid},
        timeline=timeline(T0, T0, "EXECUTED", None, recorded),
        orders=[],
    )
    rows = views.step_rows(story)
    assert [r["detail"] for r in rows if r["phase"] == "tp_placed"] == [
        "level 1 · 0.025 at trigger 3,030.0 · venue id 1",
        "level 2 · 0.025 at trigger 3,060.0 · venue id 2",
    ]
    assert [r["detail"] for r in rows if r["phase"] == "stop_placed"] == [
        "0.050 at trigger 2,970.0 · client id 9"
    ]
