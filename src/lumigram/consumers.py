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
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from lumigram.accounts.handlers import SEND_VERIFICATION, send_verification
from lumigram.events import (
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
    MuteCreated,
    MuteRemoved,
    NotificationCreated,
    PostCreated,
    PostDeleted,
    PostPinned,
    PostUpdated,
    ReblogCreated,
    ReblogRemoved,
    TagFollowed,
    TagUnfollowed,
    UserRegistered,
    VerificationRequested,
    decode,
)
from lumigram.feed import fanout
from lumigram.infra.bus import Consumer, Event
from lumigram.interactions.handlers import COUNTERS, fold_like_into_counter
from lumigram.notifications import handlers as notify
from lumigram.pagecache import invalidation
from lumigram.pagecache.feed_pages import forget_readers_pages, put_fanned_out_post
from lumigram.push.handlers import push_notification
from lumigram.services import AfterCommit, Services
from lumigram.streaming import publisher
from lumigram.streaming.notifications import publish as publish_notifications
from lumigram.uploads.handlers import transcode_uploaded_video

log = logging.getLogger(__name__)

E = TypeVar("E", bound=DomainEvent)
F = TypeVar("F", bound=DomainEvent)
G = TypeVar("G", bound=DomainEvent)
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Registration:
    """A durable consumer: its name, the event types it takes, and what it does with them."""

    name: str
    events: tuple[type[DomainEvent], ...]
    handler: Callable[[Services, Any], Awaitable[None]]


# One form per number of event types, so that the type checker holds each handler to
# taking every type its consumer is given (a tuple's types alone would meet in a base).
@overload
def register(name: str, events: tuple[type[E]], handler: Callable[[Services, E], Awaitable[None]]) -> Registration: ...
@overload
def register(
    name: str, events: tuple[type[E], type[F]], handler: Callable[[Services, E | F], Awaitable[None]]
) -> Registration: ...
@overload
def register(
    name: str, events: tuple[type[E], type[F], type[G]], handler: Callable[[Services, E | F | G], Awaitable[None]]
) -> Registration: ...
def register(
    name: str, events: tuple[type[DomainEvent], ...], handler: Callable[[Services, Any], Awaitable[None]]
) -> Registration:
    return Registration(name, events, handler)


def then(
    step: Callable[[Services, E], Awaitable[R]], follow_up: Callable[[Services, R], Awaitable[None]]
) -> Callable[[Services, E], Awaitable[None]]:
    """``step``, then ``follow_up`` with what it returned."""

    async def both(services: Services, event: E) -> None:
        await follow_up(services, await step(services, event))

    return both


