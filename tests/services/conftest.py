"""Every engine, monitor and ops test ends by checking the money invariants (services.ops.audit)
of every account it left in its database, against that account's own venue, while the test's
fakes are still running. A test that leaves an account broken on purpose says so with
`@pytest.mark.breaks_invariants("why")`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.services.accounts.chain_support import chain  # noqa: F401 - fixture of tests/services/**
from tests.services.dydx_support import dydx_user  # noqa: F401 - fixture of tests/services/**
from trading_app.services.accounts.venues import venue_for
from trading_app.services.ops.audit import accounts_to_audit, audit_account

CHECKED = ("engine", "monitor", "ops")
DATABASE_FIXTURES = {"db_url", "pg_url", "sqlite_url"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "breaks_invariants(why): the test leaves an account broken on purpose")


async def assert_money_invariants(settle_seconds: float = 3.0) -> None:
    """Fail with every breach of every account the test's database knows.

    A dYdX stop-loss sent in the last block is only live (and indexed) a block or two later, so a
    breach must persist for `settle_seconds` (the fake chain makes a block every 50 ms) to count.
    """
    deadline = asyncio.get_running_loop().time() + settle_seconds
    while True:
        found = []
        for user, network in await accounts_to_audit(None):
            venue = await venue_for(user, network)
            found += [f"{user} {network}: {b}" for b in await audit_account(user, network, venue)]
        if not found or asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(0.1)
    assert not found, "money invariants broken:\n" + "\n".join(found)


def _checked(test: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        result = await test(*args, **kwargs)
        await assert_money_invariants()
        return result

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if not isinstance(item, pytest.Function) or item.get_closest_marker("breaks_invariants"):
            continue
        parts = (
            Path(str(item.path)).relative_to(here).parts if Path(str(item.path)).is_relative_to(here) else ()
        )
        if not parts or parts[0] not in CHECKED or not DATABASE_FIXTURES & set(item.fixturenames):
            continue
        if inspect.iscoroutinefunction(item.obj):
            item.obj = _checked(item.obj)
