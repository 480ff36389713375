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
    push_message(token, chat_id, text) -> HTTP status | None
                                       a message from the chat: POSTed to the bot's webhook when one
                                       is set (with its secret token header), else queued for getUpdates
    push_callback(token, chat_id, message_id, data) -> HTTP status | None
                                       a tap on an inline keyboard button of one of the bot's messages
    reach(public_prefix, local_prefix) webhook URLs starting with the public prefix are delivered to
                                       the local one (stands in for DNS and TLS termination)
The update methods follow https://core.telegram.org/bots/api#getting-updates: setWebhook (an HTTPS
url, a secret_token of 1-256 characters A-Z a-z 0-9 _ -), deleteWebhook, getWebhookInfo, getUpdates
(offset confirms earlier updates; timeout long-polls; 409 while a webhook is set); and
answerCallbackQuery / editMessageText for inline keyboards.
Unknown tokens get 401 "Unauthorized"; malformed ones 404 "Not Found"; chats never added get
400 "Bad Request: chat not found". sendMessage with parse_mode HTML is checked like Telegram does:
unsupported tags, stray `<`/`&` or unbalanced tags get 400 "Bad Request: can't parse entities: ...",
and texts over 4096 characters (after entity parsing) 400 "Bad Request: message is too long".

Inspection:
    messages -> list[SentMessage(token, chat_id, text, parse_mode, plain)]   every accepted message
    requests -> list[ApiCall(token, method, params, client_port)]             every call received
    edits -> list[SentMessage]       every accepted editMessageText (message_id of the edited one)
    answers -> list[dict]            every answerCallbackQuery's parameters
    deliveries -> list[tuple[str, int]]   (webhook url, HTTP status) of every webhook POST
    webhook(token) -> {"url", "secret_token", "allowed_updates"} | None
    base_url -> "http://127.0.0.1:<port>/bot"   (PTB appends the token)
    calls(method) -> the ApiCall list for one method
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakes.telegram_html import check_html

TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
MAX_TEXT = 4096
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


