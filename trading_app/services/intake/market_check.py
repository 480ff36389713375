"""Is a market listed on the network the alert will trade on? The inbox asks before it accepts one.

`market_exists(network, ticker)` reads the market list of that network: the paper price source
(`PAPER_PRICE_SOURCE`) for paper, the network's own indexer for dYdX testnet and mainnet
(`DYDX_<NETWORK>_INDEXER_URL`, else the public one). Both are read through the process-wide price
source of that URL (`price_source_from_settings`), the one the monitor's trigger watch reads too,
and the list is cached per source here (`MarketLists`): concurrent misses share one fetch.

A failure to get the list never rejects an alert: the answer is None, the alert is accepted, and
the engine refuses an unknown market later with a visible reason. A fetch that takes longer than
`CHECK_TIMEOUT` counts as a failure, so TradingView's 3-second deadline holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from trading_app.domain.enums import Network
from trading_app.services.accounts.venues import market_source
from trading_app.settings import get_settings
from trading_app.venues.paper.prices import price_source_from_settings

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 1.0
LIST_TTL = 300.0  # seconds a fetched list is trusted to say a market exists
MISS_TTL = 30.0  # seconds it is trusted to say a market does not
RETRY_AFTER_FAILURE = 10.0  # seconds before a failed fetch is tried again (no hammering)


async def market_exists(network: Network | str, ticker: str) -> bool | None:
    """Whether `ticker` is listed on `network`; None when that cannot be known.

    Args:
        network: The network the alert will trade on (paper for a test alert).
        ticker: A dYdX ticker, e.g. "BTC-USD".

    Returns:
        True or False from the network's market list, None when it could not be read in time.
        Never raises: a failure is logged and answers None.
    """
    try:
        # paper (every test alert, most traders) without the enum conversion market_source does:
        # a few microseconds of the accept path per alert
        paper = network == Network.PAPER.value
        source = get_settings().paper_price_source if paper else market_source(network)
        # bounds its own fetch; a cached answer costs no timer (the hot path)
        return await _lists.contains(source, ticker)
    except Exception as e:  # noqa: BLE001 - "cannot tell" is a valid answer, an exception is not
        log.warning(
            "market check for %s on %s failed (%s); accepting, the engine checks again",
            ticker,
            network,
            type(e).__name__,
        )
        return None


class MarketLists:
    """The tickers of each market source, cached per source; concurrent misses share one fetch."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tickers: dict[str, tuple[frozenset[str], float]] = {}  # source -> (tickers, fetched at)
        self._failed_at: dict[str, float] = {}
        self._fetches: dict[str, asyncio.Task[frozenset[str]]] = {}

    async def contains(self, source: str, ticker: str) -> bool | None:
        """Whether `source` lists `ticker` (None when that cannot be known).

        A listed ticker is trusted for LIST_TTL; a missing one only for MISS_TTL, since a market
        listed since the last fetch must not be refused for long. When the list cannot be
        refreshed, an older list can still confirm a ticker but never deny one.

        Args:
            source: A `PAPER_PRICE_SOURCE` value or an indexer URL (see `market_source`).
            ticker: The market asked about.
        """
        now = self._clock()
        tickers, fetched_at = self._tickers.get(source, (frozenset(), -float("inf")))
        if ticker in tickers and now - fetched_at < LIST_TTL:
            return True
        if ticker not in tickers and now - fetched_at < MISS_TTL:
            return False
        if now - self._failed_at.get(source, -float("inf")) >= RETRY_AFTER_FAILURE:
            task = self._fetches.get(source)
            if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
                task = self._fetches[source] = asyncio.get_running_loop().create_task(self._fetch(source))
                # retrieved here, so a failure nobody waited for (all callers timed out) stays quiet
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
            with contextlib.suppress(Exception):  # TimeoutError included
                async with asyncio.timeout(CHECK_TIMEOUT):
                    # shielded: a request that gives up must not cancel the fetch the others share
                    return ticker in await asyncio.shield(task)
        return True if ticker in tickers else None

    async def _fetch(self, source: str) -> frozenset[str]:
        try:
            tickers = frozenset(await price_source_from_settings(source).markets())
        except Exception:
            self._failed_at[source] = self._clock()
            raise
        self._tickers[source] = (tickers, self._clock())
        self._failed_at.pop(source, None)
        return tickers


_lists = MarketLists()
