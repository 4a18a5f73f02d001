"""The after-commit table as built (``lumigram.consumers.AFTER_COMMIT``), on both shapes:
each event, once its write commits, forgets exactly the kept pages that write changes
(``lumigram.pagecache.invalidation``), and nothing else."""

from __future__ import annotations

import typing
from collections.abc import Callable

import pytest

from lumigram.config import Settings
from lumigram.consumers import AFTER_COMMIT
from lumigram.events import (
    EVENT_TYPES,
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
)
from lumigram.pagecache import store
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work

ACTOR, OTHER, BYSTANDER = 101, 102, 103
CELEBRITIES = "celebrities"
THRESHOLD = 1000


def _home(account: int) -> str:
    return store.keys(account, store.DEFAULT_VARIANT)[0]


def _profile(account: int) -> str:
    return store.profile_generation_key(account)


def _forgets(homes: tuple[int, ...] = (), profiles: tuple[int, ...] = (), celebrities: bool = False) -> set[str]:
    return {*(f"home {a}" for a in homes), *(f"profile {a}" for a in profiles), *([CELEBRITIES] if celebrities else [])}


#: Each write's event, and the kept pages its write forgot before the unit of work took
#: that over: both sides' home pages for the graph, the reader's own for their marks and
#: tags, the author's profile for posts and profile changes.
CASES: list[tuple[DomainEvent, set[str]]] = [
    # The follower's pages take the followed account's posts (or are forgotten, as here
    # with none kept); nothing the followed account's home shows depends on who follows
    # it but its numbers, which the pages' fingerprints catch.
    (FollowCreated(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR,))),
    (FollowRemoved(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR, OTHER))),
    # Only the follower's home shows the follow's options (whose reposts it shows).
    (FollowUpdated(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR,))),
    (FollowRequested(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR, OTHER))),
    (FollowRequestAuthorized(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR, OTHER))),
    (FollowRequestWithdrawn(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR, OTHER))),
    (FollowRequestRejected(account_id=ACTOR, target_account_id=OTHER), _forgets()),
    (BlockCreated(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR, OTHER))),
    (BlockRemoved(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR, OTHER))),
    (MuteCreated(account_id=ACTOR, target_account_id=OTHER, expires_at=None), _forgets((ACTOR, OTHER))),
    (MuteRemoved(account_id=ACTOR, target_account_id=OTHER), _forgets((ACTOR, OTHER))),
    # The author's home pages take a new post from the fan-out, not from here.
    (
        PostCreated(status_id=9, account_id=ACTOR, visibility="public", followers_count=THRESHOLD),
        _forgets((), (ACTOR,)),
    ),
    (
        PostCreated(status_id=9, account_id=ACTOR, visibility="public", followers_count=THRESHOLD + 1),
        _forgets((), (ACTOR,), celebrities=True),
    ),
    (PostUpdated(status_id=9, account_id=ACTOR, visibility="public"), _forgets((ACTOR,), (ACTOR,))),
    # A comment deleted by the owner of the post it answers: both home pages.
    (
        PostDeleted(status_id=9, account_id=ACTOR, visibility="public", deleted_by=OTHER),
        _forgets((OTHER, ACTOR), (ACTOR,)),
    ),
    # From a writer that did not say who deleted it: the author did.
    (PostDeleted(status_id=9, account_id=ACTOR, visibility="public"), _forgets((ACTOR,), (ACTOR,))),
    (PostPinned(status_id=9, account_id=ACTOR, pinned=True), _forgets((ACTOR,))),
    (PostPinned(status_id=9, account_id=ACTOR, pinned=False), _forgets((ACTOR,))),
    (TagFollowed(account_id=ACTOR, tag_id=4, tag="sunset"), _forgets((ACTOR,))),
    (TagUnfollowed(account_id=ACTOR, tag_id=4, tag="sunset"), _forgets((ACTOR,))),
    (FavouriteCreated(status_id=9, account_id=ACTOR, status_account_id=OTHER), _forgets((ACTOR,))),
    (FavouriteRemoved(status_id=9, account_id=ACTOR, status_account_id=OTHER), _forgets((ACTOR,))),
    (BookmarkChanged(status_id=9, account_id=ACTOR, bookmarked=True), _forgets((ACTOR,))),
    (AccountUpdated(account_id=ACTOR), _forgets((), (ACTOR,))),
    # A deleted account's profile pages; its posts' pages go as each post is deleted.
    (AccountDeleted(account_id=ACTOR), _forgets((), (ACTOR,))),
    # The reposter's pages show the repost and ``reblogged``; the author's profile the count.
    (ReblogCreated(reblog_id=10, status_id=9, account_id=ACTOR, status_account_id=OTHER), _forgets((ACTOR,), (OTHER,))),
    (ReblogRemoved(reblog_id=10, status_id=9, account_id=ACTOR, status_account_id=OTHER), _forgets((ACTOR,), (OTHER,))),
    (ListChanged(account_id=ACTOR, list_id=11), _forgets((ACTOR,))),
    (FiltersChanged(account_id=ACTOR), _forgets((ACTOR,))),
    # The voter's pages show their vote; the author's profile the counts.
    (PollVoted(status_id=9, account_id=ACTOR, status_account_id=OTHER), _forgets((ACTOR,), (OTHER,))),
    # ``expired`` changes on every page showing the poll, which nobody tracks.
    (PollEnded(status_id=9, account_id=ACTOR), _forgets((ACTOR,), (ACTOR,), celebrities=True)),
    (UserRegistered(user_id=7, account_id=ACTOR, username="someone"), _forgets()),
    (VerificationRequested(user_id=7, channel="email"), _forgets()),
    (MediaUploaded(media_id=8, account_id=ACTOR), _forgets()),
    # Stories are read live (no kept pages show them).
    (StoryCreated(story_id=9, account_id=ACTOR, audience="followers"), _forgets()),
    (StoryReplied(story_id=9, account_id=ACTOR, owner_id=OTHER, kind="reply"), _forgets()),
    (StoryViewed(story_id=9, account_id=ACTOR, owner_id=OTHER), _forgets()),
    # Made by a consumer, never by a request: no one waits to see it.
    (NotificationCreated(notification_id=5, account_id=ACTOR, notification_type="favourite"), _forgets()),
    # Messages are in no kept page.
    (MessageSent(thread_id=3, account_id=ACTOR, audience=[ACTOR, OTHER], message_id=9), _forgets()),
    (MessageEdited(thread_id=3, account_id=ACTOR, audience=[ACTOR, OTHER], message_id=9), _forgets()),
    (MessageUnsent(thread_id=3, account_id=ACTOR, audience=[ACTOR, OTHER], message_id=9), _forgets()),
    (MessageReacted(thread_id=3, account_id=ACTOR, audience=[ACTOR], message_id=9, emoji="x"), _forgets()),
    (ThreadRead(thread_id=3, account_id=ACTOR, audience=[ACTOR, OTHER], last_read_id=9), _forgets()),
    (ThreadMembersChanged(thread_id=3, account_id=ACTOR, audience=[ACTOR], removed=[OTHER]), _forgets()),
]


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(fanout_celebrity_threshold=THRESHOLD)


