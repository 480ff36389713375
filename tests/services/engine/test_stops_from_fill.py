"""Percent and reward:risk levels are placed from the average fill, absolute ones where they were asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlmodel import col

from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import D, make_signal, make_user, orders, positions
from tests.services.monitor_support import move, open_position, position, rows
from trading_app.db.engine import session_scope
from trading_app.db.models import Position
from trading_app.services.engine import executor
from trading_app.services.monitor.tick import monitor_tick


@pytest.fixture
def thin_book(fake_indexer: FakeIndexer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    """BTC-USD at 65,000 on the oracle, but the asks a buy walks average 65,500 for 0.01."""
    fake_indexer.set_book(
        "BTC-USD",
        bids=[(D("64999"), D("1"))],
        asks=[(D("65400"), D("0.005")), (D("65600"), D("1"))],
    )
    monkeypatch.setenv("PAPER_PRICE_SOURCE", fake_indexer.url)
    reset_app_caches()
    yield fake_indexer


async def _opened(user: str, body: dict) -> tuple:
    outcome = await executor.execute_signal(await make_signal(user, body))
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    [position] = await positions(user)
    roles = {o.role: o for o in await orders(user)}
    return position, roles


async def test_sl_pct_and_rr_are_measured_from_the_average_fill(db_url: str, thin_book: FakeIndexer) -> None:
    user = await make_user(31)
    body = {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl_pct": "1", "rr": "2"}
    position, roles = await _opened(user, body)
    assert position.entry_price == D("65500")  # half at 65,400, half at 65,600
    # from the oracle (65,000) these would be 64,350 and 66,300
    assert position.sl_price == D("64845")  # 65,500 * 0.99
    assert position.tp_price == D("66810")  # 65,500 + 2 * 655
    assert roles["STOP_LOSS"].trigger_price == D("64845")
    assert roles["TAKE_PROFIT"].trigger_price == D("66810")


async def test_an_absolute_stop_stays_and_rr_uses_the_real_risk(db_url: str, thin_book: FakeIndexer) -> None:
    user = await make_user(32)
    body = {"action": "buy", "market": "BTC-USD", "size": "0.01", "sl": "64500", "rr": "2"}
    position, roles = await _opened(user, body)
    assert position.entry_price == D("65500")
    assert position.sl_price == D("64500") and roles["STOP_LOSS"].trigger_price == D("64500")
    assert position.tp_price == D("67500")  # 65,500 + 2 * 1,000 (from the oracle: 66,000)


async def test_a_resting_limit_entry_filled_later_is_protected_from_its_fill(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(34)
    body = {"action": "buy", "market": "BTC-USD", "size": "0.01", "order_type": "limit", "price": "64000"}
    resting = await open_position(user, {**body, "sl_pct": "1", "rr": "2"})
    assert resting.status == "OPENING" and (resting.sl_price, resting.tp_price) == (D("63360"), D("65280"))
    # levels planned from another reference than the fill (as a market entry's oracle would be)
    async with session_scope() as session:
        await session.execute(
            update(Position)
            .where(col(Position.id) == resting.id)
            .values(sl_price=D("62000"), tp_price=D("68000"))
        )

    move(paper_market, "BTC-USD", "63900")
    assert (await monitor_tick("w1")).outcomes["opened"] == 1  # the monitor resumes it from the stored alert

    opened = await position(resting.id)
    assert (opened.status, opened.entry_price) == ("OPEN", D("64000"))
    assert (opened.sl_price, opened.tp_price) == (D("63360"), D("65280"))  # 1 % and 2:1 from the fill
    roles = await rows(resting.id)
    assert roles["STOP_LOSS"][0].trigger_price == D("63360") and roles["TAKE_PROFIT"][0].trigger_price == D(
        "65280"
    )
