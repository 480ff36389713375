"""Fixtures shared by the venue tests: the fake dYdX world (node + indexer + chain state)."""

from tests.fakes.dydx_world import dydx_world  # noqa: F401 - fixture
