"""A profile's newest page answered from its tier's kept rendering (``lumigram.feed.
profile_pages``), with the reader's relation and marks read fresh.

The answer is the one ``GET /api/v1/accounts/:id/statuses`` computes, byte for byte,
except that numbers may be as old as a kept page's freshness allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import orjson

from lumigram.pagecache import profile_store as profile_pages
from lumigram.pagecache import recheck
from lumigram.pagecache import store as pages
from lumigram.pagecache.home_pages import NEUTRAL_VIEWER, kept_statuses
from lumigram.paging import Page, page_links
from lumigram.posts import queries
from lumigram.posts.hydrate import hydrate, marks_of, relation_and_recent_marks
from lumigram.services import Services

#: A profile's posts, named by the account id as the route's own responses spell it.
PROFILE_PATH = re.compile(r"/api/v1/accounts/([1-9][0-9]{0,18})/statuses")
#: Which of a page's posts the reader liked and bookmarked.
#: The reader's likes, bookmarks and reposts among a page's posts.
Marks = tuple[set[int], set[int], set[int]]
_NO_MARKS: Marks = (set(), set(), set())


def profile_path(author_id: int) -> str:
    return f"/api/v1/accounts/{author_id}/statuses"


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    link: str | None


_EMPTY = Answer(b"[]", None)


def _variant_params(page_variant: str) -> list[tuple[str, str]]:
    return [] if page_variant == pages.DEFAULT_VARIANT else [("limit", page_variant)]


async def render_tier(services: Services, author_id: int, tier: str, page_variant: str) -> pages.Rendered | None:
    """The page every reader of ``tier`` is shown (NotFound: there is no such account;
    None: the page differs from reader to reader, see ``queries.tier_posts``)."""
    limit = pages.limit_of(page_variant, queries.DEFAULT_LIMIT)
    result = await queries.tier_posts(services, author_id, tier == profile_pages.FOLLOWER, limit)
    if result is None or any(item.poll is not None for item in result.items):
        # A poll shows each reader their own vote: such a page is rendered per reader.
        return None
    statuses = kept_statuses(services, result.items, _viewer_of(tier))
    ids = list(statuses)
    link_page: Page[int] = Page(items=ids, cursors=ids, limit=result.limit)
    base = f"{services.settings.base_url}{profile_path(author_id)}"
    return pages.Rendered.of(statuses, page_links(base, _variant_params(page_variant), link_page))


def _viewer_of(tier: str) -> int | None:
    """Whom a tier's Statuses are rendered for: nobody (no per-reader fields) or any
    signed-in reader but the author."""
    return None if tier == profile_pages.ANONYMOUS else NEUTRAL_VIEWER


async def tier_statuses(services: Services, tier: str, post_ids: list[int]) -> dict[int, tuple[bytes, int]]:
    """These posts' Statuses as ``tier``'s page shows them (``lumigram.pagecache.recheck``).
    Which posts a tier lists is the page's business, settled when it was rendered (a
    lock replaces the profile's pages)."""
    items = await hydrate(services, None, post_ids, check_visibility=False)
    return kept_statuses(services, items, _viewer_of(tier))


async def kept_profile_page(
    services: Services, viewer_id: int | None, author_id: int, page_variant: str, found: dict[str, pages.Slot]
) -> Answer | None:
    """The newest page of ``author_id``'s profile as ``viewer_id`` (None: anonymous; never
    the author) may see it, from the tiers' slots just looked up (``found``: the
    anonymous one, or the other two). NotFound when there is no such account; None when
    the page is computed for each reader (``profile_pages.mark_per_reader``)."""
    marks = _NO_MARKS
    tier = profile_pages.ANONYMOUS
    relation = None
    if viewer_id is not None:
        relation = await relation_and_recent_marks(services, viewer_id, author_id)
        if author_id in relation.context.blocked:
            return _EMPTY
        if relation.filters_profiles:
            return None  # the reader's hidden words make the page theirs: the route renders it
        tier = profile_pages.FOLLOWER if author_id in relation.context.following else profile_pages.OUTSIDER
        marks = (relation.liked, relation.saved, relation.reposted)
    slot = found[tier]
    if slot.key is None:
        return None
    cached = slot.cached
    if cached is not None and not cached.fresh and await pages.claim_refresh(services, slot):
        cached = await recheck.refreshed(services, slot, partial(tier_statuses, services, tier))
    if cached is not None:
        ids, body, link, entities = cached.ids, cached.body, cached.link, cached.entities
    else:
        rendered = await render_tier(services, author_id, tier, page_variant)
        if rendered is None:
            await profile_pages.mark_per_reader(services, slot)
            return None
        await pages.put(services, slot, rendered)
        ids, body, link, entities = rendered.ids, rendered.body, rendered.link, lambda: rendered.entities
    if viewer_id is not None and relation is not None and not relation.covers(ids):
        # Posts older than the newest RECENT_MARKS (an account with many followers-only ones).
        _, liked, saved, reposted = await marks_of(services, viewer_id, ids)
        marks = (liked, saved, reposted)
    return Answer(_with_marks(ids, entities, marks, body), link)


def _with_marks(ids: list[int], entities: Callable[[], list[bytes]], marks: Marks, body: bytes) -> bytes:
    """The page's body with the reader's likes, bookmarks and reposts written into their
    Statuses (pins show only to the author, who is never answered from a kept page)."""
    liked, saved, reposted = marks
    if liked.isdisjoint(ids) and saved.isdisjoint(ids) and reposted.isdisjoint(ids):
        return body
    marked = []
    for post_id, entity in zip(ids, entities(), strict=True):
        if post_id in liked or post_id in saved or post_id in reposted:
            status = orjson.loads(entity)
            status["favourited"] = post_id in liked
            status["bookmarked"] = post_id in saved
            status["reblogged"] = post_id in reposted
            entity = orjson.dumps(status)
        marked.append(entity)
    return b"[" + b",".join(marked) + b"]"
