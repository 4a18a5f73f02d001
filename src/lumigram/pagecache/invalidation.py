"""Forgetting the kept pages a write changed, the moment it commits.

One after-commit handler per event type (the table is ``AFTER_COMMIT`` at the end of
``lumigram.consumers``; ``lumigram.unit_of_work`` runs it), each forgetting exactly the
pages whose content the write changed, so the person who wrote sees it on their next
read. A reader's home pages are forgotten when what they hold changes for that reader
(whom they follow or hide); an author's profile pages when their posts or profile
change. New posts reach followers' home pages through the fan-out instead
(``lumigram.pagecache.home_pages``), and the author's own home pages with them. Where a
reader's own write changes only a few Statuses of their pages (their marks on a post)
or adds a followed account's posts to them, the pages are mended in place rather than
forgotten, so the writer's next read is not a whole rendering.
"""

from __future__ import annotations

from lumigram.events import (
    AccountDeleted,
    AccountUpdated,
    BlockCreated,
    BlockRemoved,
    BookmarkChanged,
    FavouriteCreated,
    FavouriteRemoved,
    FiltersChanged,
    FollowCreated,
    FollowRemoved,
    FollowRequestAuthorized,
    FollowRequested,
    FollowRequestWithdrawn,
    FollowUpdated,
    ListChanged,
    MuteCreated,
    MuteRemoved,
    PollEnded,
    PollVoted,
    PostCreated,
    PostDeleted,
    PostPinned,
    PostUpdated,
    ReblogCreated,
    ReblogRemoved,
    TagFollowed,
    TagUnfollowed,
)
from lumigram.pagecache.home_pages import mend_posts_in_home_pages, put_followed_posts_into_home_pages
from lumigram.pagecache.store import forget, forget_celebrity_posts
from lumigram.services import Services

# --- the graph: both accounts' home pages (whose posts each may see changed) -------------


async def _both(services: Services, account_id: int, target_account_id: int) -> None:
    await forget(services, [account_id, target_account_id])


async def follow_created(services: Services, event: FollowCreated) -> None:
    """The follower's pages show the follow's numbers at once (the feed's consumer puts
    the followed account's posts into them once the feed has them). The followed
    account's own home shows nothing that depends on who follows it, but numbers, which
    its pages' fingerprints catch."""
    await put_followed_posts_into_home_pages(services, event.account_id, event.target_account_id, posts=False)


async def follow_removed(services: Services, event: FollowRemoved) -> None:
    await _both(services, event.account_id, event.target_account_id)


async def follow_updated(services: Services, event: FollowUpdated) -> None:
    """Whether the follower's home shows the account's reposts may have changed."""
    await forget(services, [event.account_id])


async def follow_requested(services: Services, event: FollowRequested) -> None:
    await _both(services, event.account_id, event.target_account_id)


async def follow_request_authorized(services: Services, event: FollowRequestAuthorized) -> None:
    # Usually with a ``follow.created`` that forgets the same pages; alone when the
    # requester already followed.
    await _both(services, event.account_id, event.target_account_id)


async def follow_request_withdrawn(services: Services, event: FollowRequestWithdrawn) -> None:
    await _both(services, event.account_id, event.target_account_id)


# A rejected request changes no page: nothing forgets for ``follow_request.rejected``.


async def block_created(services: Services, event: BlockCreated) -> None:
    await _both(services, event.account_id, event.target_account_id)


async def block_removed(services: Services, event: BlockRemoved) -> None:
    await _both(services, event.account_id, event.target_account_id)


async def mute_created(services: Services, event: MuteCreated) -> None:
    await _both(services, event.account_id, event.target_account_id)


async def mute_removed(services: Services, event: MuteRemoved) -> None:
    await _both(services, event.account_id, event.target_account_id)


# --- posts ---------------------------------------------------------------------------------


async def post_created(services: Services, event: PostCreated) -> None:
    """The author's profile pages; the author's home pages take the post from the fan-out,
    in their own form, as their followers' pages do (``lumigram.pagecache.store``)."""
    await forget(services, (), authors=[event.account_id])
    if event.followers_count > services.settings.fanout_celebrity_threshold:
        # Not fanned out but merged at read time: every kept home page may lack it.
        await forget_celebrity_posts(services)


async def post_updated(services: Services, event: PostUpdated) -> None:
    await forget(services, [event.account_id], authors=[event.account_id])


async def post_deleted(services: Services, event: PostDeleted) -> None:
    deleted_by = event.account_id if event.deleted_by is None else event.deleted_by
    await forget(services, [deleted_by, event.account_id], authors=[event.account_id])


async def post_pinned(services: Services, event: PostPinned) -> None:
    # ``pinned`` shows in the author's own home pages.
    await mend_posts_in_home_pages(services, event.account_id, [event.status_id])


async def tag_followed(services: Services, event: TagFollowed) -> None:
    await forget(services, [event.account_id])


async def tag_unfollowed(services: Services, event: TagUnfollowed) -> None:
    await forget(services, [event.account_id])


# --- the reader's own marks -------------------------------------------------------------


async def favourite_created(services: Services, event: FavouriteCreated) -> None:
    """The liker's pages show ``favourited`` and the count: those Statuses are mended."""
    await mend_posts_in_home_pages(services, event.account_id, [event.status_id])


async def favourite_removed(services: Services, event: FavouriteRemoved) -> None:
    await mend_posts_in_home_pages(services, event.account_id, [event.status_id])


async def bookmark_changed(services: Services, event: BookmarkChanged) -> None:
    await mend_posts_in_home_pages(services, event.account_id, [event.status_id])


async def reblog_created(services: Services, event: ReblogCreated) -> None:
    """The reposter's pages show ``reblogged`` (mended; the repost itself reaches their
    feed and their followers' through the fan-out); the author's profile pages show the
    count."""
    await mend_posts_in_home_pages(services, event.account_id, [event.status_id])
    await forget(services, (), authors=[event.status_account_id])


async def reblog_removed(services: Services, event: ReblogRemoved) -> None:
    await mend_posts_in_home_pages(services, event.account_id, [event.status_id])
    await forget(services, (), authors=[event.status_account_id])


async def poll_voted(services: Services, event: PollVoted) -> None:
    """The voter's pages show ``voted`` and their choices (mended); the author's profile
    pages the counts (other readers' pages catch the counts by their fingerprints)."""
    await mend_posts_in_home_pages(services, event.account_id, [event.status_id])
    await forget(services, (), authors=[event.status_account_id])


async def poll_ended(services: Services, event: PollEnded) -> None:
    """``expired`` (and any hidden totals) change on every page showing the poll, and
    nobody tracks which those are: every home page is rendered again, as for a post of
    an account too big to fan out. Polls end rarely."""
    await forget(services, [event.account_id], authors=[event.account_id])
    await forget_celebrity_posts(services)


async def list_changed(services: Services, event: ListChanged) -> None:
    """An exclusive list's members leave (or come back to) the owner's home pages."""
    await forget(services, [event.account_id])


async def filters_changed(services: Services, event: FiltersChanged) -> None:
    """The owner's home pages hide or warn by their hidden words."""
    await forget(services, [event.account_id])


# --- profiles ------------------------------------------------------------------------------


async def account_updated(services: Services, event: AccountUpdated) -> None:
    """Its profile pages: a name or picture shows there, and a lock changes who sees them."""
    await forget(services, (), authors=[event.account_id])


async def account_deleted(services: Services, event: AccountDeleted) -> None:
    """Its profile pages: a deleted account has none (its posts' pages go as each is deleted)."""
    await forget(services, (), authors=[event.account_id])
