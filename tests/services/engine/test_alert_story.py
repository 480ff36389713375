"""The story of each alert: through the real inbox and the engine on the paper venue, the timeline
has every phase in order, the sizing is what the risk step computed then, the orders carry their
venue ids; a rejected alert says received, stored, rejected and why."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal

from sqlalchemy import update

from tests.api.webhook_support import TV_IP, Hook, make_hook
from tests.fakes.indexer import FakeIndexer
from tests.services.monitor_support import move
from trading_app.db.engine import session_scope
from trading_app.db.models import PaperAccount, TradingAccount
from trading_app.domain.clock import utcnow
from trading_app.services.engine import executor, pending, timeline
from trading_app.services.engine.alert_story import alert_story
from trading_app.services.intake.inbox import IncomingAlert, Verdict, receive_alert
from trading_app.services.monitor.tick import monitor_tick
from trading_app.services.notify.notifier import get_notifier

D = Decimal
OPENED = [
    "received",
    "stored",
    "claimed",
    "risk_passed",
    "entry_sent",
    "filled",
    "stop_placed",
    "tp_placed",
    "executed",
    "pushed",
]


async def _send(hook: Hook, **fields: object) -> tuple[Verdict, int]:
    alert = IncomingAlert(
        webhook_uuid=hook.uuid,
        body=hook.text(**fields).encode(),
        received_at=utcnow(),
        source_ip=TV_IP,
        content_type="application/json",
    )
    receipt = await receive_alert(alert)
    assert receipt.signal_id is not None
    return receipt.outcome, receipt.signal_id


async def _run(signal_id: int) -> None:
    await executor.execute_signal(signal_id)
    await timeline.drain()
    await get_notifier().drain(5)


async def test_an_opened_alert_has_every_phase_in_order_and_its_sizing(
    db_url: str, paper_market: FakeIndexer
) -> None:
    hook, other = await make_hook(), await make_hook()
    verdict, sid = await _send(hook, risk_pct="1", sl="64000", tp="67000")
    assert verdict is Verdict.ACCEPTED
    await _run(sid)

    story = await alert_story(hook.address, sid)
    assert story is not None and story.status == "EXECUTED"
    assert [s.phase.value for s in story.timeline] == OPENED
    times = [s.at for s in story.timeline]
    assert times == sorted(times) and times[0] == story.received_at

    # the sizing the risk step computed then: 1 % of the paper equity at risk down to the stop
    sizing = story.sizing
    assert sizing is not None
    assert sizing["equity"] == "10000" and sizing["size_mode"] == "risk_pct" and sizing["size_value"] == "1"
    size, reference = D(str(sizing["size"])), D(str(sizing["reference_price"]))
    assert D(str(sizing["risk_usd"])) == abs(reference - D("64000")) * size <= D("100")
    assert sizing["stop_loss"] == "64000" and sizing["take_profit"] == "67000"
    assert story.parsed is not None
    assert story.parsed["risk_pct"] == "1" and story.parsed["market"] == "BTC-USD"

    # a list of take-profit levels is shown as one value
    _, scaled = await _send(hook, size="0.001", sl_pct="1", tp_pct=[1, 3], tp_split=[25, 75], alert_id="s2")
    scaled_story = await alert_story(hook.address, scaled)
    assert scaled_story is not None and scaled_story.parsed is not None
    assert scaled_story.parsed["tp_more"] == "3" and scaled_story.parsed["tp_split"] == "25, 75"

    # every order with its venue id, and the phases name them
    roles = {o.role: o for o in story.orders}
    assert set(roles) == {"ENTRY", "STOP_LOSS", "TAKE_PROFIT"}
    assert roles["ENTRY"].status == "FILLED" and roles["ENTRY"].size == size
    assert roles["STOP_LOSS"].trigger_price == D("64000") and roles["STOP_LOSS"].status == "UNTRIGGERED"
    assert all(o.venue_order_id for o in story.orders)
    steps = {s.phase.value: s.detail for s in story.timeline}
    assert steps["entry_sent"]["venue_order_id"] == roles["ENTRY"].venue_order_id
    assert steps["stop_placed"]["client_id"] == roles["STOP_LOSS"].client_id
    assert D(str(steps["filled"]["price"])) == roles["ENTRY"].avg_fill_price
    assert steps["executed"]["position_id"] == story.position_id
    assert D(str(steps["stop_placed"]["size"])) == size and steps["stop_placed"]["level"] is None
    assert steps["tp_placed"]["level"] is None  # a single target has no level

    # each take-profit of a scaled position names its level and its own size
    _, scaled_run = await _send(other, size="0.002", sl_pct="1", tp_pct=[1, 3], alert_id="s3")
    await _run(scaled_run)
    scaled_steps = (await alert_story(other.address, scaled_run)).timeline  # type: ignore[union-attr]
    tps = [s.detail for s in scaled_steps if s.phase.value == "tp_placed"]
    assert [(d["level"], D(str(d["size"]))) for d in tps] == [(1, D("0.001")), (2, D("0.001"))]

    # the body is the masked one; nobody else can read the story
    assert hook.secret not in json.dumps(asdict(story), default=str)
    assert '"secret": "***"' in story.payload
    assert await alert_story(other.address, sid) is None


async def test_the_sizing_is_stored_not_recomputed(db_url: str, paper_market: FakeIndexer) -> None:
    hook = await make_hook()
    _, sid = await _send(hook, risk_pct="1", sl="64000", tp="67000")
    await _run(sid)
    before = await alert_story(hook.address, sid)
    async with session_scope() as session:  # the equity moves afterwards
        await session.execute(
            update(PaperAccount).where(PaperAccount.user_address == hook.address).values(collateral=D("500"))
        )
    after = await alert_story(hook.address, sid)
    assert before is not None and after is not None
    assert after.sizing == before.sizing and after.sizing is not None and after.sizing["equity"] == "10000"


async def test_an_alert_refused_at_the_door_is_received_stored_rejected(db_url: str) -> None:
    hook = await make_hook()
    verdict, sid = await _send(hook, action="hold")
    assert verdict is Verdict.INVALID
    story = await alert_story(hook.address, sid)
    assert story is not None and story.status == "REJECTED"
    assert [s.phase.value for s in story.timeline] == ["received", "stored", "rejected"]
    rejected = story.timeline[-1]
    assert "hold" in str(rejected.detail["reason"]) and rejected.detail["reason"] == story.reason
    assert story.parsed is None and story.sizing is None and story.orders == []


async def test_an_alert_the_risk_step_refuses_tells_why_and_the_equity_it_read(
    db_url: str, paper_market: FakeIndexer
) -> None:
    hook = await make_hook()
    async with session_scope() as session:
        await session.execute(
            update(TradingAccount)
            .where(TradingAccount.address == hook.address)
            .values(max_notional_usd=D("50"))
        )
    verdict, sid = await _send(hook, size="0.01", sl="60000", tp="70000")
    assert verdict is Verdict.ACCEPTED
    await _run(sid)
    story = await alert_story(hook.address, sid)
    assert story is not None and story.status == "REJECTED"
    assert [s.phase.value for s in story.timeline] == ["received", "stored", "claimed", "rejected", "pushed"]
    rejected = story.timeline[3].detail
    assert rejected["status"] == "REJECTED" and "notional" in str(rejected["reason"])
    assert rejected["equity"] == "10000"
    assert story.sizing is None and story.orders == []


async def test_a_resting_limit_entry_continues_its_story_when_the_monitor_sees_it_fill(
    db_url: str, paper_market: FakeIndexer
) -> None:
    hook = await make_hook()
    _, sid = await _send(hook, order_type="limit", price="64000", size="0.01", sl="60000", tp="70000")
    await _run(sid)
    resting = await alert_story(hook.address, sid)
    assert resting is not None and resting.status == "EXECUTED"
    assert [s.phase.value for s in resting.timeline][-3:] == ["entry_sent", "executed", "pushed"]
    assert "resting" in str(resting.timeline[-2].detail["reason"])

    move(paper_market, "BTC-USD", "63900")
    assert (await monitor_tick("w1")).outcomes["opened"] == 1
    story = await alert_story(hook.address, sid)
    assert story is not None
    later = [s.phase.value for s in story.timeline][len(resting.timeline) :]
    assert later == ["filled", "stop_placed", "tp_placed"]  # written by the monitor's own transaction
    assert story.timeline[-3].detail["price"] == "64000"
    # the alert log no longer says it waits on the book: it filled
    assert resting.reason is not None and story.reason is None and story.status == "EXECUTED"
    assert {o.role: o.status for o in story.orders} == {
        "ENTRY": "FILLED", "STOP_LOSS": "UNTRIGGERED", "TAKE_PROFIT": "UNTRIGGERED"
    }  # fmt: skip


async def test_a_resting_limit_entry_the_trader_cancels_ends_its_story_with_the_cancel(
    db_url: str, paper_market: FakeIndexer
) -> None:
    hook = await make_hook()
    _, sid = await _send(hook, order_type="limit", price="60000", size="0.01", sl="55000", tp="70000")
    await _run(sid)
    resting = await alert_story(hook.address, sid)
    assert resting is not None and resting.position_id is not None

    await pending.cancel_pending(hook.address, resting.position_id)
    story = await alert_story(hook.address, sid)
    assert story is not None and story.status == "CANCELLED"
    later = story.timeline[len(resting.timeline) :]
    # when the trader cancelled, kept with the alert (the alert log's reason alone has no time)
    assert [s.phase.value for s in later] == ["cancelled"]
    assert later[0].at >= resting.timeline[-1].at
    assert later[0].detail["status"] == "CANCELLED"
    assert "you cancelled the resting limit entry" in str(later[0].detail["reason"])
    assert later[0].detail["position_id"] == resting.position_id
