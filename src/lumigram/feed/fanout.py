"""Bus consumers that keep cached home feeds in step with posts and the follow graph.

Every handler is idempotent (adding or removing a sorted-set member twice changes
nothing), so redelivery needs no bookkeeping. Handlers only touch feeds that are kept
(ready or being rebuilt); any other feed is rebuilt from the database when read.

Each handler returns what it changed: the readers whose feed it wrote (their kept pages
no longer hold what the feed does), or, for a new post, a ``Fanout`` saying whose feeds
took it. The consumers table (``lumigram.consumers``) hands that on to the kept pages.

Consumers run side by side, so one that adds posts may race with one that removes them:
a block handled between a fan-out's reading of the author's followers and its write took
the post out of a feed before it was in it, and the write then stayed. Whatever removes
marks the accounts concerned first (``store.narrow``, also done the moment the write
commits); whatever adds reads those marks before its checks and after its writes, kept
pages included, and only when they changed checks again and takes back what no longer
belongs (``settle_fanout``, ``settle_backfill``, ``prune``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, exists, or_, select

from lumigram.events import (
    AccountDeleted,
    BlockCreated,
    FollowCreated,
    FollowRemoved,
    ListChanged,
    MuteCreated,
    MuteRemoved,
    PostCreated,
    PostDeleted,
    ReblogCreated,
    ReblogRemoved,
    TagFollowed,
    TagUnfollowed,
)
from lumigram.feed import store
from lumigram.filters import service as hidden_words
from lumigram.graph.service import follower_ids, hidden_account_ids, shielded_from, shields
from lumigram.infra.sql import Prebuilt
from lumigram.infra.tables import (
    follows,
    list_accounts,
    lists,
    mutes,
    status_tags,
    statuses,
    tag_follows,
    utcnow,
)
from lumigram.posts.queries import feed_items
from lumigram.posts.tags import follower_ids as tag_follower_ids
from lumigram.reposts.service import home_readers
from lumigram.services import Services

#: Followers read and written per round trip while fanning out.
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Fanout:
    """A new post went into the feeds of ``reached`` (its author's followers), which may
    take it into their kept pages as it is, and of ``tag_readers`` (followers of one of
    its hashtags), whose kept pages must be rendered again: a follower of a hashtag may
    not be allowed to see the post (a private post, a locked author), which only a
    rendering checks."""

    post_id: int
    author_id: int
    reached: list[int]
    tag_readers: list[int]
    #: Those of ``reached`` and the author with hidden words for home in force (read with
    #: the followers, so the kept pages need no read of their own): they see the post as
    #: their filters leave it, which only a rendering of their page gives.
    filtering: frozenset[int] = frozenset()
    #: The post's hashtags (case-folded), and the author's narrowing token as it was
    #: before the followers were read (``settle_fanout``).
    tags: tuple[str, ...] = ()
    narrowing: bytes | None = None


def _followers_to_reach(_dialect: str) -> Select[tuple[int, bool, bool, bool]]:
    """A page of the author's followers (ascending, after ``after``), each with whether the
    post must skip them: they are shielded from the author (``graph.service.shields``:
    muted, blocked either way), or hold the author in an exclusive list and read them
    there, not at home (``lists.service.exclusive_owners``); whether they, and whether the
    author, hide words at home (``filters.service.hides_words_in``). One statement for what took
    four (the page, the shielded, the list holders, the hidden words)."""
    author = bindparam("author", type_=BigInteger)
    now = bindparam("now", type_=mutes.c.expires_at.type)
    reader = follows.c.account_id
    in_exclusive_list = exists().where(
        list_accounts.c.account_id == reader,
        list_accounts.c.target_account_id == author,
        lists.c.id == list_accounts.c.list_id,
        lists.c.exclusive.is_(True),
    )
    skip = or_(shields(reader, author, now), in_exclusive_list)
    return (
        select(
            reader,
            skip.label("skip"),
            hidden_words.hides_words_in(reader, "home", now).label("filtering"),
            hidden_words.hides_words_in(author, "home", now).label("author_filtering"),
        )
        .where(follows.c.target_account_id == author, reader > bindparam("after", type_=BigInteger))
        .order_by(reader)
        .limit(bindparam("limit"))
    )


_FOLLOWERS_TO_REACH = Prebuilt(_followers_to_reach)


async def _into_feeds(
    services: Services, author_id: int, post_id: int, followers: bool
) -> tuple[list[int], frozenset[int]]:
    """The post into the author's kept feed and (``followers``) their followers', a batch
    at a time; the followers reached, and which of them and the author hide words at home.
    The author's feed goes with the first batch: one lookup of whose feeds are kept and
    one write per batch, the author's included."""
    reached: list[int] = []
    filtering: set[int] = set()
    author_known = False
    after = 0
    first = True
    while True:
        rows: Sequence[Any] = []
        if followers:
            params = {"author": author_id, "after": after, "limit": BATCH, "now": utcnow()}
            async with services.db.connect() as conn:
                rows = await _FOLLOWERS_TO_REACH.rows(conn, params)
        candidates = ([author_id] if first else []) + [row[0] for row in rows if not row[1]]
        first = False
        filtering.update(row[0] for row in rows if row[2] and not row[1])
        if rows and not author_known:
            author_known = True
            if rows[0][3]:
                filtering.add(author_id)
        kept = await store.receiving(services, candidates)
        reached += [reader for reader in await store.add(services, kept, [post_id]) if reader != author_id]
        if len(rows) < BATCH:  # the last batch: no query to find there are no more
            break
        after = rows[-1][0]
    if not author_known:  # no follower row said it
        filtering.update(await hidden_words.accounts_with_filters(services, [author_id], "home"))
    return reached, frozenset(filtering)


async def _from_followers(services: Services, author_id: int, post_ids: list[int]) -> list[int]:
    """Out of the author's followers' feeds, a batch at a time; those written."""
    changed: list[int] = []
    after: int | None = None
    while True:
        batch = await follower_ids(services, author_id, after=after, limit=BATCH)
        if not batch:
            break
        changed += await store.remove(services, batch, post_ids)
        if len(batch) < BATCH:
            break
        after = batch[-1]
    return changed


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


async def _still_wanted(services: Services, account_id: int, post_ids: Sequence[int]) -> set[int]:
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


async def _remove_unwanted(services: Services, account_id: int, post_ids: list[int]) -> list[int]:
    kept = await _still_wanted(services, account_id, post_ids)
    return await store.remove(services, [account_id], [p for p in post_ids if p not in kept])


async def _without_hidden_authors(services: Services, account_id: int, post_ids: list[int]) -> list[int]:
    hidden = await hidden_account_ids(services, account_id)
    if not hidden or not post_ids:
        return post_ids
    query = select(statuses.c.id).where(statuses.c.id.in_(post_ids), statuses.c.account_id.in_(hidden))
    async with services.db.connect() as conn:
        dropped = set((await conn.execute(query)).scalars())
    return [p for p in post_ids if p not in dropped]


async def fan_out_post(services: Services, event: PostCreated) -> Fanout | None:
    """A new post into its author's feed and its readers' (None for a comment or a direct
    message, which are not feed items). Followers are reached unless the author is above
    the celebrity threshold (their posts are merged in at read time instead)."""
    if event.in_reply_to_id is not None or event.visibility == "direct":
        return None
    status_id, author_id = event.status_id, event.account_id
    narrowing = await services.cache.get(store.narrowed_key(author_id))
    followers = event.followers_count <= services.settings.fanout_celebrity_threshold
    reached, filtering = await _into_feeds(services, author_id, status_id, followers)
    tag_readers: list[int] = []
    readers = await store.receiving(services, await tag_follower_ids(services, event.tags))
    if readers:
        shielded = await shielded_from(services, author_id, readers)
        wanted = [r for r in readers if r not in shielded and r != author_id]
        tag_readers = await store.add(services, wanted, [status_id])
    return Fanout(
        status_id, author_id, reached, tag_readers, filtering & {author_id, *reached}, tuple(event.tags), narrowing
    )


async def settle_fanout(services: Services, fanout: Fanout) -> list[int]:
    """Once the post is in the feeds (and kept pages) ``fan_out_post`` found for it: take
    it back from those of them a removal raced with, and say whose (their kept pages are
    to be forgotten). Nothing to do unless the post was deleted or the author's
    narrowing token moved since the fan-out began (``store.narrow``)."""
    narrowed, gone = await services.cache.get_many(
        [store.narrowed_key(fanout.author_id), store.gone_key(fanout.post_id)]
    )
    written = list(dict.fromkeys([*fanout.reached, *fanout.tag_readers]))
    if gone is not None:
        return await store.remove(services, [fanout.author_id, *written], [fanout.post_id])
    if narrowed == fanout.narrowing or not written:
        return []
    shielded = await shielded_from(services, fanout.author_id, written)
    following = await _following_among(services, fanout.author_id, written)
    tag_readers = set(await tag_follower_ids(services, fanout.tags))
    strays = [r for r in written if r in shielded or (r not in following and r not in tag_readers)]
    return await store.remove(services, strays, [fanout.post_id])


async def _following_among(services: Services, author_id: int, readers: Sequence[int]) -> set[int]:
    found: set[int] = set()
    async with services.db.connect() as conn:
        for start in range(0, len(readers), BATCH):
            query = select(follows.c.account_id).where(
                follows.c.target_account_id == author_id, follows.c.account_id.in_(readers[start : start + BATCH])
            )
            found.update((await conn.execute(query)).scalars())
    return found


async def prune(services: Services, reader: int, post_ids: Sequence[int]) -> list[int]:
    """Take out of the reader's feed those of ``post_ids`` it should not hold (deleted,
    by an author hidden from the reader, or kept for no reason: not the reader's own,
    nor a followed author's, nor a followed hashtag's); the feeds written, as ``add``."""
    wanted = await _without_hidden_authors(services, reader, sorted(await _still_wanted(services, reader, post_ids)))
    keep = set(wanted)
    return await store.remove(services, [reader], [p for p in post_ids if p not in keep])


async def _add_settled(
    services: Services, reader: int, post_ids: list[int], key: str, narrowing: bytes | None
) -> list[int]:
    """``store.add`` of the posts into the reader's feed, then ``prune`` of them if the
    narrowing token under ``key`` (read before the caller's checks) moved meanwhile, or
    one of them was deleted."""
    written = await store.add(services, [reader], post_ids)
    if written and not await settled(services, key, narrowing, post_ids):
        await prune(services, reader, post_ids)
    return written


async def settled(services: Services, key: str, narrowing: bytes | None, post_ids: Sequence[int]) -> bool:
    """Whether posts added to feeds may stay as they are: nothing narrowed under ``key``
    since ``narrowing`` was read, and none of them was deleted meanwhile."""
    marks = await services.cache.get_many([key, *(store.gone_key(p) for p in post_ids)])
    return marks[0] == narrowing and all(mark is None for mark in marks[1:])


# What runs the moment such a write commits, before any consumer can take its event: a
# fan-out racing with it then checks again before its kept pages can be read
# (``store.narrow``). One per event type, as the after-commit table wants.


async def narrow_on_unfollow(services: Services, event: FollowRemoved) -> None:
    await store.narrow(services, [event.account_id, event.target_account_id])


async def narrow_on_block(services: Services, event: BlockCreated) -> None:
    await store.narrow(services, [event.account_id, event.target_account_id])


async def narrow_on_mute(services: Services, event: MuteCreated) -> None:
    await store.narrow(services, [event.account_id, event.target_account_id])


async def narrow_on_deletion(services: Services, event: PostDeleted) -> None:
    await store.narrow(services, [event.account_id], gone=event.status_id)


async def retract_post(services: Services, event: PostDeleted) -> list[int]:
    """A deleted post out of its author's and followers' feeds; the feeds written."""
    # Marked again here: another process's relay may have taken the event before the
    # writer's after-commit step ran.
    await store.narrow(services, [event.account_id], gone=event.status_id)
    changed = await store.remove(services, [event.account_id], [event.status_id])
    return changed + await _from_followers(services, event.account_id, [event.status_id])


@dataclass(frozen=True, slots=True)
class Backfill:
    """A follow's posts into the follower's feed: ``follower``'s feed took ``author``'s
    recent ``posts`` if ``readers`` names it (an empty list: the feed is not kept, or the
    author is hidden from the follower, and nothing was written). ``narrowing``: the
    author's narrowing token before the checks (``settle_backfill``)."""

    follower: int
    author: int
    readers: list[int]
    posts: list[int] = field(default_factory=list)
    narrowing: bytes | None = None


async def backfill_follow(services: Services, event: FollowCreated) -> Backfill:
    """A new follow brings the followed author's recent posts into the follower's feed,
    saying who followed whom, so that the follower's kept pages can take the same posts
    (``lumigram.pagecache.feed_pages``)."""
    follower, target = event.account_id, event.target_account_id
    narrowing = await services.cache.get(store.narrowed_key(target))
    if await store.receiving(services, [follower]) and target not in await hidden_account_ids(services, follower):
        posts = await recent_posts(services, target)
        written = await store.add(services, [follower], posts)
        return Backfill(follower, target, written, posts, narrowing)
    return Backfill(follower, target, [])


async def settle_backfill(services: Services, backfill: Backfill) -> list[int]:
    """Once the posts are in the follower's feed and kept pages: ``prune`` them if the
    author's narrowing token moved meanwhile (an unfollow, a block or mute, a deletion
    raced with the follow); the feeds written."""
    if not backfill.readers or await services.cache.get(store.narrowed_key(backfill.author)) == backfill.narrowing:
        return []
    return await prune(services, backfill.follower, backfill.posts)


async def hide_author(services: Services, event: FollowRemoved | BlockCreated | MuteCreated) -> list[int]:
    """Unfollow, block (both ways) and mute take the author's posts out of the feed."""
    account, target = event.account_id, event.target_account_id
    # Marked again here: another process's relay may have taken the event before the
    # writer's after-commit step ran.
    await store.narrow(services, [account, target])
    if isinstance(event, FollowRemoved):
        # A post of theirs may stay through a followed hashtag.
        return await _remove_unwanted(services, account, await recent_posts(services, target))
    changed = await store.remove(services, [account], await recent_posts(services, target))
    if isinstance(event, BlockCreated):
        changed += await store.remove(services, [target], await recent_posts(services, account))
    return changed


async def show_unmuted_author(services: Services, event: MuteRemoved) -> list[int]:
    """An unmuted author the account follows is back in its feed."""
    account, target = event.account_id, event.target_account_id
    narrowing = await services.cache.get(store.narrowed_key(target))
    if await store.receiving(services, [account]) and await _is_following(services, account, target):
        posts = await recent_posts(services, target)
        return await _add_settled(services, account, posts, store.narrowed_key(target), narrowing)
    return []


async def follow_tag_in_feed(services: Services, event: TagFollowed | TagUnfollowed) -> list[int]:
    """A followed hashtag's recent posts into the feed; an unfollowed one's out of it,
    unless the feed keeps them for another reason."""
    account = event.account_id
    narrowing = await services.cache.get(store.narrowed_key(account))
    posts = await _tag_posts(services, event.tag_id)
    if isinstance(event, TagFollowed):
        if await store.receiving(services, [account]):
            shown = await _without_hidden_authors(services, account, posts)
            return await _add_settled(services, account, shown, store.narrowed_key(account), narrowing)
        return []
    return await _remove_unwanted(services, account, posts)


async def rebuild_after_list_change(services: Services, event: ListChanged) -> list[int]:
    """A list changed: an account that left an exclusive list (or a list no longer
    exclusive) has posts the fan-out kept out of the owner's cached feed, so the feed is
    rebuilt from the database on its next read (list changes are rare; reads then apply
    the exclusive lists as they are)."""
    await store.go_cold(services, event.account_id)
    return [event.account_id]


# --- reposts ---------------------------------------------------------------------------------


async def _repost_readers(services: Services, event: ReblogCreated, batch: list[int]) -> list[int]:
    """Of the reposter's followers in ``batch``, those with a kept feed whose home takes
    the repost (``lumigram.reposts.service.home_readers``, the rule streams follow too)."""
    readers = await store.receiving(services, batch)
    return await home_readers(services, event.account_id, event.status_account_id, readers)


async def fan_out_repost(services: Services, event: ReblogCreated) -> list[int]:
    """A repost into the reposter's feed and their followers' (those ``_repost_readers``
    lets through); the feeds written. Never for a post not shared with everyone: the
    service refuses those, and every read checks the original again."""
    changed = await store.add(services, await store.receiving(services, [event.account_id]), [event.reblog_id])
    after: int | None = None
    while True:
        batch = await follower_ids(services, event.account_id, after=after, limit=BATCH)
        if not batch:
            break
        readers = await _repost_readers(services, event, batch)
        if readers:
            changed += await store.add(services, readers, [event.reblog_id])
        if len(batch) < BATCH:
            break
        after = batch[-1]
    return changed


async def retract_repost(services: Services, event: ReblogRemoved) -> list[int]:
    """A repost taken back, out of the reposter's and followers' feeds; the feeds written."""
    changed = await store.remove(services, [event.account_id], [event.reblog_id])
    return changed + await _from_followers(services, event.account_id, [event.reblog_id])


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """A deleted account's own home feed: no one will read it again. (Its posts leave
    the followers' feeds as each is deleted.)"""
    gone = event.account_id
    await services.cache.delete(store.feed_key(gone), store.ready_key(gone))
