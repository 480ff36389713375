"""Several workers, one scrape: with PROMETHEUS_MULTIPROC_DIR every worker's counts add up in whichever
worker renders `/metrics`, and a stopped worker's live gauges leave with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

WORKER = """
import asyncio, sys
from trading_app.services.ops import metrics
for _ in range(int(sys.argv[1])):
    metrics.alert("accepted", 0.002)
metrics.WEBSOCKET_CLIENTS.inc(2)
if sys.argv[2] == "stop":
    async def stop():
        async with metrics.metrics_lifespan():
            pass
    asyncio.run(stop())
"""
RENDER = """
from trading_app.services.ops import metrics
print(metrics.render()[0].decode())
"""


def _run(code: str, directory: Path, *args: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _value(text: str, prefix: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def test_counts_of_every_worker_add_up_and_a_stopped_workers_gauges_go(tmp_path: Path) -> None:
    _run(WORKER, tmp_path, "3", "keep")  # a worker that died without its shutdown: its gauge stays
    _run(WORKER, tmp_path, "4", "stop")  # a worker that stopped cleanly
    text = _run(RENDER, tmp_path)
    assert _value(text, 'trading_alerts_total{outcome="accepted"}') == 7
    assert _value(text, "trading_webhook_accept_seconds_count") == 7
    assert _value(text, "trading_websocket_clients") == 2
