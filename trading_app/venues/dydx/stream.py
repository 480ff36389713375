"""The indexer's websocket (`/v4/ws`, channel `v4_subaccounts`): what changed, for many subaccounts.

One `SubaccountStream` per network and worker multiplexes the subaccounts it is told to follow
(`follow(ids)`, id `address/subaccountNumber`) over as few connections as the indexer allows
(socks config.ts V4_ACCOUNTS_CHANNEL_LIMIT: 256 subscriptions of the channel per connection).
It reports, through one callback:
- `update`: a `channel_data` / `channel_batch_data` message of a subaccount (its `contents`);
- `resync`: a subscription became live (`subscribed`, after a connect or a reconnect): anything may
  have happened while it was not, so the account must be read again from REST;
- `down`: the connection of these subscriptions is lost; until they are `resync`ed they are not live.
The stream decides nothing about an order: it says when to read (the REST read is the truth).

Protocol, as dydxprotocol/v4-chain indexer/services/socks serves it (commit 84d4664):
- src/types.ts: incoming `subscribe` / `unsubscribe` / `ping`, outgoing `connected`, `subscribed`,
  `unsubscribed`, `channel_data`, `channel_batch_data`, `error`, each with `connection_id` and
  `message_id`;
- src/lib/subscription.ts: the id of `v4_subaccounts` is `{address}/{subaccountNumber}`; the
  `subscribed` message carries the initial state read from comlink; an `error` message refuses a
  subscription (bad id, limit, a failed initial read: the latter names `channel` and `id`);
- src/websocket/index.ts: the server pings every 30 s and closes (1011) a connection that did not
  answer within 10 s; a `ping` message is accepted and ignored.
Reconnects back off exponentially with jitter (`BACKOFF_FIRST` .. `BACKOFF_MAX`); a connection
that stays silent for `ping_interval + pong_timeout` despite our own pings is treated as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

log = logging.getLogger(__name__)

CHANNEL = "v4_subaccounts"
PER_CONNECTION = 256  # socks config.ts V4_ACCOUNTS_CHANNEL_LIMIT
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
SUBSCRIBE_RETRY = 25.0  # socks waits up to 20 s (INITIAL_GET_TIMEOUT_MS) for the initial read
CHANGES = ("orders", "fills", "perpetualPositions")  # what can move our books (not transfers, funding)
LIVE = ("OPEN", "UNTRIGGERED", "BEST_EFFORT_OPENED")  # postgres order-types.ts + BEST_EFFORT_OPENED


@dataclass(frozen=True)
class StreamEvent:
    """What the stream saw: `update` (with the message's contents), `resync` or `down`."""

    kind: str
    ids: tuple[str, ...]
    contents: dict[str, Any] | None = None

    @property
    def changes_books(self) -> bool:
        """An update that carries orders, fills or positions (not only transfers or funding)."""
        return self.kind != "update" or any((self.contents or {}).get(k) for k in CHANGES)

    @property
    def urgent(self) -> bool:
        """A resync, or an update with a fill, a position change or an order that left the book
        (filled, cancelled, expired): worth a read at once. An order only placed or triggered is not
        (its fill, if any, comes in a message of its own)."""
        contents = self.contents or {}
        if self.kind != "update" or contents.get("fills") or contents.get("perpetualPositions"):
            return True
        return any(isinstance(o, dict) and o.get("status") not in LIVE for o in contents.get("orders") or ())


CANCELLED = ("CANCELED", "BEST_EFFORT_CANCELED")  # postgres order-types.ts OrderStatus


def our_cancels(contents: dict[str, Any] | None, asked: Callable[[int], bool]) -> bool:
    """Is this update only the echo of cancels we sent (`asked(client_id)`)?

    True when it carries no fill and no position change, and every order in it that left the book
    was cancelled and is one we asked to cancel. Our settle already expects those; such an update
    is worth a read at the next full tick, not one at once (each sibling cancel after a close would
    otherwise read its account a second time). Anything else that left the book (a fill, an expiry,
    a cancel we did not send) stays urgent.
    """
    if not contents or contents.get("fills") or contents.get("perpetualPositions"):
        return False
    gone = [o for o in contents.get("orders") or () if isinstance(o, dict) and o.get("status") not in LIVE]
    return bool(gone) and all(
        o.get("status") in CANCELLED and str(o.get("clientId", "")).isdigit() and asked(int(o["clientId"]))
        for o in gone
    )


def ws_url(indexer_url: str) -> str:
    """The websocket of an indexer whose REST answers at `indexer_url` (`https://h` -> `wss://h/v4/ws`)."""
    parts = urlsplit(indexer_url.rstrip("/"))
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path}/v4/ws"


