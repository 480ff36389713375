"""Local fake servers that speak the real protocols of outside services (see each module's docstring).

- `tests.fakes.indexer.FakeIndexer`: the dYdX v4 indexer's HTTP API (markets, order books, plus
  routes registered by other tests).
"""
