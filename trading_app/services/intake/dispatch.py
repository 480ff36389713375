"""The hand-off from the durable inbox to execution.

The webhook commits a signal, answers, and then calls `dispatch(signal_id)`. Execution
runs as a tracked background task (kept referenced so it is never garbage-collected and
awaited on shutdown). The executor is registered by the composition root, so the inbox
never imports the trading engine. A signal that is dispatched but not finished (the
process died, the venue was down) is picked up again by the engine's sweep: dispatching is
an optimisation for latency, never the only path to execution.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Executor = Callable[[int], Awaitable[object]]

_executor: Executor | None = None
_tasks: set[asyncio.Task[object]] = set()


def set_executor(executor: Executor | None) -> None:
    """Register the function that executes one signal by id (None to unregister)."""
    global _executor
    _executor = executor


def dispatch(signal_id: int) -> asyncio.Task[object] | None:
    """Start executing `signal_id` in the background; no-op when no executor is registered."""
    if _executor is None:
        return None
    name = f"execute-signal-{signal_id}"
    task = asyncio.get_running_loop().create_task(_run(_executor, signal_id), name=name)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def _run(executor: Executor, signal_id: int) -> None:
    try:
        await executor(signal_id)
    except Exception:  # noqa: BLE001 - the sweep retries; one failure must not kill the loop
        log.exception("execution of signal %s failed; the sweep will retry", signal_id)


async def drain(timeout: float = 10.0) -> None:  # noqa: ASYNC109 - waits at most, then returns (no raise)
    """Wait for in-flight executions (shutdown and tests)."""
    pending = [t for t in _tasks if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
