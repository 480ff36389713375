"""One account's reconcile: its one batched venue read, then its books put right against it.

`read_account` makes the account's single venue call (`Venue.account_state`: open orders, fills
since the cursor, positions), `settle_account` syncs the order rows and reconciles every live
position with that read (`services.monitor.reconcile`), and `reconcile_account` does both. The tick
(`services.monitor.tick`) runs these for many accounts at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from trading_app.domain.clock import utcnow
from trading_app.services.accounts.venues import venue_for
from trading_app.services.engine.trader import Trader
from trading_app.services.monitor.books import Books, load_books, oldest_open
from trading_app.services.monitor.exposure import repair_exposure
from trading_app.services.monitor.fills import close_account_fills
from trading_app.services.monitor.leases import Account
from trading_app.services.monitor.order_sync import CountingVenue, cancel_orphans, resendable, sync_orders
from trading_app.services.monitor.reconcile import View, reconcile_position
from trading_app.services.monitor.report import QUIET, AccountResult
from trading_app.services.notify import events
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.ops.logs import log_context
from trading_app.venues.base import AccountState, Venue

log = logging.getLogger(__name__)

PENDING_GRACE = timedelta(seconds=10)  # a row committed this recently is still being sent
FILL_OVERLAP = timedelta(seconds=5)  # re-read a little before the cursor: fills can land late


@dataclass
class AccountRead:
    """One account's batched venue read, and the venue (counting its calls) it came from."""

    account: Account
    counter: CountingVenue
    state: AccountState
    since: datetime
    now: datetime
    started: float


async def read_account(user: str, network: str, since: datetime | None = None) -> AccountRead:
    """The account's one batched venue read (open orders, fills after `since`, positions).

    Raises:
        VenueError: the venue cannot be built or read.
    """
    started = time.monotonic()
    counter = CountingVenue(await venue_for(user, network))
    now = utcnow()
    if since is None:  # the account's first tick: fills since its oldest live position opened
        since = await oldest_open(user, network) or now
    state = await cast(Venue, counter).account_state(since=since - FILL_OVERLAP)
    return AccountRead((user, network), counter, state, since, now, started)


async def settle_account(
    read: AccountRead, books: Books, *, pending_grace: timedelta = PENDING_GRACE
) -> AccountResult:
    """Put the account's books right against its read. `books` must be read after the venue was:
    then whatever they say is at least as new as the venue's snapshot, and a position closed or
    protected meanwhile by someone else is never acted on a second time."""
    user, network = read.account
    result = AccountResult(user, network)
    venue = cast(Venue, read.counter)  # it forwards every call, counted
    trader = Trader(user=user, network=network, venue=venue, account=books.account, notify=get_notifier())
    view = View(trader=trader, state=read.state, now=read.now)
    result.synced = await sync_orders(
        venue, books.rows, read.state, read.now, pending_grace, resendable=resendable(books)
    )
    unpushed = result.synced > 0  # the dashboard shows order states too
    closed = await close_account_fills(view, books, result)
    if closed:  # one push for all of them: the trader sees them at once
        await events.positions_changed(user)
        unpushed = False
    for position in books.positions:
        if position.id in closed:
            continue
        try:
            with log_context(position_id=position.id, signal_id=position.signal_id):
                outcome = await reconcile_position(
                    view,
                    position,
                    books.rows_of(position.id),
                    books.signals.get(position.signal_id or -1),
                    pending_grace=pending_grace,
                )
        except Exception:  # noqa: BLE001 - one position must not stop the others
            log.exception("monitor: position %s of %s failed to reconcile", position.id, user)
            result.errors += 1
            continue
        if outcome is not None:
            result.outcomes[outcome] += 1
        if outcome not in QUIET:  # push each change as it is committed: the trader sees it at once
            await events.positions_changed(user)
            unpushed = False
    try:
        repaired = await repair_exposure(view, books)
    except Exception:  # noqa: BLE001
        log.exception("monitor: comparing the venue's exposure with the books of %s failed", user)
        result.errors += 1
        repaired = []
    for outcome in repaired:
        result.outcomes[outcome] += 1
    if repaired:
        await events.positions_changed(user)
    try:
        result.orphans = await cancel_orphans(venue, books, read.state.open_orders, read.now, pending_grace)
    except Exception:  # noqa: BLE001
        log.exception("monitor: cancelling stray orders of %s failed", user)
        result.errors += 1
    if unpushed or result.orphans:
        await events.positions_changed(user)
    result.cursor = max((f.time for f in read.state.fills), default=read.since)
    result.venue_calls, result.calls = read.counter.total, dict(read.counter.calls)
    result.seconds = time.monotonic() - read.started
    return result


async def reconcile_account(
    user: str, network: str, *, since: datetime | None = None, pending_grace: timedelta = PENDING_GRACE
) -> AccountResult:
    """Reconcile one account with its venue: one batched read, then put every live position right.

    Args:
        user: the account's owner.
        network: paper, testnet or mainnet.
        since: the fills cursor (default: a little before the oldest live position opened).
        pending_grace: how long a just-committed order row is left to its sender.

    Returns:
        What was done. Per-position failures are logged and counted in `errors`.

    Raises:
        VenueError: the venue cannot be built or read (nothing was changed).
    """
    read = await read_account(user, network, since)
    return await settle_account(read, await load_books(user, network), pending_grace=pending_grace)


__all__ = [
    "FILL_OVERLAP",
    "PENDING_GRACE",
    "AccountRead",
    "read_account",
    "reconcile_account",
    "settle_account",
]
