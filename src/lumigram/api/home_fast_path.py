"""The newest home page, answered before the framework when it is already rendered.

A home read that finds its page in ``lumigram.feed.pages`` spent most of its time in
the framework (routing, dependency injection, four sequential cache round trips for the
token, the login, the generations and the page), not in producing the answer. This ASGI
middleware answers exactly that case with one ``MGET``: the token's cached grant, its
login's cached state, the two page generations and the page. Everything else, and every
doubt, goes to the app unchanged:

* only ``GET /api/v1/timelines/home`` with no query or ``limit`` alone, a bearer token
  in the ``Authorization`` header, and a page size that is kept rendered;
* the token must still be in the auth cache (a revoked token is deleted from it), not
  expired, hold a scope covering ``read:statuses``, and belong to a login that is
  neither disabled nor, where required, unconfirmed; the page must have been stored for
  the generations current now.

So the answer is byte for byte the one the route would give, and every error (401, 403,
422) still comes from the route. Which account a token belongs to never changes, so
that mapping is remembered per process, letting the one round trip name every key;
whether the token is still valid is read from the cache on every request.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from lumigram.accounts import authcache
from lumigram.accounts.oauth import grant_from_cached, hash_secret
from lumigram.api.timelines import READ_STATUSES
from lumigram.bootstrap import Services
from lumigram.feed import pages
from lumigram.posts.queries import DEFAULT_LIMIT

log = logging.getLogger(__name__)

HOME_PATH = "/api/v1/timelines/home"
#: Token hash → (user id, account id), bounded; cleared whole when full (cheap, rare).
_OWNERS_MAX = 100_000
_QUERIES = {b"": DEFAULT_LIMIT, **{f"limit={n}".encode(): n for n in pages.CACHED_LIMITS}}


class CachedHomePage:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._owners: dict[str, tuple[int, int]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == HOME_PATH and scope["method"] == "GET":
            try:
                found = await self._cached(scope)
            except Exception:
                # The route will read the same cache and report any real trouble properly.
                log.debug("home fast path skipped", exc_info=True)
                found = None
            if found is not None:
                await _answer(send, found)
                return
        await self.app(scope, receive, send)

    async def _cached(self, scope: Scope) -> pages.CachedPage | None:
        limit = _QUERIES.get(scope["query_string"])
        if limit is None or limit not in pages.CACHED_LIMITS:
            return None
        raw = _bearer(scope)
        if raw is None:
            return None
        services: Services = scope["app"].state.services
        digest = hash_secret(raw)
        token_key = authcache.token_key(digest)
        owner = self._owners.get(digest)
        if owner is None:
            entry = await services.cache.get(token_key)
            if entry is None:
                return None
            data = orjson.loads(entry)
            if data["user_id"] is None or data["account_id"] is None:
                return None
            owner = self._remember(digest, (data["user_id"], data["account_id"]))
        user_id, account_id = owner
        page_keys = pages.keys(account_id, limit)
        values = await services.cache.get_many([token_key, authcache.user_key(user_id), *page_keys])
        entry, state = values[0], values[1]
        if entry is None or state is None:
            return None
        grant = grant_from_cached(orjson.loads(entry), orjson.loads(state))
        if grant is None or grant.account_id != account_id or grant.user_disabled:
            return None
        if services.settings.require_verification and not grant.user_verified:
            return None
        if not grant.allows(*READ_STATUSES):
            return None
        return pages.from_values(page_keys[-1], values[2:]).cached

    def _remember(self, digest: str, owner: tuple[int, int]) -> tuple[int, int]:
        if len(self._owners) >= _OWNERS_MAX:
            self._owners.clear()
        self._owners[digest] = owner
        return owner


def _bearer(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or len(token) > 512:
                return None
            return token
    return None


async def _answer(send: Send, page: pages.CachedPage) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(page.body)).encode()),
    ]
    if page.link:
        headers.append((b"link", page.link.encode()))
    start: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": page.body})
