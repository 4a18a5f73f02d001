"""The newest home page, answered before the framework when it is already rendered.

A home read that finds its page in ``lumigram.pagecache.store`` spent most of its time in
the framework (routing, dependency injection, four sequential cache round trips for the
token, the login, the generations and the page), not in producing the answer. This ASGI
middleware answers exactly that case with one ``MGET``: the token's cached grant, its
login's cached state, the two page generations and the page. Everything else, and every
doubt, goes to the app unchanged:

* only ``GET /api/v1/timelines/home`` with no query or ``limit`` alone, a bearer token
  in the ``Authorization`` header, and a page size that is kept rendered;
* the token must still be in the auth cache (a revoked token is marked so in it), not
  expired, hold a scope covering ``read:statuses``, and belong to a login that is
  neither disabled nor, where required, unconfirmed; the page must have been stored for
  the generations current now.

So the answer is byte for byte the one the route would give, and every error (401, 403,
422) still comes from the route. A page past its freshness (``lumigram.pagecache.store``) is
still answered, and one reader at a time has it rendered again after answering.

The token is checked from the auth cache alone (``lumigram.pagecache.grants``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from lumigram.accounts.scopes import READ_STATUSES
from lumigram.pagecache import store as pages
from lumigram.pagecache.grants import TokenOwners, usable
from lumigram.pagecache.home_pages import HOME_PATH, refresh_home_page
from lumigram.services import Services

log = logging.getLogger(__name__)

#: The query strings of the page sizes kept rendered, as sent.
VARIANTS = {b"": pages.DEFAULT_VARIANT, **{f"limit={n}".encode(): str(n) for n in pages.CACHED_LIMITS}}


class CachedHomePage:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tokens = TokenOwners()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == HOME_PATH and scope["method"] == "GET":
            try:
                found = await self._cached(scope)
            except Exception:
                # The route will read the same cache and report any real trouble properly.
                log.debug("home fast path skipped", exc_info=True)
                found = None
            if found is not None:
                services, account_id, page_variant, slot = found
                assert slot.cached is not None
                await send_page(send, slot.cached.body, slot.cached.link)
                if not slot.cached.fresh:
                    await self._refresh_soon(services, account_id, page_variant, slot)
                return
        await self.app(scope, receive, send)

    async def _cached(self, scope: Scope) -> tuple[Services, int, str, pages.Slot] | None:
        page_variant = VARIANTS.get(scope["query_string"])
        if page_variant is None:
            return None
        services: Services = scope["app"].state.services
        token = await self._tokens.of(scope, services)
        if token is None:
            return None
        account_id = token.account_id
        page_keys = pages.keys(account_id, page_variant)
        values = await services.cache.get_many([*token.keys, *page_keys])
        if not usable(services, token, values[:2], READ_STATUSES):
            return None
        slot = pages.from_values(page_keys[-1], values[2:])
        return (services, account_id, page_variant, slot) if slot.cached is not None else None

    async def _refresh_soon(self, services: Services, account_id: int, page_variant: str, slot: pages.Slot) -> None:
        """The page was served stale: one reader has it rendered again, off the request."""
        try:
            if not await pages.claim_refresh(services, slot):
                return
        except Exception:
            log.warning("could not claim a home page refresh", exc_info=True)
            return

        async def run() -> None:
            try:
                await refresh_home_page(services, account_id, page_variant)
            except Exception:  # the page expires on its own; the next stale read tries again
                log.exception("refreshing the home page of %s failed", account_id)

        services.spawn(run(), name=f"home page {account_id} refresh")


async def send_page(send: Send, body: bytes, link: str | None) -> None:
    """A 200 JSON answer, as the routes' responses would have it."""
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if link:
        headers.append((b"link", link.encode()))
    start: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
