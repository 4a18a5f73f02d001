"""Make ``--dist loadgroup`` keep each ``xdist_group`` on one worker again.

pytest-xdist 3.8 groups tests by appending ``@<group>`` to each marked item's node id,
which it does by setting ``item._nodeid``. pytest 9 keeps a node's id in ``item._id``
and no longer reads ``_nodeid``, so the suffix never reached the scheduler: a group's
tests were spread over both workers, and each worker started the module's shared live
servers for itself. This hook appends the suffix where pytest 9 reads it; it stands
aside once pytest-xdist does so itself.
"""

from __future__ import annotations

import pytest
from _pytest.nodeid import NodeId


def _group(item: pytest.Item) -> str | None:
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) if names else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Set on xdist's workers only, and only under --dist loadgroup.
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        group = _group(item)
        if group is not None and not item.nodeid.endswith(f"@{group}"):
            item._id = NodeId.parse(f"{item.nodeid}@{group}")
