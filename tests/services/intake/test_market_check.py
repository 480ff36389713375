"""The market check reads the list of the network the alert trades on (real indexer protocol, served by
fake indexers: one as the paper price source, one per dYdX network), cached and shared; failures and
slowness answer "cannot tell", never an exception."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.api.webhook_support import Hook, execute_sql, make_hook, signal_rows
from tests.conftest import reset_app_caches
from tests.fakes.indexer import FakeIndexer, default_markets
from trading_app.domain.clock import utcnow
from trading_app.services.accounts.venues import market_source
from trading_app.services.intake import market_check
from trading_app.services.intake.inbox import IncomingAlert, Receipt, Verdict, receive_alert
from trading_app.services.intake.market_check import (
    CHECK_TIMEOUT,
    LIST_TTL,
    MISS_TTL,
    RETRY_AFTER_FAILURE,
    MarketLists,
    market_exists,
)
from trading_app.venues.paper.prices import price_source_from_settings

TESTNET_ONLY = "TESTONLY-USD"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def send(hook: Hook, paper: bool = False, **fields: object) -> Receipt:
    body = hook.text(**fields).encode()
    return await receive_alert(IncomingAlert(hook.uuid, body, utcnow(), "52.89.214.238", paper=paper))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A fresh list cache on a clock the test moves."""
    now = Clock()
    monkeypatch.setattr(market_check, "_lists", MarketLists(now))
    return now


@pytest.fixture
def indexer(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndexer]:
    """The paper price source."""
    with FakeIndexer() as fake:
        monkeypatch.setenv("PAPER_PRICE_SOURCE", fake.url)
        reset_app_caches()
        price_source_from_settings(fake.url).cache_seconds = 0  # every fetch reaches the fake
        yield fake
    reset_app_caches()


@pytest.fixture
def networks(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FakeIndexer]]:
    """Paper, testnet and mainnet each on an indexer of its own; one market is listed on testnet only."""
    with FakeIndexer() as paper, FakeIndexer() as testnet, FakeIndexer() as mainnet:
        entry = {**default_markets()["SOL-USD"], "ticker": TESTNET_ONLY, "clobPairId": "77"}
        testnet.add_market(TESTNET_ONLY, entry)
        monkeypatch.setenv("PAPER_PRICE_SOURCE", paper.url)
        monkeypatch.setenv("DYDX_TESTNET_INDEXER_URL", testnet.url)
        monkeypatch.setenv("DYDX_MAINNET_INDEXER_URL", mainnet.url)
        reset_app_caches()
        yield {"paper": paper, "testnet": testnet, "mainnet": mainnet}
    reset_app_caches()


async def test_the_default_paper_source_is_the_configured_synthetic_list(clock: Clock) -> None:
    assert await market_exists("paper", "BTC-USD") is True
    assert await market_exists("paper", "NOSUCHCOIN-USD") is False


async def test_each_network_is_asked_its_own_list(clock: Clock, networks: dict[str, FakeIndexer]) -> None:
    assert market_source("paper") == networks["paper"].url
    assert market_source("testnet") == networks["testnet"].url
    assert market_source("mainnet") == networks["mainnet"].url
    assert await market_exists("testnet", TESTNET_ONLY) is True
    assert await market_exists("paper", TESTNET_ONLY) is False
    assert await market_exists("mainnet", TESTNET_ONLY) is False
    assert await market_exists("mainnet", "BTC-USD") is True
    # one read of each list, whatever was asked
    assert [n.request_count("/v4/perpetualMarkets") for n in networks.values()] == [1, 1, 1]


async def test_an_alert_for_a_testnet_only_market_is_accepted_for_a_testnet_trader_only(
    db_url: str, clock: Clock, networks: dict[str, FakeIndexer]
) -> None:
    tester, paper_trader = await make_hook(), await make_hook()
    # (the network only: the inbox needs no credentials, the engine would open them later)
    testnet = "UPDATE trading_accounts SET network = 'testnet' WHERE address = :a"
    execute_sql(db_url, testnet, a=tester.address)
    on_testnet = await send(tester, market=TESTNET_ONLY)
    assert on_testnet.outcome is Verdict.ACCEPTED, on_testnet
    on_paper = await send(paper_trader, market=TESTNET_ONLY)
    assert on_paper.outcome is Verdict.INVALID
    assert on_paper.details == (f"market: {TESTNET_ONLY} is not listed on your venue",)
    # a test alert from the settings page runs on paper whatever the network: checked on paper
    test_alert = await send(tester, paper=True, market=TESTNET_ONLY, alert_id="t2")
    assert test_alert.outcome is Verdict.INVALID
    assert [r["status"] for r in signal_rows(db_url, tester.address)] == ["ACCEPTED", "REJECTED"]


async def test_a_trader_without_an_account_row_is_checked_on_paper(
    db_url: str, clock: Clock, networks: dict[str, FakeIndexer]
) -> None:
    hook = await make_hook()
    execute_sql(db_url, "DELETE FROM trading_accounts WHERE address = :a", a=hook.address)
    receipt = await send(hook, market=TESTNET_ONLY)
    assert receipt.outcome is Verdict.INVALID
    assert networks["testnet"].request_count("/v4/perpetualMarkets") == 0


async def test_concurrent_misses_share_one_fetch_and_answers_are_cached(
    indexer: FakeIndexer, clock: Clock
) -> None:
    answers = await asyncio.gather(*(market_exists("paper", t) for t in ["BTC-USD", "DOGE-USD"] * 10))
    assert answers == [True, False] * 10
    assert indexer.request_count("/v4/perpetualMarkets") == 1
    indexer.add_market("DOGE-USD", {**default_markets()["SOL-USD"], "ticker": "DOGE-USD", "clobPairId": "9"})
    assert await market_exists("paper", "DOGE-USD") is False  # a miss is trusted for a while
    clock.now += MISS_TTL + 1
    assert await market_exists("paper", "DOGE-USD") is True  # ...then a miss fetches again
    assert await market_exists("paper", "BTC-USD") is True
    assert indexer.request_count("/v4/perpetualMarkets") == 2
    clock.now += LIST_TTL - 1
    assert await market_exists("paper", "ETH-USD") is True
    assert indexer.request_count("/v4/perpetualMarkets") == 2


async def test_an_unavailable_list_never_denies_and_is_not_hammered(
    indexer: FakeIndexer, clock: Clock
) -> None:
    indexer.down(503)
    assert await market_exists("paper", "BTC-USD") is None
    assert await market_exists("paper", "NOSUCHCOIN-USD") is None
    assert indexer.request_count("/v4/perpetualMarkets") == 1  # failures wait before the next try
    indexer.up()
    clock.now += RETRY_AFTER_FAILURE + 1
    assert await market_exists("paper", "BTC-USD") is True
    # when a refresh fails, the old list can still confirm a market but never deny one
    indexer.down("refused")
    clock.now += LIST_TTL + 1
    assert await market_exists("paper", "BTC-USD") is True
    assert await market_exists("paper", "NOSUCHCOIN-USD") is None
    assert indexer.request_count("/v4/perpetualMarkets") == 2


async def test_a_slow_list_answers_none_within_the_timeout(indexer: FakeIndexer, clock: Clock) -> None:
    indexer.slow(CHECK_TIMEOUT + 3)
    start = time.monotonic()
    assert await market_exists("paper", "BTC-USD") is None
    assert time.monotonic() - start < CHECK_TIMEOUT + 1


async def test_an_unknown_network_means_cannot_tell(clock: Clock) -> None:
    assert await market_exists("moonnet", "BTC-USD") is None
