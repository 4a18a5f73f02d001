"""Mastodon's Status, StatusEdit, StatusSource and Tag entities, built from the post service's records.

Built as plain dicts (not Pydantic models): a timeline page serialises forty of these,
and orjson on dicts is several times faster than model validation plus dumping.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lumigram.accounts.models import Account
from lumigram.entities.accounts import account_entity, iso
from lumigram.entities.media import media_entity
from lumigram.posts import text as captions
from lumigram.posts.models import FilterMatch, HydratedPost, PollView, Repost, Version
from lumigram.services import Services


def _account(services: Services, account: Account, cache: dict[int, dict[str, Any]]) -> dict[str, Any]:
    entity = cache.get(account.id)
    if entity is None:
        entity = cache[account.id] = account_entity(services.settings, account).model_dump(mode="json")
    return entity


def tag_entity(services: Services, name: str) -> dict[str, Any]:
    return {"name": name, "url": f"{services.settings.base_url}/tags/{captions.normalise_tag(name)}"}


def filter_result_entity(match: FilterMatch) -> dict[str, Any]:
    """Mastodon's FilterResult: the filter (without its keywords) and what matched."""
    return {
        "filter": {
            "id": str(match.filter_id),
            "title": match.title,
            "context": list(match.contexts),
            "expires_at": iso(match.expires_at) if match.expires_at else None,
            "filter_action": match.action,
        },
        "keyword_matches": list(match.keywords),
        "status_matches": None,
    }


def poll_entity(services: Services, poll: PollView, viewer_id: int | None) -> dict[str, Any]:
    """Mastodon's Poll. With ``hide_totals`` each option's count is null until the poll
    ends, except for its owner; ``voted`` and ``own_votes`` only for a signed-in reader
    (the owner counts as having voted, as in Mastodon)."""
    expired = services.now() >= poll.expires_at
    shown = not poll.hide_totals or expired or viewer_id == poll.account_id
    entity: dict[str, Any] = {
        "id": str(poll.id),
        "expires_at": iso(poll.expires_at),
        "expired": expired,
        "multiple": poll.multiple,
        "votes_count": poll.votes_count,
        "voters_count": poll.voters_count,
        "options": [
            {"title": title, "votes_count": count if shown else None}
            for title, count in zip(poll.options, poll.counts, strict=True)
        ],
        "emojis": [],
    }
    if viewer_id is not None:
        own = list(poll.own_votes or ())
        entity["voted"] = bool(own) or viewer_id == poll.account_id
        entity["own_votes"] = own
    return entity


def status_entity(
    services: Services,
    item: HydratedPost,
    viewer_id: int | None,
    accounts_cache: dict[int, dict[str, Any]] | None = None,
    with_source: bool = False,
) -> dict[str, Any]:
    cache = accounts_cache if accounts_cache is not None else {}
    if item.repost is not None:
        return _repost_entity(services, item, item.repost, viewer_id, cache)
    return _post_entity(services, item, viewer_id, cache, with_source)


def _repost_entity(
    services: Services, item: HydratedPost, repost: Repost, viewer_id: int | None, cache: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """Mastodon's reblog: a Status of its own (the repost's id, time and account) with the
    original nested in ``reblog``; the counts and the viewer's marks are the original's."""
    original = _post_entity(services, dataclasses.replace(item, repost=None), viewer_id, cache, False)
    base = services.settings.base_url
    entity = {
        **original,
        "id": str(repost.id),
        "created_at": iso(repost.created_at),
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "uri": f"{base}/users/{repost.account.username}/statuses/{repost.id}/activity",
        "url": f"{base}/@{repost.account.username}/{repost.id}",
        "edited_at": None,
        "content": "",
        "spoiler_text": "",
        "account": _account(services, repost.account, cache),
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "reblog": original,
    }
    entity.pop("pinned", None)
    return entity


def _post_entity(
    services: Services,
    item: HydratedPost,
    viewer_id: int | None,
    cache: dict[int, dict[str, Any]],
    with_source: bool,
) -> dict[str, Any]:
    base = services.settings.base_url
    post, author = item.post, item.account
    mentions = [
        {"id": str(m.id), "username": m.username, "acct": m.username, "url": f"{base}/@{m.username}"}
        for m in item.mentions
    ]
    entity: dict[str, Any] = {
        "id": str(post.id),
        "created_at": iso(post.created_at),
        "in_reply_to_id": str(post.in_reply_to_id) if post.in_reply_to_id else None,
        "in_reply_to_account_id": str(post.in_reply_to_account_id) if post.in_reply_to_account_id else None,
        "sensitive": post.sensitive,
        "spoiler_text": post.spoiler_text,
        "visibility": post.visibility,
        "language": post.language,
        "uri": f"{base}/users/{author.username}/statuses/{post.id}",
        "url": f"{base}/@{author.username}/{post.id}",
        "replies_count": post.replies_count,
        "reblogs_count": post.reblogs_count,
        "favourites_count": post.favourites_count,
        "edited_at": iso(post.edited_at) if post.edited_at else None,
        "content": captions.render(post.text, base, {m.username.lower(): m.username for m in item.mentions}),
        "reblog": None,
        "application": None,
        "account": _account(services, author, cache),
        "media_attachments": [media_entity(services, media) for media in item.media],
        "mentions": mentions,
        "tags": [tag_entity(services, name) for name in item.tags],
        "emojis": [],
        "card": None,
        "poll": None if item.poll is None else poll_entity(services, item.poll, viewer_id),
        "filtered": [filter_result_entity(match) for match in item.filtered],
        # Lumigram's extension: Instagram's per-post switch and the post's kind.
        "lumigram": {"comments_disabled": post.comments_disabled, "kind": post.kind, "plays_count": post.plays_count},
    }
    if viewer_id is not None:
        entity.update(
            favourited=item.favourited,
            reblogged=item.reblogged,
            muted=False,
            bookmarked=item.bookmarked,
        )
        if viewer_id == post.account_id:
            entity["pinned"] = item.pinned
    if with_source:
        entity["text"] = post.text
    return entity


def version_entity(services: Services, version: Version, current: HydratedPost) -> dict[str, Any]:
    """One StatusEdit: the media of that version, with the alt text it had then."""
    by_id = {str(m.id): m for m in current.media}
    media = []
    for snapshot in version.media:
        record = by_id.get(str(snapshot.get("id")))
        if record is not None:
            entity = media_entity(services, record)
            entity["description"] = snapshot.get("description")
            media.append(entity)
    base = services.settings.base_url
    return {
        "content": captions.render(version.text, base, {m.username.lower(): m.username for m in current.mentions}),
        "spoiler_text": version.spoiler_text,
        "sensitive": version.sensitive,
        "created_at": iso(version.created_at),
        "account": account_entity(services.settings, version.account).model_dump(mode="json"),
        "poll": None,
        "media_attachments": media,
        "emojis": [],
    }
