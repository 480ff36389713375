"""Capture what the app's root log handler writes (text or JSON lines), with the chatty loggers opened up."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from trading_app.services.ops.logs import make_handler

# the loggers a secret could reach: httpx logs each request's URL (a bot token is in it) at INFO
CHATTY = ("httpx", "httpcore", "telegram", "trading_app", "sqlalchemy.engine.Engine")


@contextmanager
def captured_logs(fmt: str) -> Iterator[io.StringIO]:
    """Everything logged inside the block, as the app's handler in format `fmt` writes it."""
    stream = io.StringIO()
    handler = make_handler(fmt, stream)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in CHATTY}
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    """The JSON objects written (each line must be one)."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
