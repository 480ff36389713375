"""Random sequences of alerts, price moves, price-source outages and crashes mid-execution, on the
paper venue: after every step (and the restart that follows a crash) the money invariants hold.

A crash is an execution cancelled at a random await point, its database connections dropped (what
a killed process leaves: some writes committed, some venue calls made, the claim held); the
restart is the sweep taking the stale claim over and the monitor ticking. Each example is a fresh
trader, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import update
from sqlmodel import col

from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_signal, make_user
from trading_app.db.engine import dispose_engines, session_scope
from trading_app.db.models import Signal
from trading_app.domain.clock import utcnow
from trading_app.services.engine import executor
from trading_app.services.monitor.tick import reconcile_account
from trading_app.services.ops.audit import audit_account
from trading_app.venues.paper.prices import price_source_from_settings
from trading_app.venues.paper.venue import PaperVenue

pytestmark = pytest.mark.slow
MARKETS = {"BTC-USD": Decimal("65000"), "ETH-USD": Decimal("3000")}
ACTIONS = ("buy", "sell", "close", "reverse")
_users = itertools.count(5000)


@pytest.fixture
def world(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[asyncio.AbstractEventLoop, FakeIndexer]]:
    with FakeIndexer() as fake:
        monkeypatch.setenv("PAPER_PRICE_SOURCE", fake.url)
        reset_app_caches()
        loop = asyncio.new_event_loop()
        try:
            yield loop, fake
        finally:
            loop.close()
            reset_app_caches()


def test_random_trading_days_never_break_the_money_invariants(
    world: tuple[asyncio.AbstractEventLoop, FakeIndexer],
) -> None:
    loop, fake = world

    class TradingDay(RuleBasedStateMachine):
        @initialize()
        def trader(self) -> None:
            self.user = loop.run_until_complete(make_user(next(_users), same_market_policy="reverse"))
            self.prices = dict(MARKETS)
            for market, price in self.prices.items():
                fake.set_price(market, price)
            fake.up()
            price_source_from_settings().invalidate()  # type: ignore[attr-defined]

        def _run(self, coro: object) -> object:
            return loop.run_until_complete(coro)  # type: ignore[arg-type]

        async def _alert(self, action: str, market: str) -> int:
            body: dict[str, str] = {"action": action, "market": market}
            if action in ("buy", "sell", "reverse"):
                body.update(size_usd="300", sl_pct="2", rr="1.5")
            return await make_signal(self.user, body)

        @rule(action=st.sampled_from(ACTIONS), market=st.sampled_from(sorted(MARKETS)))
        def alert(self, action: str, market: str) -> None:
            sid = self._run(self._alert(action, market))
            self._run(executor.execute_signal(sid))

        @rule(
            action=st.sampled_from(ACTIONS),
            market=st.sampled_from(sorted(MARKETS)),
            after=st.integers(min_value=0, max_value=40),
        )
        def alert_then_crash(self, action: str, market: str, after: int) -> None:
            sid = self._run(self._alert(action, market))

            async def crash() -> None:
                task = asyncio.ensure_future(executor.execute_signal(sid))
                for _ in range(after):  # let it get somewhere, then kill it where it stands
                    await asyncio.sleep(0)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await dispose_engines()  # the process is gone: so are its connections and transactions
                async with session_scope() as session:  # the dead worker's claim goes stale
                    await session.exec(
                        update(Signal)
                        .where(col(Signal.id) == sid)  # type: ignore[call-overload]
                        .values(claimed_at=utcnow() - timedelta(minutes=5))
                    )

            self._run(crash())

        @rule(market=st.sampled_from(sorted(MARKETS)), move=st.integers(min_value=-6, max_value=6))
        def price_moves(self, market: str, move: int) -> None:
            self.prices[market] = (self.prices[market] * (100 + move) / 100).quantize(Decimal("0.1"))
            fake.set_price(market, self.prices[market])
            price_source_from_settings().invalidate()  # type: ignore[attr-defined]

        @rule()
        def price_source_outage(self) -> None:
            fake.down()
            price_source_from_settings().invalidate()  # type: ignore[attr-defined]
            sid = self._run(self._alert("buy", "ETH-USD"))
            self._run(executor.execute_signal(sid))  # fails with the reason, places nothing
            fake.up()
            price_source_from_settings().invalidate()  # type: ignore[attr-defined]

        @invariant()
        def settled_books_match_the_venue(self) -> None:
            if not hasattr(self, "user"):
                return

            async def settle_and_audit() -> list[object]:
                await executor.sweep(older_than=timedelta(0))  # the restart: stale claims taken over
                for _ in range(2):
                    await reconcile_account(self.user, "paper")
                return list(
                    await audit_account(
                        self.user, "paper", PaperVenue(self.user, price_source_from_settings())
                    )
                )

            assert self._run(settle_and_audit()) == []
            unfinished = self._run(_unfinished(self.user))
            assert unfinished == [], unfinished

    run_state_machine_as_test(
        TradingDay,
        settings=settings(
            max_examples=12,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


async def _unfinished(user: str) -> list[tuple[int | None, str]]:
    from sqlmodel import select

    async with session_scope() as session:
        rows = await session.exec(
            select(Signal.id, Signal.status).where(
                Signal.user_address == user, col(Signal.status).in_(("ACCEPTED", "EXECUTING"))
            )
        )
        return list(rows.all())
