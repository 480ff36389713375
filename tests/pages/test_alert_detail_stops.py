"""The alert story lists the stop history of the scaled position the alert opened (every move, with
its outcome); a single-target position's story has none, and another trader sees nothing."""

from __future__ import annotations

from tests.pages.support import ALICE, BOB, memory_app, sign_in
from tests.pages.test_alert_detail import _load
from tests.services.engine_support import make_signal
from tests.services.scale_support import add_move, add_position, scaled_after_tp1
from trading_app.db.engine import session_scope
from trading_app.db.models import Signal
from trading_app.pages import alert_story_views as views


async def _opened(sid: int, pid: int) -> None:
    async with session_scope() as session:
        signal = await session.get(Signal, sid)
        assert signal is not None
        signal.position_id, signal.status = pid, "EXECUTED"


async def test_the_story_of_a_scaled_position_lists_its_stop_moves(pg_url: str) -> None:
    alice, bob = await sign_in(ALICE), await sign_in(BOB)
    body = {"secret": "s3cret-xyz", "action": "buy", "market": "BTC-USD", "size": "0.01"}
    sid = await make_signal(ALICE, body)
    pid = await scaled_after_tp1(ALICE, signal_id=sid)
    await _opened(sid, pid)
    for n in range(5):  # the story keeps every trailing move (the dashboard shows the last three)
        await add_move(ALICE, pid, "TRAIL", str(97262 + n), str(97263 + n), seconds=100 + n)
    await add_move(ALICE, pid, "TRAIL", "97267", "97300", "FAILED", seconds=200, detail="venue refused")
    plain_sid = await make_signal(ALICE, {**body, "market": "ETH-USD"})
    await _opened(plain_sid, await add_position(ALICE, plan=None, market="ETH-USD", signal_id=plain_sid))
    async with memory_app() as app:
        story = await _load(app, "alice-1", alice, f"/alerts/{sid}")
        rows = [(r["from"], r["to"], r["reason"], r["outcome"]) for r in story.stop_history]
        assert rows[:2] == [
            ("", "96,000.0", "initial", "placed"),
            ("96,000.0", "97,262.0", "break-even", "moved"),
        ]
        assert len(rows) == 2 + 6 and rows[-1] == ("97,267.0", "97,300.0", "trailing", "failed")
        assert story.stop_history[-1]["detail"] == "venue refused"
        assert story.stop_history[1]["when"] == "2026-03-02 12:01:07 UTC"
        # each take-profit order names its level (the orders table lists both)
        assert {"Take profit 1", "Take profit 2"} <= {o["role"] for o in story.orders}
        assert (await _load(app, "alice-2", alice, f"/alerts/{plain_sid}")).stop_history == []
        theirs = await _load(app, "bob-1", bob, f"/alerts/{sid}")
        assert not theirs.found and theirs.stop_history == []


def test_no_scale_no_stop_rows() -> None:
    assert views.stop_rows(None) == []