def subscription_id(address: str, subaccount: int) -> str:
    """The `v4_subaccounts` id of one subaccount (socks from-kafka-helpers.ts getSubaccountMessageId)."""
    return f"{address}/{subaccount}"


Callback = Callable[[StreamEvent], None]


@dataclass
class _Link:
    """One websocket connection and the subscriptions it carries."""

    ids: set[str] = field(default_factory=set)  # assigned to this connection
    live: set[str] = field(default_factory=set)  # acknowledged by `subscribed` on the current socket
    asked: dict[str, float] = field(default_factory=dict)  # subscribe sent, not acknowledged: when
    send: Callable[[dict[str, Any]], None] | None = None  # set while connected
    task: asyncio.Task[None] | None = None
    connects: int = 0


class SubaccountStream:
    """The `v4_subaccounts` feed of many subaccounts over few connections (see the module doc).

    Args:
        url: the indexer websocket (`ws_url(indexer_url)`).
        on_event: called in the event loop for every `StreamEvent`; must not block.
        ping_interval: seconds between our pings; silence for `ping_interval + pong_timeout` is a loss.
        pong_timeout: see above.
        backoff_first: the first reconnect delay; doubled per failed attempt up to `backoff_max`.
        backoff_max: see above.
        per_connection: subscriptions per connection (the indexer's limit).
    """

    def __init__(
        self,
        url: str,
        on_event: Callback,
        *,
        ping_interval: float = 20.0,
        pong_timeout: float = 10.0,
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
        per_connection: int = PER_CONNECTION,
    ) -> None:
        self.url = url
        self._on_event = on_event
        self._ping, self._pong = ping_interval, pong_timeout
        self._backoff = (backoff_first, backoff_max)
        self._per = per_connection
        self._links: list[_Link] = []
        self._closed = False
        self.gaps = 0  # connections lost (each one a REST resync of its subscriptions)

    # -- what to follow ------------------------------------------------------------------------
    def follow(self, ids: Iterable[str]) -> None:
        """Follow exactly `ids`: subscribe the new ones, unsubscribe the others (at once if connected)."""
        wanted = set(ids)
        for link in list(self._links):
            for gone in link.ids - wanted:
                link.ids.discard(gone)
                link.asked.pop(gone, None)
                if gone in link.live and link.send is not None:
                    link.send({"type": "unsubscribe", "channel": CHANNEL, "id": gone})
                link.live.discard(gone)
            if not link.ids:  # nothing left on it: close it
                self._links.remove(link)
                if link.task is not None:
                    link.task.cancel()
        held = set().union(*(link.ids for link in self._links)) if self._links else set()
        for new in sorted(wanted - held):
            room = next((x for x in self._links if len(x.ids) < self._per), None)
            if room is None:
                room = _Link()
                self._links.append(room)
                room.task = asyncio.get_running_loop().create_task(self._run(room), name="dydx-stream")
            room.ids.add(new)
            if room.send is not None:
                self._subscribe(room, new)

    def live(self, sub_id: str) -> bool:
        """The subscription is acknowledged on a connection that is up: its updates arrive."""
        return any(sub_id in link.live for link in self._links)

    @property
    def connections(self) -> int:
        """Connections open now."""
        return sum(1 for link in self._links if link.send is not None)

    async def close(self) -> None:
        """Close every connection; the stream cannot be used again."""
        self._closed = True
        tasks = [link.task for link in self._links if link.task is not None]
        self._links.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one connection -----------------------------------------------------------------------
    def _subscribe(self, link: _Link, sub_id: str) -> None:
        assert link.send is not None
        link.asked[sub_id] = asyncio.get_running_loop().time()
        # not batched: each block's message comes as it is, without the server's batching delay
        link.send({"type": "subscribe", "channel": CHANNEL, "id": sub_id})

    def _emit(self, event: StreamEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # noqa: BLE001 - a listener's bug must not take the connection down
            log.exception("dydx stream: the listener failed on %s", event.kind)

    async def _run(self, link: _Link) -> None:
        failures = 0
        while not self._closed and link.ids:
            try:
                await self._session(link)
            except asyncio.CancelledError:
                self._lost(link)
                raise
            except (
                OSError,
                TimeoutError,
                LocalProtocolError,
                RemoteProtocolError,
                ConnectionError,
                ValueError,
            ) as e:
                log.info("dydx stream: connection to %s lost (%s)", self.url, type(e).__name__)
            established = bool(link.live)
            self._lost(link)
            failures = 0 if established else failures + 1
            first, most = self._backoff
            delay = min(most, first * 2 ** max(failures - 1, 0)) * random.uniform(0.5, 1.0)  # noqa: S311
            await asyncio.sleep(delay)

    def _lost(self, link: _Link) -> None:
        link.send = None
        link.asked.clear()
        if link.live:
            self.gaps += 1
            gone, link.live = tuple(sorted(link.live)), set()
            self._emit(StreamEvent("down", gone))

    async def _session(self, link: _Link) -> None:
        parts = urlsplit(self.url)
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                parts.hostname, port, ssl=ssl.create_default_context() if secure else None
            ),
            self._pong,
        )
        ws = WSConnection(ConnectionType.CLIENT)
        loop = asyncio.get_running_loop()
        pinger: asyncio.Task[None] | None = None
        try:
            writer.write(ws.send(Request(host=parts.netloc, target=parts.path or "/")))
            text: list[str] = []

            def send(message: dict[str, Any]) -> None:
                writer.write(ws.send(TextMessage(json.dumps(message))))

            while True:
                data = await asyncio.wait_for(reader.read(65536), self._ping + self._pong)
                if not data:
                    raise ConnectionError("closed by the indexer")
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, AcceptConnection):
                        link.connects += 1
                        pinger = loop.create_task(self._pings(link, ws, writer), name="dydx-stream-ping")
                    elif isinstance(event, RejectConnection):
                        raise ConnectionError(f"websocket refused ({event.status_code})")
                    elif isinstance(event, Ping):
                        writer.write(ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        raise ConnectionError(f"closed by the indexer ({event.code})")
                    elif isinstance(event, TextMessage):
                        text.append(event.data)
                        if event.message_finished:
                            self._message(link, json.loads("".join(text)), send)
                            text.clear()
                await writer.drain()
        finally:
            if pinger is not None:
                pinger.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _pings(self, link: _Link, ws: WSConnection, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self._ping, SUBSCRIBE_RETRY))
            with contextlib.suppress(LocalProtocolError):
                writer.write(ws.send(Ping(b"hb")))
            # a subscription neither acknowledged nor refused by name in time is asked again
            if link.send is not None:
                for sub_id, at in list(link.asked.items()):
                    if loop.time() - at >= SUBSCRIBE_RETRY and sub_id in link.ids:
                        self._subscribe(link, sub_id)

    def _message(self, link: _Link, message: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> None:
        kind, sub_id = message.get("type"), message.get("id")
        if kind == "connected":
            link.send = send
            for wanted in sorted(link.ids):
                self._subscribe(link, wanted)
        elif message.get("channel") != CHANNEL or not isinstance(sub_id, str):
            if kind == "error":  # a refusal that names no subscription (bad id, limit reached)
                log.warning("dydx stream: %s", message.get("message"))
        elif kind == "subscribed":
            link.asked.pop(sub_id, None)
            if sub_id in link.ids:
                link.live.add(sub_id)
                self._emit(StreamEvent("resync", (sub_id,)))
            else:  # followed and dropped while the subscribe was on its way
                send({"type": "unsubscribe", "channel": CHANNEL, "id": sub_id})
        elif kind == "unsubscribed":
            link.live.discard(sub_id)
        elif kind in ("channel_data", "channel_batch_data") and sub_id in link.live:
            contents = message.get("contents")
            batch = contents if isinstance(contents, list) else [contents]
            for one in batch:
                if isinstance(one, dict):
                    self._emit(StreamEvent("update", (sub_id,), one))
        elif kind == "error":
            text = str(message.get("message", ""))
            if "already subscribed" in text and sub_id in link.ids:
                link.asked.pop(sub_id, None)
                if sub_id not in link.live:
                    link.live.add(sub_id)
                    self._emit(StreamEvent("resync", (sub_id,)))
            else:  # the initial read failed: asked again by the ping loop
                log.info("dydx stream: subscription %s refused: %s", sub_id, text)


__all__ = ["CHANNEL", "StreamEvent", "SubaccountStream", "our_cancels", "subscription_id", "ws_url"]
