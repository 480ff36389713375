"""A worker dying at each step of an open or a close: the takeover finishes the same orders.

The process "dies" at a venue call (before the venue hears of the order, or right after it
accepted it): nothing after that point runs, and whatever was committed stays. Then the
claim goes stale and the sweep resumes the signal on a healthy venue. Every order must
reach the venue exactly once under the client id committed before the crash, the
stop-loss before the take-profit.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import LONG_BTC, make_signal, make_user, orders, positions, signal
from trading_app.db.engine import session_scope
from trading_app.db.models import PaperOrder, Signal
from trading_app.domain.clock import utcnow
from trading_app.services.accounts import venues
from trading_app.services.engine import executor
from trading_app.venues.errors import OrderRejected
from trading_app.venues.paper.prices import price_source_from_settings
from trading_app.venues.paper.venue import PaperVenue


class Crash(BaseException):
    """The process dying: no `except Exception` handler sees it, no later step runs."""


class DyingVenue(PaperVenue):
    """The real paper venue, except that the process dies at one call (before or after it)."""

    def __init__(self, user: str, method: str, when: str) -> None:
        super().__init__(user, price_source_from_settings())
        self.method, self.when = method, when

    async def _maybe_die(self, name: str, call: object) -> object:
        if name == self.method and self.when == "before":
            call.close()  # type: ignore[attr-defined] - never started: the venue hears nothing
            raise Crash(name)
        result = await call  # type: ignore[misc]
        if name == self.method:
            raise Crash(name)
        return result

    async def place_market_order(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return await self._maybe_die("place_market_order", super().place_market_order(*args, **kwargs))

    async def place_stop_loss(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return await self._maybe_die("place_stop_loss", super().place_stop_loss(*args, **kwargs))

    async def place_take_profit(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return await self._maybe_die("place_take_profit", super().place_take_profit(*args, **kwargs))


async def _paper_orders(user: str) -> list[PaperOrder]:
    async with session_scope() as session:
        query = select(PaperOrder).where(PaperOrder.user_address == user).order_by(col(PaperOrder.id))
        return list((await session.exec(query)).all())


async def _crash_then_resume(user: str, body: dict, method: str, when: str) -> list[tuple[str, int, str]]:
    """Run the signal on a venue that dies at `method`, then resume it; returns the rows at the crash."""
    sid = await make_signal(user, body)
    venues._loop_cache()[(user, "paper")] = DyingVenue(user, method, when)
    with pytest.raises(Crash):
        await executor.execute_signal(sid)
    at_crash = [(o.role, o.client_id, o.status) for o in await orders(user)]
    venues._loop_cache()[(user, "paper")] = PaperVenue(user, price_source_from_settings())
    async with session_scope() as session:  # the dead worker's claim goes stale
        await session.exec(
            update(Signal)
            .where(col(Signal.id) == sid)
            .values(  # type: ignore[call-overload]
                claimed_at=utcnow() - timedelta(minutes=10)
            )
        )
    assert await executor.sweep() == [sid]
    assert (await signal(sid)).status == "EXECUTED"
    return at_crash


def _once_each(rows: list[tuple[str, int, str]], sent: list[PaperOrder]) -> None:
    client_ids = [o.client_id for o in sent]
    assert len(client_ids) == len(set(client_ids)), "an order reached the venue twice"
    assert set(client_ids) == {client_id for _, client_id, _ in rows}


@pytest.mark.parametrize(
    ("method", "when", "pending_at_crash"),
    [
        # position + entry row committed, the entry never sent
        ("place_market_order", "before", {"ENTRY"}),
        # entry filled, its fill and both protection rows committed together, the stop never sent
        ("place_stop_loss", "before", {"ENTRY", "STOP_LOSS", "TAKE_PROFIT"}),
        # the stop is on the venue, the take-profit not yet
        ("place_take_profit", "before", {"ENTRY", "STOP_LOSS", "TAKE_PROFIT"}),
        # both on the venue, their references never written down
        ("place_take_profit", "after", {"ENTRY", "STOP_LOSS", "TAKE_PROFIT"}),
    ],
)
async def test_an_open_resumed_after_a_crash_places_each_order_once(
    db_url: str, paper_market: FakeIndexer, method: str, when: str, pending_at_crash: set[str]
) -> None:
    user = await make_user(41)
    at_crash = await _crash_then_resume(user, LONG_BTC, method, when)

    # every order the crash interrupted had its row (and client id) committed beforehand
    assert {role for role, _, _ in at_crash} == pending_at_crash
    after = [(o.role, o.client_id) for o in await orders(user)]
    assert after == [(role, client_id) for role, client_id, _ in at_crash] + [
        (role, client_id) for role, client_id in after[len(at_crash) :]
    ]
    assert [role for role, _ in after] == ["ENTRY", "STOP_LOSS", "TAKE_PROFIT"]
    by_role = {role: client_id for role, client_id in after}
    sent = await _paper_orders(user)
    _once_each([(r, c, "") for r, c in after], sent)
    # the stop-loss reached the venue before the take-profit
    assert [o.client_id for o in sent] == [by_role["ENTRY"], by_role["STOP_LOSS"], by_role["TAKE_PROFIT"]]
    [position] = await positions(user)
    assert position.status == "OPEN"
    assert {o.role: o.status for o in await orders(user)} == {
        "ENTRY": "FILLED",
        "STOP_LOSS": "UNTRIGGERED",
        "TAKE_PROFIT": "UNTRIGGERED",
    }


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_close_resumed_after_a_crash_sends_one_close(
    db_url: str, paper_market: FakeIndexer, when: str
) -> None:
    user = await make_user(42)
    await executor.execute_signal(await make_signal(user, LONG_BTC))
    close = {"action": "close", "market": "BTC-USD"}
    at_crash = await _crash_then_resume(user, close, "place_market_order", when)

    # the close's row was committed (with CLOSING) before the venue heard of it
    assert [role for role, _, _ in at_crash] == ["ENTRY", "STOP_LOSS", "TAKE_PROFIT", "CLOSE"]
    rows = await orders(user)
    assert [(o.role, o.client_id) for o in rows] == [(role, client_id) for role, client_id, _ in at_crash]
    sent = await _paper_orders(user)
    _once_each(at_crash, sent)
    [position] = await positions(user)
    assert position.status == "CLOSED" and position.close_reason == "SIGNAL"
    assert {o.role: o.status for o in rows} == {
        "ENTRY": "FILLED",
        "STOP_LOSS": "CANCELED",
        "TAKE_PROFIT": "CANCELED",
        "CLOSE": "FILLED",
    }


class RefusingVenue(PaperVenue):
    """The real paper venue, except that it refuses every stop-loss (like dYdX's equity tier)."""

    async def place_stop_loss(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise OrderRejected("stateful orders not allowed")


async def test_a_refused_stop_loss_flattens_and_its_take_profit_never_goes_out(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(43)
    venues._loop_cache()[(user, "paper")] = RefusingVenue(user, price_source_from_settings())
    outcome = await executor.execute_signal(await make_signal(user, LONG_BTC))
    assert outcome is not None and outcome.reason is not None
    assert outcome.reason.startswith("protection_failed")
    [position] = await positions(user)
    assert position.status == "CLOSED" and position.close_reason == "PROTECTION_FAILED"
    rows = {o.role: o for o in await orders(user)}
    # the take-profit row was committed with the stop-loss row, but only a placed stop lets it out
    assert rows["TAKE_PROFIT"].status == "CANCELED"
    sent = {o.client_id for o in await _paper_orders(user)}
    assert sent == {rows["ENTRY"].client_id, rows["CLOSE"].client_id}
