"""A fake dYdX v4 indexer: a real HTTP server on 127.0.0.1 that answers with the real JSON shapes.

Real clients (httpx, `dydx_v4_client.IndexerClient`) talk to it over TCP, so their parsing, timeouts
and error handling run for real. Numbers are strings exactly where the real indexer sends strings.

Stable API (other tests import this; extend, don't break):

    with FakeIndexer() as fake:          # or the `fake_indexer` pytest fixture below
        fake.url                          # "http://127.0.0.1:<port>", no trailing slash
        fake.set_price("ETH-USD", Decimal("3000.5"))   # oracle price; the default book follows it
        fake.price("ETH-USD")                          # the latest price set (ignores lag)
        fake.set_market("ETH-USD", status="PAUSED")    # change any market field (camelCase names)
        fake.add_market("DOGE-USD", {...})             # a whole market entry (indexer shape)
        fake.set_book("ETH-USD", bids=[(Decimal("2999"), Decimal("1"))], asks=[...])
        fake.set_book("ETH-USD", None)                 # back to the default book around the oracle
        fake.down()            # connection refused (listening socket closed) until fake.up()
        fake.down(503)         # every request answers HTTP 503 (also 429, 500, ...) until up()
        fake.down("reset")     # connections are closed without a response
        fake.up()
        fake.slow(5.0)         # every response waits 5 s first (past client timeouts); slow(0) stops
        fake.lag(2.0)          # prices/books are served as they were 2 s ago (stale data); lag(0) stops
        fake.register("GET", r"/v4/addresses/(?P<addr>[^/]+)/subaccountNumber/(?P<n>\\d+)", handler)
        fake.unregister("GET", r"/v4/height")          # drop routes registered with exactly that regex
        fake.requests          # [RecordedRequest(method, path, query)] of every request answered
        fake.request_count("/v4/perpetualMarkets")

Module helpers: `default_markets()` (BTC-USD clob 0, ETH-USD clob 1, SOL-USD clob 5, mainnet grid,
oracle 65000 / 3000 / 150, in the indexer's shape) and `fmt(Decimal)` (a number as the indexer
writes it). The default book has one tick of spread around the oracle price and `book_levels`
levels of 10,000 steps each side.

Built-in routes: `GET /v4/perpetualMarkets[?ticker=T]` -> `{"markets": {ticker: {...}}}` (404 with
`{"errors": [{"msg": ...}]}` for an unknown ticker) and `GET /v4/orderbooks/perpetualMarket/{ticker}`
-> `{"bids": [{"price", "size"}], "asks": [...]}` (best first). Anything else is 404.

`register(method, path_regex, handler)`: the regex must match the whole path (query excluded);
registered routes are tried before the built-ins, newest first. `handler(request: FakeRequest)`
runs in the server thread and returns `(status, body)`; body is JSON-encoded unless it is bytes or
str. `FakeRequest` has `method, path, query (first value per key), query_all, headers, body, match
(the re.Match), json()`. Faults (down/slow) apply to registered routes too; `lag` does not (the
handler can read `fake.lag_seconds` itself).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

Level = tuple[Decimal, Decimal]


def _market(
    clob: int, ticker: str, price: str, ar: int, sbq: int, spt: int, qce: int, step: str, tick: str, imf: str
) -> dict[str, Any]:
    # the field set and types of a real /v4/perpetualMarkets entry
    return {
        "clobPairId": str(clob),
        "ticker": ticker,
        "status": "ACTIVE",
        "oraclePrice": price,
        "priceChange24H": "0",
        "volume24H": "0",
        "trades24H": 0,
        "nextFundingRate": "0",
        "initialMarginFraction": imf,
        "maintenanceMarginFraction": str(Decimal(imf) * Decimal("0.6")),
        "openInterest": "0",
        "atomicResolution": ar,
        "quantumConversionExponent": qce,
        "tickSize": tick,
        "stepSize": step,
        "stepBaseQuantums": sbq,
        "subticksPerTick": spt,
        "marketType": "CROSS",
        "openInterestLowerCap": "0",
        "openInterestUpperCap": "0",
        "baseOpenInterest": "0",
        "defaultFundingRate1H": "0",
    }


def default_markets() -> dict[str, dict[str, Any]]:
    """BTC, ETH and SOL with their mainnet grid (stepSize/tickSize agree with the raw fields)."""
    return {
        "BTC-USD": _market(0, "BTC-USD", "65000", -10, 1_000_000, 100_000, -9, "0.0001", "1", "0.02"),
        "ETH-USD": _market(1, "ETH-USD", "3000", -9, 1_000_000, 100_000, -9, "0.001", "0.1", "0.02"),
        "SOL-USD": _market(5, "SOL-USD", "150", -7, 1_000_000, 1_000_000, -9, "0.1", "0.01", "0.05"),
    }


def fmt(value: Decimal) -> str:
    """A Decimal as the indexer writes it: plain notation, no trailing zeros."""
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, str]
    query_all: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Handler = Callable[[FakeRequest], tuple[int, Any]]


@dataclass
class _Snapshot:
    at: float
    prices: dict[str, Decimal]
    books: dict[str, tuple[list[Level], list[Level]] | None] = field(default_factory=dict)


class FakeIndexer:
    """The fake indexer server; see the module docstring for the API."""

    def __init__(self, markets: dict[str, dict[str, Any]] | None = None, book_levels: int = 10) -> None:
        self._lock = threading.RLock()
        self.markets = markets if markets is not None else default_markets()
        self.book_levels = book_levels
        prices = {t: Decimal(m["oraclePrice"]) for t, m in self.markets.items()}
        self._history: list[_Snapshot] = [_Snapshot(time.monotonic(), prices, {})]
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[RecordedRequest] = []
        self.fault: str | int | None = None
        self.slow_seconds = 0.0
        self.lag_seconds = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self.port = 0
        # takes over a websocket upgrade of `/v4/ws` (tests.fakes.dydx_socks); None: 404 as before
        self.upgrade: Callable[[BaseHTTPRequestHandler], None] | None = None

    # -- lifecycle ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeIndexer:
        self._serve(self.port)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self._lock:
            # keep-alive connections outlive the listening socket: cut them, as a dead server would
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeIndexer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, port: int) -> None:
        fake = self

        class _Handler(_RequestHandler):
            indexer = fake

        httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        httpd.daemon_threads = True  # a slow handler must not block stop()
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-indexer", daemon=True
        )
        self._thread.start()

    # -- faults ---------------------------------------------------------------------
    def down(self, mode: str | int = "refused") -> None:
        """Fail every request: "refused" (socket closed), "reset", or an HTTP status such as 503."""
        if mode not in ("refused", "reset") and not isinstance(mode, int):
            raise ValueError(f"unknown fault mode {mode!r}")
        with self._lock:
            self.fault = mode
        if mode == "refused" and self._httpd is not None:
            port = self.port
            self.stop()
            self.port = port  # up() listens on the same port again

    def up(self) -> None:
        with self._lock:
            was, self.fault = self.fault, None
        if was == "refused" and self._httpd is None:
            self._serve(self.port)

    def slow(self, seconds: float) -> None:
        self.slow_seconds = seconds

    def lag(self, seconds: float) -> None:
        self.lag_seconds = seconds

    # -- market data ----------------------------------------------------------------
    def _push(self, change: Callable[[_Snapshot], None]) -> None:
        with self._lock:
            last = self._history[-1]
            snap = _Snapshot(time.monotonic(), dict(last.prices), dict(last.books))
            change(snap)
            self._history.append(snap)
            del self._history[:-200]

    def set_price(self, ticker: str, price: Decimal) -> None:
        if ticker not in self.markets:
            raise KeyError(ticker)
        self._push(lambda s: s.prices.__setitem__(ticker, Decimal(price)))

    def price(self, ticker: str) -> Decimal:
        """The latest price set (ignores lag)."""
        with self._lock:
            return self._history[-1].prices[ticker]

    def set_market(self, ticker: str, **fields: Any) -> None:
        with self._lock:
            self.markets[ticker].update(fields)

    def add_market(self, ticker: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self.markets[ticker] = entry
        self._push(lambda s: s.prices.__setitem__(ticker, Decimal(entry["oraclePrice"])))

    def set_book(self, ticker: str, bids: list[Level] | None = None, asks: list[Level] | None = None) -> None:
        """Serve exactly these levels (best first); `set_book(t, None)` restores the default book."""
        book = None if bids is None and asks is None else (list(bids or []), list(asks or []))
        self._push(lambda s: s.books.__setitem__(ticker, book))

    def _visible(self) -> _Snapshot:
        with self._lock:
            cutoff = time.monotonic() - self.lag_seconds
            visible = [s for s in self._history if s.at <= cutoff]
            return visible[-1] if visible else self._history[0]

    def default_book(self, ticker: str, price: Decimal) -> tuple[list[Level], list[Level]]:
        """One tick of spread around the oracle, `book_levels` levels of 10,000 steps each."""
        tick, step = Decimal(self.markets[ticker]["tickSize"]), Decimal(self.markets[ticker]["stepSize"])
        floor = (price / tick).to_integral_value(ROUND_FLOOR) * tick
        size = step * 10_000
        bids = [(floor - tick * k, size) for k in range(self.book_levels)]
        asks = [(floor + tick * (k + 1), size) for k in range(self.book_levels)]
        return [b for b in bids if b[0] > 0], asks

    def request_count(self, path_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    # -- routing --------------------------------------------------------------------
    def register(self, method: str, path_regex: str, handler: Handler) -> None:
        with self._lock:
            self._routes.insert(0, (method.upper(), re.compile(path_regex), handler))

    def unregister(self, method: str, path_regex: str) -> None:
        """Remove the routes registered for exactly this method and regex (built-ins answer again)."""
        with self._lock:
            self._routes = [
                r for r in self._routes if not (r[0] == method.upper() and r[1].pattern == path_regex)
            ]

    def handle(self, request: FakeRequest) -> tuple[int, Any]:
        with self._lock:
            routes = list(self._routes)
        for method, pattern, handler in routes:
            match = pattern.fullmatch(request.path)
            if method == request.method and match:
                request.match = match
                return handler(request)
        if request.method == "GET" and request.path == "/v4/perpetualMarkets":
            return self._markets(request.query.get("ticker"))
        found = re.fullmatch(r"/v4/orderbooks/perpetualMarket/([^/]+)", request.path)
        if request.method == "GET" and found:
            return self._orderbook(found.group(1))
        return 404, {"errors": [{"msg": f"Cannot {request.method} {request.path}"}]}

    def _markets(self, ticker: str | None) -> tuple[int, Any]:
        snap = self._visible()
        with self._lock:
            if ticker is not None and ticker not in self.markets:
                return 404, {"errors": [{"msg": f"{ticker} not found in markets of type PERPETUAL"}]}
            wanted = [ticker] if ticker else list(self.markets)
            body = {t: {**self.markets[t], "oraclePrice": fmt(snap.prices[t])} for t in wanted}
        return 200, {"markets": body}

    def _orderbook(self, ticker: str) -> tuple[int, Any]:
        if ticker not in self.markets:
            return 404, {"errors": [{"msg": f"{ticker} not found"}]}
        snap = self._visible()
        book = snap.books.get(ticker) or self.default_book(ticker, snap.prices[ticker])
        side = lambda levels: [{"price": fmt(p), "size": fmt(s)} for p, s in levels]  # noqa: E731
        return 200, {"bids": side(book[0]), "asks": side(book[1])}


class _RequestHandler(BaseHTTPRequestHandler):
    indexer: FakeIndexer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stalls

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def setup(self) -> None:
        super().setup()
        with self.indexer._lock:
            self.indexer._connections.add(self.connection)

    def finish(self) -> None:
        with self.indexer._lock:
            self.indexer._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _dispatch(self) -> None:
        fake = self.indexer
        parts = urlsplit(self.path)
        query_all = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        request = FakeRequest(
            method=self.command,
            path=parts.path,
            query={k: v[0] for k, v in query_all.items()},
            query_all=query_all,
            headers=dict(self.headers.items()),
            body=self.rfile.read(length),
        )
        upgrade = fake.upgrade
        if upgrade is not None and parts.path == "/v4/ws" and fake.fault is None:
            if self.headers.get("Upgrade", "").lower() == "websocket":
                self.close_connection = True
                upgrade(self)  # serves the websocket on this connection until it ends
                return
        if fake.slow_seconds:
            time.sleep(fake.slow_seconds)
        fault = fake.fault
        if fault == "reset":
            # linger 0: close() sends RST, the way a crashing proxy drops a connection
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        with fake._lock:
            fake.requests.append(RecordedRequest(request.method, request.path, request.query))
        if isinstance(fault, int):
            status, body = fault, {"errors": [{"msg": "fault injected"}]}
        else:
            status, body = fake.handle(request)
        data = (
            body
            if isinstance(body, bytes)
            else body.encode()
            if isinstance(body, str)
            else json.dumps(body).encode()
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch


@pytest.fixture
def fake_indexer() -> Iterator[FakeIndexer]:
    """A started FakeIndexer with BTC-USD, ETH-USD and SOL-USD; stopped after the test."""
    with FakeIndexer() as fake:
        yield fake
