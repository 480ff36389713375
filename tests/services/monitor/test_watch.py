"""The monitor's trigger watch: a crossed TP/SL reconciles its account before the next full tick,
an uncrossed one costs no venue call, and an account is never reconciled twice at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from sqlmodel import select

from tests.fakes.dydx_world import DydxWorld
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_user
from tests.services.monitor.test_tick_dydx import _opened
from tests.services.monitor_support import (
    LONG,
    move,
    open_position,
    position,
    rows,
)
from trading_app.db.engine import session_scope
from trading_app.db.models import PaperFill
from trading_app.domain.clock import utcnow
from trading_app.domain.enums import OrderType, Side
from trading_app.services.accounts import venues
from trading_app.services.monitor import tick
from trading_app.services.monitor.trigger_watch import Trigger, Watch

D = Decimal


class Counted:
    """The user's real venue, counting the calls made through it (the monitor's cost)."""

    def __init__(self, venue: object) -> None:
        self._venue = venue
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._venue, name)
        if name.startswith("_") or not callable(attr):
            return attr

        async def counted(*args: object, **kwargs: object) -> object:
            self.calls[name] += 1
            return await attr(*args, **kwargs)

        return counted


async def counted_venue(user: str) -> Counted:
    counter = Counted(await venues.venue_for(user, "paper"))
    venues._loop_cache()[(user, "paper")] = counter  # type: ignore[assignment]
    return counter


async def exit_fills(user: str) -> list[PaperFill]:
    async with session_scope() as session:
        found = await session.exec(
            select(PaperFill).where(PaperFill.user_address == user, PaperFill.side == "SELL")
        )
        return list(found.all())


async def test_a_crossed_take_profit_closes_the_books_before_the_next_tick(
    db_url: str, paper_market: FakeIndexer, pushes: list[str]
) -> None:
    user = await make_user(21)
    opened = await open_position(user, LONG)
    await tick.monitor_tick("watch0a")  # the full tick: the watch now knows the TP and the SL
    assert await tick.watch_tick("watch0a", wait=None) == []  # nothing crossed yet

    move(paper_market, "BTC-USD", "70500")
    assert await tick.watch_tick("watch0a", wait=None) == [(user, "paper")]

    closed = await position(opened.id)  # no full tick since the move
    assert (closed.status, closed.close_reason) == ("CLOSED", "TAKE_PROFIT")
    assert (await rows(opened.id))["STOP_LOSS"][-1].status == "CANCELED"
    assert user in pushes
    assert await tick.watch_tick("watch0a", wait=None) == []  # handled: it does not fire again
    report = await tick.monitor_tick("watch0a")  # the next full tick reports the fast reconcile
    assert any(r.user == user and r.outcomes for r in report.results)


async def test_a_stop_crossed_on_a_short_is_watched_too(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(22)
    short = {"action": "sell", "market": "ETH-USD", "size": "0.1", "sl": "3200", "tp": "2800"}
    opened = await open_position(user, short)
    await tick.monitor_tick("watch1a")
    move(paper_market, "ETH-USD", "3250")
    assert await tick.watch_tick("watch1a", wait=None) == [(user, "paper")]
    assert (await position(opened.id)).close_reason == "STOP_LOSS"


async def test_an_uncrossed_trigger_costs_no_venue_call(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(23)
    opened = await open_position(user, LONG)
    counter = await counted_venue(user)
    await tick.monitor_tick("watch2a")
    assert counter.calls == {"account_state": 1}

    move(paper_market, "BTC-USD", "69999")  # close to the TP (70,000), not through it
    for _ in range(3):
        assert await tick.watch_tick("watch2a", wait=None) == []
    assert counter.calls == {"account_state": 1}
    assert (await position(opened.id)).status == "OPEN"


async def test_an_account_being_reconciled_is_not_reconciled_again_at_once(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(24)
    opened = await open_position(user, LONG)
    counter = await counted_venue(user)
    await tick.monitor_tick("watch3a")
    move(paper_market, "BTC-USD", "70500")

    started = await tick.monitor_tick("watch3a", wait=0)  # the full tick's reconcile is under way
    assert started.started == 1
    assert await tick.watch_tick("watch3a", wait=None) == []  # so the watch leaves the account alone

    await tick.stop("watch3a")  # lets the running reconcile finish
    assert (await position(opened.id)).close_reason == "TAKE_PROFIT"
    assert len(await exit_fills(user)) == 1
    assert counter.calls["account_state"] == 2  # the first full tick's, the second's: none from the watch


async def test_a_full_tick_skips_an_account_the_watch_is_reconciling(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(25)
    opened = await open_position(user, LONG)
    await tick.monitor_tick("watch4a")
    move(paper_market, "BTC-USD", "70500")
    assert await tick.watch_tick("watch4a") == [(user, "paper")]  # started, not awaited

    report = await tick.monitor_tick("watch4a", wait=0)
    assert (report.owned, report.busy, report.started) == (1, 1, 0)  # kept its lease, not started twice
    await tick.stop("watch4a")  # lets the watch's reconcile finish
    assert (await position(opened.id)).close_reason == "TAKE_PROFIT" and len(await exit_fills(user)) == 1


async def test_only_the_lease_holder_watches_an_account(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(26)
    opened = await open_position(user, LONG)
    await tick.monitor_tick("watch5a")
    await tick.monitor_tick("watch5b")  # w1 holds the lease: w2 owns nothing, so watches nothing
    move(paper_market, "BTC-USD", "70500")
    assert await tick.watch_tick("watch5b", wait=None) == []
    assert (await position(opened.id)).status == "OPEN"
    assert await tick.watch_tick("watch5a", wait=None) == [(user, "paper")]


def test_a_watch_whose_leases_run_out_starts_nothing() -> None:
    tp = Trigger("BTC-USD", OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("70000"))
    watch = Watch()
    now = utcnow()
    account = ("0xabc", "paper")
    watch.own({account: None}, now + timedelta(seconds=8))
    watch.triggers[account] = [tp]

    class Spec:
        oracle_price = D("70500")

    prices = {"paper": {"BTC-USD": Spec()}}
    margin = timedelta(seconds=2.5)
    soon_lapsing = now + timedelta(seconds=6)
    assert watch.due(prices, busy=set(), now=soon_lapsing, margin=margin) == {}  # lease ends soon
    assert watch.due(prices, busy={account}, now=now, margin=margin) == {}  # being reconciled
    assert watch.due(prices, busy=set(), now=now, margin=margin) == {account: None}
    assert watch.due(prices, busy=set(), now=now, margin=margin) == {}  # fired: not again at once
    later = now + timedelta(seconds=1.5)
    assert watch.due(prices, busy=set(), now=later, margin=margin) == {account: None}  # still crossed: again
    assert watch.due(prices, busy=set(), now=later + timedelta(seconds=1.5), margin=margin) == {}  # backs off
    watch.own({}, now + timedelta(seconds=8))  # the next full tick lost the lease
    assert watch.triggers == {}


async def test_on_dydx_a_crossed_oracle_price_reconciles_at_once(
    dydx_user: str,
    dydx_world: DydxWorld,  # noqa: F811
) -> None:
    opened = await _opened(dydx_user)
    await tick.monitor_tick("watch-dydx", sweep=False)
    dydx_world.exchange.set_price("ETH-USD", D("3350"))  # through the TP: the chain fills it
    for _ in range(60):  # no full tick from here on: only the watch reconciles (and retries while the
        await tick.watch_tick("watch-dydx", wait=None)  # indexer has not shown the fill yet)
        if (await position(opened.id)).status == "CLOSED":
            break
        await asyncio.sleep(0.2)
    closed = await position(opened.id)
    assert (closed.status, closed.close_reason, closed.exit_price) == ("CLOSED", "TAKE_PROFIT", D("3350"))
