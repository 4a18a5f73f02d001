"""Kept home pages after a feed consumer changed feeds (``lumigram.feed.fanout``).

A feed consumer says whose feeds it wrote; their kept newest pages no longer hold what
their feed does. A new post fanned out to followers goes into their pages as it is
(rendered once, ``put_post_into_home_pages``), and so do a newly followed account's posts
into the follower's pages (``put_followed_posts_into_home_pages``); any other change
makes the pages unreachable, rendered again at their next read. Run right after the feed step, in the
same consumer (``lumigram.consumers``), so a reader never keeps a page older than its feed.
"""

from __future__ import annotations

from collections.abc import Sequence

from lumigram.feed.fanout import Backfill, Fanout, settle_backfill, settle_fanout
from lumigram.pagecache import store as pages
from lumigram.pagecache.home_pages import put_followed_posts_into_home_pages, put_post_into_home_pages
from lumigram.services import Services

#: Readers whose pages are forgotten per round trip.
BATCH = 1000


async def put_fanned_out_post(services: Services, fanout: Fanout | None) -> None:
    """The post into its followers' kept pages and its author's own (rendered from the
    database or the feed, they hold the post once it is in either), so it is rendered once
    for everyone; the pages of its hashtags' followers are forgotten."""
    if fanout is None:
        return  # not a feed item
    await put_post_into_home_pages(services, fanout.reached, fanout.post_id, fanout.author_id, fanout.filtering)
    await forget_readers_pages(services, fanout.tag_readers)
    # Last, so that a block or deletion that raced with the fan-out finds the post in
    # these pages or is seen here (``lumigram.feed.fanout``).
    await forget_readers_pages(services, await settle_fanout(services, fanout))


async def put_followed_posts(services: Services, backfill: Backfill) -> None:
    """The followed account's posts, now in the follower's feed, into the follower's kept
    pages too (the follow's own request renewed the counts those pages show)."""
    if backfill.readers:
        await put_followed_posts_into_home_pages(services, backfill.follower, backfill.author, posts=True)
        await forget_readers_pages(services, await settle_backfill(services, backfill))


async def forget_readers_pages(services: Services, readers: Sequence[int]) -> None:
    for start in range(0, len(readers), BATCH):
        await pages.forget(services, readers[start : start + BATCH])
