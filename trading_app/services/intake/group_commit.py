"""Group commit: the database work of concurrent requests done in one statement and one transaction.

A `Batcher` collects items from concurrent callers. One drain task per event loop takes
everything queued, hands it to `flush(items)` (which returns one result per item, in order)
and resolves each caller's future. There is no timer: a lone request is flushed at once,
and the requests that arrive while a flush is in flight form the next batch. So under load
one round trip and one commit (one fsync) serve a whole batch, which is what lifts the
accept path from one commit per alert towards the speed of the bare HTTP endpoint.

A failed flush fails every caller of the batch with the same exception, unless the error
looks like bad data rather than an unreachable database: then the batch is split and each
item is flushed on its own, so one poisonous row cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# The database is unreachable or overloaded: flushing items one by one would only multiply
# the wait, and no single item is to blame.
_INFRASTRUCTURE_ERRORS = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
    OSError,
    asyncio.TimeoutError,
)


class Batcher(Generic[T, R]):
    """Batches `submit` calls into `flush` calls.

    Args:
        flush: writes or reads a batch; returns exactly one result per item, in order.
        max_batch: the most items one flush receives (bounds statement size).
        name: names the drain task (debugging).
    """

    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 500,
        name: str = "batch",
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._name = name
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.flushes = 0  # how many flush calls ran, and with how many items (observability, tests)
        self.items = 0

    async def submit(self, item: T) -> R:
        """Queue `item`, wait for the batch it lands in, and return its result (or raise its error).

        Cancelling the caller does not withdraw the item: once queued it is flushed, so a
        request whose client went away still leaves a consistent database behind.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # a new event loop (tests, a restarted worker): the old queue and task died with the old one
            self._loop, self._queue, self._task = loop, [], None
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain(), name=f"{self._name}-drain")
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._run(batch)
        except asyncio.CancelledError:
            # the loop is shutting down: nobody may wait forever on a batch that will never run
            for _, future in batch + self._queue:
                future.cancel()
            self._queue = []
            raise

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        self.flushes += 1
        self.items += len(items)
        try:
            results = await self._flush(items)
            if len(results) != len(items):
                raise RuntimeError(
                    f"{self._name}: flush returned {len(results)} results for {len(items)} items"
                )
        except _INFRASTRUCTURE_ERRORS as e:
            _fail(batch, e)
            return
        except Exception as e:  # noqa: BLE001 - delivered to the callers, who decide
            if len(batch) == 1:
                _fail(batch, e)
                return
            log.warning(
                "%s: a batch of %d failed (%s); flushing its items one by one",
                self._name,
                len(batch),
                type(e).__name__,
            )
            for single in batch:
                await self._run([single])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # the caller may have been cancelled
                future.set_result(result)


def _fail(batch: list[tuple[T, asyncio.Future[R]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
    # a cancelled caller never retrieves its exception; mark it seen so asyncio stays quiet
    for _, future in batch:
        if future.done() and not future.cancelled():
            future.exception()
