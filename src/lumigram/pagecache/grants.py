"""Checking a bearer token from the auth cache alone, for the fast paths that answer
kept pages before the framework (``lumigram.pagecache.home_fast_path``,
``lumigram.pagecache.profile_fast_path``).

Which account a token belongs to never changes, so that mapping is remembered per
process, letting one round trip fetch the token's cached grant, its login's cached state
and the page together; whether the token is still valid is read on every request. Any
doubt answers None, and the request goes to the app, whose routes give every error.
"""

from __future__ import annotations

import orjson
from starlette.requests import HTTPConnection
from starlette.types import Scope

from lumigram.accounts import authcache
from lumigram.accounts.oauth import grant_from_cached, hash_secret
from lumigram.services import Services

#: Token hash → (user id, account id), bounded; cleared whole when full (cheap, rare).
_OWNERS_MAX = 100_000


def bearer_token(conn: HTTPConnection) -> str | None:
    """The raw token the caller presents, if any."""
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return conn.query_params.get("access_token") or None


class CachedToken:
    """A request's bearer token: its owner, and the cache keys that say it is still valid."""

    __slots__ = ("account_id", "token_key", "user_id")

    def __init__(self, token_key: str, user_id: int, account_id: int) -> None:
        self.token_key = token_key
        self.user_id = user_id
        self.account_id = account_id

    @property
    def keys(self) -> list[str]:
        """Fetch these first in the request's ``MGET``; hand their values to ``usable``."""
        return [self.token_key, authcache.user_key(self.user_id)]


class TokenOwners:
    def __init__(self) -> None:
        self._owners: dict[str, tuple[int, int]] = {}

    async def of(self, scope: Scope, services: Services) -> CachedToken | None:
        """The request's bearer token, if it is a user's token found in the auth cache."""
        raw = bearer_token(HTTPConnection(scope))
        if raw is None:
            return None
        digest = hash_secret(raw)
        token_key = authcache.token_key(digest)
        owner = self._owners.get(digest)
        if owner is None:
            entry = await services.cache.get(token_key)
            if entry is None or entry == authcache.REVOKED:
                return None
            data = orjson.loads(entry)
            if data["user_id"] is None or data["account_id"] is None:
                return None
            if len(self._owners) >= _OWNERS_MAX:
                self._owners.clear()
            owner = self._owners[digest] = (data["user_id"], data["account_id"])
        return CachedToken(token_key, *owner)


def usable(services: Services, token: CachedToken, values: list[bytes | None], scopes: tuple[str, ...]) -> bool:
    """Whether the token (``values``: what its ``keys`` held) is unexpired, holds one of
    ``scopes`` and belongs to a login that may act."""
    entry, state = values
    # A mark (revoked token, freshly changed login) is never a grant: the app decides.
    if entry is None or state is None or entry == authcache.REVOKED or state == authcache.CHANGED:
        return False
    grant = grant_from_cached(orjson.loads(entry), orjson.loads(state))
    if grant is None or grant.account_id != token.account_id or grant.user_disabled:
        return False
    if services.settings.require_verification and not grant.user_verified:
        return False
    return grant.allows(*scopes)
