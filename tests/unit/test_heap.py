"""``lumigram.infra.gc_tuning.settle``: start-up's objects leave the collector's walks."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from lumigram.infra import gc_tuning as heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


@pytest.mark.usefixtures("unfrozen")
def test_garbage_is_collected_and_what_is_alive_is_frozen() -> None:
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    alive = _Node()
    gc.unfreeze()
    heap.settle()
    assert gone() is None  # start-up's leftovers are freed, not kept for ever
    assert gc.get_freeze_count() > 0
    # A full collection no longer walks the frozen objects.
    assert all(obj is not alive for obj in gc.get_objects(generation=2))
