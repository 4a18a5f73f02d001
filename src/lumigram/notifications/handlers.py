"""Bus consumers that turn domain events into notifications.

Each consumer works out who should hear of an event and hands them to
``service.deliver``, which is idempotent per event (the ``dedupe_key``), then publishes
what it made to the recipients' open streams. Every consumer checks, inside the
writing transaction, that the cause still stands (the like, the follow, the post), so
an event overtaken by its undoing (a like withdrawn at once) notifies no one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import exists, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.bootstrap import Services
from lumigram.infra.bus import Consumer, Event, payload_ids, payload_int
from lumigram.infra.sql import one_of
from lumigram.infra.tables import accounts, favourites, follow_requests, follows, mentions, statuses
from lumigram.notifications import realtime, service
from lumigram.notifications.models import COMMENT, DIRECT, FAVOURITE, FOLLOW, FOLLOW_REQUEST, MENTION, STATUS
from lumigram.posts.visibility import ViewerContext, can_see

log = logging.getLogger(__name__)

#: Subscribers (follows with ``notify``) handled per transaction.
BATCH = 500






def _exists(query: Any) -> Callable[[AsyncConnection], Awaitable[bool]]:
    async def check(conn: AsyncConnection) -> bool:
        return bool((await conn.execute(select(exists(query)))).scalar())

    return check


async def _subscribers(services: Services, author_id: int, status_id: int) -> list[int]:
    """Followers who asked to hear of the author's new posts (Mastodon's bell), and who
    followed before the post was made: a worker running behind must not announce older
    posts to someone who subscribed after them (ids are time-ordered)."""
    query = select(follows.c.account_id).where(
        follows.c.target_account_id == author_id, follows.c.notify.is_(True), follows.c.id < status_id
    )
    async with services.db.connect() as conn:
        return list((await conn.execute(query.order_by(follows.c.account_id))).scalars())


async def _who_may_see(services: Services, status_id: int, recipients: Sequence[int]) -> set[int]:
    """Those of ``recipients`` the visibility rule lets see the post (none once it is gone)."""
    async with services.db.connect() as conn:
        post = (
            await conn.execute(
                select(statuses.c.account_id, statuses.c.visibility, accounts.c.locked)
                .join(accounts, accounts.c.id == statuses.c.account_id)
                .where(statuses.c.id == status_id)
            )
        ).first()
        if post is None or not recipients:
            return set()
        # Who of them the post mentions (kind 0) and who follows its author (kind 1).
        mentioned_or_following = union_all(
            select(literal_column("0").label("kind"), mentions.c.account_id).where(
                mentions.c.status_id == status_id, one_of(conn, mentions.c.account_id, recipients)
            ),
            select(literal_column("1"), follows.c.account_id).where(
                follows.c.target_account_id == post.account_id, one_of(conn, follows.c.account_id, recipients)
            ),
        )
        found: tuple[set[int], set[int]] = (set(), set())
        for kind, account_id in (await conn.execute(mentioned_or_following)).all():
            found[kind].add(account_id)
        mentioned, following = found
    # Blocks are not looked up here: ``deliver`` drops blocked recipients for every type.
    return {
        r
        for r in recipients
        if can_see(
            ViewerContext(r, following=frozenset({post.account_id}) if r in following else frozenset()),
            post.account_id,
            bool(post.locked),
            post.visibility,
            mentioned,
        )
    }


def consumers(services: Services) -> list[Consumer]:
    async def deliver(
        event: Event,
        actor: int,
        wanted: list[tuple[int, str]],
        status_id: int | None,
        still_true: Callable[[AsyncConnection], Awaitable[bool]],
        part: str = "",
    ) -> None:
        created = await service.deliver(services, event, actor, wanted, status_id, still_true, part)
        await realtime.publish(services, created)

    async def post_created(event: Event) -> None:
        payload = event.payload
        status_id, author = payload_int(payload, "status_id"), payload_int(payload, "account_id")
        if status_id is None or author is None:
            log.error("event %s has no usable status_id/account_id; skipping", event.id)
            return
        wanted: dict[int, str] = {}
        if payload.get("visibility") == "direct":
            for account_id in payload_ids(payload, "mentions"):
                wanted[account_id] = DIRECT
        else:
            for account_id in payload_ids(payload, "mentions"):
                wanted[account_id] = MENTION
            parent_author = payload_int(payload, "in_reply_to_account_id")
            if parent_author is not None:
                # A comment that names the post's owner is already a mention.
                wanted.setdefault(parent_author, COMMENT)
            elif not payload.get("in_reply_to_id"):
                for follower in await _subscribers(services, author, status_id):
                    wanted.setdefault(follower, STATUS)
        wanted.pop(author, None)
        recipients = sorted(wanted)
        post_exists = _exists(select(statuses.c.id).where(statuses.c.id == status_id))
        for start in range(0, len(recipients), BATCH):
            chunk = recipients[start : start + BATCH]
            allowed = await _who_may_see(services, status_id, chunk)
            wanted_here = [(r, wanted[r]) for r in chunk if r in allowed]
            await deliver(event, author, wanted_here, status_id, post_exists, f"#{start // BATCH}")

    async def post_updated(event: Event) -> None:
        """An edit that mentions someone new tells them (the others heard at posting time)."""
        payload = event.payload
        status_id, author = payload_int(payload, "status_id"), payload_int(payload, "account_id")
        if status_id is None or author is None:
            return
        kind = DIRECT if payload.get("visibility") == "direct" else MENTION
        recipients = sorted(set(payload_ids(payload, "new_mentions")) - {author})
        if not recipients:
            return
        allowed = await _who_may_see(services, status_id, recipients)
        post_exists = _exists(select(statuses.c.id).where(statuses.c.id == status_id))
        await deliver(event, author, [(r, kind) for r in recipients if r in allowed], status_id, post_exists)

    async def post_deleted(event: Event) -> None:
        status_id = payload_int(event.payload, "status_id")
        if status_id is not None:
            await service.remove_for_post(services, status_id)

    async def favourite_created(event: Event) -> None:
        payload = event.payload
        status_id, liker, owner = (payload_int(payload, n) for n in ("status_id", "account_id", "status_account_id"))
        if status_id is None or liker is None or owner is None:
            log.error("event %s has no usable status_id/account_id/status_account_id; skipping", event.id)
            return
        still_liked = _exists(
            select(favourites.c.id).where(favourites.c.account_id == liker, favourites.c.status_id == status_id)
        )
        await deliver(event, liker, [(owner, FAVOURITE)], status_id, still_liked)

    async def favourite_removed(event: Event) -> None:
        payload = event.payload
        status_id, liker, owner = (payload_int(payload, n) for n in ("status_id", "account_id", "status_account_id"))
        if status_id is not None and liker is not None and owner is not None:
            await service.remove(services, owner, liker, FAVOURITE, status_id)

    async def follow_created(event: Event) -> None:
        follower, target = payload_int(event.payload, "account_id"), payload_int(event.payload, "target_account_id")
        if follower is None or target is None:
            return
        edge = (follows.c.account_id == follower) & (follows.c.target_account_id == target)
        if event.type == "follow.requested":
            edge = (follow_requests.c.account_id == follower) & (follow_requests.c.target_account_id == target)
            await deliver(
                event, follower, [(target, FOLLOW_REQUEST)], None, _exists(select(follow_requests.c.id).where(edge))
            )
            return
        # A locked account approved this follow itself and was told of the request; like
        # Mastodon, approving it makes no second "followed you" notification.
        unlocked = (follows.c.target_account_id == accounts.c.id) & accounts.c.locked.is_(False)
        await deliver(event, follower, [(target, FOLLOW)], None, _exists(select(follows.c.id).where(edge, unlocked)))

    async def request_settled(event: Event) -> None:
        requester, target = payload_int(event.payload, "account_id"), payload_int(event.payload, "target_account_id")
        if requester is not None and target is not None:
            await service.remove(services, target, requester, FOLLOW_REQUEST)

    async def block_created(event: Event) -> None:
        blocker, blocked = payload_int(event.payload, "account_id"), payload_int(event.payload, "target_account_id")
        if blocker is not None and blocked is not None:
            await service.forget_pair(services, blocker, blocked)

    return [
        Consumer("notifications.blocks", ["block.created"], block_created),
        Consumer("notifications.posts", ["post.created"], post_created),
        Consumer("notifications.post_deleted", ["post.deleted"], post_deleted),
        Consumer("notifications.post_edits", ["post.updated"], post_updated),
        Consumer("notifications.favourites", ["favourite.created"], favourite_created),
        Consumer("notifications.unfavourites", ["favourite.removed"], favourite_removed),
        Consumer("notifications.follows", ["follow.created", "follow.requested"], follow_created),
        Consumer(
            "notifications.follow_requests",
            ["follow_request.authorized", "follow_request.rejected", "follow_request.withdrawn"],
            request_settled,
        ),
    ]
