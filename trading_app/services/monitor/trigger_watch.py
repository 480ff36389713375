"""The monitor's fast path: which accounts' take-profits and stop-losses the market has crossed.

A full monitor tick reconciles every account every few seconds. In between, the trigger watch
compares the latest market prices (one shared read per network, not one per account) with the
trigger prices of the live TP/SL rows of the accounts this worker owns (taken from the books each
full tick loads, and kept in memory). An account with a crossed trigger is reconciled at once by
the monitor's normal code path (`monitor.watch_tick`), so a fill reaches the books and the
dashboard without waiting for the next full tick; the full tick stays the safety net.

Triggers fire on the oracle price, on dYdX as on the paper venue (`matching.is_triggered`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from trading_app.db.models import WORKING_ORDER_STATUSES
from trading_app.domain.enums import OrderRole, OrderType, Side
from trading_app.services.accounts.venues import network_prices
from trading_app.services.monitor.books import Books
from trading_app.services.monitor.leases import Account
from trading_app.venues.base import MarketSpec
from trading_app.venues.errors import VenueError
from trading_app.venues.paper.matching import is_triggered

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(seconds=1)  # a crossed trigger still working fires again after this, doubling
RETRY_AT_MOST = timedelta(seconds=60)
WATCHED_ROLES = frozenset({OrderRole.STOP_LOSS.value, OrderRole.TAKE_PROFIT.value})


@dataclass(frozen=True)
class Trigger:
    """One live conditional exit of ours: fires when the market's oracle price crosses it."""

    market: str
    order_type: OrderType
    side: Side
    price: Decimal

    def crossed(self, prices: Mapping[str, MarketSpec]) -> bool:
        spec = prices.get(self.market)
        return spec is not None and is_triggered(self.order_type, self.side, self.price, spec.oracle_price)


def triggers_of(books: Books) -> list[Trigger]:
    """The working TP/SL rows of the account's live positions, as triggers to watch."""
    live = {p.id for p in books.positions}
    return [
        Trigger(r.market, OrderType(r.order_type), Side(r.side), r.trigger_price)
        for r in books.rows
        if r.position_id in live
        and r.role in WATCHED_ROLES
        and r.trigger_price is not None
        and r.status in WORKING_ORDER_STATUSES
    ]


@dataclass
class Watch:
    """One worker's watch: the accounts its last full tick holds (with their fills cursors) and
    until when, their live triggers, and the triggers that already sent them a fast reconcile
    (how many times, and when one may fire again)."""

    held: dict[Account, datetime | None] = field(default_factory=dict)
    until: datetime | None = None
    triggers: dict[Account, list[Trigger]] = field(default_factory=dict)
    fired: dict[Account, dict[Trigger, tuple[int, datetime]]] = field(default_factory=dict)

    def own(self, held: Mapping[Account, datetime | None], until: datetime) -> None:
        """The leases a full tick holds until `until`: every other account stops being watched."""
        self.held, self.until = dict(held), until
        self.triggers = {a: t for a, t in self.triggers.items() if a in held}
        self.fired = {a: f for a, f in self.fired.items() if a in held}

    def rewatch(self, books: Books) -> None:
        """Watch the account's triggers as `books` (just settled) show them."""
        account = (books.user, books.network)
        if account in self.held:
            triggers = self.triggers[account] = triggers_of(books)
            fired = self.fired.get(account, {})  # a trigger still there keeps its back-off
            self.fired[account] = {t: f for t, f in fired.items() if t in triggers}

    def moved(self, account: Account, cursor: datetime | None) -> None:
        """A reconcile of `account` finished: its fills cursor for the next fast reconcile."""
        if account in self.held and cursor is not None:
            self.held[account] = cursor

    def networks(self) -> set[str]:
        """The networks with something to watch: each gets one price read per fast tick."""
        return {n for (_, n), triggers in self.triggers.items() if triggers}

    def due(
        self,
        prices: Mapping[str, Mapping[str, MarketSpec]],
        *,
        busy: Container[Account],
        now: datetime,
        margin: timedelta,
    ) -> dict[Account, datetime | None]:
        """The accounts to reconcile now, with their cursors: a trigger crossed at `prices` whose
        back-off is over, the account not `busy`, and a lease that lasts at least `margin` more.

        A crossed trigger whose row is still working after the reconcile it sent (dYdX's indexer
        shows the fill a moment after the chain made it; a paper market without a book) fires
        again after RETRY_AFTER, then twice as long each time up to RETRY_AT_MOST: a stuck
        trigger costs a few venue reads, never one per fast tick. The full tick is the safety net.
        """
        if self.until is None or now >= self.until - margin:
            return {}
        found: dict[Account, datetime | None] = {}
        for account, triggers in self.triggers.items():
            market = prices.get(account[1])
            if market is None or account not in self.held or account in busy:
                continue
            fired = self.fired.setdefault(account, {})
            crossed = [t for t in triggers if (t not in fired or now >= fired[t][1]) and t.crossed(market)]
            for t in crossed:
                times = fired[t][0] + 1 if t in fired else 1
                fired[t] = (times, now + min(RETRY_AFTER * 2 ** (times - 1), RETRY_AT_MOST))
            if crossed:
                found[account] = self.held[account]
        return found


async def market_prices(networks: Iterable[str]) -> dict[str, Mapping[str, MarketSpec]]:
    """ONE markets read per network (shared, cached `PRICE_CACHE_SECONDS`); a network whose
    prices cannot be read is left out (its accounts wait for the full tick)."""
    wanted = sorted(set(networks))

    async def read(network: str) -> Mapping[str, MarketSpec] | None:
        try:
            return await network_prices(network).markets()
        except (VenueError, ValueError) as e:
            log.debug("trigger watch: no prices for %s (%s)", network, type(e).__name__)
            return None

    found = await asyncio.gather(*(read(n) for n in wanted))
    return {n: p for n, p in zip(wanted, found, strict=True) if p is not None}


__all__ = ["Trigger", "Watch", "market_prices", "triggers_of"]
