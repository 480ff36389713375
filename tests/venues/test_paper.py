"""PaperVenue against the venue contract (tests/venues/contract.py).

Runs: SQLite with the indexer source, SQLite with the synthetic source, PostgreSQL with the indexer
source (the combination that costs most per test runs once). Paper-only behaviour is tested in
tests/venues/paper/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.venues.contract import VenueContract
from tests.venues.paper.support import open_paper_market, paper_venues
from trading_app.venues.paper import PaperVenue

RUNS = [("sqlite", "indexer"), ("sqlite", "synthetic"), ("postgresql", "indexer")]


@pytest.fixture(params=RUNS, ids=["-".join(run) for run in RUNS])
def contract_run(request: pytest.FixtureRequest) -> str:
    """Point the app at a fresh database of the run's kind; return the price source kind."""
    database, source = request.param
    request.getfixturevalue("sqlite_url" if database == "sqlite" else "pg_url")
    return source


@pytest.fixture
async def paper_market(contract_run: str) -> AsyncIterator[tuple[object, object]]:
    async with open_paper_market(contract_run) as market:
        yield market


@pytest.fixture
def market_driver(paper_market: tuple[object, object]) -> object:
    return paper_market[1]


@pytest.fixture
async def venue_factory(
    paper_market: tuple[object, object],
) -> AsyncIterator[Callable[[], Awaitable[PaperVenue]]]:
    async with paper_venues(paper_market[0]) as factory:  # type: ignore[arg-type]
        yield factory


class TestPaperContract(VenueContract):
    """The whole contract on PaperVenue."""
