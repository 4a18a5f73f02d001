"""One live server per shape for every client test in this package.

Each client test signs up people of its own, so Mastodon.py's tests, its plumbing test
and the masto.js test share a server: starting one (and, scaled out, its worker and a
second serve process) costs seconds. Each module is marked ``xdist_group("clients")``, so
one worker runs them all and starts each shape's server once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lumigram.config import Settings
from tests.conftest import SHAPES, shared_settings
from tests.live import LiveServer, live_server


@pytest.fixture(scope="package")
def make_package_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Settings]]:
    yield from shared_settings(request, tmp_path_factory)


@pytest.fixture(scope="package", params=SHAPES)
def server_settings(request: pytest.FixtureRequest, make_package_settings: Callable[..., Settings]) -> Settings:
    """The settings of the shape's shared server, for what a test does beside it (``lumigram admin``)."""
    shape = request.param
    return make_package_settings(
        shape,
        inline_worker=shape == "embedded",
        # Scaled out, the consumers run in a separate `lumigram worker` and two serve
        # processes share the port, as in production: a client's requests land on either.
        serve_processes=2 if shape == "scaled" else 1,
        push_loopback_endpoints=True,  # a push subscription to this machine, never sent to
    )


@pytest.fixture(scope="package")
def server(server_settings: Settings) -> Iterator[LiveServer]:
    workers = 0 if server_settings.inline_worker else 1
    with live_server(server_settings, workers=workers) as running:
        yield running
