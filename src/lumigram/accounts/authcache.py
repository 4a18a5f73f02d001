"""The short-lived cache behind token lookups, and how to invalidate it.

Two kinds of entries, both ``TOKEN_CACHE_TTL`` seconds long: a token's grant (keyed by
the token's hash) and a login's state (disabled? confirmed?). Keeping the login's state
apart means changing it invalidates one key, whatever number of tokens the login has.
"""

from __future__ import annotations

import logging

from lumigram.bootstrap import Services

log = logging.getLogger(__name__)

#: Revoking a token, or changing a login's state, deletes its entry at once; the bound
#: only limits how long an entry outlives a deletion the cache missed (it was down).
TOKEN_CACHE_TTL = 300
TOKEN_PREFIX = "auth:token:"  # noqa: S105 (a cache key prefix)
USER_PREFIX = "auth:user:"


def token_key(token_hash: str) -> str:
    return TOKEN_PREFIX + token_hash


def user_key(user_id: int) -> str:
    return f"{USER_PREFIX}{user_id}"


async def cache_get(services: Services, key: str) -> bytes | None:
    # The cache only saves work: when it is unreachable, fall back to the database
    # rather than failing every authenticated request.
    try:
        return await services.cache.get(key)
    except Exception:
        log.warning("auth cache read failed; using the database", exc_info=True)
        return None


async def cache_get_many(services: Services, keys: list[str]) -> list[bytes | None]:
    """``cache_get`` for several keys in one round trip."""
    try:
        return await services.cache.get_many(keys)
    except Exception:
        log.warning("auth cache read failed; using the database", exc_info=True)
        return [None] * len(keys)


async def cache_set(services: Services, key: str, value: bytes, ttl: int) -> None:
    try:
        await services.cache.set(key, value, ttl=ttl)
    except Exception:
        log.warning("auth cache write failed", exc_info=True)


async def forget(services: Services, *keys: str) -> None:
    # A cached grant outliving its revocation would be a security bug, so this is not
    # best-effort: if the cache cannot be told, the caller hears about it.
    await services.cache.delete(*keys)


async def forget_user_state(services: Services, user_id: int) -> None:
    """Call after changing a login's disabled/confirmed state: its tokens see it on their next request."""
    await forget(services, user_key(user_id))
