"""Log lines an operator can follow: plain text (development) or JSON lines (`LOG_FORMAT=json`).

Every line names the worker and, where they apply, the request id, the user (a shortened
address), the signal id and the position id. Those come from a context variable set by
`log_context(...)`: the request middleware (`api.request_context`), the engine per signal, the
monitor per account. Asyncio tasks copy the context they start in, so work started for a request
or a signal keeps its ids.

Reflex's own logger (`reflex`) has its own sink (`REFLEX_LOG_JSON` turns it to JSON) and does not
propagate; granian's access log is its own too. Everything else (the app, httpx, telegram,
SQLAlchemy) reaches the root handler installed here, whose filter redacts secrets
(`services.ops.redaction`) from the message, its arguments and the traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from trading_app.services.notify import telegram_api
from trading_app.services.ops.redaction import redact_secrets
from trading_app.settings import get_settings

FIELDS = ("request_id", "user", "signal_id", "position_id")
_EMPTY: dict[str, str] = {}
_context: ContextVar[dict[str, str]] = ContextVar("log_context", default=_EMPTY)
_HANDLER_NAME = "trading_app.ops"
# libraries whose INFO lines are noise at the default level (APScheduler: two lines per job run,
# the trigger watch runs twice a second)
QUIET = ("apscheduler",)


def short_address(address: str | None) -> str | None:
    """`0x12ab…cdef`: enough to tell traders apart in a log, not a whole address in every line."""
    if not address:
        return None
    return address if len(address) <= 12 else f"{address[:6]}…{address[-4:]}"


@contextlib.contextmanager
def log_context(
    *,
    request_id: str | None = None,
    user: str | None = None,
    signal_id: int | None = None,
    position_id: int | None = None,
) -> Iterator[None]:
    """Name the request, user, signal or position in every log line written inside the block.

    Fields left None keep what an outer block set.
    """
    token = _context.set(_merged(request_id, user, signal_id, position_id))
    try:
        yield
    finally:
        _context.reset(token)


def bind(
    *,
    request_id: str | None = None,
    user: str | None = None,
    signal_id: int | None = None,
    position_id: int | None = None,
) -> None:
    """Like `log_context`, for the rest of the current task (a task's context dies with it)."""
    _context.set(_merged(request_id, user, signal_id, position_id))


def _merged(
    request_id: str | None, user: str | None, signal_id: int | None, position_id: int | None
) -> dict[str, str]:
    current = dict(_context.get())
    if request_id is not None:
        current["request_id"] = request_id
    if user is not None:
        current["user"] = short_address(user) or ""
    if signal_id is not None:
        current["signal_id"] = str(signal_id)
    if position_id is not None:
        current["position_id"] = str(position_id)
    return current


def current_context() -> dict[str, str]:
    """The ids set for the running code (a copy)."""
    return dict(_context.get())


_worker: tuple[int, str] | None = None


def worker_id() -> str:
    """`host:pid` of this process (computed again after a fork)."""
    global _worker  # noqa: PLW0603 - one value per process
    pid = os.getpid()
    if _worker is None or _worker[0] != pid:
        _worker = (pid, f"{socket.gethostname()}:{pid}")
    return _worker[1]


class ContextFilter(logging.Filter):
    """Puts the worker and the context's ids on each record and redacts its secrets.

    On the handler (not a logger): a handler's filters see the records of every logger that
    propagates to it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = worker_id()
        for name, value in _context.get().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's problem, not ours
            return True
        cleaned = redact_secrets(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact_secrets(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_secrets(record.stack_info)
        return True


def _ids(record: logging.LogRecord) -> dict[str, str]:
    return {name: str(value) for name in FIELDS if (value := getattr(record, name, None)) is not None}


def _exception(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The record's traceback, redacted (rendered afresh from `exc_info` when there is one)."""
    if record.exc_info and record.exc_info[0] is not None:
        return redact_secrets(formatter.formatException(record.exc_info))
    return redact_secrets(record.exc_text) if record.exc_text else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, worker, message, the ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "worker": getattr(record, "worker", None) or worker_id(),
            "message": record.getMessage(),
            **_ids(record),
        }
        if (trace := _exception(self, record)) is not None:
            line["exception"] = trace
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [worker request_id=.. user=..] message`: the development default."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(ids)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{k}={v}" for k, v in _ids(record).items())
        record.ids = f"{getattr(record, 'worker', None) or worker_id()}{' ' + ids if ids else ''}"
        # another handler may have cached its own rendering of the traceback: never trust it
        cached, record.exc_text = record.exc_text, _exception(self, record)
        try:
            return super().format(record)
        finally:
            record.exc_text = cached


def make_handler(fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A stream handler with the context filter and the chosen format (`text` or `json`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def configure_logging(fmt: str | None = None, level: str | None = None) -> logging.Handler:
    """Install the one root handler (replacing an earlier one: idempotent).

    Args:
        fmt: `text` or `json` (default: the `LOG_FORMAT` setting).
        level: the root level name (default: the `LOG_LEVEL` setting).

    Returns:
        The handler installed.
    """
    settings = get_settings()
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = make_handler(fmt or settings.log_format)
    root.addHandler(handler)
    root.setLevel((level or settings.log_level).upper())
    telegram_api.configure_logging()  # httpx at WARNING: its INFO lines are Bot API URLs
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


__all__ = [
    "ContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "bind",
    "configure_logging",
    "current_context",
    "log_context",
    "make_handler",
    "short_address",
    "worker_id",
]
