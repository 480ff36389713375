"""Random sequences on the rebuilt fake dYdX chain: alerts, price moves, stateful txs dropped from the
mempool or refused in DeliverTx, an indexer that lags (404s), a node that goes down and comes back,
and crashes mid-execution. After every step (and the restart that follows a crash) the system
settles within a bounded time and the money invariants hold, on the books and on the chain.

Each example is a fresh chain (node, indexer, exchange) and a fresh trader; a crash is an execution
cancelled at a random await point, its database connections and its venue (signer, caches) gone.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import update
from sqlmodel import col, select

from tests.conftest import reset_app_caches
from tests.fakes.dydx_exchange import DydxExchange
from tests.fakes.dydx_indexer import install_account_routes
from tests.fakes.dydx_node import FakeDydxNode
from tests.fakes.dydx_world import MNEMONIC, OWNER, DydxWorld
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_signal, make_user
from trading_app.db.engine import dispose_engines, session_scope
from trading_app.db.models import Signal
from trading_app.domain.clock import utcnow
from trading_app.services.accounts import venues
from trading_app.services.accounts.account import save_network
from trading_app.services.accounts.credentials import save_dydx_mnemonic
from trading_app.services.engine import executor
from trading_app.services.monitor.tick import reconcile_account
from trading_app.services.ops.audit import audit_account

pytestmark = pytest.mark.slow
ACTIONS = ("buy", "sell", "close")
SETTLE_SECONDS = 45.0  # wall-clock graces (a closer given 30 s, a fresh order 10 s) bound it, not blocks
_users = itertools.count(7000)


@pytest.fixture
def loop(pg_url: str) -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    try:
        yield running
    finally:
        running.close()
        reset_app_caches()


def _world(stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> DydxWorld:
    """A started chain whose owner holds 10,000 USDC, a block every 50 ms (what `dydx_world` builds)."""
    indexer = stack.enter_context(FakeIndexer())
    exchange = DydxExchange(indexer)
    install_account_routes(indexer, exchange)
    node = FakeDydxNode(exchange).start()
    stack.callback(node.stop)
    node.add_account(OWNER, sequence=5, account_number=42)
    exchange.fund(OWNER, 0, Decimal("10000"))
    exchange.set_price("ETH-USD", Decimal("3000"))
    monkeypatch.setenv("DYDX_TESTNET_NODE_URL", node.url)
    monkeypatch.setenv("DYDX_TESTNET_INDEXER_URL", indexer.url)
    reset_app_caches()
    node.auto_blocks(0.05)
    return DydxWorld(indexer, exchange, node)


async def _unfinished(user: str) -> list[tuple[int | None, str]]:
    async with session_scope() as session:
        rows = await session.exec(
            select(Signal.id, Signal.status).where(
                Signal.user_address == user, col(Signal.status).in_(("ACCEPTED", "EXECUTING"))
            )
        )
        return list(rows.all())


def test_random_days_on_the_chain_never_break_the_money_invariants(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ChainDay(RuleBasedStateMachine):
        @initialize()
        def chain_and_trader(self) -> None:
            self.stack = ExitStack()
            self.world = _world(self.stack, monkeypatch)
            self.price = Decimal("3000")

            async def trader() -> str:
                user = await make_user(next(_users))
                assert await save_dydx_mnemonic(user, MNEMONIC) == OWNER
                await save_network(user, "testnet")
                return user

            self.user = loop.run_until_complete(trader())

        def teardown(self) -> None:
            if hasattr(self, "user"):
                loop.run_until_complete(venues.forget(self.user))
                loop.run_until_complete(dispose_engines())
            if hasattr(self, "stack"):
                self.stack.close()

        async def _alert(self, action: str) -> int:
            body = {"action": action, "market": "ETH-USD"}
            if action in ("buy", "sell"):
                body.update(size="0.1", sl_pct="3", rr="1.5")
            return await make_signal(self.user, body)

        @rule(action=st.sampled_from(ACTIONS))
        def alert(self, action: str) -> None:
            loop.run_until_complete(executor.execute_signal(loop.run_until_complete(self._alert(action))))

        @rule(action=st.sampled_from(ACTIONS), after=st.integers(min_value=0, max_value=60))
        def alert_then_crash(self, action: str, after: int) -> None:
            async def crash() -> None:
                sid = await self._alert(action)
                task = asyncio.ensure_future(executor.execute_signal(sid))
                for _ in range(after):
                    await asyncio.sleep(0)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await venues.forget(self.user)  # the new process has a venue of its own
                await dispose_engines()
                async with session_scope() as session:
                    await session.exec(
                        update(Signal)
                        .where(col(Signal.id) == sid)  # type: ignore[call-overload]
                        .values(claimed_at=utcnow() - timedelta(minutes=5))
                    )

            loop.run_until_complete(crash())

        @rule(move=st.integers(min_value=-5, max_value=5))
        def price_moves(self, move: int) -> None:
            self.price = (self.price * (100 + move) / 100).quantize(Decimal("0.1"))
            self.world.exchange.set_price("ETH-USD", self.price)

        @rule(kind=st.sampled_from(["hold", "deliver"]), action=st.sampled_from(("buy", "sell")))
        def a_stateful_tx_goes_wrong(self, kind: str, action: str) -> None:
            if kind == "hold":  # accepted at CheckTx, never proposed: dropped after the mempool TTL
                self.world.node.fail_next("hold")
            else:
                self.world.node.fail_next(
                    "deliver", codespace="clob", code=3008, log="Stateful order was previously cancelled"
                )
            self.alert(action)

        @rule(blocks=st.integers(min_value=1, max_value=4))
        def the_indexer_lags(self, blocks: int) -> None:
            self.world.exchange.lag_blocks = blocks  # what it has not processed answers 404
            self.alert("close")
            self.world.exchange.lag_blocks = 0

        @rule()
        def the_node_goes_down_and_comes_back(self) -> None:
            self.world.node.down()
            try:
                self.alert("buy")
            finally:
                self.world.node.up()

        @invariant()
        def settled_books_match_the_chain(self) -> None:
            if not hasattr(self, "user"):
                return

            async def settle() -> list[str]:
                deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
                while True:
                    await executor.sweep(older_than=timedelta(0))
                    await reconcile_account(self.user, "testnet")
                    venue = await venues.venue_for(self.user, "testnet")
                    found = [str(b) for b in await audit_account(self.user, "testnet", venue)]
                    found += [f"unfinished signal {s}" for s in await _unfinished(self.user)]
                    if not found or asyncio.get_running_loop().time() > deadline:
                        return found
                    await asyncio.sleep(0.2)

            assert loop.run_until_complete(settle()) == []
            self.world.assert_protected()  # the chain's own view: no position without a live stop

    run_state_machine_as_test(
        ChainDay,
        settings=settings(
            max_examples=8,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
