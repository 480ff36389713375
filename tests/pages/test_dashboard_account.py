"""The dashboard's account cards: the trader's own equity, free collateral and margin, in cents."""

from __future__ import annotations

import pytest

from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer
from tests.pages.support import ALICE, BOB, memory_app, run, sign_in
from tests.services.engine_support import D
from trading_app.db.engine import session_scope
from trading_app.db.models import TradingAccount
from trading_app.pages.dashboard_account import FundsState, funds_texts
from trading_app.services.accounts.funds import Funds


def test_texts_are_money_in_cents_and_margin_use_in_percent() -> None:
    texts = funds_texts(Funds("paper", D("9996.649951"), D("9866.64995")))
    assert texts == {
        "equity": "$9,996.65",
        "free": "$9,866.65",
        "margin": "$130.00",
        "margin_pct": "1.3% of equity",
        "network": "paper",
    }


async def test_each_trader_sees_their_own_account_and_a_venue_problem_plainly(
    pg_url: str, fake_indexer: FakeIndexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPER_PRICE_SOURCE", fake_indexer.url)
    reset_app_caches()
    alice, bob = await sign_in(ALICE), await sign_in(BOB)
    async with session_scope() as session:
        account = await session.get(TradingAccount, BOB)
        assert account is not None
        account.network = "mainnet"
    async with memory_app() as app:
        mine = await run(app, "alice-1", alice, FundsState, "load")
        assert (mine.funds["equity"], mine.funds["free"], mine.funds["margin"]) == ("$10,000.00",) * 2 + (
            "$0.00",
        )
        assert mine.funds_error == ""
        theirs = await run(app, "bob-1", bob, FundsState, "refresh")
        assert theirs.funds["equity"] == "—"
        assert theirs.funds_error == "No dYdX key saved for mainnet: add one in Settings."
        signed_out = await run(app, "anon-1", None, FundsState, "load")
        assert signed_out.funds["equity"] == "—"
