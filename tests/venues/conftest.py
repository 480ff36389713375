"""The venue tests' fixtures: `dydx_world` (the fake dYdX node + indexer + chain state) comes from
tests/conftest.py's `pytest_plugins`, like every fixture shared across directories."""
