"""The viewer's story tray, answered before the framework when it is kept rendered.

A tray read that finds its answer kept (``lumigram.stories.tray_cache``) would otherwise
spend most of its time in the framework: routing, dependency injection and separate
cache round trips for the token, the login and the tray. This ASGI middleware answers
exactly that case with one ``MGET``: the token's cached grant, its login's cached state,
the two tray generations and the kept tray. Everything else, and every doubt, goes to the
app unchanged:

* only ``GET /api/v1/lumigram/stories/tray`` with no query (``explain`` is always
  computed), with a bearer token in the ``Authorization`` header;
* the token must still be in the auth cache, unexpired, hold a scope covering
  ``read:statuses``, and belong to a login that may act (``lumigram.pagecache.grants``);
  the tray must have been kept for the generations current now, and none of its stories
  may have ended since (on the services' clock).

So the answer is byte for byte the one the route would give (sent gzipped, as it is kept,
to a client that accepts gzip), and every error still comes from the route.
"""

from __future__ import annotations

import gzip
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from lumigram.accounts.scopes import READ_STATUSES
from lumigram.pagecache.grants import TokenOwners, usable
from lumigram.services import Services
from lumigram.stories import tray_cache

log = logging.getLogger(__name__)

TRAY_PATH = "/api/v1/lumigram/stories/tray"


class KeptStoryTray:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tokens = TokenOwners()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == TRAY_PATH
            and scope["method"] == "GET"
            and not scope["query_string"]
        ):
            try:
                packed = await self._kept(scope)
            except Exception:
                # The route reads the same cache and reports any real trouble properly.
                log.debug("story tray fast path skipped", exc_info=True)
                packed = None
            if packed is not None:
                headers = [(b"content-type", b"application/json"), (b"vary", b"accept-encoding")]
                if accepts_gzip(scope):
                    body = packed
                    headers.append((b"content-encoding", b"gzip"))
                else:
                    body = gzip.decompress(packed)
                headers.append((b"content-length", str(len(body)).encode()))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _kept(self, scope: Scope) -> bytes | None:
        """The viewer's kept tray, gzipped; None when the route must answer."""
        services: Services = scope["app"].state.services
        token = await self._tokens.of(scope, services)
        if token is None:
            return None
        wanted = tray_cache.keys(token.account_id, tray_cache.TRAY)
        values = await services.cache.get_many([*token.keys, *wanted])
        if not usable(services, token, values[:2], READ_STATUSES):
            return None
        return tray_cache.from_values(wanted[-1], values[2:], services.now()).packed


def accepts_gzip(scope: Scope) -> bool:
    """Whether the request's ``Accept-Encoding`` takes gzip (and does not refuse it with q=0)."""
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            for item in value.decode("latin-1").split(","):
                coding, _, params = item.partition(";")
                if coding.strip().lower() in ("gzip", "x-gzip"):
                    weight = params.strip().lower().removeprefix("q=").strip()
                    return not (params.strip().lower().startswith("q=") and _is_zero(weight))
    return False


def _is_zero(weight: str) -> bool:
    try:
        return float(weight) == 0
    except ValueError:
        return False
