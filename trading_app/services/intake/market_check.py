"""Does a market exist on the trader's venue? The webhook asks before it accepts an alert.

The answer comes from a pluggable checker, `(address, ticker) -> True | False | None`, that
the composition root wires to the venue factory with `set_market_checker`. None means "cannot
tell". Until then the default checker uses the market list of the paper price source
(`price_source_from_settings()`), cached (see `PaperMarketList.contains`).

A failure to get the list never rejects an alert: the answer is None, the alert is accepted,
and the engine refuses an unknown market later with a visible reason. A checker that takes
longer than `CHECK_TIMEOUT` counts as a failure, so TradingView's 3-second deadline holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from trading_app.settings import get_settings
from trading_app.venues.paper.prices import price_source_from_settings

log = logging.getLogger(__name__)

MarketChecker = Callable[[str, str], Awaitable[bool | None]]
CHECK_TIMEOUT = 1.0
LIST_TTL = 300.0  # seconds a fetched list is trusted to say a market exists
MISS_TTL = 30.0  # seconds it is trusted to say a market does not
RETRY_AFTER_FAILURE = 10.0  # seconds before a failed fetch is tried again (no hammering)

_checker: MarketChecker | None = None


def set_market_checker(checker: MarketChecker | None) -> None:
    """Install the checker (None restores the paper-list default)."""
    global _checker
    _checker = checker


async def market_exists(address: str, ticker: str) -> bool | None:
    """Whether `ticker` is listed on the venue of the user `address`; None when unknown.

    Never raises: a failing or slow checker is logged and answers None.
    """
    checker = _checker
    try:
        if checker is None:  # bounds its own fetch; a cached answer costs no timer (the hot path)
            return await _paper_markets.contains(address, ticker)
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await checker(address, ticker)
    except Exception as e:  # noqa: BLE001 - "cannot tell" is a valid answer, an exception is not
        log.warning(
            "market check for %s failed (%s); accepting, the engine checks again", ticker, type(e).__name__
        )
        return None


class PaperMarketList:
    """The paper price source's tickers, cached per source; concurrent misses share one fetch."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tickers: dict[str, tuple[frozenset[str], float]] = {}  # source -> (tickers, fetched at)
        self._failed_at: dict[str, float] = {}
        self._fetches: dict[str, asyncio.Task[frozenset[str]]] = {}

    async def contains(self, _address: str, ticker: str) -> bool | None:
        """Whether the configured paper source lists `ticker` (None when that cannot be known).

        A listed ticker is trusted for LIST_TTL; a missing one only for MISS_TTL, since a market
        listed since the last fetch must not be refused for long. When the list cannot be
        refreshed, an older list can still confirm a ticker but never deny one.
        """
        source = get_settings().paper_price_source
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


_paper_markets = PaperMarketList()
