"""A profile's newest page, answered before the framework from its kept rendering.

``GET /api/v1/accounts/:id/statuses`` with no query or ``limit`` alone, anonymous or with
a user's bearer token in the ``Authorization`` header, is answered by
``lumigram.pagecache.profile_pages``: one ``MGET`` (the token's cached grant, its login's
state, the profile's generation and its tiers' pages), one statement for the reader's
relation and marks, and a rendering only when the tier's page is missing or due for a
refresh. As with the home page's fast path (``lumigram.pagecache.home_fast_path``), any doubt
goes to the route, which gives every error (an unknown account's 404 included): a token
not in the auth cache, one without ``read:statuses``, an app's token, a login that may
not act, the author reading their own profile, and a page that differs from reader to
reader (one showing a comment under another account's post).
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from lumigram.accounts.scopes import READ_STATUSES
from lumigram.errors import NotFound
from lumigram.feed import relevance
from lumigram.pagecache import profile_store as profile_pages
from lumigram.pagecache.grants import TokenOwners, usable
from lumigram.pagecache.home_fast_path import VARIANTS, send_page
from lumigram.pagecache.profile_pages import PROFILE_PATH, Answer, kept_profile_page
from lumigram.services import Services

log = logging.getLogger(__name__)

_SIGNED_IN = (profile_pages.OUTSIDER, profile_pages.FOLLOWER)


class CachedProfilePage:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tokens = TokenOwners()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            matched = PROFILE_PATH.fullmatch(scope["path"])
            page_variant = VARIANTS.get(scope["query_string"]) if matched else None
            if matched and page_variant is not None:
                services: Services = scope["app"].state.services
                author_id = int(matched[1])
                try:
                    found = await self._answer(scope, services, author_id, page_variant)
                except NotFound:
                    found = None  # the route says so in its own words
                except Exception:
                    log.debug("profile fast path skipped", exc_info=True)
                    found = None
                viewer_id, answer = found if found is not None else (None, None)
                if answer is not None:
                    await send_page(send, answer.body, answer.link)
                    if viewer_id is not None:
                        await self._record_visit(services, viewer_id, author_id)
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: Scope, services: Services, author_id: int, page_variant: str
    ) -> tuple[int | None, Answer | None] | None:
        headers = scope["headers"]
        if not any(name == b"authorization" for name, _ in headers):
            found = await profile_pages.lookup(services, author_id, (profile_pages.ANONYMOUS,), page_variant)
            return None, await kept_profile_page(services, None, author_id, page_variant, found)
        token = await self._tokens.of(scope, services)
        if token is None or token.account_id == author_id:
            return None
        page_keys = profile_pages.keys(author_id, _SIGNED_IN, page_variant)
        values = await services.cache.get_many([*token.keys, *page_keys])
        if not usable(services, token, values[:2], READ_STATUSES):
            return None
        found = profile_pages.slots(author_id, _SIGNED_IN, page_variant, values[2:])
        return token.account_id, await kept_profile_page(services, token.account_id, author_id, page_variant, found)

    @staticmethod
    async def _record_visit(services: Services, viewer_id: int, author_id: int) -> None:
        try:
            await relevance.record_visit(services, viewer_id, author_id)
        except Exception:  # a ranking signal, not worth an error after the answer went out
            log.warning("could not record a profile visit", exc_info=True)
