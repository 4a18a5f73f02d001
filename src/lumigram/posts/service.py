"""Making, editing and deleting posts (Mastodon statuses).

Each write is one unit of work (``lumigram.unit_of_work``) holding the post row, its
media claims, hashtags, mentions, counters and its event (``PostCreated``,
``PostUpdated``, ``PostDeleted``, ``PostPinned``), so consumers (fan-out,
notifications) see exactly what committed, and the kept pages it changed are forgotten
once it has.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import String, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.ratelimits import hit_limits
from lumigram.accounts.service import account_from_row
from lumigram.accounts.text import clean_text
from lumigram.errors import NotFound, Problems, ValidationFailed
from lumigram.events import AccountDeleted, PostCreated, PostDeleted, PostPinned, PostUpdated
from lumigram.ids import shard_of
from lumigram.infra.sql import Prebuilt, among, insert_columns
from lumigram.infra.tables import (
    accounts,
    blob_deletions,
    media_attachments,
    mentions,
    reels,
    status_edits,
    status_pins,
    status_tags,
    statuses,
    tags,
    utcnow,
)
from lumigram.media_access.service import forget_privacy
from lumigram.posts import parts, poll_rows, reel_rules
from lumigram.posts import text as captions
from lumigram.posts.hydrate import hydrate, hydrate_in
from lumigram.posts.models import MAX_MEDIA, VISIBILITIES, Draft, Edit, HydratedPost, MediaChange, Mention, Post
from lumigram.posts.queries import ACCOUNT_BY_ID
from lumigram.posts.visibility import media_is_private, narrowest
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work
from lumigram.uploads.models import MediaRecord, media_record
from lumigram.uploads.service import MAX_DESCRIPTION

#: Idempotency keys are remembered this long (Mastodon keeps them an hour).
IDEMPOTENCY_TTL = 3600
POST_RATE_WINDOW = 3 * 3600
MAX_PINS = 5
_LANGUAGE_LENGTH = 16


def _invalid(message: str, field: str = "base") -> ValidationFailed:
    return ValidationFailed(message, {field: [{"error": "ERR_INVALID", "description": message}]})


def _check_caption(problems: Problems, text: str, spoiler: str) -> list[str]:
    if len(text) > captions.MAX_TEXT:
        problems.add("status", "ERR_TOO_LONG", f"is too long (maximum is {captions.MAX_TEXT} characters)")
    if len(spoiler) > captions.MAX_SPOILER:
        problems.add("spoiler_text", "ERR_TOO_LONG", f"is too long (maximum is {captions.MAX_SPOILER} characters)")
    found = captions.hashtags(text)
    if len(found) > captions.MAX_HASHTAGS:
        problems.add("status", "ERR_TOO_MANY_TAGS", f"has {len(found)} hashtags (at most {captions.MAX_HASHTAGS})")
    return found


def _check_language(problems: Problems, language: str | None) -> str | None:
    if language is None or language == "":
        return None
    if len(language) > _LANGUAGE_LENGTH or not language.replace("-", "").isalpha():
        problems.add("language", "ERR_INVALID", "must be an ISO 639 language code")
        return None
    return language.lower()


def _counts_as_post(in_reply_to_id: int | None, visibility: str) -> bool:
    """Whether the post shows on the profile grid and in its post count (not comments or DMs)."""
    return in_reply_to_id is None and visibility != "direct"


def _kind(in_reply_to_id: int | None, visibility: str, reel: bool = False) -> str:
    if in_reply_to_id is not None:
        return "comment"
    if visibility == "direct":
        return "message"
    return "reel" if reel else "post"


def _check_media_rules(draft: Draft, rows: list[Any], visibility: str) -> float | None:
    """A reel's duration (None for other posts), once the draft's media fit its kind."""
    if draft.reel:
        return reel_rules.check_reel(rows, draft.in_reply_to_id, visibility, draft.poll is not None)
    reel_rules.check_post_videos(rows)
    return None


# The statements every post makes, built once: building one (and its cache key) on each
# call cost about as much as running it (see ``lumigram.infra.sql``).
_OWN_MEDIA = Prebuilt(
    lambda dialect: select(media_attachments).where(
        among(dialect, media_attachments.c.id, "ids"), media_attachments.c.account_id == bindparam("account")
    )
)
#: Returns the row it claimed: none when another post claimed it first.
_ATTACH = Prebuilt(
    lambda _dialect: (
        update(media_attachments)
        .where(
            media_attachments.c.id == bindparam("media"),
            media_attachments.c.status_id.is_(None) | (media_attachments.c.status_id == bindparam("post")),
            media_attachments.c.story_id.is_(None),
        )
        .values(status_id=bindparam("post"), position=bindparam("at"), private=bindparam("hidden"))
        .returning(media_attachments.c.id)
    )
)
_COUNT_POST = Prebuilt(
    lambda _dialect: (
        update(accounts)
        .where(accounts.c.id == bindparam("author"))
        .values(statuses_count=accounts.c.statuses_count + 1, last_status_at=bindparam("now"))
        .returning(*accounts.c)
    )
)
_ACCOUNTS_NAMED = Prebuilt(
    lambda dialect: select(accounts.c.id, accounts.c.username).where(
        among(dialect, accounts.c.username_lower, "names", String())
    )
)
_INSERT_STATUS = Prebuilt(
    lambda _dialect: insert_columns(
        statuses,
        (
            "id",
            "account_id",
            "in_reply_to_id",
            "in_reply_to_account_id",
            "text",
            "spoiler_text",
            "sensitive",
            "visibility",
            "language",
            "kind",
            "comments_disabled",
            "created_at",
            "has_poll",
        ),
    )
)
#: A comment counted on its parent, built once (it was built on every comment).
_COUNT_REPLY = Prebuilt(
    lambda _dialect: (
        update(statuses).where(statuses.c.id == bindparam("parent")).values(replies_count=statuses.c.replies_count + 1)
    )
)
_INSERT_STATUS_TAGS = Prebuilt(lambda _dialect: insert_columns(status_tags, ("status_id", "tag_id")))
_INSERT_MENTIONS = Prebuilt(lambda _dialect: insert_columns(mentions, ("status_id", "account_id")))


async def _claimable_media(
    conn: AsyncConnection, account_id: int, media_ids: list[int], status_id: int | None = None
) -> list[Any]:
    """The rows of ``media_ids`` in that order, each the caller's, ready, and either free or
    already on ``status_id``; a clear 422 otherwise."""
    if len(media_ids) != len(set(media_ids)):
        raise _invalid("The same media is attached twice", "media_ids")
    if len(media_ids) > MAX_MEDIA:
        raise _invalid(f"A post may have at most {MAX_MEDIA} photos or videos", "media_ids")
    if not media_ids:
        return []
    params = {"ids": media_ids, "account": account_id}
    rows = {row.id: row for row in await _OWN_MEDIA.rows(conn, params)}
    for media_id in media_ids:
        row = rows.get(media_id)
        if row is None:
            raise _invalid(f"Media {media_id} was not found among your uploads", "media_ids")
        if row.status_id is not None and row.status_id != status_id:
            raise _invalid(f"Media {media_id} is already attached to another post", "media_ids")
        if row.story_id is not None:
            raise _invalid(f"Media {media_id} is already in a story", "media_ids")
        if row.state == "processing":
            raise _invalid(
                f"Media {media_id} is still processing; post it once GET /api/v1/media/{media_id} answers 200",
                "media_ids",
            )
        if row.state != "ready":
            raise _invalid(f"Media {media_id} could not be processed and cannot be posted", "media_ids")
    return [rows[m] for m in media_ids]


async def _tags(services: Services, conn: AsyncConnection, names: list[str]) -> list[tuple[int, str]]:
    """Ids and stored names of the hashtags ``names`` (made on first use; matched
    case-insensitively, so a tag keeps the spelling of its first use), by folded name."""
    if not names:
        return []
    normalised = {captions.normalise_tag(name): name for name in names}
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    for lower, name in normalised.items():
        await conn.execute(
            dialect_insert(tags)
            .values(id=services.ids.next_id(), name=name, name_lower=lower, created_at=now)
            .on_conflict_do_nothing(index_elements=["name_lower"])
        )
    found = select(tags.c.id, tags.c.name).where(tags.c.name_lower.in_(list(normalised)))
    return [(row.id, row.name) for row in await conn.execute(found.order_by(tags.c.name_lower))]


async def _mentioned_accounts(conn: AsyncConnection, text: str) -> list[tuple[int, str]]:
    usernames = captions.mentioned_usernames(text)
    if not usernames:
        return []
    rows = await _ACCOUNTS_NAMED.rows(conn, {"names": list(usernames)})
    return [(row.id, row.username) for row in rows]


async def _write_tags_and_mentions(
    services: Services, conn: AsyncConnection, status_id: int, text: str, found_tags: list[str]
) -> tuple[list[str], list[Mention]]:
    """Link the post to its hashtags and mentioned accounts; their stored names and the
    mentions, as hydration would read them back."""
    found = await _tags(services, conn, found_tags)
    if found:
        await _INSERT_STATUS_TAGS.execute(conn, [{"status_id": status_id, "tag_id": t} for t, _ in found])
    mentioned = await _mentioned_accounts(conn, text)
    if mentioned:
        await _INSERT_MENTIONS.execute(conn, [{"status_id": status_id, "account_id": a} for a, _ in mentioned])
    return [name for _, name in found], [Mention(a, username) for a, username in mentioned]


async def _attach(conn: AsyncConnection, status_id: int, rows: list[Any], private: bool) -> None:
    for position, row in enumerate(rows):
        params = {"media": row.id, "post": status_id, "at": position, "hidden": private}
        if not await _ATTACH.rows(conn, params):  # another post claimed it between our read and this write
            raise _invalid(f"Media {row.id} is already attached to another post", "media_ids")


async def _author(conn: AsyncConnection, account_id: int) -> Any:
    row = (await conn.execute(ACCOUNT_BY_ID(conn), {"id": account_id})).first()
    if row is None:
        raise NotFound
    return row


async def _count_post(conn: AsyncConnection, account_id: int, now: datetime) -> Any:
    """One more post on the author's grid; the author's row after it."""
    row = await _COUNT_POST.first(conn, {"author": account_id, "now": now})
    if row is None:
        raise NotFound
    return row


def _idempotency_key(account_id: int, key: str) -> str:
    return f"idempotency:status:{account_id}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _checked_fields(draft: Draft) -> tuple[str, str, list[str], str | None, str]:
    """The draft's text, spoiler, hashtags, language and visibility as they will be stored;
    ValidationFailed naming every field that cannot be."""
    problems = Problems()
    text = clean_text(draft.text, keep_newlines=True)
    spoiler = clean_text(draft.spoiler_text)
    found_tags = _check_caption(problems, text, spoiler)
    language = _check_language(problems, draft.language)
    visibility = draft.visibility or "public"
    if visibility not in VISIBILITIES:
        problems.add("visibility", "ERR_INCLUSION", f"must be one of {', '.join(VISIBILITIES)}")
    if not text and not draft.media_ids:
        problems.add("status", "ERR_BLANK", "can't be blank")
    if draft.poll is not None and draft.media_ids:
        problems.add("poll", "ERR_INVALID", "cannot be attached to a post with photos or videos")
    problems.raise_if_any()
    if not draft.media_ids and draft.poll is None and draft.in_reply_to_id is None and visibility != "direct":
        raise _invalid(
            "A post needs at least one photo or video; text alone is for comments and direct messages", "media_ids"
        )
    return text, spoiler, found_tags, language, visibility


async def check_draft(services: Services, account_id: int, draft: Draft) -> list[MediaRecord]:
    """Every check ``create_post`` makes before writing, without writing: for a post to be
    published later, so that what would be refused then is refused now. The draft's media."""
    visibility = _checked_fields(draft)[4]
    async with services.db.connect() as conn:
        if draft.in_reply_to_id is not None and not await hydrate_in(conn, account_id, [draft.in_reply_to_id]):
            raise NotFound("The post you are replying to was not found")
        rows = await _claimable_media(conn, account_id, draft.media_ids)
    _check_media_rules(draft, rows, visibility)
    return [media_record(row) for row in rows]


