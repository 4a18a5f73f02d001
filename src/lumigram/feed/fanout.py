"""Bus consumers that keep cached home feeds in step with posts and the follow graph.

Every handler is idempotent (adding or removing a sorted-set member twice changes
nothing), so redelivery needs no bookkeeping. Handlers only touch feeds that are kept
(ready or being rebuilt); any other feed is rebuilt from the database when read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select

from lumigram.feed import store
from lumigram.graph.service import follower_ids, hidden_account_ids, shielded_from
from lumigram.infra.bus import Consumer, Event, payload_int, payload_strings
from lumigram.infra.tables import accounts, follows, status_tags, statuses, tag_follows
from lumigram.pagecache import store as pages
from lumigram.posts.queries import feed_items
from lumigram.posts.tags import follower_ids as tag_follower_ids
from lumigram.services import Services

log = logging.getLogger(__name__)

#: Followers read and written per round trip while fanning out.
BATCH = 1000

#: Puts a post just added to these readers' feeds into their kept pages, and into its
#: author's own (the last argument), in the form its author sees (see
#: ``lumigram.pagecache.store.insert``); it renders the post, which is the API layer's work.
PlacePost = Callable[[Services, Sequence[int], int, int], Awaitable[None]]


async def _forget_pages(services: Services, readers: Sequence[int], _post_id: int, author: int) -> None:
    await pages.forget(services, [*readers, author])


async def _followers_count(services: Services, account_id: int) -> int:
    async with services.db.connect() as conn:
        count = (await conn.execute(select(accounts.c.followers_count).where(accounts.c.id == account_id))).scalar()
    return int(count or 0)


async def _to_followers(services: Services, author_id: int, post_id: int) -> list[int]:
    """Into the kept feeds of the author's followers, a batch at a time; those reached."""
    reached: list[int] = []
    after: int | None = None
    while True:
        batch = await follower_ids(services, author_id, after=after, limit=BATCH)
        if not batch:
            break
        readers = set(await store.receiving(services, batch)) - await shielded_from(services, author_id, batch)
        if readers:
            await store.add(services, sorted(readers), [post_id], forget_pages=False)
            reached += sorted(readers)
        if len(batch) < BATCH:  # the last batch: no query to find there are no more
            break
        after = batch[-1]
    return reached


async def _from_followers(services: Services, author_id: int, post_ids: list[int]) -> None:
    after: int | None = None
    while True:
        batch = await follower_ids(services, author_id, after=after, limit=BATCH)
        if not batch:
            return
        await store.remove(services, batch, post_ids)
        if len(batch) < BATCH:
            return
        after = batch[-1]


async def recent_posts(services: Services, author_id: int, limit: int = store.FEED_CAP) -> list[int]:
    """The author's latest feed posts (what a new follower's feed gains)."""
    query = (
        feed_items(select(statuses.c.id).where(statuses.c.account_id == author_id))
        .order_by(statuses.c.id.desc())
        .limit(limit)
    )
    async with services.db.connect() as conn:
        return list((await conn.execute(query)).scalars())


async def _tag_posts(services: Services, tag_id: int, limit: int = store.FEED_CAP) -> list[int]:
    tagged = (
        select(statuses.c.id)
        .join(status_tags, status_tags.c.status_id == statuses.c.id)
        .where(status_tags.c.tag_id == tag_id)
    )
    query = feed_items(tagged).order_by(statuses.c.id.desc()).limit(limit)
    async with services.db.connect() as conn:
        return list((await conn.execute(query)).scalars())


async def _is_following(services: Services, account_id: int, target_id: int) -> bool:
    query = select(follows.c.id).where(follows.c.account_id == account_id, follows.c.target_account_id == target_id)
    async with services.db.connect() as conn:
        return (await conn.execute(query)).first() is not None


async def _still_wanted(services: Services, account_id: int, post_ids: list[int]) -> set[int]:
    """Those of ``post_ids`` the account's feed keeps for another reason: its own posts,
    followed authors' posts, or posts carrying a hashtag it follows."""
    if not post_ids:
        return set()
    by_author = (
        select(statuses.c.id)
        .outerjoin(
            follows,
            (follows.c.target_account_id == statuses.c.account_id) & (follows.c.account_id == account_id),
        )
        .where(
            statuses.c.id.in_(post_ids),
            (statuses.c.account_id == account_id) | follows.c.account_id.is_not(None),
        )
    )
    by_tag = (
        select(status_tags.c.status_id)
        .join(tag_follows, tag_follows.c.tag_id == status_tags.c.tag_id)
        .where(status_tags.c.status_id.in_(post_ids), tag_follows.c.account_id == account_id)
    )
    async with services.db.connect() as conn:
        kept = set((await conn.execute(by_author)).scalars())
        kept.update((await conn.execute(by_tag)).scalars())
    return kept


