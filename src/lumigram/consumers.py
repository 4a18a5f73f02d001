"""The table of bus consumers: what happens after each write.

Each entry is one durable consumer: its name (JetStream's durable consumers are named by
it, so a name never changes), the event types it takes, and its handler. Where a write
changes both the domain's data and what the read side keeps (kept pages, open streams),
the handler is a domain step ``then`` a read-side step, run in that order in the one
consumer: the domain step returns what it did, the read-side step acts on it.

``lumigram worker`` (and ``serve`` on the in-process bus) starts them all. One durable
consumer per entry, so a slow handler never holds up another. Each bus event is decoded
into its typed event (``lumigram.events``) before its handler sees it; one that cannot
be (a payload lacking what the handler needs) is logged and skipped, as redelivering it
would not help.

An entry registered with ``group_commit=True`` writes to the database in its domain step
only inside ``db.begin`` blocks, each idempotent for the event (as every handler here is).
On SQLite's one writer (``Database.nests_writes``), when the bus hands it several events
at once, their domain steps share one transaction (``Database.begin_group``: the blocks
join it without a savepoint each), and the read-side steps run once it has committed. One
commit and one turn at the writer then stand for many events, instead of one each. If
anything in a shared transaction fails, all of it is rolled back and its events are
handled again one by one, as without batching: a failing event is then handed back for
redelivery alone, and its neighbours are not lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from lumigram.accounts.handlers import SEND_VERIFICATION, send_verification
from lumigram.events import (
    AccountDeleted,
    AccountUpdated,
    BlockCreated,
    BlockRemoved,
    BookmarkChanged,
    DomainEvent,
    FavouriteCreated,
    FavouriteRemoved,
    FiltersChanged,
    FollowCreated,
    FollowRemoved,
    FollowRequestAuthorized,
    FollowRequested,
    FollowRequestRejected,
    FollowRequestWithdrawn,
    FollowUpdated,
    ListChanged,
    MalformedEvent,
    MediaUploaded,
    MessageEdited,
    MessageReacted,
    MessageSent,
    MessageUnsent,
    MuteCreated,
    MuteRemoved,
    NotificationCreated,
    PollEnded,
    PollVoted,
    PostCreated,
    PostDeleted,
    PostPinned,
    PostUpdated,
    ReblogCreated,
    ReblogRemoved,
    StoryCreated,
    StoryReplied,
    StoryViewed,
    TagFollowed,
    TagUnfollowed,
    ThreadMembersChanged,
    ThreadRead,
    UserRegistered,
    VerificationRequested,
    decode,
)
from lumigram.feed import fanout
from lumigram.filters import service as filters
from lumigram.graph import service as graph
from lumigram.infra.bus import Consumer, Event
from lumigram.interactions import service as interactions
from lumigram.interactions.handlers import COUNTERS, cancel_pending_like, recount_likes
from lumigram.lists import service as lists
from lumigram.messages import conversations
from lumigram.messages import service as messages
from lumigram.notifications import handlers as notify
from lumigram.pagecache import invalidation
from lumigram.pagecache.feed_pages import forget_readers_pages, put_fanned_out_post, put_followed_posts
from lumigram.polls import handlers as polls
from lumigram.posts import service as posts
from lumigram.push import service as push
from lumigram.push.handlers import push_notification
from lumigram.reposts import service as reposts
from lumigram.search import handlers as search
from lumigram.services import AfterCommit, Services
from lumigram.stories import handlers as stories
from lumigram.stories import tray_events
from lumigram.streaming import messages as message_streams
from lumigram.streaming import publisher
from lumigram.streaming.notifications import publish as publish_notifications
from lumigram.streaming.stories import stream_new_story, stream_story_view
from lumigram.uploads.handlers import transcode_uploaded_video

log = logging.getLogger(__name__)

E = TypeVar("E", bound=DomainEvent)
F = TypeVar("F", bound=DomainEvent)
G = TypeVar("G", bound=DomainEvent)
R = TypeVar("R")

#: How long one shared transaction may go on taking events before it commits and lets the
#: other writers (requests) have their turn at the writer.
GROUP_BUDGET_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Registration:
    """A durable consumer: its name, the event types it takes, and what it does with them;
    ``group_commit``: several events' writes may share one transaction (see above)."""

    name: str
    events: tuple[type[DomainEvent], ...]
    handler: Callable[[Services, Any], Awaitable[None]]
    group_commit: bool = False


