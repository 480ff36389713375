"""A fake Telegram Bot API server on loopback, for tests that run the real python-telegram-bot.

It speaks the real protocol (`POST /bot<TOKEN>/<method>`, form-encoded or JSON bodies, `{"ok": ...}`
replies with the matching HTTP status), so PTB's own request and error mapping runs unchanged.

Use it through the `fake_telegram` fixture (import it into your test module or conftest):

    from tests.fakes.telegram import FakeTelegram, fake_telegram  # noqa: F401  (fixture)

    async def test_something(fake_telegram: FakeTelegram, db_url: str) -> None:
        token = fake_telegram.add_bot(username="alice_bot", chats=[4242])   # a valid token
        ...  # the app's settings.telegram_api_base_url already points at the fake
        assert fake_telegram.messages[-1].chat_id == "4242"

The fixture starts a server on 127.0.0.1 (random port), points TELEGRAM_API_BASE_URL at it (and
clears the cached settings), and stops it afterwards. Outside pytest: `with FakeTelegram() as tg:`.

Configuration (all thread-safe, any time):
    add_bot(token=None, username=..., chats=[...]) -> token   a valid token (generated if None)
    add_chat(token, chat_id)           the chat exists and pressed Start (sendMessage works)
    block(token, chat_id)              403 "Forbidden: bot was blocked by the user"
    fail(token, chat_id, status, description, times=None, retry_after=None)
                                       any error; chat_id None = every call of that token;
                                       times = how many calls fail before it clears (None = forever)
    flood(token, chat_id, retry_after=1, times=1)   429 with parameters.retry_after
    slow(token, chat_id, seconds)      delay the reply (provoke client timeouts)
    set_webhook(token)                 getUpdates answers 409 Conflict until deleteWebhook
    push_start(token, chat_id, code)   queue an update with the text "/start <code>"
Unknown tokens get 401 "Unauthorized"; malformed ones 404 "Not Found"; chats never added get
400 "Bad Request: chat not found". sendMessage with parse_mode HTML is checked like Telegram does:
unsupported tags, stray `<`/`&` or unbalanced tags get 400 "Bad Request: can't parse entities: ...",
and texts over 4096 characters (after entity parsing) 400 "Bad Request: message is too long".

Inspection:
    messages -> list[SentMessage(token, chat_id, text, parse_mode, plain)]   every accepted message
    requests -> list[ApiCall(token, method, params, client_port)]             every call received
    base_url -> "http://127.0.0.1:<port>/bot"   (PTB appends the token)
    calls(method) -> the ApiCall list for one method
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakes.telegram_html import check_html

TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
MAX_TEXT = 4096


@dataclass(frozen=True)
class SentMessage:
    token: str
    chat_id: str
    text: str
    parse_mode: str | None
    plain: str  # what the user sees: tags removed, entities decoded


@dataclass(frozen=True)
class ApiCall:
    token: str
    method: str
    params: dict[str, Any]
    client_port: int  # same port on consecutive calls = one reused keep-alive connection


@dataclass
class _Behaviour:
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    delay: float = 0.0
    times: int | None = None  # None = forever


@dataclass
class _Bot:
    username: str
    chats: set[str] = field(default_factory=set)
    webhook: bool = False
    updates: list[dict[str, Any]] = field(default_factory=list)


class FakeTelegram:
    """A threaded Bot API server; see the module docstring for the API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bots: dict[str, _Bot] = {}
        self._behaviours: dict[tuple[str, str | None], _Behaviour] = {}
        self._next_update = 1000
        self._next_message = 0
        self.messages: list[SentMessage] = []
        self.requests: list[ApiCall] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeTelegram:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-telegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    # -- configuration --------------------------------------------------------------------
    def add_bot(
        self, token: str | None = None, username: str = "fake_bot", chats: list[int | str] = ()
    ) -> str:
        token = token or f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(24)}"
        with self._lock:
            self._bots[token] = _Bot(username=username, chats={str(c) for c in chats})
        return token

    def add_chat(self, token: str, chat_id: int | str) -> None:
        with self._lock:
            self._bots[token].chats.add(str(chat_id))

    def fail(
        self,
        token: str,
        chat_id: int | str | None,
        status: int,
        description: str,
        times: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        key = (token, None if chat_id is None else str(chat_id))
        with self._lock:
            self._behaviours[key] = _Behaviour(status, description, retry_after, times=times)

    def block(self, token: str, chat_id: int | str) -> None:
        self.fail(token, chat_id, 403, "Forbidden: bot was blocked by the user")

    def flood(
        self, token: str, chat_id: int | str | None, retry_after: int = 1, times: int | None = 1
    ) -> None:
        self.fail(token, chat_id, 429, f"Too Many Requests: retry after {retry_after}", times, retry_after)

    def slow(self, token: str, chat_id: int | str | None, seconds: float) -> None:
        key = (token, None if chat_id is None else str(chat_id))
        with self._lock:
            self._behaviours[key] = _Behaviour(delay=seconds)

    def set_webhook(self, token: str) -> None:
        with self._lock:
            self._bots[token].webhook = True

    def push_start(self, token: str, chat_id: int, code: str, first_name: str = "Alice") -> None:
        text = f"/start {code}"
        with self._lock:
            self._next_update += 1
            user = {"id": chat_id, "is_bot": False, "first_name": first_name}
            self._bots[token].updates.append(
                {
                    "update_id": self._next_update,
                    "message": {
                        "message_id": self._next_update,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private", "first_name": first_name},
                        "from": user,
                        "text": text,
                        "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
                    },
                }
            )
            self._bots[token].chats.add(str(chat_id))

    # -- inspection -----------------------------------------------------------------------
    def calls(self, method: str) -> list[ApiCall]:
        return [c for c in self.requests if c.method == method]

    # -- the API --------------------------------------------------------------------------
    def handle(
        self, token: str, method: str, params: dict[str, Any], port: int
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(ApiCall(token, method, dict(params), port))
            if not TOKEN_SHAPE.match(token):
                return _err(404, "Not Found")
            bot = self._bots.get(token)
            if bot is None:
                return _err(401, "Unauthorized")
            chat = params.get("chat_id")
            chat = None if chat is None else str(chat)
            behaviour = self._behaviours.get((token, chat)) or self._behaviours.get((token, None))
            if behaviour is not None and behaviour.times is not None:
                behaviour.times -= 1
                if behaviour.times <= 0:
                    self._behaviours = {k: v for k, v in self._behaviours.items() if v is not behaviour}
        if behaviour is not None and behaviour.delay:
            self._stopping.wait(behaviour.delay)
        if behaviour is not None and behaviour.status:
            extra = {"retry_after": behaviour.retry_after} if behaviour.retry_after else {}
            return _err(behaviour.status, behaviour.description, **extra)
        with self._lock:
            return self._method(bot, token, method, chat, params)

    def _method(self, bot: _Bot, token: str, method: str, chat: str | None, p: dict[str, Any]) -> tuple:
        if method == "getMe":
            bot_id = int(token.split(":", 1)[0])
            return _ok(
                {
                    "id": bot_id,
                    "is_bot": True,
                    "first_name": bot.username,
                    "username": bot.username,
                    "can_join_groups": True,
                    "can_read_all_group_messages": False,
                    "supports_inline_queries": False,
                }
            )
        if method == "deleteWebhook":
            bot.webhook = False
            return _ok(True)
        if method == "getUpdates":
            if bot.webhook:
                return _err(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            offset = int(p.get("offset") or 0)
            if offset:  # confirming an offset forgets every earlier update, as Telegram does
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
            return _ok(list(bot.updates))
        if chat is None or chat not in bot.chats:
            return _err(400, "Bad Request: chat not found")
        if method == "getChat":
            return _ok(
                {
                    "id": int(chat),
                    "type": "private",
                    "first_name": "Alice",
                    "accent_color_id": 0,
                    "max_reaction_count": 11,
                    "accepted_gift_types": {
                        "unlimited_gifts": True,
                        "limited_gifts": True,
                        "unique_gifts": True,
                        "premium_subscription": True,
                        "gifts_from_channels": True,
                    },
                }
            )
        if method == "sendMessage":
            return self._send(bot, token, chat, p)
        return _err(404, "Not Found")

    def _send(self, bot: _Bot, token: str, chat: str, p: dict[str, Any]) -> tuple:
        text = str(p.get("text") or "")
        mode = p.get("parse_mode")
        if mode == "HTML":
            plain, problem = check_html(text)
            if problem:
                return _err(400, f"Bad Request: can't parse entities: {problem}")
        else:
            plain = text
        if not plain.strip():
            return _err(400, "Bad Request: message text is empty")
        if len(plain.encode("utf-16-le")) // 2 > MAX_TEXT:
            return _err(400, "Bad Request: message is too long")
        self.messages.append(SentMessage(token, chat, text, mode, plain))
        self._next_message += 1
        return _ok(
            {
                "message_id": self._next_message,
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"},
                "text": plain,
            }
        )


def _ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": result}


def _err(code: int, description: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTelegram
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse by the client is observable

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet; URLs hold tokens
        pass

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", url.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(url.query))
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/json") and body:
            params.update(json.loads(body))
        elif ctype.startswith("application/x-www-form-urlencoded"):
            params.update(urllib.parse.parse_qsl(body.decode()))
        if match is None:
            status, reply = _err(404, "Not Found")
        else:
            token, method = urllib.parse.unquote(match.group(1)), match.group(2)
            status, reply = self.fake.handle(token, method, params, self.client_address[1])
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _dispatch
    do_POST = _dispatch


@pytest.fixture
def fake_telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    """A running FakeTelegram with the app's TELEGRAM_API_BASE_URL pointed at it."""
    from trading_app.settings import get_settings

    with FakeTelegram() as fake:
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.base_url)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


__all__ = ["ApiCall", "FakeTelegram", "SentMessage", "fake_telegram"]
