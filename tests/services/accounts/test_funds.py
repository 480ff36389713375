"""Equity, free collateral and margin use of the trader's current venue, scoped to the trader."""

from __future__ import annotations

import pytest

from tests.fakes.indexer import FakeIndexer
from tests.services.engine_support import LONG_BTC, D, make_signal, make_user
from trading_app.services.accounts.funds import Funds, FundsUnavailable, account_funds
from trading_app.services.engine import executor


async def test_a_new_paper_account_has_ten_thousand_dollars_and_no_margin_in_use(
    db_url: str, paper_market: FakeIndexer
) -> None:
    funds = await account_funds(await make_user(51))
    assert funds == Funds("paper", D("10000"), D("10000"))
    assert funds.margin_used == 0 and funds.margin_use_pct == 0


async def test_an_open_position_uses_margin_of_its_trader_only(
    db_url: str, paper_market: FakeIndexer
) -> None:
    alice, bob = await make_user(52), await make_user(53)
    outcome = await executor.execute_signal(await make_signal(alice, {**LONG_BTC, "size": "0.1"}))
    assert outcome is not None and outcome.status.value == "EXECUTED", outcome and outcome.reason
    funds = await account_funds(alice)
    # 0.1 BTC at the 65,000 oracle with the market's 2 % initial margin; equity less the fees paid
    assert funds.margin_used == D("130") and funds.free_collateral < funds.equity < D("10000")
    assert funds.margin_use_pct is not None and D("1.3") <= funds.margin_use_pct < D("1.31")
    assert await account_funds(bob) == Funds("paper", D("10000"), D("10000"))


async def test_a_dydx_account_without_a_key_is_said_plainly(db_url: str) -> None:
    user = await make_user(54, network="testnet")
    with pytest.raises(FundsUnavailable) as e:
        await account_funds(user)
    assert (
        str(e.value) == "No dYdX key saved for testnet: add one in Settings." and e.value.network == "testnet"
    )


def test_margin_use_without_equity_is_unknown() -> None:
    assert Funds("paper", D("0"), D("-5")).margin_use_pct is None


async def test_a_dydx_account_shows_the_subaccounts_equity(dydx_user: str) -> None:
    funds = await account_funds(dydx_user)  # the fake chain funds the subaccount with $10,000
    assert funds.network == "testnet"
    assert funds.equity == D("10000") and funds.free_collateral == D("10000") and funds.margin_used == 0
