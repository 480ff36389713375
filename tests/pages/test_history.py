"""The history page's state: filters, their totals, bad input, and one trader's trades only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from tests.pages.support import ALICE, BOB, memory_app, run, sign_in
from trading_app.db.engine import session_scope
from trading_app.db.models import Position
from trading_app.pages.history import HistoryState

DAY = datetime(2025, 2, 10, 12, 0, tzinfo=UTC)


async def closed(user: str, market: str, side: str, pnl: str, reason: str, days: int) -> None:
    async with session_scope() as session:
        session.add(
            Position(
                user_address=user,
                network="paper",
                market=market,
                side=side,
                size=D("1"),
                entry_price=D("100"),
                exit_price=D("101"),
                status="CLOSED",
                close_reason=reason,
                realized_pnl=D(pnl),
                fees=D("0.10"),
                opened_at=DAY + timedelta(days=days, hours=-1),
                closed_at=DAY + timedelta(days=days),
            )
        )


async def test_filters_and_totals(pg_url: str) -> None:
    alice, bob = await sign_in(ALICE), await sign_in(BOB)
    await closed(ALICE, "BTC-USD", "LONG", "10", "TAKE_PROFIT", 0)
    await closed(ALICE, "ETH-USD", "SHORT", "-4", "STOP_LOSS", 1)
    await closed(ALICE, "BTC-USD", "SHORT", "2.5", "MANUAL", 2)
    await closed(BOB, "SOL-USD", "LONG", "99", "MANUAL", 0)
    async with memory_app() as app:
        state = await run(app, "a", alice, HistoryState, "load")
        assert [r["market"] for r in state.rows] == ["BTC-USD", "ETH-USD", "BTC-USD"]  # newest first
        assert state.markets == ["BTC-USD", "ETH-USD"]  # nobody else's markets
        assert (
            state.totals["realized"] == "+$8.50"
            and state.totals["trades"] == "3"
            and state.totals["fees"] == "$0.30"
        )

        state = await run(app, "a", alice, HistoryState, "set_filter", "side", "SHORT")
        assert [r["reason"] for r in state.rows] == ["Manual", "Stop loss"]
        state = await run(app, "a", alice, HistoryState, "set_filter", "market", "BTC-USD")
        assert [r["pnl"] for r in state.rows] == ["+$2.50"] and state.totals["win_rate"] == "100.0%"
        state = await run(app, "a", alice, HistoryState, "clear_filters")
        state = await run(app, "a", alice, HistoryState, "set_filter", "start", "2025-02-11")
        state = await run(app, "a", alice, HistoryState, "set_filter", "end", "2025-02-11")
        assert [r["market"] for r in state.rows] == ["ETH-USD"] and state.totals["realized"] == "-$4.00"

        # a bad range is refused with a message and the rows shown stay those of the last good filter
        state = await run(app, "a", alice, HistoryState, "set_filter", "start", "2025-02-12")
        assert state.error == "The start date is after the end date." and [
            r["market"] for r in state.rows
        ] == ["ETH-USD"]
        state = await run(app, "a", alice, HistoryState, "set_filter", "reason", "BORED")
        assert state.error == "Unknown close reason."
        state = await run(
            app, "a", alice, HistoryState, "set_filter", "loaded", "no"
        )  # not a filter: ignored
        assert state.loaded is True

        theirs = await run(app, "b", bob, HistoryState, "load")
        assert [r["market"] for r in theirs.rows] == ["SOL-USD"] and theirs.markets == ["SOL-USD"]
        signed_out = await run(app, "anon", None, HistoryState, "load")
        assert signed_out.rows == [] and not signed_out.loaded
