"""End each test process in a second instead of ten.

A process that has run tests holds several hundred thousand objects (the app's modules,
SQLAlchemy's tables, schemathesis, botocore's service models...). On the way out pytest
collects garbage twice (to report exceptions raised in finalizers) and the interpreter's
shutdown collects several times more; each full collection walks every one of those
objects, about a second apiece on a loaded 2-core machine. Under pytest-xdist the
controller waits for each worker to exit, so this cost about ten seconds at the end of
every run.

Once every fixture is torn down, one collection runs here (finalizers that raise are
still reported by pytest), and then everything alive is moved to the permanent
generation (``gc.freeze``), which the later collections skip. The objects are freed by
the process's exit as they would have been.
"""

from __future__ import annotations

import gc
from collections.abc import Generator

import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish() -> Generator[None, None, None]:
    # The outermost wrapper: what follows ``yield`` runs after every other implementation,
    # the session fixtures' teardown included.
    result = yield
    gc.collect()
    gc.freeze()
    return result
