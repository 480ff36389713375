"""The batcher behind group commit: batching without a timer, error delivery, poison isolation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from trading_app.services.intake.group_commit import Batcher


class Recorder:
    """A flush that doubles numbers, remembers its batches, and can be held or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None
        self.fail_with: BaseException | None = None

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        if -1 in items:
            raise ValueError("poison")
        return [2 * i for i in items]


async def test_concurrent_callers_share_a_flush_and_a_lone_caller_does_not_wait() -> None:
    flush = Recorder()
    batcher = Batcher(flush)
    assert await asyncio.wait_for(batcher.submit(1), timeout=1) == 2  # no timer to wait out
    assert await asyncio.gather(*(batcher.submit(n) for n in range(50))) == [2 * n for n in range(50)]
    assert flush.batches == [[1], list(range(50))] and batcher.flushes == 2


async def test_callers_arriving_during_a_flush_form_the_next_batch() -> None:
    flush = Recorder()
    flush.gate = asyncio.Event()
    batcher = Batcher(flush, max_batch=4)
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(batcher.submit(n)) for n in range(1, 11)]
    await asyncio.sleep(0.01)
    flush.gate.set()
    assert await first == 0 and [await f for f in later] == [2 * n for n in range(1, 11)]
    assert flush.batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


async def test_an_unreachable_database_fails_the_whole_batch_at_once() -> None:
    flush = Recorder()
    flush.fail_with = OperationalError("INSERT", {}, ConnectionRefusedError("refused"))
    batcher = Batcher(flush)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(5)), return_exceptions=True)
    assert all(r is flush.fail_with for r in results)
    assert len(flush.batches) == 1  # not retried item by item: that would only multiply the wait


async def test_a_poisonous_item_fails_alone() -> None:
    flush = Recorder()
    batcher = Batcher(flush)
    results = await asyncio.gather(*(batcher.submit(n) for n in (1, -1, 3)), return_exceptions=True)
    assert results[0] == 2 and results[2] == 6 and isinstance(results[1], ValueError)
    assert flush.batches == [[1, -1, 3], [1], [-1], [3]]


async def test_a_cancelled_caller_still_has_its_item_flushed() -> None:
    flush = Recorder()
    flush.gate = asyncio.Event()
    batcher = Batcher(flush)
    caller = asyncio.ensure_future(batcher.submit(7))
    await asyncio.sleep(0.01)
    caller.cancel()
    flush.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await batcher.submit(8) == 16
    assert flush.batches == [[7], [8]]


async def test_a_flush_that_miscounts_its_results_fails_its_callers() -> None:
    async def short(items: Sequence[int]) -> list[int]:
        return []

    batcher = Batcher(short)
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        await asyncio.gather(batcher.submit(1), batcher.submit(2))
