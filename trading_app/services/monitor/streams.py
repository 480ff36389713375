"""One worker's dYdX account streams: when the monitor reads a dYdX account from REST.

The accounts a worker leases on dYdX follow the indexer's websocket (`venues.dydx.stream`, one
`SubaccountStream` per indexer, its connections multiplexing the accounts); `follow` is called with
the leases of every full tick, so subscriptions follow lease changes. The stream is only a trigger:
an update or a (re)subscription marks the account dirty, and the monitor reads it from REST and
settles it by its usual code path. An account is read:
- at once (`woken`, the monitor's stream pump) when its stream brought a fill, a position change or an
  order that left the book, or when its subscription became live again after a gap (the REST resync);
- at the next full tick when its stream only said an order was placed or triggered, or only echoed
  cancels this worker's venue sent (`stream.our_cancels`: after a close, each sibling cancel);
- at the next full tick when its last settle left something to finish (anything not quiet, a
  PENDING row), or when the read that the stream caused found nothing (comlink reads a replica that
  may lag the websocket: one more look);
- at every full tick while its subscription is not live (stream down: REST polling, as before);
- otherwise every `safety` seconds only (the safety net).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from trading_app.domain.enums import Network
from trading_app.services.accounts.venues import venue_for
from trading_app.services.monitor.leases import Account
from trading_app.venues.dydx.stream import StreamEvent, SubaccountStream, our_cancels
from trading_app.venues.errors import VenueError

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (websocket url, subscription id)


class Feed:
    """The streams of one worker's leased dYdX accounts and what each account needs (module doc).

    Args:
        safety: seconds between two REST reads of a quiet, streamed account.
        make_stream: builds the stream of one indexer websocket (tests and the bench pass options).
    """

    def __init__(
        self,
        safety: float,
        make_stream: Callable[[str, Callable[[StreamEvent], None]], SubaccountStream] | None = None,
    ) -> None:
        self.safety = safety
        self.loop = asyncio.get_running_loop()
        self.wakeup = asyncio.Event()
        self._make = make_stream or (lambda url, cb: SubaccountStream(url, cb))
        self.streams: dict[str, SubaccountStream] = {}
        self.keys: dict[Account, Key] = {}
        self.owners: dict[Key, Account] = {}
        self.venues: dict[Account, Any] = {}
        self.dirty: set[Account] = set()
        self.recheck: set[Account] = set()
        self.last_read: dict[Account, float] = {}
        self.updates = 0

    async def follow(self, held: Iterable[Account]) -> None:
        """Follow exactly the dYdX accounts of `held` (paper accounts are ours: nothing to stream)."""
        wanted = {a for a in held if a[1] != Network.PAPER.value}
        for account in sorted(wanted - set(self.keys)):
            try:
                venue = await venue_for(*account)
            except VenueError:  # not configured: the REST read reports it every tick
                continue
            self.seen(account, venue)
        for account in set(self.keys) - wanted:
            self.owners.pop(self.keys.pop(account), None)
            self.venues.pop(account, None)
            for state in (self.dirty, self.recheck):
                state.discard(account)
            self.last_read.pop(account, None)
        self._resubscribe()

    def seen(self, account: Account, venue: Any) -> None:
        """The venue `account` is read with now: its subscription follows it (a changed subaccount)."""
        url, sub_id = getattr(venue, "stream_url", None), getattr(venue, "stream_id", None)
        if not url or not sub_id:
            return
        key = (url, sub_id)
        self.venues[account] = venue
        if self.keys.get(account) != key:
            old = self.keys.get(account)
            if old is not None:
                self.owners.pop(old, None)
            self.keys[account], self.owners[key] = key, account
            if old is not None:
                self._resubscribe()

    def _resubscribe(self) -> None:
        by_url: dict[str, set[str]] = {}
        for url, sub_id in self.keys.values():
            by_url.setdefault(url, set()).add(sub_id)
        for url in set(self.streams) - set(by_url):
            stream = self.streams.pop(url)
            self.loop.create_task(stream.close())
        for url, ids in by_url.items():
            if url not in self.streams:
                self.streams[url] = self._make(url, partial(self._event, url))
            self.streams[url].follow(ids)

    def live(self, account: Account) -> bool:
        """The account's subscription is acknowledged on a connection that is up."""
        key = self.keys.get(account)
        return key is not None and key[0] in self.streams and self.streams[key[0]].live(key[1])

    def due(self, account: Account, now: float | None = None) -> bool:
        """Must the full tick read `account` from REST (see the module doc)?"""
        if not self.live(account) or account in self.dirty or account in self.recheck:
            return True
        last = self.last_read.get(account)
        return last is None or (now if now is not None else time.monotonic()) - last >= self.safety

    def reading(self, account: Account) -> None:
        """A REST read of `account` starts: whatever the stream said before it, it will see."""
        woken = account in self.dirty
        self.dirty.discard(account)
        self.last_read[account] = time.monotonic()
        if woken and account in self.keys:
            self.recheck.add(account)  # the replica behind REST may not show it yet: look once more
        else:
            self.recheck.discard(account)

    def settled(self, account: Account, quiet: bool) -> None:
        """The read's settle ended: not `quiet` (something to finish) -> read again next full tick."""
        if not quiet and account in self.keys:
            self.recheck.add(account)

    def woken(self) -> list[Account]:
        """The accounts the stream says changed, to read now."""
        return sorted(self.dirty)

    def _event(self, url: str, event: StreamEvent) -> None:
        for sub_id in event.ids:
            account = self.owners.get((url, sub_id))
            if account is None:
                continue
            if event.kind == "update":
                self.updates += 1
                absorb = getattr(self.venues.get(account), "absorb", None)
                if absorb is not None and event.contents is not None:
                    absorb(event.contents)
            if event.kind == "down" or not event.changes_books:
                continue
            if event.urgent and not self._echo(account, event):
                self.dirty.add(account)
                self.wakeup.set()
            else:  # an order placed or triggered, or our own cancel's echo: read at the next full tick
                self.recheck.add(account)

    def _echo(self, account: Account, event: StreamEvent) -> bool:
        asked = getattr(self.venues.get(account), "asked_to_cancel", None)
        return asked is not None and our_cancels(event.contents, asked)

    async def close(self) -> None:
        """Close every stream."""
        streams, self.streams = list(self.streams.values()), {}
        await asyncio.gather(*(s.close() for s in streams), return_exceptions=True)


__all__ = ["Feed"]