# One form per number of event types, so that the type checker holds each handler to
# taking every type its consumer is given (a tuple's types alone would meet in a base).
@overload
def register(
    name: str,
    events: tuple[type[E]],
    handler: Callable[[Services, E], Awaitable[None]],
    *,
    group_commit: bool = False,
) -> Registration: ...
@overload
def register(
    name: str,
    events: tuple[type[E], type[F]],
    handler: Callable[[Services, E | F], Awaitable[None]],
    *,
    group_commit: bool = False,
) -> Registration: ...
@overload
def register(
    name: str,
    events: tuple[type[E], type[F], type[G]],
    handler: Callable[[Services, E | F | G], Awaitable[None]],
    *,
    group_commit: bool = False,
) -> Registration: ...
def register(
    name: str,
    events: tuple[type[DomainEvent], ...],
    handler: Callable[[Services, Any], Awaitable[None]],
    *,
    group_commit: bool = False,
) -> Registration:
    return Registration(name, events, handler, group_commit)


@dataclass(frozen=True, slots=True)
class Then(Generic[E, R]):
    """``step``, then ``follow_up`` with what it returned. Kept apart (not one closure) so
    that a batch can run every domain step in one transaction and the follow-ups after it
    has committed."""

    step: Callable[[Services, E], Awaitable[R]]
    follow_up: Callable[[Services, R], Awaitable[None]]

    async def __call__(self, services: Services, event: E) -> None:
        await self.follow_up(services, await self.step(services, event))


def then(
    step: Callable[[Services, E], Awaitable[R]], follow_up: Callable[[Services, R], Awaitable[None]]
) -> Then[E, R]:
    """``step``, then ``follow_up`` with what it returned."""
    return Then(step, follow_up)


