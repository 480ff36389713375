"""rxconfig.py: Reflex's CORS and its websocket (socket.io at /_event) accept only our origins."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

# A fresh interpreter: rxconfig.py is read once per process, and rx.App() registers global state.
# It builds the Socket.IO server exactly as a worker does and asks it to open the event socket.
PROBE = """
import asyncio, json, tempfile, os
os.environ["REFLEX_STATES_WORKDIR"] = tempfile.mkdtemp()
import reflex as rx
from reflex.config import get_config

app = rx.App()


async def handshake(origin):
    scope = {
        "type": "http", "method": "GET", "path": "/_event/", "raw_path": b"/_event/", "root_path": "",
        "query_string": b"EIO=4&transport=websocket", "scheme": "http", "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5555),
        "headers": [(b"host", b"localhost:8000"), (b"origin", origin.encode())],
        "http_version": "1.1", "asgi": {"version": "3.0"},
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app.sio.eio.handle_request(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return [sent[0]["status"], body.decode()]


print(json.dumps({
    "config": list(get_config().cors_allowed_origins),
    "evil": asyncio.run(handshake("http://evil.example")),
    "ours": asyncio.run(handshake("http://localhost:3000")),
}))
"""


def run_probe(**env: str) -> dict:
    import json

    environ = {**os.environ, **env}
    result = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_event_socket_refuses_other_origins_by_default() -> None:
    report = run_probe()
    assert report["config"] == ["http://localhost:3000"]
    status, body = report["evil"]
    assert status == 400 and "not an accepted origin" in body.lower()
    status, body = report["ours"]
    # refused later only because the probe is no real websocket upgrade
    assert "not an accepted origin" not in body.lower()
