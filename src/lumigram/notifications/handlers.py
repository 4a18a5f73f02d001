"""Bus consumers that turn domain events into notifications.

Each consumer works out who should hear of an event and hands them to
``service.deliver``, which is idempotent per event (the ``dedupe_key``), and returns
what it made: the consumers table (``lumigram.consumers``) publishes that to the
recipients' open streams. Every consumer checks, inside the writing transaction, that
the cause still stands (the like, the follow, the post), so an event overtaken by its
undoing (a like withdrawn at once) notifies no one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Boolean, bindparam, case, delete, exists, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.events import (
    AccountDeleted,
    BlockCreated,
    FavouriteCreated,
    FavouriteRemoved,
    FollowCreated,
    FollowRequestAuthorized,
    FollowRequested,
    FollowRequestRejected,
    FollowRequestWithdrawn,
    PostCreated,
    PostDeleted,
    PostUpdated,
    ReblogCreated,
    ReblogRemoved,
)
from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import (
    accounts,
    favourites,
    follow_requests,
    follows,
    mentions,
    notifications,
    reblogs,
    statuses,
)
from lumigram.notifications import service
from lumigram.notifications.models import (
    COMMENT,
    DIRECT,
    FAVOURITE,
    FOLLOW,
    FOLLOW_REQUEST,
    MENTION,
    REBLOG,
    STATUS,
)
from lumigram.posts import threads
from lumigram.posts.visibility import ViewerContext, can_see
from lumigram.services import Services

#: Subscribers (follows with ``notify``) handled per transaction.
BATCH = 500


def _still(check: Prebuilt[Any], **params: int) -> Callable[[AsyncConnection], Awaitable[bool]]:
    """``deliver``'s check that the cause still stands: ``check`` (prebuilt, built once
    rather than per event) reads a row with ``params``."""

    async def still(conn: AsyncConnection) -> bool:
        return bool((await check.rows(conn, params))[0][0])

    return still


def _exists_built(condition: Callable[[], Any]) -> Prebuilt[Any]:
    return Prebuilt(lambda _dialect: select(exists(condition())))


_LIKED = _exists_built(
    lambda: select(favourites.c.id).where(
        favourites.c.account_id == bindparam("actor", type_=BigInteger),
        favourites.c.status_id == bindparam("status", type_=BigInteger),
    )
)
_REPOSTED = _exists_built(
    lambda: select(reblogs.c.id).where(
        reblogs.c.account_id == bindparam("actor", type_=BigInteger),
        reblogs.c.status_id == bindparam("status", type_=BigInteger),
    )
)
_REQUESTED = _exists_built(
    lambda: select(follow_requests.c.id).where(
        follow_requests.c.account_id == bindparam("actor", type_=BigInteger),
        follow_requests.c.target_account_id == bindparam("target", type_=BigInteger),
    )
)
# A locked account approved this follow itself and was told of the request; like
# Mastodon, approving it makes no second "followed you" notification.
_FOLLOWING_UNLOCKED = _exists_built(
    lambda: select(follows.c.id).where(
        follows.c.account_id == bindparam("actor", type_=BigInteger),
        follows.c.target_account_id == bindparam("target", type_=BigInteger),
        follows.c.target_account_id == accounts.c.id,
        accounts.c.locked.is_(False),
    )
)


_VISIBILITY_CODES = ("public", "unlisted", "private", "direct")


def _post_audience_statement(dialect: str) -> Any:
    """Everything deciding who hears of the post bound as ``status``, in one statement:
    which of the accounts bound as ``named`` it mentions (kind 0) and which of them follow
    its author (1); its author (2), visibility (3, as its place in ``_VISIBILITY_CODES``)
    and whether the author is locked (4); and, when ``subscribers`` is true, the
    followers who asked to hear of the author's new posts (5; see ``_PostAudience``)."""
    status = bindparam("status", type_=BigInteger)
    author = select(statuses.c.account_id).where(statuses.c.id == status).scalar_subquery()
    code = case({name: index for index, name in enumerate(_VISIBILITY_CODES)}, value=statuses.c.visibility, else_=3)
    return union_all(
        select(literal_column("0").label("kind"), mentions.c.account_id.label("value")).where(
            mentions.c.status_id == status, among(dialect, mentions.c.account_id, "named")
        ),
        select(literal_column("1"), follows.c.account_id).where(
            follows.c.target_account_id == author, among(dialect, follows.c.account_id, "named")
        ),
        select(literal_column("2"), statuses.c.account_id).where(statuses.c.id == status),
        select(literal_column("3"), code).where(statuses.c.id == status),
        select(literal_column("4"), accounts.c.id).where(accounts.c.id == author, accounts.c.locked.is_(True)),
        select(literal_column("5"), follows.c.account_id).where(
            bindparam("subscribers", type_=Boolean).is_(True),
            follows.c.target_account_id == author,
            follows.c.notify.is_(True),
            follows.c.id < status,
        ),
    )


