"""REST numbers on the grid: prices on the tick, sizes on the step, USD on the USDC quantum."""

from __future__ import annotations

from tests.api.test_trading import ALICE, BOB, _login
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import LONG_BTC, D, make_signal
from trading_app.db.engine import session_scope
from trading_app.db.models import Position
from trading_app.domain.clock import utcnow
from trading_app.services.engine import executor


async def test_rest_numbers_are_on_the_grid_without_tails(db_url: str, paper_market: FakeIndexer) -> None:
    """Prices on the tick, sizes on the step, USD on the USDC quantum: no 20-digit tails (issue 13)."""
    alice, bob = await _login(ALICE), await _login(BOB)
    async with session_scope() as session:
        session.add(
            Position(
                user_address=ALICE,
                network="paper",
                market="SOL-USD",
                side="LONG",
                size=D("13.3"),
                entry_price=D("187.499924812030075188"),
                exit_price=D("190.000075187969924812"),
                tp_price=D("200"),
                sl_price=D("180"),
                realized_pnl=D("-2.45430600000000000081"),
                fees=D("2.5103740000000001"),
                status="CLOSED",
                closed_at=utcnow(),
                close_reason="MANUAL",
                tick_size=D("0.01"),
                step_size=D("0.1"),
            )
        )
    paper_market.set_price("BTC-USD", D("65000.37"))
    await executor.execute_signal(await make_signal(ALICE, LONG_BTC))

    rows = (await alice.get("/api/user/positions")).json()["positions"]
    closed = next(r for r in rows if r["market"] == "SOL-USD")
    assert (closed["entry_price"], closed["exit_price"], closed["tp_price"], closed["sl_price"]) == (
        "187.50",
        "190.00",
        "200.00",
        "180.00",
    )
    assert (closed["size"], closed["realized_pnl"], closed["fees"]) == ("13.3", "-2.454306", "2.510374")
    live = next(r for r in rows if r["market"] == "BTC-USD")
    assert live["mark_price"] == "65000" and live["size"] == "0.0100"  # BTC: tick 1, step 0.0001
    assert len(live["unrealized_pnl"].split(".")[1]) == 6
    summary = (await alice.get("/api/pnl/summary")).json()
    assert summary["realized"] == "-2.454306" and len(summary["fees"].split(".")[1]) == 6
    assert (await bob.get("/api/user/positions")).json() == {"positions": []}  # Alice's rows only
    await alice.aclose()
    await bob.aclose()
