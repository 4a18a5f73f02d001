"""Commands and queries on stories: making one, the tray, viewing, viewers, replies.

Every read is bounded by the services' clock (``Services.now``): a story is shown from
``created_at`` until ``expires_at`` and not a moment after, on every path. Who may see
which story is ``lumigram.stories.audience``'s one rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.text import clean_text
from lumigram.errors import NotFound, Problems, ValidationFailed
from lumigram.events import StoryCreated, StoryReplied, StoryViewed
from lumigram.ids import shard_of
from lumigram.infra.tables import (
    accounts,
    follows,
    media_attachments,
    stories,
    story_highlight_items,
    story_mentions,
    story_replies,
    story_settings,
    story_views,
)
from lumigram.media_access.service import forget_privacy
from lumigram.paging import Page, PageRequest
from lumigram.posts import text as captions
from lumigram.services import Services
from lumigram.stories import audience as rules
from lumigram.stories import tray_cache
from lumigram.stories.affinity import Signals, affinities
from lumigram.stories.loading import accounts_by_id, stories_from_rows
from lumigram.stories.models import (
    AUDIENCES,
    DRAFT,
    LIFETIME,
    LIVE,
    MAX_CAPTION,
    MAX_DURATION,
    MAX_EMOJI,
    MAX_LINK,
    MAX_LIVE,
    MAX_REPLY,
    MAX_VIDEO_SECONDS,
    REACTION,
    REPLY,
    Reply,
    Story,
    StoryDraft,
    TrayEntry,
    Viewer,
)
from lumigram.unit_of_work import Work, unit_of_work
from lumigram.uploads.handlers import blob_keys_of
from lumigram.uploads.service import frame_for_story


def _invalid(message: str, field: str = "base") -> ValidationFailed:
    return ValidationFailed(
        f"Validation failed: {message}", {field: [{"error": "ERR_INVALID", "description": message}]}
    )


def _upsert(conn: AsyncConnection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def live_at(now: datetime) -> list[Any]:
    """The SQL conditions of a story shown at ``now``."""
    return [
        stories.c.state == LIVE,
        stories.c.deleted_at.is_(None),
        stories.c.created_at <= now,
        stories.c.expires_at > now,
    ]


# --- writing -------------------------------------------------------------------------------


def _check_draft(draft: StoryDraft) -> tuple[str, str | None]:
    problems = Problems()
    caption = clean_text(draft.caption, keep_newlines=True)
    if len(caption) > MAX_CAPTION:
        problems.add("caption", "ERR_TOO_LONG", f"is too long (maximum is {MAX_CAPTION} characters)")
    link = draft.link.strip() if draft.link else None
    if link:
        try:
            parts = urlsplit(link)
            usable = parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in link)
        except ValueError:  # a malformed host ("http://[x")
            usable = False
        if len(link) > MAX_LINK or not usable:
            problems.add("link", "ERR_INVALID", "must be an http or https URL")
    if draft.audience not in AUDIENCES:
        problems.add("audience", "ERR_INCLUSION", f"must be one of {', '.join(AUDIENCES)}")
    if not 1 <= draft.duration <= MAX_DURATION:
        problems.add("duration", "ERR_INVALID", f"must be between 1 and {MAX_DURATION} seconds")
    problems.raise_if_any()
    return caption, link or None


async def _claim_media(conn: AsyncConnection, account_id: int, media_id: int, story_id: int, draft: bool) -> list[str]:
    """The caller's upload, now the story's (and private: served only by signed URLs); the
    blob keys of the HLS ladder it no longer uses, to delete once this has committed."""
    row = (
        await conn.execute(
            select(media_attachments).where(
                media_attachments.c.id == media_id, media_attachments.c.account_id == account_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("Media not found among your uploads")
    if row.status_id is not None or (row.story_id is not None and row.story_id != story_id):
        raise _invalid(f"Media {media_id} is already in a post or a story", "media_id")
    if row.state == "processing" and not draft:
        raise _invalid(
            f"Media {media_id} is still processing; retry once GET /api/v1/media/{media_id} answers 200", "media_id"
        )
    if row.state not in ("ready", "processing"):
        raise _invalid(f"Media {media_id} could not be processed and cannot be shown", "media_id")
    _check_length(row)
    values: dict[str, Any] = {"story_id": story_id, "private": True}
    unused = _without_ladder(row)
    if unused is not None:
        values["variants"], ladder_keys = unused
    claimed = await conn.execute(
        update(media_attachments)
        .where(
            media_attachments.c.id == media_id,
            media_attachments.c.status_id.is_(None),
            media_attachments.c.story_id.is_(None) | (media_attachments.c.story_id == story_id),
        )
        .values(**values)
    )
    if claimed.rowcount != 1:
        raise _invalid(f"Media {media_id} is already in a post or a story", "media_id")
    return ladder_keys if unused is not None else []


def _without_ladder(media: Any) -> tuple[str, list[str]] | None:
    """A video's variants without its HLS ladder, and the ladder's blob keys; None when it
    has none. The worker packages every vertical video uploaded, since its use is not known
    then and it may become a reel; a story plays the MP4, so the ladder is dropped when
    the video becomes one (a story's media is never in a post or reel afterwards)."""
    variants = orjson.loads(media.variants or "{}")
    ladder = variants.pop("hls", None) if isinstance(variants, dict) else None
    if ladder is None:
        return None
    return orjson.dumps(variants).decode(), blob_keys_of(ladder)


def _check_length(media: Any) -> None:
    """A story's video plays for at most ``MAX_VIDEO_SECONDS`` (known once transcoded)."""
    seconds = orjson.loads(media.meta or "{}").get("duration")
    if isinstance(seconds, int | float) and seconds > MAX_VIDEO_SECONDS + 0.5:
        raise _invalid(f"A story's video may be at most {MAX_VIDEO_SECONDS} seconds", "media_id")


async def _check_room(conn: AsyncConnection, account_id: int, now: datetime) -> None:
    count = (
        await conn.execute(select(func.count()).where(stories.c.account_id == account_id, *live_at(now)))
    ).scalar_one()
    if count >= MAX_LIVE:
        raise _invalid(f"You may have at most {MAX_LIVE} live stories; wait for one to expire", "media_id")


async def _mentions(conn: AsyncConnection, account_id: int, caption: str) -> list[int]:
    names = captions.mentioned_usernames(caption)
    if not names:
        return []
    query = select(accounts.c.id).where(accounts.c.username_lower.in_(names), accounts.c.id != account_id)
    return sorted(set((await conn.execute(query)).scalars()))


async def _go_live(services: Services, conn: AsyncConnection, story_id: int, account_id: int) -> tuple[datetime, Any]:
    """Make the story live from now; its row afterwards."""
    now = services.now()
    await _check_room(conn, account_id, now)
    await conn.execute(
        update(stories).where(stories.c.id == story_id).values(state=LIVE, created_at=now, expires_at=now + LIFETIME)
    )
    return now, (await conn.execute(select(stories).where(stories.c.id == story_id))).one()


async def create_story(services: Services, account_id: int, draft: StoryDraft, publish: bool = True) -> Story:
    """A story from one of the caller's uploads: live at once, or (``publish=False``) a
    draft that ``publish`` makes live (Pixelfed's add-then-publish)."""
    caption, link = _check_draft(draft)
    with contextlib.suppress(NotFound):  # said by the claim below, in its words
        await frame_for_story(services, account_id, draft.media_id)
    story_id = services.ids.next_id(shard_of(account_id))
    now = services.now()
    async with unit_of_work(services) as work:
        conn = work.conn
        unused_blobs = await _claim_media(conn, account_id, draft.media_id, story_id, draft=not publish)
        await conn.execute(
            insert(stories).values(
                id=story_id,
                account_id=account_id,
                media_id=draft.media_id,
                state=DRAFT,
                caption=caption,
                link=link,
                audience=draft.audience,
                replies_enabled=draft.replies_enabled,
                reactions_enabled=draft.reactions_enabled,
                duration=draft.duration,
                created_at=now,
                expires_at=now + LIFETIME,
            )
        )
        mentioned = await _mentions(conn, account_id, caption)
        if mentioned:
            await conn.execute(insert(story_mentions), [{"story_id": story_id, "account_id": a} for a in mentioned])
        if publish:
            await _go_live(services, conn, story_id, account_id)
            await work.emit(
                StoryCreated(story_id=story_id, account_id=account_id, audience=draft.audience, mentions=mentioned),
                shard=shard_of(account_id),
            )
    await forget_privacy(services, draft.media_id)
    for key in unused_blobs:
        await services.blobs.delete(key)
    if publish:
        await tray_cache.forget_audience(services, account_id)
    return await _own_story(services, account_id, story_id)


async def publish(
    services: Services,
    account_id: int,
    story_id: int,
    duration: int | None = None,
    replies_enabled: bool | None = None,
    reactions_enabled: bool | None = None,
) -> Story:
    """Make the caller's draft live (publishing a live story again changes nothing)."""
    changes: dict[str, Any] = {}
    if duration is not None:
        if not 1 <= duration <= MAX_DURATION:
            raise _invalid(f"Duration must be between 1 and {MAX_DURATION} seconds", "duration")
        changes["duration"] = duration
    if replies_enabled is not None:
        changes["replies_enabled"] = replies_enabled
    if reactions_enabled is not None:
        changes["reactions_enabled"] = reactions_enabled
    async with services.db.connect() as conn:
        draft_row = await _own_row(conn, account_id, story_id)
    if draft_row.state == DRAFT:  # a video processed since it was added has its poster now
        await frame_for_story(services, account_id, draft_row.media_id)
    unused_blobs: list[str] = []
    async with unit_of_work(services) as work:
        conn = work.conn
        row = await _own_row(conn, account_id, story_id)
        if changes:
            await conn.execute(update(stories).where(stories.c.id == story_id).values(**changes))
        if row.state == DRAFT:
            media = (
                await conn.execute(select(media_attachments).where(media_attachments.c.id == row.media_id))
            ).first()
            if media is None or media.state != "ready":
                raise _invalid("The story's media is still processing or could not be processed", "media_id")
            _check_length(media)
            # A ladder packaged while the draft's video was claimed mid-transcode: unused too.
            unused = _without_ladder(media)
            if unused is not None:
                variants, unused_blobs = unused
                await conn.execute(
                    update(media_attachments).where(media_attachments.c.id == media.id).values(variants=variants)
                )
            await _go_live(services, conn, story_id, account_id)
            mentioned = list(
                (
                    await conn.execute(select(story_mentions.c.account_id).where(story_mentions.c.story_id == story_id))
                ).scalars()
            )
            await work.emit(
                StoryCreated(story_id=story_id, account_id=account_id, audience=row.audience, mentions=mentioned),
                shard=shard_of(account_id),
            )
    for key in unused_blobs:
        await services.blobs.delete(key)
    if row.state == DRAFT or changes:
        await tray_cache.forget_audience(services, account_id)
    return await _own_story(services, account_id, story_id)


async def _own_row(conn: AsyncConnection, account_id: int, story_id: int) -> Any:
    row = (
        await conn.execute(
            select(stories).where(
                stories.c.id == story_id, stories.c.account_id == account_id, stories.c.deleted_at.is_(None)
            )
        )
    ).first()
    if row is None:
        raise NotFound()
    return row


async def _own_story(services: Services, account_id: int, story_id: int) -> Story:
    async with services.db.connect() as conn:
        row = await _own_row(conn, account_id, story_id)
        found = await stories_from_rows(conn, account_id, [row])
    if not found:
        raise NotFound()
    return found[0]


async def update_story(
    services: Services, account_id: int, story_id: int, replies_enabled: bool | None, reactions_enabled: bool | None
) -> Story:
    """The owner turns replies or reactions on or off for one story."""
    changes: dict[str, Any] = {}
    if replies_enabled is not None:
        changes["replies_enabled"] = replies_enabled
    if reactions_enabled is not None:
        changes["reactions_enabled"] = reactions_enabled
    async with services.db.begin() as conn:
        await _own_row(conn, account_id, story_id)
        if changes:
            await conn.execute(update(stories).where(stories.c.id == story_id).values(**changes))
    if changes:  # the switches show in every tray holding the story
        await tray_cache.forget_audience(services, account_id)
    return await _own_story(services, account_id, story_id)


async def delete_story(services: Services, account_id: int, story_id: int) -> None:
    """Take a story down at once (and out of every highlight); the sweeper removes its blobs."""
    async with services.db.begin() as conn:
        await _own_row(conn, account_id, story_id)
        await conn.execute(delete(story_highlight_items).where(story_highlight_items.c.story_id == story_id))
        await conn.execute(update(stories).where(stories.c.id == story_id).values(deleted_at=services.now()))
    await tray_cache.forget_audience(services, account_id)


# --- reading -------------------------------------------------------------------------------


async def _visible(services: Services, conn: AsyncConnection, viewer_id: int, story_id: int) -> Any:
    """The row of a live story the viewer may see; NotFound otherwise (never saying which)."""
    now = services.now()
    row = (await conn.execute(select(stories).where(stories.c.id == story_id, *live_at(now)))).first()
    if row is None:
        raise NotFound()
    known = await rules.relations(conn, viewer_id, [row.account_id], now)
    if not known.may_see(row.account_id, row.audience):
        raise NotFound()
    return row


async def visible_stories(
    conn: AsyncConnection, now: datetime, viewer_id: int, story_ids: list[int]
) -> dict[int, Story]:
    """Those of ``story_ids`` that are live and the viewer may see, by id (for the stories
    that messages answer: shown only while they are)."""
    wanted = sorted(set(story_ids))
    if not wanted:
        return {}
    rows = (await conn.execute(select(stories).where(stories.c.id.in_(wanted), *live_at(now)))).all()
    known = await rules.relations(conn, viewer_id, {row.account_id for row in rows}, now)
    rows = [row for row in rows if known.may_see(row.account_id, row.audience)]
    return {story.id: story for story in await stories_from_rows(conn, viewer_id, rows)}


async def get_story(services: Services, viewer_id: int, story_id: int) -> Story:
    async with services.db.connect() as conn:
        row = await _visible(services, conn, viewer_id, story_id)
        found = await stories_from_rows(conn, viewer_id, [row])
    if not found:
        raise NotFound()
    return found[0]


async def account_stories(services: Services, viewer_id: int, account_id: int) -> list[Story]:
    """One account's live stories the viewer may see, oldest first (the order they play in)."""
    now = services.now()
    async with services.db.connect() as conn:
        known = await rules.relations(conn, viewer_id, [account_id], now)
        if account_id in known.blocked:
            raise NotFound()
        rows = (
            await conn.execute(
                select(stories)
                .where(stories.c.account_id == account_id, *live_at(now))
                .order_by(stories.c.created_at, stories.c.id)
            )
        ).all()
        rows = [row for row in rows if known.may_see(row.account_id, row.audience)]
        return await stories_from_rows(conn, viewer_id, rows)


async def tray(services: Services, viewer_id: int) -> list[TrayEntry]:
    """The followed accounts with live stories the viewer may see: those with a story the
    viewer has not seen first; within each part, the accounts the viewer is closest to
    (``stories.affinity``) first, then the most recent. Muted accounts are left out."""
    now = services.now()
    followed = select(follows.c.target_account_id).where(follows.c.account_id == viewer_id)
    async with services.db.connect() as conn:
        rows = (
            await conn.execute(
                select(stories)
                .where(stories.c.account_id.in_(followed), *live_at(now))
                .order_by(stories.c.created_at, stories.c.id)
            )
        ).all()
        known = await rules.relations(conn, viewer_id, {row.account_id for row in rows}, now)
        rows = [
            row for row in rows if row.account_id not in known.muted and known.may_see(row.account_id, row.audience)
        ]
        found = await stories_from_rows(conn, viewer_id, rows)
    grouped: dict[int, list[Story]] = {}
    for story in found:
        grouped.setdefault(story.account_id, []).append(story)
    closeness = await affinities(services, viewer_id, list(grouped))
    entries = [TrayEntry(items[0].account, items, closeness.get(owner, Signals())) for owner, items in grouped.items()]
    entries.sort(key=lambda entry: (entry.seen, -entry.affinity.score, -entry.latest_at.timestamp(), -entry.account.id))
    return entries


#: Renders a tray (and the viewer's own live stories) into the bytes answered.
TrayRenderer = Callable[[list[TrayEntry], list[Story]], bytes]


async def kept_tray(
    services: Services, viewer_id: int, form: str, render: TrayRenderer, with_own: bool = False
) -> bytes:
    """The viewer's tray in one of its rendered ``form``s (``stories.tray_cache``): as
    kept when it still stands, else computed (``with_own``: with the viewer's own live
    stories), rendered by ``render`` and kept until its first story or mute ends."""
    slot = await tray_cache.lookup(services, viewer_id, form)
    kept = slot.body
    if kept is not None:
        return kept
    entries = await tray(services, viewer_id)
    own = await account_stories(services, viewer_id, viewer_id) if with_own else []
    body = render(entries, own)
    ends = [story.expires_at for entry in entries for story in entry.stories]
    ends += [story.expires_at for story in own]
    mute_ends = await tray_cache.mute_ends(services, viewer_id)
    if mute_ends is not None:
        ends.append(mute_ends)
    await tray_cache.keep(services, slot, body, min(ends) if ends else None)
    return body


async def mark_seen(services: Services, viewer_id: int, story_id: int) -> Story:
    """Record that the viewer saw the story: once per viewer, however often it is sent.
    The first time, the owner's open streams hear of it (``story.viewed``)."""
    seen_now = False
    async with unit_of_work(services) as work:
        conn = work.conn
        row = await _visible(services, conn, viewer_id, story_id)
        if row.account_id != viewer_id:
            added = await conn.execute(
                _upsert(conn)(story_views)
                .values(
                    story_id=story_id,
                    account_id=viewer_id,
                    id=services.ids.next_id(shard_of(row.account_id)),
                    created_at=services.now(),
                )
                .on_conflict_do_nothing(index_elements=["story_id", "account_id"])
            )
            if added.rowcount == 1:
                await conn.execute(
                    update(stories).where(stories.c.id == story_id).values(views_count=stories.c.views_count + 1)
                )
                await work.emit(
                    StoryViewed(story_id=story_id, account_id=viewer_id, owner_id=row.account_id),
                    shard=shard_of(row.account_id),
                )
                seen_now = True
    if seen_now:  # the viewer's kept trays show the mark
        await tray_cache.forget(services, [viewer_id])
    return await get_story(services, viewer_id, story_id)


def _window(query: Select[Any], column: Any, page: PageRequest) -> tuple[Select[Any], bool]:
    """Newest first by ``column`` within the page's bounds; True when read oldest first (min_id)."""
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    if page.min_id is not None:
        return query.where(column > page.min_id).order_by(column.asc()).limit(page.clamped_limit()), True
    return query.order_by(column.desc()).limit(page.clamped_limit()), False


async def viewers(services: Services, owner_id: int, story_id: int, page: PageRequest) -> Page[Viewer]:
    """Who saw the owner's story, most recent first (only its owner may ask)."""
    if page.is_empty():
        return Page(limit=page.clamped_limit())
    async with services.db.connect() as conn:
        await _own_row(conn, owner_id, story_id)
        query, ascending = _window(
            select(story_views.c.id, story_views.c.account_id, story_views.c.created_at).where(
                story_views.c.story_id == story_id
            ),
            story_views.c.id,
            page,
        )
        rows = list((await conn.execute(query)).all())
        if ascending:
            rows.reverse()
        found = await accounts_by_id(conn, [row.account_id for row in rows])
    kept = [row for row in rows if row.account_id in found]
    return Page(
        [Viewer(found[row.account_id], row.created_at) for row in kept],
        [row.id for row in kept],
        page.clamped_limit(),
    )


async def archive(services: Services, owner_id: int, page: PageRequest) -> Page[Story]:
    """The owner's stories, expired ones included while their media is kept, newest first."""
    if page.is_empty():
        return Page(limit=page.clamped_limit())
    async with services.db.connect() as conn:
        query, ascending = _window(
            select(stories).where(
                stories.c.account_id == owner_id,
                stories.c.state == LIVE,
                stories.c.deleted_at.is_(None),
                stories.c.blobs_removed_at.is_(None),
            ),
            stories.c.id,
            page,
        )
        rows = list((await conn.execute(query)).all())
        if ascending:
            rows.reverse()
        found = await stories_from_rows(conn, owner_id, rows)
    return Page(found, [story.id for story in found], page.clamped_limit())


# --- replies and reactions -----------------------------------------------------------------


async def answer(services: Services, viewer_id: int, story_id: int, kind: str, content: str) -> Reply:
    """A reply (text) or a reaction (an emoji) to a live story, for its owner alone."""
    async with unit_of_work(services) as work:
        return await write_answer(services, work, viewer_id, story_id, kind, content)


async def write_answer(services: Services, work: Work, viewer_id: int, story_id: int, kind: str, content: str) -> Reply:
    """``answer``'s checks and writes inside the caller's unit of work, so that a reply can
    be written with the message that carries it (``messages.service.reply_to_story``)."""
    content = clean_text(content, keep_newlines=kind == REPLY)
    if not content:
        raise ValidationFailed.field("text" if kind == REPLY else "emoji", "ERR_BLANK", "can't be blank")
    if kind == REPLY and len(content) > MAX_REPLY:
        raise ValidationFailed.field("text", "ERR_TOO_LONG", f"is too long (maximum is {MAX_REPLY} characters)")
    if kind == REACTION and (len(content) > MAX_EMOJI or any(ch.isalnum() or ch.isspace() for ch in content)):
        raise ValidationFailed.field("emoji", "ERR_INVALID", "must be an emoji")
    reply_id = services.ids.next_id(shard_of(viewer_id))
    now = services.now()
    row = await _visible(services, work.conn, viewer_id, story_id)
    if row.account_id == viewer_id:
        raise _invalid("You cannot answer your own story")
    if kind == REPLY and not row.replies_enabled:
        raise _invalid("Replies are turned off for this story", "text")
    if kind == REACTION and not row.reactions_enabled:
        raise _invalid("Reactions are turned off for this story", "emoji")
    await work.conn.execute(
        insert(story_replies).values(
            id=reply_id, story_id=story_id, account_id=viewer_id, kind=kind, content=content, created_at=now
        )
    )
    await work.emit(
        StoryReplied(story_id=story_id, account_id=viewer_id, owner_id=row.account_id, kind=kind),
        shard=shard_of(row.account_id),
    )
    sender = (await accounts_by_id(work.conn, [viewer_id]))[viewer_id]
    return Reply(reply_id, sender, kind, content, now, owner_id=int(row.account_id))


async def replies(services: Services, owner_id: int, story_id: int, page: PageRequest) -> Page[Reply]:
    """Replies and reactions to the owner's story, newest first."""
    if page.is_empty():
        return Page(limit=page.clamped_limit())
    async with services.db.connect() as conn:
        await _own_row(conn, owner_id, story_id)
        query, ascending = _window(
            select(story_replies).where(story_replies.c.story_id == story_id), story_replies.c.id, page
        )
        rows = list((await conn.execute(query)).all())
        if ascending:
            rows.reverse()
        senders = await accounts_by_id(conn, [row.account_id for row in rows])
    kept = [row for row in rows if row.account_id in senders]
    return Page(
        [Reply(row.id, senders[row.account_id], row.kind, row.content, row.created_at) for row in kept],
        [row.id for row in kept],
        page.clamped_limit(),
    )


# --- settings ------------------------------------------------------------------------------


async def archive_enabled(services: Services, account_id: int) -> bool:
    async with services.db.connect() as conn:
        row = (
            await conn.execute(select(story_settings.c.archive).where(story_settings.c.account_id == account_id))
        ).first()
    return True if row is None else bool(row.archive)


async def set_archive(services: Services, account_id: int, enabled: bool) -> bool:
    """Keep expired stories in the owner's archive (the default), or let them go."""
    async with services.db.begin() as conn:
        await conn.execute(
            _upsert(conn)(story_settings)
            .values(account_id=account_id, archive=enabled)
            .on_conflict_do_update(index_elements=["account_id"], set_={"archive": enabled})
        )
    return enabled