def test_every_event_type_has_a_case() -> None:
    assert {type(event) for event, _ in CASES} == set(EVENT_TYPES.values())


def test_each_handler_takes_the_event_type_it_is_listed_under() -> None:
    for cls, handlers in AFTER_COMMIT.items():
        for handler in handlers:
            assert typing.get_type_hints(handler)["event"] is cls, handler


def _watched() -> dict[str, str]:
    """What each cache key is called in the expectations."""
    named = {store.keys(ACTOR, store.DEFAULT_VARIANT)[1]: CELEBRITIES}
    for account in (ACTOR, OTHER, BYSTANDER):
        named[_home(account)] = f"home {account}"
        named[_profile(account)] = f"profile {account}"
    return named


@pytest.mark.parametrize(("event", "expected"), CASES, ids=lambda value: getattr(value, "type", ""))
async def test_a_committed_event_forgets_exactly_its_pages(
    services: Services, event: DomainEvent, expected: set[str]
) -> None:
    watched = _watched()
    await services.cache.set_many(dict.fromkeys(watched, b"before"), ttl=600)
    async with unit_of_work(services) as work:
        await work.emit(event)
        # Not before the commit: a reader could render the old state again meanwhile.
        assert await services.cache.get_many(list(watched)) == [b"before"] * len(watched)
    after = await services.cache.get_many(list(watched))
    forgotten = {name for (key, name), value in zip(watched.items(), after, strict=True) if value != b"before"}
    assert forgotten == expected
