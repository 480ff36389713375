"""Listening to what the app's engine sends, for tests that count statements and transactions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from trading_app.db.engine import get_engine


@contextmanager
def listening(
    on_sql: Callable[[str], None],
    on_begin: Callable[[Any], None] | None = None,
    on_commit: Callable[[Any], None] | None = None,
) -> Iterator[None]:
    """Call `on_sql` with each statement the app's engine sends meanwhile (and `on_begin` /
    `on_commit` with the connection at each BEGIN / COMMIT), on the running loop's engine."""
    engine = get_engine().sync_engine
    hooks: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", lambda _conn, _cursor, sql, *_args: on_sql(sql))
    ]
    hooks += [(name, fn) for name, fn in (("begin", on_begin), ("commit", on_commit)) if fn is not None]
    for name, fn in hooks:
        event.listen(engine, name, fn)
    try:
        yield
    finally:
        for name, fn in hooks:
            event.remove(engine, name, fn)