_POST_AUDIENCE = Prebuilt(_post_audience_statement)
_POST_EXISTS = Prebuilt(lambda _dialect: select(exists().where(statuses.c.id == bindparam("status"))))


@dataclass(frozen=True, slots=True)
class _PostAudience:
    author: int
    visibility: str
    locked: bool
    mentioned: frozenset[int]
    #: Of the accounts asked about, those following the author.
    following: frozenset[int]
    #: Followers who asked to hear of the author's new posts (Mastodon's bell) and who
    #: followed before the post was made: a worker running behind must not announce older
    #: posts to someone who subscribed after them (ids are time-ordered). Ascending.
    subscribers: list[int]

    def may_see(self, recipient: int) -> bool:
        following = recipient in self.following or recipient in self.subscribers
        context = ViewerContext(recipient, following=frozenset({self.author}) if following else frozenset())
        return can_see(context, self.author, self.locked, self.visibility, self.mentioned)


async def _post_audience(
    services: Services, status_id: int, named: Sequence[int], subscribers: bool
) -> _PostAudience | None:
    """Who may hear of the post (None once it is gone). Blocks are not looked up here:
    ``deliver`` drops blocked recipients for every type."""
    params = {"status": status_id, "named": sorted(set(named)), "subscribers": subscribers}
    async with services.db.connect() as conn:
        rows = await _POST_AUDIENCE.rows(conn, params)
    found: dict[int, list[int]] = {kind: [] for kind in range(6)}
    for kind, value in rows:
        found[kind].append(value)
    if not found[2] or not found[3]:
        return None
    return _PostAudience(
        author=found[2][0],
        visibility=_VISIBILITY_CODES[found[3][0]],
        locked=bool(found[4]),
        mentioned=frozenset(found[0]),
        following=frozenset(found[1]),
        subscribers=sorted(found[5]),
    )


async def _who_may_see(services: Services, status_id: int, named: Sequence[int]) -> set[int]:
    """Which of ``named`` may see the post now; for a comment, those who may see the
    post its thread hangs from, whatever the comment names (``lumigram.posts.threads``)."""
    async with services.db.connect() as conn:
        return await threads.audience_among(conn, status_id, named)


def _post_exists(status_id: int) -> Callable[[AsyncConnection], Awaitable[bool]]:
    return _still(_POST_EXISTS, status=status_id)


async def notify_of_new_post(services: Services, event: PostCreated) -> list[service.Created]:
    """Those a new post mentions, the owner of the post a comment answers, and the
    followers who asked to hear of the author's posts, if they may see it."""
    status_id, author = event.status_id, event.account_id
    wanted: dict[int, str] = {}
    top_level = event.in_reply_to_id is None
    if event.visibility == "direct":
        for account_id in event.mentions:
            wanted[account_id] = DIRECT
    else:
        for account_id in event.mentions:
            wanted[account_id] = MENTION
        if event.in_reply_to_account_id is not None:
            # A comment that names the post's owner is already a mention.
            wanted.setdefault(event.in_reply_to_account_id, COMMENT)
    if top_level:
        with_subscribers = event.visibility != "direct"
        audience = await _post_audience(services, status_id, list(wanted), with_subscribers)
        if audience is None:
            return []  # deleted already
        for follower in audience.subscribers:
            wanted.setdefault(follower, STATUS)
        wanted.pop(author, None)
        recipients = [r for r in sorted(wanted) if audience.may_see(r)]
    else:
        # A comment has no subscribers to hear of it, and the thread's rule decides
        # (none once the comment is gone): the post's own audience is not read.
        wanted.pop(author, None)
        if not wanted:
            return []
        recipients = sorted(await _who_may_see(services, status_id, list(wanted)))
    post_exists = _post_exists(status_id)
    created: list[service.Created] = []
    for start in range(0, len(recipients), BATCH):
        chunk = recipients[start : start + BATCH]
        pairs = [(r, wanted[r]) for r in chunk]
        created += await service.deliver(
            services, event.id, author, pairs, status_id, post_exists, f"#{start // BATCH}"
        )
    return created


