"""The short-lived cache behind token lookups, and how to invalidate it.

Two kinds of entries, both ``TOKEN_CACHE_TTL`` seconds long: a token's grant (keyed by
the token's hash) and a login's state (disabled? confirmed?). Keeping the login's state
apart means changing it invalidates one key, whatever number of tokens the login has.

Invalidating does not delete the key, it marks it: a revoked token's key holds
``REVOKED`` for ``REVOKED_TTL`` seconds, a changed login's key ``CHANGED`` for
``CHANGED_TTL``. A lookup that read the database just before the change committed fills
the cache only where the key is absent (``fill``), so the mark keeps that stale read out;
a plain delete would let it write the revoked grant (or the login's old state) back, to
be trusted everywhere for minutes. Readers take ``REVOKED`` as "no grant" without asking
the database, and ``CHANGED`` as "not cached".

Open streams hold a token for as long as they last, past any request; so each revocation
(of a token, or of every token of a login) is also announced on ``REVOKED_CHANNEL`` of
the cache's pub/sub, which every process hears, and each process's streaming hub ends the
streams bound to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from lumigram.infra.cache import Swap
from lumigram.services import Services

log = logging.getLogger(__name__)

#: Revoking a token, or changing a login's state, replaces its entry at once; the bound
#: only limits how long an entry outlives a change the cache missed (it was down).
TOKEN_CACHE_TTL = 300
#: Seconds after a database read began during which its result may still be cached.
#: Each mark below outlives this, so a read that saw a token (or a login's state) from
#: before a change can never be cached after the change's mark has expired.
FILL_WITHIN = 30
#: What a revoked token's key holds instead of its grant, and for how long: longer than
#: any entry lives. Revoked is final, so readers need not ask the database meanwhile.
REVOKED = b"revoked"
REVOKED_TTL = 2 * TOKEN_CACHE_TTL
#: What a login's key holds for a while after its state changed: lookups read the state
#: from the database until the mark expires (the state may change back, so it is short).
CHANGED = b"changed"
CHANGED_TTL = 2 * FILL_WITHIN
TOKEN_PREFIX = "auth:token:"  # noqa: S105 (a cache key prefix)
USER_PREFIX = "auth:user:"
#: Pub/sub channel announcing revoked tokens and logins (see ``announce_revoked``).
REVOKED_CHANNEL = "auth:revoked"


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


def read_began() -> float:
    """Call just before a database read whose result ``fill`` may cache; pass it the result."""
    return time.monotonic()


async def fill(services: Services, key: str, value: bytes, ttl: int, read_at: float) -> None:
    """Cache what a database read that began at ``read_at`` (``read_began``) found, unless
    the key holds anything already, a mark in particular, or the read is too old to be
    sure a mark would still be there. One atomic round trip (set if absent)."""
    if time.monotonic() - read_at >= FILL_WITHIN:
        return
    try:
        await services.cache.swap_many([Swap(key, None, value, ttl, {})])
    except Exception:
        log.warning("auth cache write failed", exc_info=True)


async def forget_token(services: Services, token_hash: str) -> None:
    """Call after a token's revocation committed: it stops working at once on every process."""
    # A cached grant outliving its revocation would be a security bug, so this is not
    # best-effort: if the cache cannot be told, the caller hears about it.
    await services.cache.set(token_key(token_hash), REVOKED, ttl=REVOKED_TTL)


async def forget_user_state(services: Services, user_id: int) -> None:
    """Call after changing a login's disabled/confirmed state: its tokens see it on their next request."""
    await services.cache.set(user_key(user_id), CHANGED, ttl=CHANGED_TTL)


@dataclass(frozen=True, slots=True)
class Revocation:
    """Tokens (by id) and logins (by user id, all their tokens) that stopped being valid."""

    token_ids: frozenset[int]
    user_ids: frozenset[int]

    def encode(self) -> bytes:
        return orjson.dumps({"tokens": sorted(self.token_ids), "users": sorted(self.user_ids)})

    @classmethod
    def decode(cls, raw: bytes) -> Revocation | None:
        try:
            data = orjson.loads(raw)
            return cls(frozenset(int(t) for t in data["tokens"]), frozenset(int(u) for u in data["users"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


async def announce_revoked(services: Services, token_ids: Iterable[int] = (), user_ids: Iterable[int] = ()) -> None:
    """Tell every process that these tokens (or every token of these logins) are no
    longer valid, so open streams holding them end now. Call after the change committed
    and the cached entries are forgotten: a stream that checks its token after hearing
    this must find it invalid.

    Best-effort: the change itself already took effect, and each hub re-checks its
    streams' tokens periodically, which catches an announcement that was lost."""
    revocation = Revocation(frozenset(token_ids), frozenset(user_ids))
    if not revocation.token_ids and not revocation.user_ids:
        return
    try:
        await services.cache.publish(REVOKED_CHANNEL, revocation.encode())
    except Exception:
        log.warning("could not announce a revocation to open streams", exc_info=True)


async def token_revoked(services: Services, token_hash: str, token_id: int) -> None:
    """Call after a token's revocation committed: mark its cached entry revoked on every
    process, then end the streams open with it."""
    await forget_token(services, token_hash)
    await announce_revoked(services, token_ids=[token_id])
