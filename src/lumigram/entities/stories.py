"""Story entities: Lumigram's extension shapes, and Pixelfed's for its story endpoints.

A live story's media URLs are signed to end when the story does (``not_after``); an
expired story (the owner's archive, a highlight) is signed as other private media are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lumigram.entities.accounts import account_entity, iso
from lumigram.entities.media import media_entity
from lumigram.media_access.service import media_url
from lumigram.services import Services
from lumigram.stories.models import Highlight, Reply, Story, TrayEntry, Viewer
from lumigram.uploads.story_frames import NAME as STORY_FRAME


def _not_after(story: Story, now: datetime) -> int | None:
    return int(story.expires_at.timestamp()) if story.live_at(now) else None


def story_media(services: Services, story: Story) -> dict[str, Any]:
    """The story's MediaAttachment. Where the server made its 9:16 frame
    (``uploads.story_frames``), a photo's ``url`` is that frame (the photo as posted stays
    at ``lumigram.original_url``) and a video's backdrop is ``lumigram.backdrop_url``."""
    not_after = _not_after(story, services.now())
    entity = media_entity(services, story.media, not_after)
    frame = story.media.variants.get(STORY_FRAME)
    if frame is not None:
        url = media_url(services, frame["jpeg"]["key"], story.media.private, not_after)
        if story.media.kind == "video":
            entity["lumigram"]["backdrop_url"] = url
        else:
            entity["lumigram"]["original_url"] = entity["url"]
            entity["url"] = url
    return entity


def story_entity(
    services: Services, story: Story, viewer_id: int, account: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A story as the extension API shows it; the owner also sees its settings' effects
    (views count, audience). ``account``: the owner's entity, when rendered already."""
    own = story.account_id == viewer_id
    entity: dict[str, Any] = {
        "id": str(story.id),
        "account": account or account_entity(services.settings, story.account).model_dump(mode="json"),
        "media_attachment": story_media(services, story),
        "caption": story.caption,
        "link": story.link,
        "mentions": [
            {
                "id": str(a.id),
                "username": a.username,
                "acct": a.username,
                "url": f"{services.settings.base_url}/@{a.username}",
            }
            for a in story.mentions
        ],
        "created_at": iso(story.created_at),
        "expires_at": iso(story.expires_at),
        "expired": not story.live_at(services.now()),
        "duration": story.duration,
        "replies_enabled": story.replies_enabled,
        "reactions_enabled": story.reactions_enabled,
        "seen": story.seen,
    }
    if own:
        entity["audience"] = story.audience
        entity["views_count"] = story.views_count
    return entity


def tray_entity(services: Services, entry: TrayEntry, viewer_id: int, explain: bool = False) -> dict[str, Any]:
    """One account of the tray; ``explain`` adds ``score``: its affinity and the counts behind it."""
    account = account_entity(services.settings, entry.account).model_dump(mode="json")
    entity: dict[str, Any] = {
        "account": account,
        "seen": entry.seen,
        "latest_at": iso(entry.latest_at),
        # The owner's entity is rendered once for all of its stories.
        "stories": [story_entity(services, story, viewer_id, account) for story in entry.stories],
    }
    if explain:
        entity["score"] = entry.affinity.explained()
    return entity


def viewer_entity(services: Services, viewer: Viewer) -> dict[str, Any]:
    return {
        "account": account_entity(services.settings, viewer.account).model_dump(mode="json"),
        "seen_at": iso(viewer.seen_at),
    }


def reply_entity(services: Services, reply: Reply) -> dict[str, Any]:
    return {
        "id": str(reply.id),
        "account": account_entity(services.settings, reply.account).model_dump(mode="json"),
        "type": reply.kind,
        "content": reply.content,
        "created_at": iso(reply.created_at),
    }


def highlight_entity(services: Services, highlight: Highlight, viewer_id: int, full: bool) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": str(highlight.id),
        "account_id": str(highlight.account_id),
        "title": highlight.title,
        "position": highlight.position,
        "created_at": iso(highlight.created_at),
        "stories_count": highlight.stories_count,
        "cover": story_media(services, highlight.cover) if highlight.cover is not None else None,
    }
    if full:
        entity["stories"] = [story_entity(services, story, viewer_id) for story in highlight.stories]
    return entity


# --- Pixelfed's shapes ---------------------------------------------------------------------


def _pixelfed_type(story: Story) -> str:
    return "video" if story.media.kind == "video" else "photo"


def pixelfed_node(services: Services, story: Story, with_owner: bool) -> dict[str, Any]:
    """One story in Pixelfed's carousel: ``src`` is the media's URL."""
    node: dict[str, Any] = {
        "id": str(story.id),
        "type": _pixelfed_type(story),
        "src": story_media(services, story)["url"],
        "duration": story.duration,
        "seen": story.seen,
        "created_at": iso(story.created_at),
    }
    if with_owner:
        node["pid"] = str(story.account_id)
    return node


def _pixelfed_user(services: Services, entry_account: Any, viewer_id: int) -> dict[str, Any]:
    account = account_entity(services.settings, entry_account)
    return {
        "id": account.id,
        "username": account.username,
        "username_acct": account.acct,
        "avatar": account.avatar,
        "local": True,
        "is_author": entry_account.id == viewer_id,
    }


def pixelfed_carousel(services: Services, viewer_id: int, entries: list[TrayEntry], own: list[Story]) -> dict[str, Any]:
    """Pixelfed's ``/api/v1.1/stories/carousel``: the viewer's own stories under ``self``
    (an empty list when there are none, as Pixelfed answers) and one node per account."""
    base = services.settings.base_url
    nodes = [
        {
            "id": f"pfs:{entry.account.id}",
            "user": _pixelfed_user(services, entry.account, viewer_id),
            "nodes": [pixelfed_node(services, story, True) for story in entry.stories],
            "url": f"{base}/stories/{entry.account.username}",
            "seen": entry.seen,
        }
        for entry in entries
    ]
    body: dict[str, Any] = {"self": [], "nodes": nodes}
    if own:
        user = _pixelfed_user(services, own[0].account, viewer_id)
        user["username"] = user.pop("username_acct")
        body["self"] = {"user": user, "nodes": [pixelfed_node(services, story, False) for story in own]}
    return body
