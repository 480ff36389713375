"""The hand-off from the durable inbox to execution: bounded, and fair between traders.

The webhook commits a signal, answers, and then calls `dispatch(signal_id, lane)`. A burst (bar
closes bunch every trader's alerts into the same second) must not start a thousand executions
at once: each needs database connections, and a pool that runs out makes executions fail with
pool timeouts and leaves them to the sweep. So executions wait in per-trader queues (lanes) and
at most `concurrency` run at once, sized to the pool. Slots are handed out round-robin over the
lanes that have work, so one trader's flood of alerts delays another trader's alert by at most
one execution per trader ahead of it in the ring.

Dispatching is an optimisation for latency, never the only path to execution: a signal that is
dropped here (the queue is full, the worker stops) is still ACCEPTED in the database and the
engine's sweep executes it. The executor is registered by the composition root, so the inbox
never imports the trading engine.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from trading_app.settings import get_settings

log = logging.getLogger(__name__)

Executor = Callable[[int], Awaitable[object]]


@dataclass
class _Dispatcher:
    """Per-worker queue state: lanes of waiting signal ids, the ring of lanes with work, the
    running tasks and one future per signal (what `dispatch` returns)."""

    loop: asyncio.AbstractEventLoop
    concurrency: int
    queue_limit: int
    lanes: dict[str, deque[int]] = field(default_factory=dict)
    ring: deque[str] = field(default_factory=deque)
    queued: int = 0
    running: set[asyncio.Task[object]] = field(default_factory=set)
    futures: dict[int, asyncio.Future[object]] = field(default_factory=dict)
    # the context each signal was dispatched in (its request's log ids): a waiting execution is
    # started from another one's done callback, whose context is the other request's
    contexts: dict[int, contextvars.Context] = field(default_factory=dict)
    dropped: int = 0


_executor: Executor | None = None
_state: _Dispatcher | None = None


def concurrency_limit() -> int:
    """Executions allowed at once in this worker: the setting, or twice the database pool.

    An execution holds a connection only for its short transactions and spends most of its time
    waiting for the venue, so twice the pool keeps the pool busy without anyone waiting long for a
    connection (measured by bench/burst.py: 1,000 alerts at once, 20 running on a pool of 5 + 5,
    no pool timeout; the same burst unbounded exhausted the pool by the thousand).
    """
    settings = get_settings()
    if settings.execution_concurrency:
        return settings.execution_concurrency
    return max(1, 2 * (settings.db_pool_size + settings.db_max_overflow))


def set_executor(executor: Executor | None) -> None:
    """Register the function that executes one signal by id (None to unregister: what waits in
    the queue is dropped and left to the sweep)."""
    global _executor
    _executor = executor
    if executor is None and _state is not None:
        _drop_waiting(_state)


def _current() -> _Dispatcher:
    global _state
    loop = asyncio.get_running_loop()
    if _state is None or _state.loop is not loop:
        # a new event loop (a restart of the lifespan, a test): the old loop's queue is gone
        settings = get_settings()
        _state = _Dispatcher(loop, concurrency_limit(), settings.execution_queue_limit)
    return _state


def dispatch(signal_id: int, lane: str | None = None) -> asyncio.Future[object] | None:
    """Queue `signal_id` for execution in `lane` (the trader: their webhook id or address).

    Returns:
        A future that completes when the execution ends (its result, or None when it failed or
        was dropped), or None when no executor is registered or the queue is full (the signal
        stays ACCEPTED and the sweep executes it).
    """
    if _executor is None:
        return None
    state = _current()
    known = state.futures.get(signal_id)
    if known is not None:
        return known  # queued or running already: the claim would refuse a second run anyway
    if state.queued >= state.queue_limit:
        state.dropped += 1
        if state.dropped == 1 or state.dropped % 1000 == 0:
            log.warning("execution queue full (%d waiting): signal %s left to the sweep", state.queued,
                        signal_id)
        return None
    key = lane if lane is not None else f"signal:{signal_id}"
    waiting = state.lanes.get(key)
    if waiting is None:
        waiting = state.lanes[key] = deque()
        state.ring.append(key)
    waiting.append(signal_id)
    state.queued += 1
    future: asyncio.Future[object] = state.loop.create_future()
    state.futures[signal_id] = future
    state.contexts[signal_id] = contextvars.copy_context()
    _pump(state)
    return future


def _pump(state: _Dispatcher) -> None:
    """Start waiting executions while slots are free, one lane at a time round-robin."""
    while _executor is not None and state.ring and len(state.running) < state.concurrency:
        key = state.ring.popleft()
        waiting = state.lanes[key]
        signal_id = waiting.popleft()
        state.queued -= 1
        if waiting:
            state.ring.append(key)  # back of the ring: every other lane goes first
        else:
            del state.lanes[key]
        context = state.contexts.pop(signal_id, None)
        name = f"execute-signal-{signal_id}"
        task = state.loop.create_task(_run(_executor, signal_id), name=name, context=context)
        state.running.add(task)
        task.add_done_callback(functools.partial(_finished, state, signal_id))


def _finished(state: _Dispatcher, signal_id: int, task: asyncio.Task[object]) -> None:
    state.running.discard(task)
    future = state.futures.pop(signal_id, None)
    if future is not None and not future.done():
        future.set_result(None if task.cancelled() else task.result())
    _pump(state)


def _drop_waiting(state: _Dispatcher) -> None:
    for waiting in state.lanes.values():
        for signal_id in waiting:
            future = state.futures.pop(signal_id, None)
            if future is not None and not future.done():
                future.set_result(None)
    state.lanes.clear()
    state.ring.clear()
    state.contexts.clear()
    state.queued = 0


async def _run(executor: Executor, signal_id: int) -> object:
    try:
        return await executor(signal_id)
    except Exception:  # noqa: BLE001 - the sweep retries; one failure must not kill the loop
        log.exception("execution of signal %s failed; the sweep will retry", signal_id)
        return None


def stats() -> dict[str, int]:
    """Running and waiting executions of this worker (health and benchmarks)."""
    state = _state
    if state is None:
        return {"running": 0, "waiting": 0, "dropped": 0, "concurrency": concurrency_limit()}
    return {
        "running": len(state.running),
        "waiting": state.queued,
        "dropped": state.dropped,
        "concurrency": state.concurrency,
    }


async def drain(timeout: float = 10.0) -> None:  # noqa: ASYNC109 - waits at most, then returns (no raise)
    """Wait for queued and running executions (shutdown and tests), at most `timeout` seconds."""
    state = _state
    if state is None or state.loop is not asyncio.get_running_loop():
        return
    deadline = state.loop.time() + timeout
    while state.running or (state.queued and _executor is not None):
        left = deadline - state.loop.time()
        if left <= 0:
            return
        await asyncio.wait(list(state.running) or [state.loop.create_task(asyncio.sleep(0.01))], timeout=left)