CONSUMERS: list[Registration] = [
    # Accounts: the confirmation message for a sign-up or a resend.
    register(SEND_VERIFICATION, (UserRegistered, VerificationRequested), send_verification),
    # Uploads: a video is transcoded.
    register("media.process_video", (MediaUploaded,), transcode_uploaded_video),
    # Home feeds, then the kept pages built from them.
    register("feed.fanout", (PostCreated,), then(fanout.fan_out_post, put_fanned_out_post)),
    register("feed.retract", (PostDeleted,), then(fanout.retract_post, forget_readers_pages)),
    register("feed.follow", (FollowCreated,), then(fanout.backfill_follow, put_followed_posts)),
    register("feed.hide", (FollowRemoved, BlockCreated, MuteCreated), then(fanout.hide_author, forget_readers_pages)),
    register("feed.unmute", (MuteRemoved,), then(fanout.show_unmuted_author, forget_readers_pages)),
    register("feed.tags", (TagFollowed, TagUnfollowed), then(fanout.follow_tag_in_feed, forget_readers_pages)),
    register("feed.lists", (ListChanged,), then(fanout.rebuild_after_list_change, forget_readers_pages)),
    register("feed.reposts", (ReblogCreated,), then(fanout.fan_out_repost, forget_readers_pages)),
    register("feed.unrepost", (ReblogRemoved,), then(fanout.retract_repost, forget_readers_pages)),
    # Notifications, then the recipients' open streams.
    register("notifications.blocks", (BlockCreated,), notify.forget_blocked_pair, group_commit=True),
    register(
        "notifications.posts",
        (PostCreated,),
        then(notify.notify_of_new_post, publish_notifications),
        group_commit=True,
    ),
    register("notifications.post_deleted", (PostDeleted,), notify.remove_post_notifications, group_commit=True),
    register(
        "notifications.post_edits",
        (PostUpdated,),
        then(notify.notify_of_new_mentions, publish_notifications),
        group_commit=True,
    ),
    register(
        "notifications.favourites",
        (FavouriteCreated,),
        then(notify.notify_of_like, publish_notifications),
        group_commit=True,
    ),
    register("notifications.unfavourites", (FavouriteRemoved,), notify.remove_like_notification, group_commit=True),
    register(
        "notifications.reblogs",
        (ReblogCreated,),
        then(notify.notify_of_reblog, publish_notifications),
        group_commit=True,
    ),
    register("notifications.unreblogs", (ReblogRemoved,), notify.remove_reblog_notification, group_commit=True),
    register(
        "notifications.polls",
        (PollEnded,),
        then(polls.notify_of_poll_end, publish_notifications),
        group_commit=True,
    ),
    register(
        "notifications.follows",
        (FollowCreated, FollowRequested),
        then(notify.notify_of_follow, publish_notifications),
        group_commit=True,
    ),
    register(
        "notifications.follow_requests",
        (FollowRequestAuthorized, FollowRequestRejected, FollowRequestWithdrawn),
        notify.remove_follow_request_notification,
        group_commit=True,
    ),
    # Likes: folded into the post's counter.
    register(
        COUNTERS, (FavouriteCreated, FavouriteRemoved), then(recount_likes, cancel_pending_like), group_commit=True
    ),
    # Web Push, for recipients with a subscription.
    register("push.deliver", (NotificationCreated,), push_notification),
    # Open streams: posts as they are made, edited and deleted.
    register("streaming.created", (PostCreated,), publisher.stream_new_post),
    register("streaming.updated", (PostUpdated,), publisher.stream_edited_post),
    register("streaming.deleted", (PostDeleted,), publisher.stream_deleted_post),
    register("streaming.reposts", (ReblogCreated,), publisher.stream_repost),
    register("streaming.unreposts", (ReblogRemoved,), publisher.stream_unrepost),
    # Stories: mentions and replies notify, new stories reach the followers' open streams
    # and new viewers the owner's.
    register("stories.mentions", (StoryCreated,), then(stories.notify_of_story_mentions, publish_notifications)),
    register("stories.replies", (StoryReplied,), then(stories.notify_of_story_reply, publish_notifications)),
    register("streaming.stories", (StoryCreated,), stream_new_story),
    register("streaming.story_views", (StoryViewed,), stream_story_view),
    # Search: the words of posts and the names of accounts.
    register(search.POSTS, (PostCreated, PostUpdated, PostDeleted), search.index_changed_post, group_commit=True),
    register(search.ACCOUNTS, (UserRegistered, AccountUpdated), search.index_changed_account, group_commit=True),
    # Direct posts filed under Mastodon's conversations, then the participants' direct streams.
    register(
        "conversations.file", (PostCreated,), then(conversations.record_direct_post, publisher.stream_direct_post)
    ),
    register("conversations.forget", (PostDeleted,), conversations.forget_direct_post),
    # Direct messages to their threads' members' open direct streams.
    register("messages.stream_sent", (MessageSent,), message_streams.stream_message_sent),
    register("messages.stream_edited", (MessageEdited,), message_streams.stream_message_edited),
    register("messages.stream_unsent", (MessageUnsent,), message_streams.stream_message_unsent),
    register("messages.stream_reactions", (MessageReacted,), message_streams.stream_reaction),
    register("messages.stream_reads", (ThreadRead,), message_streams.stream_read),
    register("messages.stream_members", (ThreadMembersChanged,), message_streams.stream_members),
    # A deleted account: each package removes what the account left in its keeping, in
    # batches; deleting posts, likes, follows and reposts goes through their own events,
    # so feeds, streams, counters, notifications and the search index follow.
    register("accounts.deleted.posts", (AccountDeleted,), posts.forget_deleted_account),
    register("accounts.deleted.follows", (AccountDeleted,), graph.forget_deleted_account),
    register("accounts.deleted.likes", (AccountDeleted,), interactions.forget_deleted_account),
    register("accounts.deleted.reposts", (AccountDeleted,), reposts.forget_deleted_account),
    register("accounts.deleted.notifications", (AccountDeleted,), notify.forget_deleted_account),
    register("accounts.deleted.stories", (AccountDeleted,), stories.forget_deleted_account),
    register("accounts.deleted.messages", (AccountDeleted,), messages.forget_deleted_account),
    register("accounts.deleted.lists", (AccountDeleted,), lists.forget_deleted_account),
    register("accounts.deleted.filters", (AccountDeleted,), filters.forget_deleted_account),
    register("accounts.deleted.push", (AccountDeleted,), push.forget_deleted_account),
    register("accounts.deleted.feed", (AccountDeleted,), fanout.forget_deleted_account),
    register("accounts.deleted.search", (AccountDeleted,), search.forget_deleted_account),
]


def _decode(registration: Registration, bus_event: Event) -> DomainEvent | None:
    """The typed event, or None (logged) for one the consumer skips."""
    try:
        event = decode(bus_event)
    except MalformedEvent as exc:
        log.error("%s skips event %s (%s): %s", registration.name, bus_event.id, bus_event.type, exc)
        return None
    if not isinstance(event, registration.events):
        log.error("%s skips event %s: it takes no %s", registration.name, bus_event.id, bus_event.type)
        return None
    return event


async def _one_by_one(services: Services, registration: Registration, events: Sequence[DomainEvent]) -> set[int]:
    """Each event through the whole handler on its own; the ids of those that failed."""
    failed: set[int] = set()
    for event in events:
        try:
            await registration.handler(services, event)
        except Exception:
            log.exception("consumer %s failed on event %s (%s)", registration.name, event.id, event.type)
            failed.add(event.id)
    return failed


class _RedoOneByOne(Exception):
    """Leaves a group's transaction, rolling it back, so its events go again one by one."""


