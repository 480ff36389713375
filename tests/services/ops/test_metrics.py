"""The engine and the monitor feed the metrics: orders by venue and result, the phase latencies of
an execution, the monitor's tick duration and venue calls, the open positions it watches; and the
monitor's log lines name the account's trader, and the position (and its signal) being reconciled."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.fakes.indexer import FakeIndexer
from tests.services import monitor_support
from tests.services.engine_support import LONG_BTC, make_signal, make_user
from tests.services.ops.log_support import captured_logs, json_lines
from trading_app.services.engine import executor
from trading_app.services.monitor import tick
from trading_app.services.notify.notifier import get_notifier
from trading_app.services.ops import metrics
from trading_app.services.ops.logs import short_address

paper_market = monitor_support.paper_market  # the fixture, used by name
PHASES = ("risk_passed", "entry_sent", "filled", "stop_placed", "tp_placed", "executed")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_execution_counts_its_orders_and_times_its_phases(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(911)
    sid = await make_signal(user, LONG_BTC)
    placed = sample("trading_orders_total", venue="paper", result="placed")
    phases = {p: sample("trading_engine_phase_seconds_count", phase=p) for p in PHASES}
    outcome = await executor.execute_signal(sid)
    await get_notifier().drain(5)
    assert outcome is not None and outcome.status.value == "EXECUTED"
    assert sample("trading_orders_total", venue="paper", result="placed") == placed + 3  # entry, SL, TP
    for phase, count in phases.items():
        assert sample("trading_engine_phase_seconds_count", phase=phase) == count + 1, phase
    assert sample("trading_engine_phase_seconds_count", phase="claimed") == 0  # the clock starts there


async def test_a_monitor_tick_is_timed_counts_venue_calls_and_the_positions_it_watches(
    db_url: str, paper_market: FakeIndexer
) -> None:
    user = await make_user(912)
    sid = await make_signal(user, LONG_BTC)
    await executor.execute_signal(sid)
    await get_notifier().drain(5)
    ticks = sample("trading_monitor_tick_seconds_count")
    calls = sample("trading_monitor_venue_calls_total", call="account_state")
    open_before = sample("trading_open_positions")
    monitor_support.move(paper_market, "BTC-USD", "59000")  # under the stop: this tick books the close
    try:
        with captured_logs("json") as stream:
            report = await tick.monitor_tick("ops-metrics-worker", wait=None, sweep=False)
        named = [line for line in json_lines(stream) if line.get("user") == short_address(user)]
        assert named, "the reconcile's lines name the account's trader"
        assert any(line.get("position_id") and line.get("signal_id") == str(sid) for line in named)
        assert [(r.user, r.error) for r in report.results] == [(user, None)]
        assert sample("trading_monitor_tick_seconds_count") == ticks + 1
        assert sample("trading_monitor_venue_calls_total", call="account_state") >= calls + 1
        assert sample("trading_open_positions") == open_before + 1  # counted before the close was booked
    finally:
        await tick.stop("ops-metrics-worker")
        metrics.positions_kept(set())  # this worker is gone: its accounts are no longer counted here
    assert sample("trading_open_positions") == 0
