"""Telegram Bot API plumbing: one shared HTTP client, log redaction, error classification.

Every user brings their own bot token, so a `Bot` is built per send around ONE shared
`HTTPXRequest` (one connection pool for every tenant). Those bots are never used as context
managers: their shutdown would close the shared client. Tokens are never logged: httpx logs request
URLs (which contain the token) at INFO and PTB logs its base URL at DEBUG, so those loggers are
quietened and every log record that passes through them is redacted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from datetime import timedelta

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from trading_app.settings import get_settings

TOKEN_PATTERN = re.compile(r"\d{6,}:[A-Za-z0-9_-]{20,}")
# a token in a URL path, whatever its length: .../bot<token>/method
_URL_TOKEN = re.compile(r"(/bot)\d+:[^/\s\"'`]+")
TOKEN_SHAPE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
REDACTED = "[REDACTED]"
_PREFIXES = ("httpx", "httpcore", "telegram", "trading_app")  # loggers that may see a token
MAX_ERROR_CHARS = 256  # notifications.error


def redact(text: str, *secrets: str) -> str:
    """Remove bot tokens (and any of `secrets`) from a text."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    text = _URL_TOKEN.sub(r"\1" + REDACTED, text)
    return TOKEN_PATTERN.sub(REDACTED, text)


class TokenRedactingFilter(logging.Filter):
    """Rewrites log records so nothing that looks like a bot token survives (message and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            trace = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(trace)
        return True


_FILTER = TokenRedactingFilter()


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter (idempotent).

    With no argument: to the root logger, its handlers, and every existing logger of httpx,
    httpcore, telegram and this app (a logger's filters only see records created by that very
    logger, so the sources are covered too). With a logger: to it and its handlers.
    """
    if logger is not None:
        targets: list[logging.Filterer] = [logger, *logger.handlers]
    else:
        root = logging.getLogger()
        targets = [root, *root.handlers]
        names = [n for n in list(logging.Logger.manager.loggerDict) if n.split(".")[0] in _PREFIXES]
        targets += [logging.getLogger(n) for n in {*_PREFIXES, *names}]
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


def configure_logging() -> None:
    """Call once at startup: quieten the HTTP loggers and install token redaction."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(logging.INFO)
    install_log_redaction()


def retry_after_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked us to wait (works with and without PTB_TIMEDELTA)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def reason_code(exc: BaseException) -> str:
    """A stable, machine-readable reason for a failed Bot API call."""
    if isinstance(exc, RetryAfter):
        return "rate_limited"
    if isinstance(exc, InvalidToken):
        return "bad_token"
    if isinstance(exc, Forbidden):
        return "bot_blocked" if "blocked" in exc.message.lower() else "forbidden"
    if isinstance(exc, BadRequest):
        return "chat_not_found" if "chat not found" in exc.message.lower() else "bad_request"
    if isinstance(exc, ChatMigrated):
        return "chat_migrated"
    if isinstance(exc, Conflict):
        return "conflict"
    if isinstance(exc, NetworkError | asyncio.TimeoutError | OSError):
        return "network_error"
    return "telegram_error" if isinstance(exc, TelegramError) else "error"


def describe(exc: BaseException, *secrets: str) -> str:
    """`<class>: <Telegram's description>`, safe to store and log (never the token)."""
    name = type(exc).__name__
    if isinstance(exc, InvalidToken):
        # str(InvalidToken) can be "The token `<TOKEN>` was rejected by the server."
        text = f"{name}: the bot token was rejected"
    elif isinstance(exc, RetryAfter):
        text = f"{name}: flood control, retry in {retry_after_seconds(exc):g}s"
    elif isinstance(exc, TelegramError):
        text = f"{name}: {exc.message}"
    else:
        text = f"{name}: {exc}" if str(exc) else name
    return redact(text, *secrets)[:MAX_ERROR_CHARS]


class BotPool:
    """One shared, initialised `HTTPXRequest` for every user's `Bot` (one per event loop)."""

    def __init__(self, base_url: str | None = None, timeout: float = 10.0, pool_size: int = 64) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._pool_size = pool_size
        self._request: HTTPXRequest | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.requests_created = 0  # how many HTTP clients this pool ever built

    @property
    def base_url(self) -> str:
        return self._base_url or get_settings().telegram_api_base_url

    async def request(self) -> HTTPXRequest:
        """The shared client, built and initialised once for the running loop."""
        loop = asyncio.get_running_loop()
        if self._request is None or self._loop is not loop:
            # a client's connections belong to the loop that opened them; a new loop needs a new one
            self._request = HTTPXRequest(
                connection_pool_size=self._pool_size,
                read_timeout=self._timeout,
                write_timeout=self._timeout,
                connect_timeout=self._timeout,
                pool_timeout=self._timeout,
            )
            self._loop = loop
            self.requests_created += 1
            install_log_redaction()  # loggers the libraries created since startup get the filter too
            await self._request.initialize()
        return self._request

    async def bot(self, token: str) -> Bot:
        """A `Bot` for one user's token on the shared client. Use it for one call; do not cache it."""
        request = await self.request()
        return Bot(token, base_url=self.base_url, request=request, get_updates_request=request)

    async def aclose(self) -> None:
        """Close the shared client (at shutdown)."""
        request, self._request, self._loop = self._request, None, None
        if request is not None:
            await request.shutdown()


configure_logging()
