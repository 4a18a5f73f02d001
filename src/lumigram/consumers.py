"""The table of bus consumers: which handler reacts to which event type.

Each service package contributes its consumers; ``lumigram worker`` (and ``serve`` on
the in-process bus) starts them all. One durable consumer per handler, so a slow
handler never holds up another.
"""

from __future__ import annotations

from lumigram import events
from lumigram.infra.bus import Consumer
from lumigram.pagecache import invalidation
from lumigram.services import AfterCommit, Services


def consumers(services: Services) -> list[Consumer]:
    from lumigram.accounts.handlers import consumers as account_consumers
    from lumigram.feed.fanout import consumers as feed_consumers
    from lumigram.interactions.handlers import consumers as interaction_consumers
    from lumigram.notifications.handlers import consumers as notification_consumers
    from lumigram.pagecache.home_pages import put_post_into_home_pages
    from lumigram.push.handlers import consumers as push_consumers
    from lumigram.streaming.publisher import consumers as streaming_consumers
    from lumigram.uploads.handlers import consumers as upload_consumers

    return [
        *account_consumers(services),
        *upload_consumers(services),
        *feed_consumers(services, put_post_into_home_pages),
        *notification_consumers(services),
        *interaction_consumers(services),
        *push_consumers(services),
        *streaming_consumers(services),
    ]


# --- after commit ------------------------------------------------------------------------
# What runs in-process, in order, once the write that emitted the event has committed
# (``lumigram.unit_of_work``), before its response goes out: what the writer must see at
# once. Everything else that follows a write is a consumer above, fed by the bus.

AFTER_COMMIT: dict[type[events.DomainEvent], tuple[AfterCommit, ...]] = {
    events.FollowCreated: (invalidation.follow_created,),
    events.FollowRemoved: (invalidation.follow_removed,),
    events.FollowRequested: (invalidation.follow_requested,),
    events.FollowRequestAuthorized: (invalidation.follow_request_authorized,),
    events.FollowRequestWithdrawn: (invalidation.follow_request_withdrawn,),
    events.BlockCreated: (invalidation.block_created,),
    events.BlockRemoved: (invalidation.block_removed,),
    events.MuteCreated: (invalidation.mute_created,),
    events.MuteRemoved: (invalidation.mute_removed,),
    events.PostCreated: (invalidation.post_created,),
    events.PostUpdated: (invalidation.post_updated,),
    events.PostDeleted: (invalidation.post_deleted,),
    events.PostPinned: (invalidation.post_pinned,),
    events.TagFollowed: (invalidation.tag_followed,),
    events.TagUnfollowed: (invalidation.tag_unfollowed,),
    events.FavouriteCreated: (invalidation.favourite_created,),
    events.FavouriteRemoved: (invalidation.favourite_removed,),
    events.BookmarkChanged: (invalidation.bookmark_changed,),
    events.AccountUpdated: (invalidation.account_updated,),
}