async def _grouped(services: Services, registration: Registration, events: Sequence[DomainEvent]) -> set[int]:
    """The events' domain steps in shared transactions, then the follow-ups of those that
    committed; a transaction in which anything failed is rolled back whole and its events
    handled again one by one. The ids of the events that failed."""
    handler = registration.handler
    step, follow_up = (handler.step, handler.follow_up) if isinstance(handler, Then) else (handler, None)
    failed: set[int] = set()
    remaining = list(events)
    while remaining:
        stepped: list[tuple[DomainEvent, Any]] = []
        failing: list[DomainEvent] = []
        try:
            async with services.db.begin_group() as group:
                started = time.monotonic()
                while remaining and (not stepped or time.monotonic() - started < GROUP_BUDGET_SECONDS):
                    event = remaining.pop(0)
                    try:
                        stepped.append((event, await step(services, event)))
                    except Exception as error:
                        failing.append(event)
                        raise _RedoOneByOne from error
                if group.spoiled:
                    # A write failed and its step went on: its half-done writes cannot be
                    # told from the others' (no savepoint each), so none of it stands.
                    raise _RedoOneByOne
        except Exception as error:
            # Also when the commit itself failed. Those stepped, and the one that failed,
            # go again on their own, as if never batched: each is idempotent.
            again = [event for event, _ in stepped] + failing
            cause = error.__cause__ if isinstance(error, _RedoOneByOne) else error
            log.warning(
                "consumer %s: a transaction of %d events failed (%r); handling them one by one",
                registration.name,
                len(again),
                cause,
            )
            failed |= await _one_by_one(services, registration, again)
            continue
        for event, result in stepped:
            if follow_up is None:
                continue
            try:
                await follow_up(services, result)
            except Exception:
                log.exception("consumer %s failed after event %s (%s)", registration.name, event.id, event.type)
                failed.add(event.id)
        if remaining:
            await asyncio.sleep(0)  # the serving loop's turn, between transactions
    return failed


def _consumer(services: Services, registration: Registration) -> Consumer:
    async def handle(bus_event: Event) -> None:
        event = _decode(registration, bus_event)
        if event is not None:
            await registration.handler(services, event)

    async def handle_many(bus_events: Sequence[Event]) -> set[int]:
        events = [e for e in (_decode(registration, b) for b in bus_events) if e is not None]
        if registration.group_commit and services.db.nests_writes:
            return await _grouped(services, registration, events)
        return await _one_by_one(services, registration, events)

    types = [cls.type for cls in registration.events]
    return Consumer(registration.name, types, handle, handle_many)


def consumers(services: Services) -> list[Consumer]:
    """The bus consumers of the table, for these services."""
    return [_consumer(services, registration) for registration in CONSUMERS]


# --- after commit ------------------------------------------------------------------------
# What runs in-process, in order, once the write that emitted the event has committed
# (``lumigram.unit_of_work``), before its response goes out: what the writer must see at
# once. Everything else that follows a write is a consumer above, fed by the bus.

AFTER_COMMIT: dict[type[DomainEvent], tuple[AfterCommit, ...]] = {
    FollowCreated: (invalidation.follow_created, tray_events.follow_created),
    FollowRemoved: (fanout.narrow_on_unfollow, invalidation.follow_removed, tray_events.follow_removed),
    FollowUpdated: (invalidation.follow_updated,),
    FollowRequested: (invalidation.follow_requested,),
    FollowRequestAuthorized: (invalidation.follow_request_authorized, tray_events.follow_request_authorized),
    FollowRequestWithdrawn: (invalidation.follow_request_withdrawn,),
    BlockCreated: (fanout.narrow_on_block, invalidation.block_created, tray_events.block_created),
    BlockRemoved: (invalidation.block_removed, tray_events.block_removed),
    MuteCreated: (fanout.narrow_on_mute, invalidation.mute_created, tray_events.mute_created),
    MuteRemoved: (invalidation.mute_removed, tray_events.mute_removed),
    PostCreated: (invalidation.post_created,),
    PostUpdated: (invalidation.post_updated,),
    PostDeleted: (fanout.narrow_on_deletion, invalidation.post_deleted),
    PostPinned: (invalidation.post_pinned,),
    TagFollowed: (invalidation.tag_followed,),
    TagUnfollowed: (invalidation.tag_unfollowed,),
    FavouriteCreated: (invalidation.favourite_created,),
    FavouriteRemoved: (invalidation.favourite_removed,),
    BookmarkChanged: (invalidation.bookmark_changed,),
    AccountUpdated: (invalidation.account_updated, tray_events.account_updated),
    AccountDeleted: (invalidation.account_deleted,),
    ReblogCreated: (invalidation.reblog_created,),
    ReblogRemoved: (invalidation.reblog_removed,),
    ListChanged: (invalidation.list_changed, tray_events.list_changed),
    FiltersChanged: (invalidation.filters_changed,),
    PollVoted: (invalidation.poll_voted,),
    PollEnded: (invalidation.poll_ended,),
}
