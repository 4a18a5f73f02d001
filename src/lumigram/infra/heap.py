"""The garbage collector and a long-running process.

CPython's full collection walks every object the collector tracks. A serve process
holds about 150,000 once started (modules, the app and its routes, SQLAlchemy's tables
and compiled statements), nearly all of them alive until it stops, and a full
collection of those took about 85 ms on a 2-vCPU machine. Under load one came every few
seconds per process and stalled every request in flight: much of the mix's p99.

``settle`` runs once, when start-up is done: it collects what start-up left behind, then
moves every object still alive into the permanent generation (``gc.freeze``), which
later collections skip. They then walk only what the process made since.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.collect()
    gc.freeze()
