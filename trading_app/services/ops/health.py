"""Readiness of the parts the app depends on. Reports names and states, never secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from trading_app.db.engine import get_engine
from trading_app.settings import get_settings

Check = Callable[[], Awaitable[dict[str, object]]]

# Components that register themselves once they exist (the scheduler, for one)
_extra_checks: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    """Add a component to the readiness report."""
    _extra_checks[name] = check


def unregister_check(name: str) -> None:
    """Remove a component (on shutdown)."""
    _extra_checks.pop(name, None)


async def _database() -> dict[str, object]:
    async with get_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))
    return {"status": "ok", "kind": "sqlite" if get_settings().is_sqlite else "postgresql"}


async def _redis() -> dict[str, object]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(get_settings().redis_url or "", socket_timeout=2)
    try:
        await client.ping()  # type: ignore[misc]  # typed for both clients; the asyncio one awaits
    finally:
        await client.aclose()
    return {"status": "ok"}


async def _run(check: Check, timeout: float) -> dict[str, object]:  # noqa: ASYNC109 - a deadline per check
    try:
        return await asyncio.wait_for(check(), timeout)
    except Exception as e:  # noqa: BLE001 - a failed dependency is a report, not a crash
        # the exception type only: messages can carry connection strings
        return {"status": "error", "error": type(e).__name__}


# a deadline per check: one outer timeout would lose which component was slow
async def readiness(timeout: float = 3.0) -> tuple[bool, dict[str, dict[str, object]]]:  # noqa: ASYNC109
    """Check every component concurrently.

    Returns:
        (all healthy, {component: report}).
    """
    checks: dict[str, Check] = {"database": _database}
    if get_settings().redis_url:
        checks["redis"] = _redis
    checks.update(_extra_checks)
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[n], timeout) for n in names))
    report = dict(zip(names, results, strict=True))
    return all(r.get("status") == "ok" for r in report.values()), report
