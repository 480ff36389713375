"""A local stand-in for Sentry's ingest endpoint: `POST /api/<project>/envelope/`, recorded.

An envelope (https://develop.sentry.dev/sdk/envelopes/) is newline-separated JSON: a header, then
per item an item header and its payload (gzip or deflate encoded as the SDK chose). The DSN of
the running fake is `fake.dsn`: `http://<public key>@127.0.0.1:<port>/<project>`.
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

PUBLIC_KEY = "0123456789abcdef0123456789abcdef"
PROJECT = "42"


@dataclass
class Envelope:
    """One POSTed envelope: the raw (decoded) bytes, its header and its items (header, payload)."""

    raw: bytes
    header: dict[str, Any]
    items: list[tuple[dict[str, Any], Any]] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [payload for head, payload in self.items if head.get("type") == "event"]


def _line_end(raw: bytes, pos: int) -> int:
    end = raw.find(b"\n", pos)
    return len(raw) if end == -1 else end


def parse_envelope(raw: bytes) -> Envelope:
    """Split an envelope into its header and (item header, payload) pairs; JSON payloads decoded."""
    end = _line_end(raw, 0)
    envelope = Envelope(raw, json.loads(raw[:end]))
    pos = end + 1
    while pos < len(raw):
        end = _line_end(raw, pos)
        if not raw[pos:end].strip():
            pos = end + 1
            continue
        head = json.loads(raw[pos:end])
        pos = end + 1
        length = head.get("length")
        if length is None:  # the payload runs to the end of its line
            length = _line_end(raw, pos) - pos
        body, pos = raw[pos : pos + length], pos + length + 1
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body
        envelope.items.append((head, payload))
    return envelope


class FakeSentry:
    """The HTTP server and every envelope it received."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                encoding = (self.headers.get("content-encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                path = self.path.split("?")[0]
                with fake._lock:
                    fake.requests.append((path, dict(self.headers)))
                    if path == f"/api/{PROJECT}/envelope/":
                        fake.envelopes.append(parse_envelope(body))
                status = 200 if path == f"/api/{PROJECT}/envelope/" else 404
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: object) -> None:
                return None  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@127.0.0.1:{self._server.server_address[1]}/{PROJECT}"

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for envelope in self.envelopes for event in envelope.events]

    def raw(self) -> bytes:
        with self._lock:
            return b"\n".join(envelope.raw for envelope in self.envelopes)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake_sentry() -> Iterator[FakeSentry]:
    """A running fake Sentry; the SDK is shut down (and its client dropped) afterwards."""
    import sentry_sdk  # noqa: PLC0415 - only the tests that use the fake need it

    fake = FakeSentry()
    fake.start()
    try:
        yield fake
    finally:
        client = sentry_sdk.get_client()
        client.close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)
        fake.stop()
