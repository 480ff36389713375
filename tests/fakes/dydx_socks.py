"""The fake indexer's websocket (`ws://<fake indexer>/v4/ws`, channel `v4_subaccounts`).

    socks = FakeSocks(exchange).start()   # serves on the fake indexer's port, like comlink + socks
    socks.drop()                          # cut every connection (a socks restart, a network gap)
    socks.refuse(True)                    # answer upgrades with 503 until refuse(False)
    socks.stop()

Follows dydxprotocol/v4-chain (commit 84d4664):
- indexer/services/socks/src/types.ts and helpers/message.ts: `connected` (message_id 0), then per
  connection an increasing `message_id` on `subscribed`, `unsubscribed`, `channel_data`, `error`;
- src/lib/subscription.ts: the id must be `{address}/{subaccountNumber}` with a number below
  128 * 1000 (MAX_PARENT_SUBACCOUNTS * CHILD_SUBACCOUNT_MULTIPLIER), else an `error` without
  channel/id ("Invalid subscription id for channel"); at most 256 `v4_subaccounts` subscriptions per
  connection (config.ts V4_ACCOUNTS_CHANNEL_LIMIT); a second subscribe of the same id is an `error`
  ("already subscribed"); `subscribed.contents` is the initial state: the REST subaccount plus the
  OPEN / UNTRIGGERED / BEST_EFFORT_OPENED orders and `blockHeight`, or `{}` for a subaccount the
  indexer does not know (404);
- src/websocket/index.ts: a `ping` message is ignored; websocket-level pings are answered; the server
  pings every `heartbeat` seconds and closes with 1011 a connection that did not pong in time;
- the channel's updates come from ender per processed block (ender/src/helpers/kafka-helper.ts:
  `fills` with `eventId`, `quoteAmount`, `ticker`; `orders` as the PostgreSQL row plus `ticker`;
  `perpetualPositions` with `positionId`, `status`; version SUBACCOUNTS_WEBSOCKET_MESSAGE_VERSION
  3.0.0 of packages/kafka/src/constants.ts) and from vulcan for short-term orders in the memclob
  (`BEST_EFFORT_OPENED`, `BEST_EFFORT_CANCELED`). Here each block the indexer has processed (the
  exchange's lag applies) becomes one `channel_data` per subaccount it touched.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from tests.fakes.indexer import fmt

if TYPE_CHECKING:
    from tests.fakes.dydx_exchange import DydxExchange

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHANNEL = "v4_subaccounts"
VERSION = "3.0.0"
MAX_SUBACCOUNT = 128 * 1000
PER_CONNECTION = 256
INITIAL_STATUSES = ("OPEN", "UNTRIGGERED", "BEST_EFFORT_OPENED")


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ws = Connection(ConnectionType.SERVER)
        self.id = str(uuid.uuid4())
        self.message_id = 0
        self.subs: set[str] = set()
        self.lock = threading.Lock()
        self.pong_due: float | None = None

    def send(self, body: dict[str, Any]) -> None:
        with self.lock:
            if body.get("type") != "connected":
                self.message_id += 1
            body = {**body, "connection_id": self.id, "message_id": self.message_id}
            with contextlib.suppress(OSError, LocalProtocolError):
                self.sock.sendall(self.ws.send(TextMessage(json.dumps(body))))

    def raw(self, event: Any) -> None:
        with self.lock, contextlib.suppress(OSError, LocalProtocolError):
            self.sock.sendall(self.ws.send(event))


class FakeSocks:
    """The `v4_subaccounts` websocket of a `DydxExchange`'s fake indexer (see the module doc)."""

    def __init__(
        self, exchange: DydxExchange, *, heartbeat: float = 30.0, pong_timeout: float = 10.0
    ) -> None:
        self.exchange = exchange
        self.heartbeat, self.pong_timeout = heartbeat, pong_timeout
        self.clients: list[_Client] = []
        self.lock = threading.Lock()
        self.refusing = False
        self.connects = 0
        self.subscribes = 0
        self.sent = 0  # channel_data messages
        self._published = exchange.indexer_height()
        self._running = False
        self._thread: threading.Thread | None = None

    # -- lifecycle and faults ----------------------------------------------------------------
    def start(self) -> FakeSocks:
        self.exchange.indexer.upgrade = self._serve
        self._running = True
        self._thread = threading.Thread(target=self._publish_loop, name="fake-socks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        self.exchange.indexer.upgrade = None
        self.drop()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def drop(self) -> None:
        """Cut every connection without a close frame (the way a restart or a network gap ends them)."""
        with self.lock:
            clients, self.clients = list(self.clients), []
        for client in clients:
            with contextlib.suppress(OSError):
                client.sock.shutdown(socket.SHUT_RDWR)

    def refuse(self, refusing: bool) -> None:
        """While True, upgrades are answered 503 (socks down behind its load balancer)."""
        self.refusing = refusing

    def subscribers(self, sub_id: str) -> int:
        with self.lock:
            return sum(1 for c in self.clients if sub_id in c.subs)

    # -- one connection (runs in the fake indexer's handler thread) ---------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        if self.refusing:
            handler.send_response(503)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        key = handler.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
        handler.send_response(101)
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", accept)
        handler.end_headers()
        handler.wfile.flush()
        sock: socket.socket = handler.connection
        client = _Client(sock)
        with self.lock:
            self.clients.append(client)
            self.connects += 1
        client.send({"type": "connected"})
        sock.settimeout(0.2)
        last_ping = time.monotonic()
        try:
            while self._running:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    data = None
                if data == b"":
                    return
                if data:
                    client.ws.receive_data(data)
                    for event in client.ws.events():
                        if isinstance(event, TextMessage):
                            self._incoming(client, event.data)
                        elif isinstance(event, Ping):
                            client.raw(event.response())
                        elif isinstance(event, Pong):
                            client.pong_due = None
                        elif isinstance(event, CloseConnection):
                            client.raw(event.response())
                            return
                now = time.monotonic()
                if client.pong_due is not None and now > client.pong_due:
                    client.raw(CloseConnection(code=1011, reason="heartbeat timeout"))
                    return
                if now - last_ping >= self.heartbeat:
                    last_ping, client.pong_due = now, now + self.pong_timeout
                    client.raw(Ping(b""))
        except (OSError, RemoteProtocolError, LocalProtocolError):
            return
        finally:
            with self.lock:
                if client in self.clients:
                    self.clients.remove(client)

    def _incoming(self, client: _Client, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            client.send({"type": "error", "message": "Invalid message: could not parse"})
            return
        kind, channel, sub_id = message.get("type"), message.get("channel"), message.get("id")
        if kind == "ping":
            return
        if kind not in ("subscribe", "unsubscribe"):
            client.send({"type": "error", "message": f"Invalid message type: {kind}"})
            return
        if channel != CHANNEL:  # the only channel this fake serves
            client.send({"type": "error", "message": f"Invalid channel: {channel}"})
            return
        if kind == "unsubscribe":
            with self.lock:
                client.subs.discard(sub_id)
            client.send({"type": "unsubscribed", "channel": CHANNEL, "id": sub_id})
            return
        parts = str(sub_id).split("/")
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) >= MAX_SUBACCOUNT:
            client.send(
                {"type": "error", "message": f"Invalid subscription id for channel: ({CHANNEL}-{sub_id})"}
            )
            return
        with self.lock:
            self.subscribes += 1
            if len(client.subs) >= PER_CONNECTION:
                limit = f"Per-connection subscription limit reached for {CHANNEL} (limit={PER_CONNECTION})."
                client.send({"type": "error", "message": limit})
                return
            if sub_id in client.subs:
                client.send(
                    {
                        "type": "error",
                        "channel": CHANNEL,
                        "id": sub_id,
                        "message": f"Invalid subscribe message: already subscribed ({CHANNEL}-{sub_id})",
                    }
                )
                return
            # the initial state and the subscription under one lock: no block's message falls between
            client.send(
                {
                    "type": "subscribed",
                    "channel": CHANNEL,
                    "id": sub_id,
                    "contents": self._initial(parts[0], int(parts[1])),
                }
            )
            client.subs.add(sub_id)

    def _initial(self, owner: str, number: int) -> dict[str, Any]:
        body = self.exchange.visible_subaccount(owner, number)
        if body is None:
            return {}
        orders = [o for o in self.exchange.visible_orders(owner, number) if o["status"] in INITIAL_STATUSES]
        return {**body, "orders": orders, "blockHeight": str(self.exchange.indexer_height())}

    # -- what ender / vulcan publish per processed block ----------------------------------------
    def _publish_loop(self) -> None:
        while self._running:
            time.sleep(0.005)
            with self.lock, self.exchange.lock:
                height = self.exchange.indexer_height()
                for h in range(self._published + 1, height + 1):
                    for sub_id, contents in self._block(h).items():
                        for client in self.clients:
                            if sub_id in client.subs:
                                client.send(
                                    {
                                        "type": "channel_data",
                                        "channel": CHANNEL,
                                        "id": sub_id,
                                        "version": VERSION,
                                        "contents": contents,
                                    }
                                )
                                self.sent += 1
                self._published = max(self._published, height)

    def _block(self, height: int) -> dict[str, dict[str, Any]]:
        ex = self.exchange
        found: dict[str, dict[str, Any]] = {}

        def of(owner: str, number: int) -> dict[str, Any]:
            return found.setdefault(f"{owner}/{number}", {"blockHeight": str(height)})

        for h, owner, row in ex.fill_log:
            if h == height:
                market = ex.indexer.markets[row["market"]]
                size, price = Decimal(row["size"]), Decimal(row["price"])
                of(owner, row["subaccountNumber"]).setdefault("fills", []).append(
                    {
                        "id": row["id"],
                        "subaccountId": str(
                            uuid.uuid5(uuid.NAMESPACE_OID, f"{owner}/{row['subaccountNumber']}")
                        ),
                        "side": row["side"],
                        "liquidity": row["liquidity"],
                        "type": row["type"],
                        "clobPairId": str(market["clobPairId"]),
                        "size": row["size"],
                        "price": row["price"],
                        "quoteAmount": fmt(size * price),
                        "eventId": uuid.uuid4().hex,
                        "transactionHash": "",
                        "createdAt": row["createdAt"],
                        "createdAtHeight": row["createdAtHeight"],
                        "orderId": row["orderId"],
                        "ticker": row["market"],
                        "clientMetadata": row["clientMetadata"],
                        "fee": row["fee"],
                        "affiliateRevShare": "0",
                    }
                )
        for versions in (ex.rows, ex.redis):
            for order_uuid, history in versions.items():
                owner_number = ex.indexed_owner.get(order_uuid)
                for h, value in history.items:
                    if h == height and owner_number is not None:
                        body = value or {
                            "id": order_uuid,
                            "status": "BEST_EFFORT_CANCELED",
                            "removalReason": "ORDER_REMOVAL_REASON_EXPIRED",
                        }
                        of(*owner_number).setdefault("orders", []).append(body)
        for (owner, number), view in ex.subaccount_view.items():
            before, now = view.at(height - 1), None
            now = next((v for h, v in reversed(view.items) if h == height), None)
            if now is None:
                continue
            old = before[1] if before else {}
            positions = [self._position(owner, number, t, p, "OPEN") for t, p in now[1].items()]
            positions += [
                self._position(owner, number, t, p, "CLOSED") for t, p in old.items() if t not in now[1]
            ]
            if positions:
                of(owner, number)["perpetualPositions"] = positions
        return found

    @staticmethod
    def _position(owner: str, number: int, ticker: str, pos: Any, status: str) -> dict[str, Any]:
        size = pos.size if status == "OPEN" else Decimal(0)
        return {
            "address": owner,
            "subaccountNumber": number,
            "positionId": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{owner}/{number}/{ticker}")),
            "market": ticker,
            "side": "LONG" if pos.size > 0 else "SHORT",
            "status": status,
            "size": fmt(size),
            "maxSize": fmt(abs(pos.size)),
            "netFunding": "0",
            "entryPrice": fmt(pos.entry),
            "sumOpen": fmt(abs(pos.size)),
            "sumClose": "0",
            "realizedPnl": fmt(pos.realized),
        }
