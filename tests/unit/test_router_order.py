"""The routers' order in ``lumigram.app.ROUTER_MODULES`` is chosen for speed (a request
walks the routes in order until one matches): that is only safe while no two routers
answer the same request, so that moving one changes where no request goes."""

from __future__ import annotations

import importlib
import re
from typing import Any

from lumigram.app import ROUTER_MODULES

#: Web pages whose paths overlap on purpose, in the order that decides between them.
ORDERED_PAIRS = {("people_pages", "app_pages")}


def _routes() -> list[tuple[str, Any]]:
    found = []
    for module in ROUTER_MODULES:
        for route in importlib.import_module(module).router.routes:
            if hasattr(route, "path_regex"):
                found.append((module.rsplit(".", 1)[-1], route))
    return found


def test_no_two_routers_answer_the_same_request() -> None:
    routes = _routes()
    overlaps = set()
    for owner, route in routes:
        methods = set(getattr(route, "methods", None) or {"GET"})
        for value in ("123", "abc", "lookup"):
            path = re.sub(r"\{[^}]+\}", value, route.path)
            for other, candidate in routes:
                if other == owner or not candidate.path_regex.match(path):
                    continue
                if methods & set(getattr(candidate, "methods", None) or {"GET"}):
                    overlaps.add(tuple(sorted((owner, other), key=[r[0] for r in routes].index)))
    assert overlaps == ORDERED_PAIRS
    order = [module.rsplit(".", 1)[-1] for module in ROUTER_MODULES]
    for first, second in ORDERED_PAIRS:
        assert order.index(first) < order.index(second)
