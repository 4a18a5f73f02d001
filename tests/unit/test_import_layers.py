"""The imports the layering depends on, checked on the package's real import graph.

``lint-imports`` (in ``make lint``) enforces every contract in pyproject.toml; these tests
pin down the few edges that once ran upward or in a circle, so that a regression names
the exact module pair rather than a broken contract.
"""

from __future__ import annotations

import grimp
import pytest

#: The bottom layer: what the settings and the adapters may import from this package.
BOTTOM = ("lumigram.infra", "lumigram.config", "lumigram.ids", "lumigram.errors", "lumigram.vapid")
#: The domain packages, which may import each other but never in a circle.
DOMAIN = (
    "feed",
    "notifications",
    "push",
    "interactions",
    "posts",
    "graph",
    "accounts",
    "uploads",
    "media_access",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("lumigram", cache_dir=None)


def _in_bottom(module: str) -> bool:
    return any(module == top or module.startswith(top + ".") for top in BOTTOM)


@pytest.mark.parametrize("package", BOTTOM)
def test_the_bottom_layer_imports_nothing_above_it(graph: grimp.ImportGraph, package: str) -> None:
    above = {
        module
        for module in graph.find_upstream_modules(package, as_package=True)
        if module.startswith("lumigram.") and not _in_bottom(module)
    }
    assert above == set()


def _domain_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAIN else None


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle among ``edges`` (as the packages along it), or [] when there is none."""
    finished: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in finished:
            return []
        path.append(node)
        for target in sorted(edges.get(node, ())):
            found = visit(target)
            if found:
                return found
        path.pop()
        finished.add(node)
        return []

    for start in sorted(edges):
        found = visit(start)
        if found:
            return found
    return []


def test_domain_packages_import_each_other_without_a_cycle(graph: grimp.ImportGraph) -> None:
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        importer = _domain_package(module)
        if importer is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            target = _domain_package(imported)
            if target is not None and target != importer:
                edges.setdefault(importer, set()).add(target)
    assert _cycle(edges) == []
