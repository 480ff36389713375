"""An offline price source: a seeded random walk over a few markets with dYdX's real grid.

Deterministic: for one seed, the price of a market at step N is always the same (the increment of
each step is a hash of seed, ticker and step), however often or rarely it is read. Steps advance
with time (`step_seconds`) and by `advance()`; `set_price()` moves a market by hand (tests, demos)
and the walk continues from there. `fail()` simulates an outage so the refusal path can be shown
offline too.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from trading_app.domain.clock import utcnow
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import UnknownMarket, VenueUnavailable
from trading_app.venues.paper.book import OrderBook, SourceStatus


def _spec(
    ticker: str, clob: int, price: str, ar: int, spt: int, step: str, tick: str, imf: str
) -> MarketSpec:
    return MarketSpec(
        ticker=ticker,
        status="ACTIVE",
        step_size=Decimal(step),
        tick_size=Decimal(tick),
        oracle_price=Decimal(price),
        clob_pair_id=clob,
        atomic_resolution=ar,
        step_base_quantums=1_000_000,
        subticks_per_tick=spt,
        quantum_conversion_exponent=-9,
        initial_margin_fraction=Decimal(imf),
    )


# dYdX mainnet grid (stepSize = stepBaseQuantums * 10^atomicResolution, tickSize from subticksPerTick)
SYNTHETIC_MARKETS: dict[str, MarketSpec] = {
    s.ticker: s
    for s in (
        _spec("BTC-USD", 0, "65000", -10, 100_000, "0.0001", "1", "0.02"),
        _spec("ETH-USD", 1, "3000", -9, 100_000, "0.001", "0.1", "0.02"),
        _spec("SOL-USD", 5, "150", -7, 1_000_000, "0.1", "0.01", "0.05"),
    )
}


class SyntheticPriceSource:
    """A seeded random walk; see the module docstring.

    Args:
        seed: selects the walk.
        step_seconds: wall-clock seconds per step; None freezes time (only `advance`/`set_price` move).
        volatility: the largest relative move of one step.
        clock: monotonic seconds (injectable so a test can drive time).
    """

    kind = "synthetic"

    def __init__(
        self,
        seed: int = 0,
        *,
        step_seconds: float | None = 1.0,
        volatility: Decimal = Decimal("0.0005"),
        markets: dict[str, MarketSpec] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seed = seed
        self.step_seconds = step_seconds
        self.volatility = volatility
        self._clock = clock
        self._origin = clock()
        self._offset = 0
        self._step = 0
        self._specs = dict(markets or SYNTHETIC_MARKETS)
        self._prices = {t: s.oracle_price for t, s in self._specs.items()}
        self._outage: str | None = None
        self._last_update: datetime | None = None

    def current_step(self) -> int:
        elapsed = int((self._clock() - self._origin) / self.step_seconds) if self.step_seconds else 0
        return elapsed + self._offset

    def _increment(self, ticker: str, step: int) -> Decimal:
        digest = hashlib.blake2b(f"{self.seed}:{ticker}:{step}".encode(), digest_size=8).digest()
        unit = Decimal(int.from_bytes(digest, "big") % 2001 - 1000) / 1000  # in [-1, 1]
        return 1 + self.volatility * unit

    def _precision(self, ticker: str) -> Decimal:
        # oracle prices carry finer digits than the tick, as dYdX's do
        return self._specs[ticker].tick_size.scaleb(-3)

    def _catch_up(self) -> None:
        target = self.current_step()
        while self._step < target:
            self._step += 1
            for ticker, price in self._prices.items():
                moved = price * self._increment(ticker, self._step)
                self._prices[ticker] = moved.quantize(self._precision(ticker), ROUND_HALF_EVEN)

    def advance(self, steps: int = 1) -> None:
        """Move the walk forward by `steps` steps."""
        self._offset += steps

    def set_price(self, ticker: str, price: Decimal) -> None:
        """Put a market at `price` now; the walk continues from it."""
        if ticker not in self._specs:
            raise UnknownMarket(f"unknown market {ticker}")
        self._catch_up()
        self._prices[ticker] = Decimal(price)

    def set_status(self, ticker: str, status: str) -> None:
        self._specs[ticker] = replace(self._specs[ticker], status=status)

    def fail(self, reason: str = "synthetic price source switched off") -> None:
        """Simulate an outage: every read raises VenueUnavailable(reason) until `recover()`."""
        self._outage = reason

    def recover(self) -> None:
        self._outage = None

    async def markets(self) -> dict[str, MarketSpec]:
        """Every market at the current step. Raises VenueUnavailable during a simulated outage."""
        if self._outage is not None:
            raise VenueUnavailable(self._outage)
        self._catch_up()
        self._last_update = utcnow()
        return {t: replace(s, oracle_price=self._prices[t]) for t, s in self._specs.items()}

    async def market(self, ticker: str) -> MarketSpec:
        spec = (await self.markets()).get(ticker)
        if spec is None:
            raise UnknownMarket(f"unknown market {ticker}")
        return spec

    async def order_book(self, ticker: str) -> OrderBook | None:
        """No book: synthetic market orders fill at the oracle price within their worst price."""
        await self.market(ticker)
        return None

    def describe(self) -> SourceStatus:
        return SourceStatus(
            self.kind, f"synthetic(seed={self.seed})", self._outage is None, self._last_update, self._outage
        )

    async def close(self) -> None:
        """Nothing to release."""