async def notify_of_new_mentions(services: Services, event: PostUpdated) -> list[service.Created]:
    """An edit that mentions someone new tells them (the others heard at posting time)."""
    status_id, author = event.status_id, event.account_id
    kind = DIRECT if event.visibility == "direct" else MENTION
    recipients = sorted(set(event.new_mentions) - {author})
    if not recipients:
        return []
    # The one rule, comments' threads included (the event does not say which it is).
    visible = await _who_may_see(services, status_id, recipients)
    allowed = [(r, kind) for r in recipients if r in visible]
    if not allowed:
        return []
    return await service.deliver(services, event.id, author, allowed, status_id, _post_exists(status_id))


async def remove_post_notifications(services: Services, event: PostDeleted) -> None:
    await service.remove_for_post(services, event.status_id)


async def notify_of_like(services: Services, event: FavouriteCreated) -> list[service.Created]:
    status_id, liker = event.status_id, event.account_id
    still_liked = _still(_LIKED, actor=liker, status=status_id)
    wanted = [(event.status_account_id, FAVOURITE)]
    return await service.deliver(services, event.id, liker, wanted, status_id, still_liked)


async def remove_like_notification(services: Services, event: FavouriteRemoved) -> None:
    await service.remove(services, event.status_account_id, event.account_id, FAVOURITE, event.status_id)


async def notify_of_reblog(services: Services, event: ReblogCreated) -> list[service.Created]:
    """The post's author hears of a repost still standing (not of their own)."""
    status_id, reposter = event.status_id, event.account_id
    still_reposted = _still(_REPOSTED, actor=reposter, status=status_id)
    wanted = [(event.status_account_id, REBLOG)]
    return await service.deliver(services, event.id, reposter, wanted, status_id, still_reposted)


async def remove_reblog_notification(services: Services, event: ReblogRemoved) -> None:
    await service.remove(services, event.status_account_id, event.account_id, REBLOG, event.status_id)


async def notify_of_follow(services: Services, event: FollowCreated | FollowRequested) -> list[service.Created]:
    follower, target = event.account_id, event.target_account_id
    if isinstance(event, FollowRequested):
        still_requested = _still(_REQUESTED, actor=follower, target=target)
        return await service.deliver(services, event.id, follower, [(target, FOLLOW_REQUEST)], None, still_requested)
    still_following = _still(_FOLLOWING_UNLOCKED, actor=follower, target=target)
    return await service.deliver(services, event.id, follower, [(target, FOLLOW)], None, still_following)


async def remove_follow_request_notification(
    services: Services, event: FollowRequestAuthorized | FollowRequestRejected | FollowRequestWithdrawn
) -> None:
    await service.remove(services, event.target_account_id, event.account_id, FOLLOW_REQUEST)


async def forget_blocked_pair(services: Services, event: BlockCreated) -> None:
    await service.forget_pair(services, event.account_id, event.target_account_id)


#: Notifications removed per transaction when an account is deleted.
DELETION_BATCH = 1000


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """Notifications to a deleted account and from it, a batch per transaction."""
    gone = event.account_id
    for column in (notifications.c.account_id, notifications.c.from_account_id):
        while True:
            async with services.db.begin() as conn:
                batch = select(notifications.c.id).where(column == gone).limit(DELETION_BATCH)
                ids = list((await conn.execute(batch)).scalars())
                if ids:
                    await conn.execute(delete(notifications).where(notifications.c.id.in_(ids)))
            if len(ids) < DELETION_BATCH:
                break