async def create_post(
    services: Services, account_id: int, draft: Draft, idempotency_key: str | None = None
) -> HydratedPost:
    """Publish a post, a comment (``in_reply_to_id``) or a direct message."""
    cache_key = _idempotency_key(account_id, idempotency_key) if idempotency_key else None
    if cache_key is not None:
        remembered = await services.cache.get(cache_key)
        if remembered is not None:
            again = await hydrate(services, account_id, [int(remembered)])
            if again:
                return again[0]
    text, spoiler, found_tags, language, visibility = _checked_fields(draft)
    await hit_limits(services, [f"ratelimit:post:{account_id}"], services.settings.post_rate_limit, POST_RATE_WINDOW)

    now = utcnow()
    status_id = services.ids.next_id(shard_of(account_id))
    counted = _counts_as_post(draft.in_reply_to_id, visibility)
    async with unit_of_work(services) as work:
        conn = work.conn
        # A grid post counts at once: the update returns the author's row (one statement
        # instead of a read and an update); anything the checks below refuse rolls it back.
        author = await (_count_post(conn, account_id, now) if counted else _author(conn, account_id))
        parent = None
        thread_locked = False
        if draft.in_reply_to_id is not None:
            # The parent's parts (photos, tags, mentions: a direct post's audience) come
            # from the cache where kept, as every read has them: two statements fewer.
            found = await hydrate_in(conn, account_id, [draft.in_reply_to_id], cache=services.cache)
            if not found:
                raise NotFound("The post you are replying to was not found")
            parent, thread = found[0].post, found[0].thread
            if parent.comments_disabled and parent.account_id != account_id:
                raise _invalid("Comments are turned off for this post", "in_reply_to_id")
            if thread is not None and (
                thread.root_id is None or not await hydrate_in(conn, account_id, [thread.root_id], cache=services.cache)
            ):
                # Someone the post's owner blocked cannot join its thread through a reply
                # to another comment (their own one included) either.
                raise NotFound("The post you are replying to was not found")
            # A comment is never for more readers than what it answers (Instagram: a
            # comment is seen by those who may see the post); ``parent.visibility`` is
            # already bounded by the posts above it.
            visibility = narrowest(visibility, parent.visibility)
            thread_locked = thread.locked if thread is not None else bool(found[0].account.locked)
        media_rows = await _claimable_media(conn, account_id, draft.media_ids)
        reel_seconds = _check_media_rules(draft, media_rows, visibility)
        kind = _kind(parent.id if parent else None, visibility, reel_seconds is not None)
        await _INSERT_STATUS.execute(
            conn,
            {
                "id": status_id,
                "account_id": account_id,
                "in_reply_to_id": parent.id if parent else None,
                "in_reply_to_account_id": parent.account_id if parent else None,
                "text": text,
                "spoiler_text": spoiler,
                "sensitive": bool(draft.sensitive or spoiler),
                "visibility": visibility,
                "language": language,
                "kind": kind,
                "comments_disabled": draft.comments_disabled,
                "created_at": now,
                "has_poll": draft.poll is not None,
            },
        )
        if draft.poll is not None:
            await poll_rows.insert_poll(conn, status_id, account_id, draft.poll, now)
        if reel_seconds is not None:
            await conn.execute(
                insert(reels).values(status_id=status_id, account_id=account_id, duration=reel_seconds, created_at=now)
            )
        # A comment's photos are as private as its thread's post's.
        private = media_is_private(bool(author.locked) or thread_locked, visibility)
        await _attach(conn, status_id, media_rows, private)
        tag_names, mentioned = await _write_tags_and_mentions(services, conn, status_id, text, found_tags)
        if parent is not None:
            await _COUNT_REPLY.execute(conn, {"parent": parent.id})
        created = PostCreated(
            status_id=status_id,
            account_id=account_id,
            visibility=visibility,
            in_reply_to_id=parent.id if parent else None,
            in_reply_to_account_id=parent.account_id if parent else None,
            mentions=[m.id for m in mentioned],
            tags=[captions.normalise_tag(t) for t in found_tags],
            created_ms=int(now.timestamp() * 1000),
            followers_count=int(author.followers_count),
        )
        await work.emit(created, shard=shard_of(account_id))
    await forget_privacy(services, *(row.id for row in media_rows))
    if cache_key is not None:
        await services.cache.set(cache_key, str(status_id).encode(), ttl=IDEMPOTENCY_TTL)
    # Everything a reader shows is known here: answer without reading it back, and keep
    # the parts for the followers whose pages will show the post next.
    media = [dataclasses.replace(media_record(row), status_id=status_id, private=private) for row in media_rows]
    made = parts.Parts(media, tag_names, mentioned, parts.version_of(None))
    await parts.keep(services.cache, {status_id: made})
    post = Post(
        id=status_id,
        account_id=account_id,
        in_reply_to_id=parent.id if parent else None,
        in_reply_to_account_id=parent.account_id if parent else None,
        text=text,
        spoiler_text=spoiler,
        sensitive=bool(draft.sensitive or spoiler),
        visibility=visibility,
        language=language,
        kind=kind,
        comments_disabled=draft.comments_disabled,
        replies_count=0,
        favourites_count=0,
        reblogs_count=0,
        created_at=now,
        edited_at=None,
        has_poll=draft.poll is not None,
    )
    poll = None if draft.poll is None else poll_rows.view_of_new(status_id, account_id, draft.poll, now)
    return HydratedPost(post, account_from_row(author), media, tag_names, mentioned, poll=poll)


