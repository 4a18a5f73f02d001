"""How the auth cache is filled after a database read (``authcache.fill``), on both
shapes: never over a revocation's or a change's mark, never from a read too old to be
sure the mark would still be there."""

from __future__ import annotations

import time

from lumigram.accounts import authcache
from lumigram.services import Services

DIGEST = "ab" * 32
GRANT = b'{"id": 1}'


async def test_a_fill_never_replaces_a_revoked_token_mark(services: Services) -> None:
    key = authcache.token_key(DIGEST)
    read_at = authcache.read_began()
    await authcache.forget_token(services, DIGEST)
    await authcache.fill(services, key, GRANT, authcache.TOKEN_CACHE_TTL, read_at)
    assert await services.cache.get(key) == authcache.REVOKED


async def test_a_fill_never_replaces_a_changed_login_mark(services: Services) -> None:
    key = authcache.user_key(7)
    read_at = authcache.read_began()
    await authcache.forget_user_state(services, 7)
    await authcache.fill(services, key, b'{"disabled": false}', authcache.TOKEN_CACHE_TTL, read_at)
    assert await services.cache.get(key) == authcache.CHANGED


async def test_a_fill_stores_a_recent_read_where_nothing_is_cached(services: Services) -> None:
    key = authcache.token_key(DIGEST)
    await authcache.fill(services, key, GRANT, authcache.TOKEN_CACHE_TTL, authcache.read_began())
    assert await services.cache.get(key) == GRANT
    # A second fill (another request's read) leaves the first in place.
    await authcache.fill(services, key, b'{"id": 2}', authcache.TOKEN_CACHE_TTL, authcache.read_began())
    assert await services.cache.get(key) == GRANT


async def test_a_fill_from_a_read_older_than_the_marks_guarantee_is_dropped(services: Services) -> None:
    key = authcache.token_key(DIGEST)
    long_ago = time.monotonic() - authcache.FILL_WITHIN
    await authcache.fill(services, key, GRANT, authcache.TOKEN_CACHE_TTL, long_ago)
    assert await services.cache.get(key) is None
