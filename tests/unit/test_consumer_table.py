"""The consumers table: every durable consumer keeps its name and the event types it takes.

JetStream's durable consumers are named by these names: a renamed entry would start a
new consumer that replays the stream's history, and leave the old one's backlog behind.
"""

from __future__ import annotations

from lumigram.consumers import CONSUMERS
from lumigram.events import EVENT_TYPES

#: Each consumer's name and the wire types it takes, as deployed.
DEPLOYED = {
    "accounts.send_verification": {"user.registered", "user.verification_requested"},
    "media.process_video": {"media.uploaded"},
    "feed.fanout": {"post.created"},
    "feed.retract": {"post.deleted"},
    "feed.follow": {"follow.created"},
    "feed.hide": {"follow.removed", "block.created", "mute.created"},
    "feed.unmute": {"mute.removed"},
    "feed.tags": {"tag.followed", "tag.unfollowed"},
    "feed.lists": {"list.changed"},
    "feed.reposts": {"reblog.created"},
    "feed.unrepost": {"reblog.removed"},
    "notifications.blocks": {"block.created"},
    "notifications.posts": {"post.created"},
    "notifications.post_deleted": {"post.deleted"},
    "notifications.post_edits": {"post.updated"},
    "notifications.favourites": {"favourite.created"},
    "notifications.unfavourites": {"favourite.removed"},
    "notifications.reblogs": {"reblog.created"},
    "notifications.unreblogs": {"reblog.removed"},
    "notifications.polls": {"poll.ended"},
    "notifications.follows": {"follow.created", "follow.requested"},
    "notifications.follow_requests": {
        "follow_request.authorized",
        "follow_request.rejected",
        "follow_request.withdrawn",
    },
    "interactions.counters": {"favourite.created", "favourite.removed"},
    "push.deliver": {"notification.created"},
    "streaming.created": {"post.created"},
    "streaming.updated": {"post.updated"},
    "streaming.deleted": {"post.deleted"},
    "streaming.reposts": {"reblog.created"},
    "streaming.unreposts": {"reblog.removed"},
    "stories.mentions": {"story.created"},
    "stories.replies": {"story.replied"},
    "streaming.stories": {"story.created"},
    "streaming.story_views": {"story.viewed"},
    "search.posts": {"post.created", "post.updated", "post.deleted"},
    "search.accounts": {"user.registered", "account.updated"},
    "conversations.file": {"post.created"},
    "conversations.forget": {"post.deleted"},
    "messages.stream_sent": {"message.sent"},
    "messages.stream_edited": {"message.edited"},
    "messages.stream_unsent": {"message.unsent"},
    "messages.stream_reactions": {"message.reacted"},
    "messages.stream_reads": {"thread.read"},
    "messages.stream_members": {"thread.members_changed"},
    "accounts.deleted.posts": {"account.deleted"},
    "accounts.deleted.follows": {"account.deleted"},
    "accounts.deleted.likes": {"account.deleted"},
    "accounts.deleted.reposts": {"account.deleted"},
    "accounts.deleted.notifications": {"account.deleted"},
    "accounts.deleted.stories": {"account.deleted"},
    "accounts.deleted.messages": {"account.deleted"},
    "accounts.deleted.lists": {"account.deleted"},
    "accounts.deleted.filters": {"account.deleted"},
    "accounts.deleted.push": {"account.deleted"},
    "accounts.deleted.feed": {"account.deleted"},
    "accounts.deleted.search": {"account.deleted"},
}


def test_every_consumer_keeps_its_name_and_its_event_types() -> None:
    names = [registration.name for registration in CONSUMERS]
    assert len(names) == len(set(names))
    assert {r.name: {cls.type for cls in r.events} for r in CONSUMERS} == DEPLOYED


def test_every_event_a_consumer_takes_can_be_decoded() -> None:
    for registration in CONSUMERS:
        for cls in registration.events:
            assert EVENT_TYPES[cls.type] is cls
