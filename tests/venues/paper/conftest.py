"""Fixtures of the paper venue's tests (defined in support.py, which tests/venues/test_paper.py shares)."""

from tests.venues.paper.support import indexer_market  # noqa: F401 - fixture