@dataclass(frozen=True)
class SentMessage:
    token: str
    chat_id: str
    text: str
    parse_mode: str | None
    plain: str  # what the user sees: tags removed, entities decoded
    message_id: int = 0
    reply_markup: dict[str, Any] | None = None  # the inline keyboard, as sent


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
    webhook_url: str = ""
    webhook_secret: str | None = None
    allowed_updates: list[str] | None = None
    sent: dict[tuple[str, int], SentMessage] = field(default_factory=dict)  # (chat, message_id)
    queries: set[str] = field(default_factory=set)  # callback query ids not answered yet


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
        self.edits: list[SentMessage] = []
        self.answers: list[dict[str, Any]] = []
        self.deliveries: list[tuple[str, int]] = []
        self._routes: dict[str, str] = {}
        self._arrived = threading.Condition(self._lock)
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

    def reach(self, public_prefix: str, local_prefix: str) -> None:
        with self._lock:
            self._routes[public_prefix] = local_prefix

    def webhook(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            bot = self._bots[token]
            if not bot.webhook_url:
                return None
            return {"url": bot.webhook_url, "secret_token": bot.webhook_secret,
                    "allowed_updates": bot.allowed_updates}

    def push_message(self, token: str, chat_id: int, text: str, first_name: str = "Alice") -> int | None:
        """A message from `chat_id` to the bot (see the module docstring)."""
        command = re.match(r"^/\w+(@\w+)?", text)
        entities = [{"offset": 0, "length": command.end(), "type": "bot_command"}] if command else []
        with self._lock:
            self._next_update += 1
            update = {
                "update_id": self._next_update,
                "message": {
                    "message_id": self._next_update,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": first_name},
                    "from": {"id": chat_id, "is_bot": False, "first_name": first_name},
                    "text": text,
                    **({"entities": entities} if entities else {}),
                },
            }
        return self._deliver(token, update)

    def push_callback(self, token: str, chat_id: int, message_id: int, data: str) -> int | None:
        """A tap on a button of the bot's message `message_id` in `chat_id` (a CallbackQuery)."""
        with self._lock:
            sent = self._bots[token].sent.get((str(chat_id), message_id))
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": sent.plain if sent else "",
            }
            self._next_update += 1
            query_id = str(10**12 + self._next_update)
            self._bots[token].queries.add(query_id)
            update = {
                "update_id": self._next_update,
                "callback_query": {
                    "id": query_id,
                    "from": {"id": chat_id, "is_bot": False, "first_name": "Alice"},
                    "message": message,
                    "chat_instance": str(chat_id),
                    "data": data,
                },
            }
        return self._deliver(token, update)

    def _deliver(self, token: str, update: dict[str, Any]) -> int | None:
        # https://core.telegram.org/bots/api#setwebhook: an HTTPS POST of the JSON-serialized Update,
        # with the secret in X-Telegram-Bot-Api-Secret-Token; without a webhook it waits in getUpdates
        with self._lock:
            bot = self._bots[token]
            if not bot.webhook_url:
                bot.updates.append(update)
                self._arrived.notify_all()
                return None
            url, secret = bot.webhook_url, bot.webhook_secret
            for public, local in self._routes.items():
                if url.startswith(public):
                    url = local + url[len(public):]
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        # only http(s): setWebhook took an https URL, `reach` maps it to a loopback http one
        request = urllib.request.Request(url, json.dumps(update).encode(), headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                status = int(answer.status)
        except urllib.error.HTTPError as e:
            status = e.code
        with self._lock:
            self.deliveries.append((bot.webhook_url, status))
        return status

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
            self._arrived.notify_all()  # a long poll waiting for this bot returns it at once

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
        if method == "setWebhook":
            return self._set_webhook(bot, p)
        if method == "deleteWebhook":
            bot.webhook, bot.webhook_url, bot.webhook_secret = False, "", None
            if str(p.get("drop_pending_updates")).lower() == "true":
                bot.updates.clear()
            return _ok(True)
        if method == "getWebhookInfo":
            return _ok(
                {
                    "url": bot.webhook_url,
                    "has_custom_certificate": False,
                    "pending_update_count": 0 if bot.webhook_url else len(bot.updates),
                    **({"allowed_updates": bot.allowed_updates} if bot.allowed_updates else {}),
                }
            )
        if method == "getUpdates":
            if bot.webhook or bot.webhook_url:
                return _err(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            offset = int(p.get("offset") or 0)
            if offset:  # confirming an offset forgets every earlier update, as Telegram does
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
            # long polling: wait (up to `timeout` seconds, capped for tests) for an update to arrive
            deadline = time.monotonic() + min(float(p.get("timeout") or 0), 5.0)
            while not bot.updates and not self._stopping.is_set() and time.monotonic() < deadline:
                self._arrived.wait(max(deadline - time.monotonic(), 0.0))
            return _ok(list(bot.updates[: int(p.get("limit") or 100)]))
        if method == "answerCallbackQuery":
            query = str(p.get("callback_query_id") or "")
            if query not in bot.queries:
                return _err(400, _QUERY_TOO_OLD)
            bot.queries.discard(query)
            self.answers.append(dict(p))
            return _ok(True)
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
        if method == "editMessageText":
            return self._edit(bot, token, chat, p)
        return _err(404, "Not Found")

    def _set_webhook(self, bot: _Bot, p: dict[str, Any]) -> tuple:
        url = str(p.get("url") or "")
        if not url:  # an empty url removes the webhook
            bot.webhook, bot.webhook_url, bot.webhook_secret = False, "", None
            return _ok(True)
        if not url.startswith("https://"):
            return _err(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            return _err(400, "Bad Request: secret token contains unallowed characters")
        allowed = p.get("allowed_updates")
        bot.webhook, bot.webhook_url, bot.webhook_secret = True, url, secret
        bot.allowed_updates = json.loads(allowed) if isinstance(allowed, str) else allowed
        if str(p.get("drop_pending_updates")).lower() == "true":
            bot.updates.clear()
        return _ok(True)

    def _edit(self, bot: _Bot, token: str, chat: str, p: dict[str, Any]) -> tuple:
        message_id = int(p.get("message_id") or 0)
        old = bot.sent.get((chat, message_id))
        if old is None:
            return _err(400, "Bad Request: message to edit not found")
        text, mode = str(p.get("text") or ""), p.get("parse_mode")
        plain, problem = check_html(text) if mode == "HTML" else (text, None)
        if problem:
            return _err(400, f"Bad Request: can't parse entities: {problem}")
        markup = _markup(p.get("reply_markup"))
        if plain == old.plain and markup == old.reply_markup:
            return _err(400, _NOT_MODIFIED)
        edited = SentMessage(token, chat, text, mode, plain, message_id, markup)
        bot.sent[(chat, message_id)] = edited
        self.edits.append(edited)
        return _ok({"message_id": message_id, "date": int(time.time()),
                    "chat": {"id": int(chat), "type": "private"}, "text": plain})

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
        self._next_message += 1
        sent = SentMessage(token, chat, text, mode, plain, self._next_message, _markup(p.get("reply_markup")))
        self.messages.append(sent)
        bot.sent[(chat, self._next_message)] = sent
        return _ok(
            {
                "message_id": self._next_message,
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"},
                "text": plain,
            }
        )


def _markup(value: Any) -> dict[str, Any] | None:
    # a form-encoded request carries the keyboard as JSON text, a JSON one as an object
    if value is None or value == "":
        return None
    return json.loads(value) if isinstance(value, str) else dict(value)


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
