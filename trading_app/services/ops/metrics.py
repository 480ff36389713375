"""Prometheus metrics (prometheus-client), served at `GET /metrics` (`api.metrics`).

Each record is an in-memory increment (no I/O): cheap enough for the webhook's accept path.

Several workers (granian `--workers N`): set `PROMETHEUS_MULTIPROC_DIR` to an empty directory
shared by the workers of one host (emptied at each start); every worker then writes its values to
memory-mapped files there and `/metrics` adds them all up, whichever worker answers. Without it
each worker counts on its own and a scrape sees only the worker that answered it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

ALERTS = Counter(
    "trading_alerts_total",
    "Webhook alerts by outcome (accepted, duplicate, capped, invalid, forbidden, unauthorized, ...)",
    ["outcome"],
)
ACCEPT_SECONDS = Histogram(
    "trading_webhook_accept_seconds",
    "Time from the webhook route taking a request (body unread) to its answer sent",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PHASE_SECONDS = Histogram(
    "trading_engine_phase_seconds",
    "Seconds from an execution's claim to each phase of the signal (risk_passed, entry_sent, ...)",
    ["phase"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ORDERS = Counter("trading_orders_total", "Orders sent to a venue, by venue and result", ["venue", "result"])
TICK_SECONDS = Histogram(
    "trading_monitor_tick_seconds",
    "Duration of one monitor tick of this worker",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
VENUE_CALLS = Counter(
    "trading_monitor_venue_calls_total", "Venue calls made by the monitor, by call", ["call"]
)
OPEN_POSITIONS = Gauge(
    "trading_open_positions",
    "Live positions of the accounts the monitors hold (from each account's last reconcile)",
    multiprocess_mode="livesum",
)
WEBSOCKET_CLIENTS = Gauge(
    "trading_websocket_clients", "Open websocket connections", multiprocess_mode="livesum"
)

_positions: dict[tuple[str, str], int] = {}


_alert_counters: dict[str, Counter] = {}  # outcome -> its child: `labels()` costs more than the increment


def alert(outcome: str, seconds: float) -> None:
    """Count one webhook request's outcome and how long it took to answer."""
    counter = _alert_counters.get(outcome)
    if counter is None:
        counter = _alert_counters[outcome] = ALERTS.labels(outcome)
    counter.inc()
    ACCEPT_SECONDS.observe(seconds)


def order_sent(venue: str, result: str) -> None:
    """Count one order sent to `venue` (paper, testnet, mainnet): placed, rejected, unavailable, error."""
    ORDERS.labels(venue, result).inc()


def phase(name: str, seconds: float) -> None:
    """Record how long after its claim an execution reached phase `name`."""
    PHASE_SECONDS.labels(name).observe(seconds)


def monitor_tick(seconds: float, calls: list[dict[str, int]]) -> None:
    """Record one monitor tick: its duration and the venue calls of its reconciles (one dict each)."""
    TICK_SECONDS.observe(seconds)
    for each in calls:
        for call, count in each.items():
            VENUE_CALLS.labels(call).inc(count)


def positions_seen(account: tuple[str, str], count: int) -> None:
    """The live positions one account had at its last reconcile (the gauge sums the accounts)."""
    before = _positions.get(account, 0)
    if count:
        _positions[account] = count
    else:
        _positions.pop(account, None)
    if count != before:
        OPEN_POSITIONS.inc(count - before)


def positions_kept(accounts: set[tuple[str, str]]) -> None:
    """Forget every account but `accounts` (the others' leases went to other workers, which count them)."""
    for account in [a for a in _positions if a not in accounts]:
        positions_seen(account, 0)


def render() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type (every worker's, in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


@asynccontextmanager
async def metrics_lifespan() -> AsyncIterator[None]:
    """A worker's lifespan: in multiprocess mode its live gauges (websockets, positions) leave with it."""
    try:
        yield
    finally:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            _multiprocess.mark_process_dead(os.getpid())


__all__ = [
    "metrics_lifespan",
    "alert",
    "monitor_tick",
    "order_sent",
    "phase",
    "positions_kept",
    "positions_seen",
    "render",
]
