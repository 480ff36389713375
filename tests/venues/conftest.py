"""The venue tests' fixtures: `dydx_world` (the fake dYdX node + indexer + chain state) comes from
tests/conftest.py's `pytest_plugins`, like every fixture shared across directories.

Every venue test ends by checking the venue's own money invariants (services.ops.audit.venue_breaches)
on the venues it used, while its fakes still run: every quantity on the grid and every conditional
order reduce-only. Whether each position has its stop-loss is the product's invariant, not a venue's:
`dydx_world` checks it at teardown unless a test says it opens one on purpose without. A test that
leaves its venue unreadable on purpose says so with `@pytest.mark.breaks_invariants("why")`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.fakes.dydx_world import DydxWorld
from trading_app.services.ops.audit import audit_venue
from trading_app.venues.base import Venue


def _venues(kwargs: dict[str, Any]) -> list[Venue]:
    found = [v for v in kwargs.values() if isinstance(v, Venue)]
    for value in kwargs.values():
        if isinstance(value, DydxWorld):
            found += value.venues[:1]  # one view of the world's one account is enough
    return found


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "breaks_invariants(why): the test leaves an account broken on purpose")


def _checked(test: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        result = await test(*args, **kwargs)
        found = []
        for venue in _venues(kwargs):
            found += [str(b) for b in await audit_venue(venue, positions_protected=False)]
        assert not found, "venue invariants broken:\n" + "\n".join(found)
        return result

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function) or "tests/venues" not in str(item.path):
            continue
        if item.get_closest_marker("breaks_invariants"):
            continue
        if inspect.iscoroutinefunction(item.obj):
            item.obj = _checked(item.obj)
