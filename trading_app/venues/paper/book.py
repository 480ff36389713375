"""Value types the price sources return: an order book snapshot and the source's health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

Level = tuple[Decimal, Decimal]  # (price, size)


@dataclass(frozen=True)
class OrderBook:
    """One market's book, best level first on each side (bids descending, asks ascending)."""

    ticker: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None


@dataclass(frozen=True)
class SourceStatus:
    """Which price source is live, for the UI: never a silent switch, always a stated one.

    Attributes:
        kind: "indexer" or "synthetic".
        source: the indexer URL, or "synthetic(seed=N)".
        live: the last request succeeded.
        last_update: when prices were last read successfully (UTC), None before the first.
        last_error: why the last request failed, None when it did not.
    """

    kind: str
    source: str
    live: bool
    last_update: datetime | None
    last_error: str | None = None