async def get_post(services: Services, viewer_id: int | None, status_id: int) -> HydratedPost:
    """The post if the viewer may see it; NotFound otherwise (never revealing which)."""
    found = await hydrate(services, viewer_id, [status_id])
    if not found:
        raise NotFound
    return found[0]


async def _own_post_row(conn: AsyncConnection, account_id: int, status_id: int) -> Any:
    query = select(statuses).where(statuses.c.id == status_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None or row.account_id != account_id:
        raise NotFound
    return row


def _snapshot_media(rows: list[Any]) -> str:
    return orjson.dumps([{"id": str(row.id), "description": row.description} for row in rows]).decode()


async def _media_of(conn: AsyncConnection, status_id: int) -> list[Any]:
    return list(
        (
            await conn.execute(
                select(media_attachments)
                .where(media_attachments.c.status_id == status_id)
                .order_by(media_attachments.c.position)
            )
        ).all()
    )


async def _media_privacy(conn: AsyncConnection, author: Any, row: Any) -> bool:
    """Whether the photos of the post of ``row`` are private: a comment's are as private
    as its thread's post's, and its visibility is as shown (bounded by the thread)."""
    if row.in_reply_to_id is None:
        return media_is_private(bool(author.locked), row.visibility)
    found = await hydrate_in(conn, row.account_id, [row.id], check_visibility=False)
    if not found:
        return media_is_private(bool(author.locked), row.visibility)
    thread = found[0].thread
    locked = bool(author.locked) or (thread is not None and thread.locked)
    return media_is_private(locked, found[0].post.visibility)


def _check_media_change(change: MediaChange) -> None:
    if change.description is not None and len(change.description) > MAX_DESCRIPTION:
        raise _invalid(f"Alt text is too long (at most {MAX_DESCRIPTION} characters)", "media_attributes")


async def edit_post(services: Services, account_id: int, status_id: int, edit: Edit) -> HydratedPost:
    """Change the caption, content warning, alt text or photos; the old version goes to history."""
    problems = Problems()
    new_text = clean_text(edit.text, keep_newlines=True) if edit.text is not None else None
    new_spoiler = clean_text(edit.spoiler_text) if edit.spoiler_text is not None else None
    found_tags = _check_caption(problems, new_text or "", new_spoiler or "")
    language = _check_language(problems, edit.language)
    problems.raise_if_any()
    for change in edit.media_changes:
        _check_media_change(change)

    now = utcnow()
    detached: list[int] = []
    async with unit_of_work(services) as work:
        conn = work.conn
        row = await _own_post_row(conn, account_id, status_id)
        author = await _author(conn, account_id)
        old_media = await _media_of(conn, status_id)
        text = row.text if new_text is None else new_text
        spoiler = row.spoiler_text if new_spoiler is None else new_spoiler
        sensitive = bool(row.sensitive if edit.sensitive is None else edit.sensitive) or bool(spoiler)
        media_rows = old_media
        if edit.media_ids is not None:
            media_rows = await _claimable_media(conn, account_id, edit.media_ids, status_id)
            if not media_rows and _counts_as_post(row.in_reply_to_id, row.visibility):
                raise _invalid("A post needs at least one photo or video", "media_ids")
            if row.kind == "reel" and [m.id for m in media_rows] != [m.id for m in old_media]:
                # The reel's ranking counters and watch history belong to its video.
                raise _invalid("A reel's video cannot be changed; post a new reel instead", "media_ids")
            if row.kind != "reel":
                reel_rules.check_post_videos(media_rows)
        if not text and not media_rows:
            raise ValidationFailed.field("status", "ERR_BLANK", "can't be blank")
        descriptions = {m.id: m.description for m in media_rows}
        unknown = [c.id for c in edit.media_changes if c.id not in {m.id for m in media_rows}]
        if unknown:
            raise _invalid(f"Media {unknown[0]} is not attached to this post", "media_attributes")
        changed = (
            text != row.text
            or spoiler != row.spoiler_text
            or sensitive != bool(row.sensitive)
            or [m.id for m in media_rows] != [m.id for m in old_media]
            or any(
                (c.description is not None and c.description != descriptions[c.id]) or c.focus is not None
                for c in edit.media_changes
            )
            or (language is not None and language != row.language)
        )
        if edit.comments_disabled is not None and edit.comments_disabled != bool(row.comments_disabled):
            # A switch, not content: no new version in the history, no "edited" mark.
            await conn.execute(
                update(statuses).where(statuses.c.id == status_id).values(comments_disabled=edit.comments_disabled)
            )
        if not changed:
            return (await hydrate_in(conn, account_id, [status_id]))[0]

        if not (await conn.execute(select(status_edits.c.id).where(status_edits.c.status_id == status_id))).first():
            # The first edit keeps the original as version one of the history.
            await conn.execute(
                insert(status_edits).values(
                    id=services.ids.next_id(shard_of(account_id)),
                    status_id=status_id,
                    account_id=account_id,
                    text=row.text,
                    spoiler_text=row.spoiler_text,
                    sensitive=bool(row.sensitive),
                    media=_snapshot_media(old_media),
                    created_at=row.created_at,
                )
            )
        values: dict[str, Any] = {"text": text, "spoiler_text": spoiler, "sensitive": sensitive, "edited_at": now}
        if language is not None:
            values["language"] = language
        await conn.execute(update(statuses).where(statuses.c.id == status_id).values(**values))

        kept = {m.id for m in media_rows}
        detached = [m.id for m in old_media if m.id not in kept]
        if detached:
            await conn.execute(
                update(media_attachments).where(media_attachments.c.id.in_(detached)).values(status_id=None)
            )
            await _schedule_blob_deletion(services, conn, [m for m in old_media if m.id in detached])
        await _attach(conn, status_id, media_rows, await _media_privacy(conn, author, row))
        for change in edit.media_changes:
            media_values: dict[str, Any] = {}
            if change.description is not None:
                media_values["description"] = change.description
            if change.focus is not None:
                media_values["focus_x"], media_values["focus_y"] = change.focus
            if media_values:
                await conn.execute(
                    update(media_attachments).where(media_attachments.c.id == change.id).values(**media_values)
                )

        new_mentions: list[int] = []
        if text != row.text:
            before = set(
                (await conn.execute(select(mentions.c.account_id).where(mentions.c.status_id == status_id))).scalars()
            )
            await conn.execute(delete(status_tags).where(status_tags.c.status_id == status_id))
            await conn.execute(delete(mentions).where(mentions.c.status_id == status_id))
            _, after = await _write_tags_and_mentions(services, conn, status_id, text, found_tags)
            new_mentions = [m.id for m in after if m.id not in before]

        await conn.execute(
            insert(status_edits).values(
                id=services.ids.next_id(shard_of(account_id)),
                status_id=status_id,
                account_id=account_id,
                text=text,
                spoiler_text=spoiler,
                sensitive=sensitive,
                media=_snapshot_media(await _media_of(conn, status_id)),
                created_at=now,
            )
        )
        updated = PostUpdated(
            status_id=status_id, account_id=account_id, visibility=row.visibility, new_mentions=new_mentions
        )
        await work.emit(updated, shard=shard_of(account_id))
    await forget_privacy(services, *(m.id for m in media_rows), *detached)
    return await get_post(services, account_id, status_id)


def blob_keys(row: Any) -> list[str]:
    """Every blob a media row points at, whatever the shape of its variants document."""
    keys: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "key" and isinstance(value, str):
                    keys.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(orjson.loads(row.variants or "{}"))
    if row.original_key:
        keys.append(row.original_key)
    return keys


async def _schedule_blob_deletion(
    services: Services, conn: AsyncConnection, media_rows: list[Any], grace: bool = True
) -> None:
    """Mark the media's blobs for removal once the grace period has passed. Until then a
    client can still re-attach the media (Mastodon's delete-and-redraft); without
    ``grace`` (no one is left to redraft) they go on the janitor's next round."""
    due = utcnow() + timedelta(seconds=services.settings.media_deletion_grace if grace else 0)
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for row in media_rows:
        for key in blob_keys(row):
            await conn.execute(
                dialect_insert(blob_deletions)
                .values(key=key, delete_after=due)
                .on_conflict_do_update(index_elements=["key"], set_={"delete_after": due})
            )


async def delete_post(services: Services, account_id: int, status_id: int, redraft: bool = True) -> HydratedPost:
    """Delete a post (its author) or a comment on one's own post (the post's owner).

    Returns the post as it was, with its text, for Mastodon's delete-and-redraft; with
    ``redraft`` False its media's blobs are not kept for one.
    """
    async with unit_of_work(services) as work:
        conn = work.conn
        found = await hydrate_in(conn, account_id, [status_id], check_visibility=False)
        if not found:
            raise NotFound
        gone = found[0]
        post = gone.post
        if post.account_id != account_id and post.in_reply_to_account_id != account_id:
            raise NotFound
        media_rows = await _media_of(conn, status_id)
        if media_rows:
            await conn.execute(
                update(media_attachments).where(media_attachments.c.status_id == status_id).values(status_id=None)
            )
            await _schedule_blob_deletion(services, conn, media_rows, grace=redraft)
        for table in (status_tags, mentions, status_edits):
            await conn.execute(delete(table).where(table.c.status_id == status_id))
        await conn.execute(delete(status_pins).where(status_pins.c.status_id == status_id))
        await conn.execute(delete(statuses).where(statuses.c.id == status_id))
        if post.in_reply_to_id is not None:
            count = statuses.c.replies_count
            await conn.execute(
                update(statuses)
                .where(statuses.c.id == post.in_reply_to_id)
                .values(replies_count=case((count > 0, count - 1), else_=0))
            )
        if _counts_as_post(post.in_reply_to_id, post.visibility):
            count = accounts.c.statuses_count
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == post.account_id)
                .values(statuses_count=case((count > 0, count - 1), else_=0))
            )
        # The tag and mention rows are gone once this commits, so the streams that carried the
        # post learn where it was from the event; ``gone`` read them in this transaction. Only
        # what a consumer uses is added: tags where hashtag streams had the post, mentions
        # where direct streams had it.
        hashtag_streams = post.visibility == "public" and post.in_reply_to_id is None
        deleted = PostDeleted(
            status_id=status_id,
            account_id=post.account_id,
            visibility=post.visibility,
            in_reply_to_id=post.in_reply_to_id or None,
            tags=list(dict.fromkeys(captions.normalise_tag(tag) for tag in gone.tags)) if hashtag_streams else [],
            mentions=list(dict.fromkeys(m.id for m in gone.mentions)) if post.visibility == "direct" else [],
            deleted_by=account_id,
        )
        await work.emit(deleted, shard=shard_of(post.account_id))
    await forget_privacy(services, *(row.id for row in media_rows))
    await parts.forget(services, status_id)  # tidiness: no row is left to match it
    return gone


