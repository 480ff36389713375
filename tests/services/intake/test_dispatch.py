"""The dispatcher between the inbox and the engine: bounded, fair between traders, never the only
path to execution (what it drops stays ACCEPTED for the sweep)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from trading_app.services.intake import dispatch
from trading_app.services.ops.logs import current_context, log_context
from trading_app.settings import get_settings


class Recorder:
    """An executor that records the order executions start in and how many run at once; each
    waits until released, so the test controls when slots free up."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.running = 0
        self.most = 0
        self.gate = asyncio.Event()

        self.request_ids: dict[int, str | None] = {}

    async def __call__(self, signal_id: int) -> object:
        self.started.append(signal_id)
        self.request_ids[signal_id] = current_context().get("request_id")
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate.wait()
            if signal_id < 0:
                raise RuntimeError("venue exploded")
            return f"done-{signal_id}"
        finally:
            self.running -= 1


@pytest.fixture
async def recorder(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Recorder]:
    monkeypatch.setenv("EXECUTION_CONCURRENCY", "3")
    monkeypatch.setenv("EXECUTION_QUEUE_LIMIT", "40")
    get_settings.cache_clear()
    rec = Recorder()
    dispatch.set_executor(rec)
    yield rec
    dispatch.set_executor(None)
    rec.gate.set()
    await dispatch.drain(timeout=5)
    get_settings.cache_clear()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_no_more_than_the_limit_run_at_once_and_every_one_finishes(recorder: Recorder) -> None:
    futures = [dispatch.dispatch(i, lane=f"trader-{i % 4}") for i in range(1, 31)]
    await _settle()
    assert recorder.running == 3 and dispatch.stats()["waiting"] == 27
    recorder.gate.set()
    results = await asyncio.gather(*[f for f in futures if f is not None])
    assert sorted(results) == sorted(f"done-{i}" for i in range(1, 31))  # type: ignore[type-var]
    assert recorder.most == 3 and sorted(recorder.started) == list(range(1, 31))
    assert dispatch.stats()["running"] == dispatch.stats()["waiting"] == 0


async def test_one_traders_flood_does_not_hold_up_another_trader(recorder: Recorder) -> None:
    flood = [dispatch.dispatch(i, lane="flooder") for i in range(1, 31)]
    late = dispatch.dispatch(1000, lane="quiet-trader")
    await _settle()
    assert recorder.started == [1, 2, 3]  # the flood took every free slot before the other arrived
    recorder.gate.set()
    await asyncio.gather(*[f for f in [*flood, late] if f is not None])
    # round-robin: the flooder's lane was ahead in the ring, so one more of its alerts starts, then
    # the quiet trader's, not after the 27 that were waiting ahead of it
    assert recorder.started.index(1000) == 4
    # and the flood keeps its own arrival order
    assert [s for s in recorder.started if s != 1000] == list(range(1, 31))


async def test_round_robin_between_many_lanes(recorder: Recorder) -> None:
    for i in range(1, 4):
        dispatch.dispatch(i, lane="slots")  # fill the three slots
    for lane in ("a", "b", "c"):
        for n in range(3):
            dispatch.dispatch(100 * (ord(lane) - 96) + n, lane=lane)
    recorder.gate.set()
    await dispatch.drain(timeout=5)
    assert recorder.started[3:] == [100, 200, 300, 101, 201, 301, 102, 202, 302]


async def test_a_full_queue_leaves_the_rest_to_the_sweep(recorder: Recorder) -> None:
    accepted = [dispatch.dispatch(i, lane="x") for i in range(1, 61)]
    # three run, forty wait; the other seventeen are not queued (None): still ACCEPTED in the
    # database, where the engine's sweep finds them
    assert sum(f is not None for f in accepted) == 43 and accepted[43:] == [None] * 17
    assert dispatch.stats()["dropped"] == 17
    recorder.gate.set()
    await dispatch.drain(timeout=5)
    assert sorted(recorder.started) == list(range(1, 44))


async def test_the_same_signal_twice_runs_once(recorder: Recorder) -> None:
    first = dispatch.dispatch(7, lane="x")
    again = dispatch.dispatch(7, lane="y")
    assert first is again
    recorder.gate.set()
    assert await first == "done-7"  # type: ignore[misc]
    assert recorder.started == [7]


async def test_a_failing_execution_frees_its_slot(recorder: Recorder) -> None:
    futures = [dispatch.dispatch(-i, lane="x") for i in range(1, 6)] + [dispatch.dispatch(9, lane="y")]
    recorder.gate.set()
    results = await asyncio.gather(*[f for f in futures if f is not None])
    assert results == [None] * 5 + ["done-9"]


async def test_unregistering_drops_what_waits(recorder: Recorder) -> None:
    futures = [dispatch.dispatch(i, lane="x") for i in range(1, 11)]
    await _settle()
    dispatch.set_executor(None)  # the worker stops: the seven waiting stay ACCEPTED for the sweep
    assert [await f for f in futures[3:] if f is not None] == [None] * 7
    recorder.gate.set()
    await dispatch.drain(timeout=5)
    assert recorder.started == [1, 2, 3]
    assert dispatch.dispatch(11, lane="x") is None


def test_concurrency_is_sized_to_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "10")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "6")
    monkeypatch.delenv("EXECUTION_CONCURRENCY", raising=False)
    get_settings.cache_clear()
    try:
        assert dispatch.concurrency_limit() == 32
        monkeypatch.setenv("EXECUTION_CONCURRENCY", "4")
        get_settings.cache_clear()
        assert dispatch.concurrency_limit() == 4
    finally:
        get_settings.cache_clear()


async def test_an_execution_that_waited_logs_the_request_id_of_its_own_alert(recorder: Recorder) -> None:
    """A queued execution is started by another one's end: its log lines still name its own request."""
    futures = []
    for i in range(1, 8):  # 3 run at once: 4 wait, each started from an earlier one's end
        with log_context(request_id=f"req-{i}"):
            futures.append(dispatch.dispatch(i, lane="one-trader"))
    recorder.gate.set()
    await asyncio.gather(*[f for f in futures if f is not None])
    assert recorder.request_ids == {i: f"req-{i}" for i in range(1, 8)}
