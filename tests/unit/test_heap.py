"""``lumigram.infra.gc_tuning.settle``: start-up's objects leave the collector's walks."""

from __future__ import annotations

import subprocess
import sys

# Run in an interpreter of its own: ``settle`` collects and freezes the whole process, which
# in a test session is everything the earlier tests left behind (tens of seconds of walking
# late in a full run), and the freeze would change how the rest of the session collects.
_SETTLE_IN_A_FRESH_PROCESS = """
import gc
import weakref

from lumigram.infra import gc_tuning as heap


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the collector frees it


garbage = Node()
gone = weakref.ref(garbage)
del garbage
alive = Node()
heap.settle()
assert gone() is None, "start-up's leftovers were kept"
assert gc.get_freeze_count() > 0, "nothing was frozen"
# A full collection no longer walks the frozen objects.
assert all(obj is not alive for obj in gc.get_objects(generation=2)), "a live object is still walked"
"""


def test_garbage_is_collected_and_what_is_alive_is_frozen() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SETTLE_IN_A_FRESH_PROCESS], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
