"""Garbage-collector set-up of a worker once the app is loaded.

A worker imports tens of thousands of long-lived objects (Reflex, SQLAlchemy, pydantic, the
crypto and web3 stacks). Every full collection re-scanned all of them: on the webhook accept
path that was about a third of the CPU per request and the longest pauses in its p99.
`gc.freeze()` moves what exists at start-up to a permanent generation the collector skips;
objects made afterwards (requests, sessions, caches) are collected as before. Frozen objects
are never freed, so the collection just before it drops start-up garbage first.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect, then freeze every object that exists now; returns how many are frozen.

    Call once per worker when start-up is over (a Reflex lifespan task runs it). Calling it
    again later also freezes what was made in between, which is harmless but pointless.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
