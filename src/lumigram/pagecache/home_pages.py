"""Rendering the newest home page a reader keeps (``lumigram.pagecache.store``), and putting
a fanned-out post into those pages instead of rendering them again.

Here rather than in the route module because the feed's bus consumer (in ``lumigram
worker``) uses it too: it renders the new post's Status once and hands it to
``pages.insert``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from functools import partial
from typing import Any

from lumigram.entities.statuses import status_entity
from lumigram.feed import fanout, home
from lumigram.filters import service as hidden_words
from lumigram.lists.service import exclusive_member_ids
from lumigram.pagecache import recheck
from lumigram.pagecache import store as pages
from lumigram.pagecache.fingerprints import version_of
from lumigram.paging import CURSORS, Page, PageRequest, page_links
from lumigram.posts.hydrate import hydrate
from lumigram.posts.models import HydratedPost
from lumigram.posts.queries import DEFAULT_LIMIT as STATUSES_DEFAULT_LIMIT
from lumigram.reposts.service import timeline_items, timeline_items_in
from lumigram.services import Services

HOME_PATH = "/api/v1/timelines/home"
#: Any id but a post's author's renders its Status as every other reader sees it.
NEUTRAL_VIEWER = 0


def _home_link(services: Services, kept: Sequence[tuple[str, str]], ids: list[int], limit: int) -> str | None:
    page: Page[int] = Page(items=ids, cursors=ids, limit=limit)
    return page_links(f"{services.settings.base_url}{HOME_PATH}", kept, page)


def kept_statuses(
    services: Services, items: Sequence[HydratedPost], viewer_id: int | None
) -> dict[int, tuple[bytes, int]]:
    """Each post's Status as a kept page stores it (as ``viewer_id`` sees it; None:
    anonymous), with its fingerprint (``lumigram.pagecache.fingerprints``), in order."""
    cache: dict[int, dict[str, Any]] = {}
    return {
        item.key: (pages.dumps(status_entity(services, item, viewer_id, cache)), version_of(item)) for item in items
    }


async def render_home(
    services: Services, viewer_id: int, page: PageRequest, params: Sequence[tuple[str, str]]
) -> pages.Rendered:
    result = await home.home(services, viewer_id, page)
    statuses = kept_statuses(services, result.items, viewer_id)
    kept = [(k, v) for k, v in params if k not in CURSORS]
    return pages.Rendered.of(statuses, _home_link(services, kept, list(statuses), result.limit))


async def home_statuses(services: Services, viewer_id: int, post_ids: list[int]) -> dict[int, tuple[bytes, int]]:
    """These posts' Statuses as the reader's home page shows them (``lumigram.feed.
    recheck``); a post the reader may no longer see, or now hides, is left out."""
    items = await hidden_words.with_filters(
        services, viewer_id, "home", await timeline_items(services, viewer_id, post_ids)
    )
    return kept_statuses(services, items, viewer_id)


def _variant_params(page_variant: str) -> list[tuple[str, str]]:
    return [] if page_variant == pages.DEFAULT_VARIANT else [("limit", page_variant)]


async def refresh_home_page(services: Services, viewer_id: int, page_variant: str) -> None:
    """Make a reader's stale kept newest page current (see lumigram.pagecache.store): by
    rendering only what changed on it when that can be done, otherwise whole."""
    slot = await pages.lookup(services, viewer_id, page_variant)  # the generations, read first
    if await recheck.refreshed(services, slot, partial(home_statuses, services, viewer_id)) is not None:
        return
    limit = pages.limit_of(page_variant, STATUSES_DEFAULT_LIMIT)
    rendered = await render_home(services, viewer_id, PageRequest(limit=limit), _variant_params(page_variant))
    await pages.put(services, slot, rendered)


def _anyones_form(services: Services, post: HydratedPost, own: dict[str, Any]) -> bytes:
    """The post's Status as anyone but its author sees it: not liked, not bookmarked, not
    reposted by them, no ``pinned``. Made from its author's form, the same keys in the
    same order, when nothing else depends on the viewer (a poll's totals and votes do)."""
    if post.poll is not None or post.repost is not None:
        anyones = dataclasses.replace(post, favourited=False, bookmarked=False, pinned=False)
        return pages.dumps(status_entity(services, anyones, NEUTRAL_VIEWER))
    entity = {**own, "favourited": False, "bookmarked": False}
    entity.pop("pinned", None)
    return pages.dumps(entity)


async def put_post_into_home_pages(
    services: Services, readers: Sequence[int], post_id: int, author: int, filtering: Collection[int]
) -> None:
    """A post fanned out to ``readers``: into their kept newest pages, rendered once (as
    anyone but its author sees it: not liked, not bookmarked, by nobody yet), and into
    ``author``'s own pages in the form its author sees (their marks, ``pinned``).
    ``filtering``: those of them with hidden words for home (``feed.fanout.Fanout``)."""
    found = await hydrate(services, author, [post_id], check_visibility=False)
    if not found:
        await pages.forget(services, [*readers, author])  # gone already; its deletion follows
        return
    # A reader with hidden words for home sees the post as their filters leave it: their
    # pages are rendered again rather than given the same Status as everyone.
    if filtering:
        await pages.forget(services, sorted(filtering))
        readers = [r for r in readers if r not in filtering]
    own_entity = status_entity(services, found[0], author)
    own = {} if author in filtering else {author: pages.dumps(own_entity)}
    entity = _anyones_form(services, found[0], own_entity)

    # A page's Link names its first and last posts and whether it is full: readers whose
    # pages agree on those share one (most of a fan-out's pages, once the post leads them).
    links: dict[tuple[str, int, int, bool], str | None] = {}

    def link_for(page_variant: str, ids: list[int]) -> str | None:
        limit = pages.limit_of(page_variant, STATUSES_DEFAULT_LIMIT)
        if not ids:
            return None
        key = (page_variant, ids[0], ids[-1], len(ids) >= limit)
        if key not in links:
            links[key] = _home_link(services, _variant_params(page_variant), ids, limit)
        return links[key]

    version = version_of(found[0])
    await pages.insert(services, readers, post_id, entity, version, link_for, STATUSES_DEFAULT_LIMIT, own)


# --- a reader's own writes, mended into their kept pages ------------------------------------


def _naming(post_id: int) -> bytes:
    """In a page's bytes, where a Status's ``"id"`` names the post; a Status reposting a
    post holds the original's Status, so its bytes name that post too. Outside a JSON
    string (where every quote is escaped) only a key can be written this way, so no
    Status that shows the post is missed; one that matches by chance (a photo's or a
    mention's id) is only rendered again for nothing."""
    return f'"id":"{post_id}"'.encode()


def _by(account_id: int) -> bytes:
    """In a page's bytes, where a Status names its author (an Account's first key is its
    id; a repost's Status names its reposter so, and its original's author inside)."""
    return f'"account":{{"id":"{account_id}"'.encode()


#: A repost's Status (``"reblog":null`` in every other).
_REPOST = b'"reblog":{'


async def mend_posts_in_home_pages(services: Services, reader: int, post_ids: Collection[int]) -> None:
    """The reader's own write changed how these posts show to them (their like, bookmark,
    repost, vote or pin): the Statuses on their kept pages that show one of them are
    rendered again and put in place, the rest of each page kept (``pages.mend``), so
    their next read shows the write without rendering a whole page. A Status that can no
    longer be shown there (hidden since) leaves a gap only a rendering fills: the pages
    are then forgotten."""
    needles = [_naming(post_id) for post_id in post_ids]
    rendered: dict[int, tuple[bytes, int]] = {}  # shared by the page sizes

    async def change(page_variant: str, page: pages.CachedPage) -> pages.Rendered | pages.CachedPage | None:
        entities = page.entities()
        touched = {key for key, entity in zip(page.ids, entities, strict=True) if any(n in entity for n in needles)}
        if not touched:
            return page
        missing = [key for key in touched if key not in rendered]
        if missing:
            rendered.update(await home_statuses(services, reader, missing))
        if not touched <= rendered.keys():
            return None
        statuses = [
            rendered[key] if key in touched else (entity, version)
            for key, entity, version in zip(page.ids, entities, page.versions, strict=True)
        ]
        return pages.Rendered(page.ids, [e for e, _ in statuses], page.link, [v for _, v in statuses])

    await pages.mend(services, reader, change)


async def put_followed_posts_into_home_pages(services: Services, reader: int, author: int, *, posts: bool) -> None:
    """The reader now follows ``author``. With ``posts`` false (the follow's own request),
    the Statuses by either account already on the reader's kept pages are rendered again:
    they show the follow's counts. With ``posts`` true (the feed's consumer, once the
    feed has taken them), the author's posts that belong on those pages are put where
    their ids belong, each rendered as the reader sees it. Either way the rest of each
    page is kept (``pages.mend``).

    The request only recounts (the follower sees their follow's numbers at once, for the
    price of a few Statuses); the consumer, which splices, need not recount: every page
    that can still be served was mended or rendered after the follow committed (one from
    before has a generation nobody holds). Splicing in the request too showed the posts a
    moment sooner but doubled a follow's CPU, for a read that in practice comes after the
    consumer anyway.

    Exact for a full page without reposts: the follow adds the author's posts to the
    feed and changes nothing else a page shows, except reposts (a repost of a followed
    author's post is shown as the original instead), and a page short of its size may
    be short for reasons a rendering alone weighs. Those pages are forgotten."""
    largest = max(pages.CACHED_LIMITS)
    recent: list[int] | None = None
    shown: dict[int, tuple[bytes, int]] | None = None
    rendered: dict[int, tuple[bytes, int]] = {}  # Statuses by either, shared by the page sizes
    counted = () if posts else (_by(reader), _by(author))

    async def change(page_variant: str, page: pages.CachedPage) -> pages.Rendered | pages.CachedPage | None:
        nonlocal recent, shown
        limit = pages.limit_of(page_variant, STATUSES_DEFAULT_LIMIT)
        entities = page.entities()
        ids = page.ids
        if len(ids) < limit or ids != sorted(ids, reverse=True) or any(_REPOST in e for e in entities):
            return None
        if posts and recent is None:
            # Posts of theirs past their newest ``largest`` are below all of those on a page.
            recent = await fanout.recent_posts(services, author, largest)
        newer = [post_id for post_id in recent or () if post_id > ids[-1] and post_id not in ids]
        again = [key for key, entity in zip(ids, entities, strict=True) if any(n in entity for n in counted)]
        if not newer and not again:
            return page
        statuses = dict(zip(ids, zip(entities, page.versions, strict=True), strict=True))
        if newer:
            assert recent is not None  # newer is drawn from it
            if shown is None:
                shown = await _followed_authors_statuses(services, reader, author, recent)
            if len(recent) == largest and recent[-1] > ids[-1] and not set(recent) <= shown.keys():
                return None  # some hidden: an older post of theirs may belong on the page too
            statuses.update({post_id: shown[post_id] for post_id in newer if post_id in shown})
        kept = sorted(statuses, reverse=True)[:limit]
        again = [key for key in again if key in kept]
        missing = [key for key in again if key not in rendered]
        if missing:
            rendered.update(await home_statuses(services, reader, missing))
        if not set(again) <= rendered.keys():
            return None
        statuses.update({key: rendered[key] for key in again})
        link = page.link if kept == ids else _home_link(services, _variant_params(page_variant), kept, limit)
        return pages.Rendered(kept, [statuses[i][0] for i in kept], link, [statuses[i][1] for i in kept])

    await pages.mend(services, reader, change)


async def _followed_authors_statuses(
    services: Services, reader: int, author: int, post_ids: list[int]
) -> dict[int, tuple[bytes, int]]:
    """Those of the author's posts the reader's home shows, as it shows them (the rules of
    ``lumigram.feed.home``): none when the reader keeps the author out of home (an
    exclusive list) or either blocks or the reader mutes the other, as the hydrate's
    view of the reader says; otherwise those the reader may see, as their hidden words
    leave them."""
    async with services.db.connect() as conn:
        if author in await exclusive_member_ids(conn, reader):
            return {}
        items, context = await timeline_items_in(conn, reader, post_ids, services.cache)
    if author in context.blocked or author in context.muted:
        return {}
    return kept_statuses(services, await hidden_words.with_filters(services, reader, "home", items), reader)