async def _remove_unwanted(services: Services, account_id: int, post_ids: list[int]) -> None:
    kept = await _still_wanted(services, account_id, post_ids)
    await store.remove(services, [account_id], [p for p in post_ids if p not in kept])


async def _without_hidden_authors(services: Services, account_id: int, post_ids: list[int]) -> list[int]:
    hidden = await hidden_account_ids(services, account_id)
    if not hidden or not post_ids:
        return post_ids
    query = select(statuses.c.id).where(statuses.c.id.in_(post_ids), statuses.c.account_id.in_(hidden))
    async with services.db.connect() as conn:
        dropped = set((await conn.execute(query)).scalars())
    return [p for p in post_ids if p not in dropped]


def consumers(services: Services, place_post: PlacePost | None = None) -> list[Consumer]:
    """``place_post``: how a fanned-out post reaches kept pages; without it they are
    forgotten (rendered again when read)."""
    place = place_post or _forget_pages

    async def post_created(event: Event) -> None:
        payload = event.payload
        status_id, author_id = payload_int(payload, "status_id"), payload_int(payload, "account_id")
        if status_id is None or author_id is None:
            log.error("event %s has no usable status_id/account_id; skipping", event.id)
            return
        if payload.get("in_reply_to_id") or payload.get("visibility") == "direct":
            return  # comments and direct messages are not feed items
        await store.add(services, await store.receiving(services, [author_id]), [status_id], forget_pages=False)
        followers = payload_int(payload, "followers_count")
        if followers is None:  # an event from before the count was carried
            followers = await _followers_count(services, author_id)
        reached: list[int] = []
        if followers <= services.settings.fanout_celebrity_threshold:
            reached = await _to_followers(services, author_id, status_id)
        # The author's own pages too (rendered from the database or the feed, they hold
        # the post once it is in either), so the post is rendered once for everyone.
        await place(services, reached, status_id, author_id)
        tag_names = payload_strings(payload, "tags")
        readers = await store.receiving(services, await tag_follower_ids(services, tag_names))
        if readers:
            shielded = await shielded_from(services, author_id, readers)
            # Their pages are forgotten, not given the post: a follower of a hashtag may not
            # be allowed to see it (a private post, a locked author), which only a rendering checks.
            await store.add(services, [r for r in readers if r not in shielded and r != author_id], [status_id])

    async def post_deleted(event: Event) -> None:
        status_id, author_id = payload_int(event.payload, "status_id"), payload_int(event.payload, "account_id")
        if status_id is None or author_id is None:
            return
        await store.remove(services, [author_id], [status_id])
        await _from_followers(services, author_id, [status_id])

    async def follow_created(event: Event) -> None:
        follower, target = payload_int(event.payload, "account_id"), payload_int(event.payload, "target_account_id")
        if follower is None or target is None:
            return
        if await store.receiving(services, [follower]) and target not in await hidden_account_ids(services, follower):
            await store.add(services, [follower], await recent_posts(services, target))

    async def author_hidden(event: Event) -> None:
        """Unfollow, block (both ways) and mute take the author's posts out of the feed."""
        account, target = payload_int(event.payload, "account_id"), payload_int(event.payload, "target_account_id")
        if account is None or target is None:
            return
        if event.type == "follow.removed":
            # A post of theirs may stay through a followed hashtag.
            await _remove_unwanted(services, account, await recent_posts(services, target))
            return
        await store.remove(services, [account], await recent_posts(services, target))
        if event.type == "block.created":
            await store.remove(services, [target], await recent_posts(services, account))

    async def mute_removed(event: Event) -> None:
        account, target = payload_int(event.payload, "account_id"), payload_int(event.payload, "target_account_id")
        if account is None or target is None:
            return
        if await store.receiving(services, [account]) and await _is_following(services, account, target):
            await store.add(services, [account], await recent_posts(services, target))

    async def tag_changed(event: Event) -> None:
        account, tag_id = payload_int(event.payload, "account_id"), payload_int(event.payload, "tag_id")
        if account is None or tag_id is None:
            return
        posts = await _tag_posts(services, tag_id)
        if event.type == "tag.followed":
            if await store.receiving(services, [account]):
                await store.add(services, [account], await _without_hidden_authors(services, account, posts))
        else:
            await _remove_unwanted(services, account, posts)

    return [
        Consumer("feed.fanout", ["post.created"], post_created),
        Consumer("feed.retract", ["post.deleted"], post_deleted),
        Consumer("feed.follow", ["follow.created"], follow_created),
        Consumer("feed.hide", ["follow.removed", "block.created", "mute.created"], author_hidden),
        Consumer("feed.unmute", ["mute.removed"], mute_removed),
        Consumer("feed.tags", ["tag.followed", "tag.unfollowed"], tag_changed),
    ]
