"""Fixed-window rate limits over several keys at once (per client address and per login)."""

from __future__ import annotations

from collections.abc import Sequence

from lumigram.accounts.service import canonical_login, login_owner
from lumigram.errors import RateLimited
from lumigram.infra.cache import RateLimitState
from lumigram.services import Services


async def hit_limits(services: Services, keys: Sequence[str], limit: int, window: int) -> RateLimitState:
    """Count one hit on every key; RateLimited if any is over ``limit``, else the tightest state."""
    states = [await services.cache.hit_rate_limit(key, limit, window) for key in keys]
    tightest = min(states, key=lambda state: (state.allowed, state.remaining))
    if not tightest.allowed:
        raise RateLimited(tightest.limit, tightest.remaining, tightest.reset_after)
    return tightest


async def login_limit_keys(services: Services, address: str, login: str) -> list[str]:
    """The keys a sign-in attempt counts against: the client's address and the login.

    A login is reached by several names (username, ``@user@host``, e-mail, phone), so an
    attempt counts against the login those names resolve to, never against the name as
    typed: each alias would otherwise bring a fresh allowance of guesses. A name that
    resolves to no login counts against its canonical spelling, so unknown names are
    limited alike; the lookup runs either way, so the answer's timing and its error do
    not tell whether the login exists.
    """
    owner = await login_owner(services, login)
    if owner is not None:
        return _user_keys(address, owner)
    return _keys(address, f"name:{canonical_login(login, services.settings.domain)}")


def _keys(address: str, login_key: str) -> list[str]:
    return [f"rl:login:ip:{address}", f"rl:login:{login_key}"]


def _user_keys(address: str, user_id: int) -> list[str]:
    """The keys of a login known by id: every name of it counts here."""
    return _keys(address, f"user:{user_id}")


async def _hit_sign_in_allowance(services: Services, keys: Sequence[str]) -> RateLimitState:
    settings = services.settings
    return await hit_limits(services, keys, settings.login_rate_limit, settings.rate_limit_window)


async def hit_login_limits(services: Services, address: str, login: str) -> RateLimitState:
    """``hit_limits`` on ``login_limit_keys`` with the sign-in allowance."""
    return await _hit_sign_in_allowance(services, await login_limit_keys(services, address, login))


async def hit_login_limits_for(services: Services, address: str, user_id: int) -> RateLimitState:
    """``hit_login_limits`` for a login known by id (the confirmation page after a right
    password). The keys are those ``login_limit_keys`` gives any name of that login, so
    the page shares the sign-in allowance and adds no attempts of its own."""
    return await _hit_sign_in_allowance(services, _user_keys(address, user_id))
