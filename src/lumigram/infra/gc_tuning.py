"""The garbage collector and a long-running process.

CPython's full collection walks every object the collector tracks. A serve process
holds about 150,000 once started (modules, the app and its routes, SQLAlchemy's tables
and compiled statements), nearly all of them alive until it stops, and a full
collection of those took about 85 ms on a 2-vCPU machine. Under load one came every few
seconds per process and stalled every request in flight: much of the mix's p99.

``settle`` runs once, when start-up is done: it collects what start-up left behind, then
moves every object still alive into the permanent generation (``gc.freeze``), which
later collections skip. They then walk only what the process made since.

``LUMIGRAM_GC_LOG=<file>`` makes the process append one line per collection (generation,
pause in milliseconds, objects collected) to that file: how long the collector holds the
event loop is otherwise invisible to a profiler sampling Python frames.
"""

from __future__ import annotations

import atexit
import gc
import os
import time
from typing import Any, TextIO


def settle() -> None:
    gc.collect()
    gc.freeze()
    _watch_pauses(os.environ.get("LUMIGRAM_GC_LOG", ""))


_watching: list[TextIO] = []


def _watch_pauses(path: str) -> None:
    if not path or _watching:
        return
    out = open(path, "a", buffering=1)  # noqa: SIM115  # line by line: a SIGTERM skips atexit
    _watching.append(out)
    atexit.register(out.close)
    started = 0.0

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - started) * 1000
        out.write(f"{info['generation']} {pause_ms:.3f} {info['collected']}\n")

    gc.callbacks.append(on_collection)
