"""The one definition of "now": aware, in UTC.

Every timestamp the app stores or compares is an aware UTC datetime (the database columns refuse
naive ones), so every layer asks this module for the time instead of calling `datetime.now()` its
own way. It lives in the domain because the domain imports nothing of the app: the database
layer, the venues, the services and the pages can all reach it without crossing a layer.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utcnow"]


def utcnow() -> datetime:
    """The current time, aware, in UTC.

    Returns:
        `datetime.now(UTC)`.
    """
    return datetime.now(UTC)
