"""The money invariants, from the books and the paper venue's own view, and the operators' audit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlmodel import col

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import make_user
from tests.services.monitor_support import (
    LONG,
    move,
    open_position,
    paper,
    rows,
)
from trading_app.db.engine import session_scope
from trading_app.db.models import Order, Position
from trading_app.domain.enums import Side
from trading_app.services.engine.order_rows import ref_of
from trading_app.services.monitor.tick import reconcile_account
from trading_app.services.ops.audit import Breach, audit_account

D = Decimal


async def _audit(user: str) -> list[Breach]:
    return await audit_account(user, "paper", paper(user))


async def test_a_protected_position_and_its_closed_books_break_nothing(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(1)
    opened = await open_position(user, LONG)
    assert await _audit(user) == []
    move(paper_market, "BTC-USD", "70500")  # the take-profit fills
    await reconcile_account(user, "paper")
    assert (await _audit(user)) == []  # books closed, stop cancelled, PnL from the fills
    assert opened.id is not None


async def test_a_stop_loss_gone_from_the_venue_is_a_breach_until_the_monitor_replaces_it(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(2)
    opened = await open_position(user, LONG)
    await paper(user).cancel(ref_of((await rows(opened.id))["STOP_LOSS"][-1]))
    [breach] = await _audit(user)
    assert (breach.kind, breach.position_id) == ("no_stop_loss", opened.id)
    await reconcile_account(user, "paper")
    assert await _audit(user) == []


async def test_exposure_without_a_position_is_closed_the_same_tick_and_the_trader_told(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(3)
    # a fill the books never heard of (what a lost race or a crash left on the venue)
    await paper(user).place_market_order("ETH-USD", Side.BUY, D("0.5"), worst_price=D("3100"), client_id=77)
    assert [b.kind for b in await _audit(user)] == ["exposure"]
    result = await reconcile_account(user, "paper")
    assert result.outcomes["exposure_closed"] == 1
    assert await _audit(user) == []
    assert (await paper(user).account()).positions == {}


@pytest.mark.breaks_invariants("the books are tampered with on purpose")
async def test_tampered_books_are_caught(db_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(4)
    opened = await open_position(user, LONG)
    move(paper_market, "BTC-USD", "59000")  # the stop-loss fills
    await reconcile_account(user, "paper")
    assert await _audit(user) == []
    async with session_scope() as session:
        await session.exec(
            update(Position)
            .where(col(Position.id) == opened.id)  # type: ignore[call-overload]
            .values(realized_pnl=D("1"))
        )
        await session.exec(
            update(Order)
            .where(col(Order.position_id) == opened.id)  # type: ignore[call-overload]
            .values(price=D("60000.5"))
        )
    kinds = sorted({b.kind for b in await _audit(user)})
    assert kinds == ["off_grid", "realized_pnl"]


@pytest.mark.breaks_invariants("a stop-loss is removed on purpose")
async def test_the_audit_command_exits_non_zero_on_a_breach(pg_url: str, paper_market: FakeIndexer) -> None:
    user = await make_user(5)
    await open_position(user, LONG)
    env = {**os.environ, "DATABASE_URL": pg_url, "PAPER_PRICE_SOURCE": paper_market.url}
    ok = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "trading_app.cli", "audit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 account(s) audited, 0 breach(es)" in ok.stdout
    await paper(user).cancel(
        ref_of(
            (
                await rows(
                    (
                        await open_position(
                            user, {**LONG, "market": "ETH-USD", "sl": "2800", "tp": "3300", "size": "0.1"}
                        )
                    ).id
                )
            )["STOP_LOSS"][-1]
        )
    )
    bad = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "trading_app.cli", "audit", "--user", user],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "no_stop_loss" in bad.stdout and "ETH-USD" in bad.stdout
