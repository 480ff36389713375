"""The start-up heap freeze each worker runs as a lifespan task."""

from __future__ import annotations

import gc

from trading_app.startup_gc import THRESHOLDS, freeze_startup_heap


def test_the_start_up_heap_leaves_the_collector_and_new_objects_are_still_collected() -> None:
    defaults = gc.get_threshold()
    try:
        frozen = freeze_startup_heap()
        assert frozen > 0 and gc.get_freeze_count() > 0
        assert gc.get_threshold() == THRESHOLDS

        class Node:
            pass

        node = Node()
        node.cycle = node  # type: ignore[attr-defined]
        del node
        assert gc.collect() > 0  # made after the freeze: a cycle is still collected
    finally:
        gc.unfreeze()
        gc.set_threshold(*defaults)
    assert gc.get_freeze_count() == 0