async def pin(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """Pin one's own post to the top of the profile (at most five, as in Mastodon)."""
    async with unit_of_work(services) as work:
        conn = work.conn
        row = await _own_post_row(conn, account_id, status_id)
        if row.visibility == "direct" or row.in_reply_to_id is not None:
            raise _invalid("Only your own posts can be pinned, not comments or direct messages")
        already = (
            await conn.execute(
                select(status_pins.c.status_id).where(
                    status_pins.c.account_id == account_id, status_pins.c.status_id == status_id
                )
            )
        ).first()
        if already is None:
            count = (
                await conn.execute(
                    select(func.count()).select_from(status_pins).where(status_pins.c.account_id == account_id)
                )
            ).scalar_one()
            if count >= MAX_PINS:
                raise _invalid(f"You can pin at most {MAX_PINS} posts")
            await conn.execute(
                insert(status_pins).values(account_id=account_id, status_id=status_id, created_at=utcnow())
            )
            pinned = PostPinned(status_id=status_id, account_id=account_id, pinned=True)
            await work.emit(pinned, shard=shard_of(account_id))
    return await get_post(services, account_id, status_id)


async def unpin(services: Services, account_id: int, status_id: int) -> HydratedPost:
    async with unit_of_work(services) as work:
        await _own_post_row(work.conn, account_id, status_id)
        result = await work.conn.execute(
            delete(status_pins).where(status_pins.c.account_id == account_id, status_pins.c.status_id == status_id)
        )
        if result.rowcount:
            pinned = PostPinned(status_id=status_id, account_id=account_id, pinned=False)
            await work.emit(pinned, shard=shard_of(account_id))
    return await get_post(services, account_id, status_id)


# --- a deleted account -----------------------------------------------------------------------

#: Posts read per round when an account is deleted (each is deleted in its own transaction).
DELETION_BATCH = 100


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """Delete every post and comment of a deleted account, each as its author would (so
    feeds, streams, search, notifications and counters follow each ``PostDeleted``), its
    media's blobs with no grace period, and its uploads never posted. Idempotent."""
    gone = event.account_id
    while True:
        async with services.db.connect() as conn:
            query = select(statuses.c.id).where(statuses.c.account_id == gone).order_by(statuses.c.id)
            ids = [int(i) for i in (await conn.execute(query.limit(DELETION_BATCH))).scalars()]
        for status_id in ids:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                await delete_post(services, gone, status_id, redraft=False)
        if len(ids) < DELETION_BATCH:
            break
    async with services.db.begin() as conn:
        unposted = (
            await conn.execute(
                select(media_attachments).where(
                    media_attachments.c.account_id == gone,
                    media_attachments.c.status_id.is_(None),
                    media_attachments.c.story_id.is_(None),  # the stories' sweeper's
                )
            )
        ).all()
        await _schedule_blob_deletion(services, conn, list(unposted), grace=False)