CONSUMERS: list[Registration] = [
    # Accounts: the confirmation message for a sign-up or a resend.
    register(SEND_VERIFICATION, (UserRegistered, VerificationRequested), send_verification),
    # Uploads: a video is transcoded.
    register("media.process_video", (MediaUploaded,), transcode_uploaded_video),
    # Home feeds, then the kept pages built from them.
    register("feed.fanout", (PostCreated,), then(fanout.fan_out_post, put_fanned_out_post)),
    register("feed.retract", (PostDeleted,), then(fanout.retract_post, forget_readers_pages)),
    register("feed.follow", (FollowCreated,), then(fanout.add_followed_authors_posts, forget_readers_pages)),
    register("feed.hide", (FollowRemoved, BlockCreated, MuteCreated), then(fanout.hide_author, forget_readers_pages)),
    register("feed.unmute", (MuteRemoved,), then(fanout.show_unmuted_author, forget_readers_pages)),
    register("feed.tags", (TagFollowed, TagUnfollowed), then(fanout.follow_tag_in_feed, forget_readers_pages)),
    register("feed.lists", (ListChanged,), then(fanout.rebuild_after_list_change, forget_readers_pages)),
    register("feed.reposts", (ReblogCreated,), then(fanout.fan_out_repost, forget_readers_pages)),
    register("feed.unrepost", (ReblogRemoved,), then(fanout.retract_repost, forget_readers_pages)),
    # Notifications, then the recipients' open streams.
    register("notifications.blocks", (BlockCreated,), notify.forget_blocked_pair),
    register("notifications.posts", (PostCreated,), then(notify.notify_of_new_post, publish_notifications)),
    register("notifications.post_deleted", (PostDeleted,), notify.remove_post_notifications),
    register("notifications.post_edits", (PostUpdated,), then(notify.notify_of_new_mentions, publish_notifications)),
    register("notifications.favourites", (FavouriteCreated,), then(notify.notify_of_like, publish_notifications)),
    register("notifications.unfavourites", (FavouriteRemoved,), notify.remove_like_notification),
    register("notifications.reblogs", (ReblogCreated,), then(notify.notify_of_reblog, publish_notifications)),
    register("notifications.unreblogs", (ReblogRemoved,), notify.remove_reblog_notification),
    register(
        "notifications.follows", (FollowCreated, FollowRequested), then(notify.notify_of_follow, publish_notifications)
    ),
    register(
        "notifications.follow_requests",
        (FollowRequestAuthorized, FollowRequestRejected, FollowRequestWithdrawn),
        notify.remove_follow_request_notification,
    ),
    # Likes: folded into the post's counter.
    register(COUNTERS, (FavouriteCreated, FavouriteRemoved), fold_like_into_counter),
    # Web Push, for recipients with a subscription.
    register("push.deliver", (NotificationCreated,), push_notification),
    # Open streams: posts as they are made, edited and deleted.
    register("streaming.created", (PostCreated,), publisher.stream_new_post),
    register("streaming.updated", (PostUpdated,), publisher.stream_edited_post),
    register("streaming.deleted", (PostDeleted,), publisher.stream_deleted_post),
]


def _consumer(services: Services, registration: Registration) -> Consumer:
    async def handle(bus_event: Event) -> None:
        try:
            event = decode(bus_event)
        except MalformedEvent as exc:
            log.error("%s skips event %s (%s): %s", registration.name, bus_event.id, bus_event.type, exc)
            return
        if not isinstance(event, registration.events):
            log.error("%s skips event %s: it takes no %s", registration.name, bus_event.id, bus_event.type)
            return
        await registration.handler(services, event)

    return Consumer(registration.name, [cls.type for cls in registration.events], handle)


def consumers(services: Services) -> list[Consumer]:
    """The bus consumers of the table, for these services."""
    return [_consumer(services, registration) for registration in CONSUMERS]


# --- after commit ------------------------------------------------------------------------
# What runs in-process, in order, once the write that emitted the event has committed
# (``lumigram.unit_of_work``), before its response goes out: what the writer must see at
# once. Everything else that follows a write is a consumer above, fed by the bus.

AFTER_COMMIT: dict[type[DomainEvent], tuple[AfterCommit, ...]] = {
    FollowCreated: (invalidation.follow_created,),
    FollowRemoved: (invalidation.follow_removed,),
    FollowUpdated: (invalidation.follow_updated,),
    FollowRequested: (invalidation.follow_requested,),
    FollowRequestAuthorized: (invalidation.follow_request_authorized,),
    FollowRequestWithdrawn: (invalidation.follow_request_withdrawn,),
    BlockCreated: (invalidation.block_created,),
    BlockRemoved: (invalidation.block_removed,),
    MuteCreated: (invalidation.mute_created,),
    MuteRemoved: (invalidation.mute_removed,),
    PostCreated: (invalidation.post_created,),
    PostUpdated: (invalidation.post_updated,),
    PostDeleted: (invalidation.post_deleted,),
    PostPinned: (invalidation.post_pinned,),
    TagFollowed: (invalidation.tag_followed,),
    TagUnfollowed: (invalidation.tag_unfollowed,),
    FavouriteCreated: (invalidation.favourite_created,),
    FavouriteRemoved: (invalidation.favourite_removed,),
    BookmarkChanged: (invalidation.bookmark_changed,),
    AccountUpdated: (invalidation.account_updated,),
    ReblogCreated: (invalidation.reblog_created,),
    ReblogRemoved: (invalidation.reblog_removed,),
    ListChanged: (invalidation.list_changed,),
    FiltersChanged: (invalidation.filters_changed,),
}
