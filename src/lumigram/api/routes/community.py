"""What the admin tells everyone: the server's rules and texts, announcements, custom emojis.

* ``/api/v1/instance/{rules,extended_description,privacy_policy,terms_of_service}`` show
  what the admin set with ``lumigram admin``; a privacy policy or terms never set answer
  404, as Mastodon answers for terms it has none of.
* ``/api/v1/instance/peers`` is the list of servers this one federates with: empty, as it
  does not federate yet. ``/api/v1/instance/activity`` counts the last twelve weeks.
* Announcements show until they end; dismissing one and reacting to it are each person's
  own, and both are idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response

from lumigram import instance as info
from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.community import announcements, emojis, texts
from lumigram.community.models import Announcement as AnnouncementRecord
from lumigram.community.models import Emoji
from lumigram.entities.accounts import CustomEmoji, iso
from lumigram.errors import NotFound
from lumigram.media_access.service import media_url
from lumigram.posts.text import render
from lumigram.services import Services

router = APIRouter(tags=["instance"])


class Rule(BaseModel):
    id: str
    text: str
    hint: str


class ExtendedDescription(BaseModel):
    updated_at: str | None
    content: str


class PrivacyPolicy(BaseModel):
    updated_at: str
    content: str


class TermsOfService(BaseModel):
    effective_date: str
    effective: bool
    content: str
    succeeded_by: str | None


class WeekActivity(BaseModel):
    week: str
    statuses: str
    logins: str
    registrations: str


class AnnouncementReaction(BaseModel):
    name: str
    count: int
    me: bool
    url: str | None = None
    static_url: str | None = None


class Announcement(BaseModel):
    id: str
    content: str
    starts_at: str | None
    ends_at: str | None
    all_day: bool
    published: bool
    published_at: str
    updated_at: str
    read: bool
    mentions: list[dict[str, Any]]
    statuses: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    emojis: list[CustomEmoji]
    reactions: list[AnnouncementReaction]


def _html(services: Services, text: str) -> str:
    return render(text, services.settings.base_url, {})


def emoji_entity(services: Services, emoji: Emoji) -> CustomEmoji:
    url = media_url(services, emoji.blob_key, private=False)
    return CustomEmoji(
        shortcode=emoji.shortcode,
        url=url,
        static_url=url,
        visible_in_picker=emoji.visible_in_picker,
        category=emoji.category,
    )


async def rules_body(services: Services) -> list[dict[str, Any]]:
    """The rules as Mastodon's Rule entities (also part of the instance entities)."""
    return [
        Rule(id=str(rule.id), text=rule.text, hint=rule.hint).model_dump() for rule in await texts.list_rules(services)
    ]


@router.get("/api/v1/instance/rules", summary="The rules of this server", response_model=list[Rule])
async def instance_rules(services: ServicesDep) -> Response:
    return OrjsonResponse(await rules_body(services))


@router.get(
    "/api/v1/instance/peers",
    summary="Domains this server federates with (none: it does not federate yet)",
    response_model=list[str],
)
async def instance_peers(services: ServicesDep) -> Response:
    return OrjsonResponse([])


@router.get(
    "/api/v1/instance/activity",
    summary="Posts, sign-ins and sign-ups of each of the last twelve weeks, this week first",
    response_model=list[WeekActivity],
)
async def instance_activity(services: ServicesDep) -> Response:
    weeks = await info.weekly_activity(services)
    body = [
        WeekActivity(
            week=str(int(week.week.timestamp())),
            statuses=str(week.statuses),
            logins=str(week.logins),
            registrations=str(week.registrations),
        ).model_dump()
        for week in weeks
    ]
    return OrjsonResponse(body)


@router.get(
    "/api/v1/instance/extended_description",
    summary="The admin's longer description of this server",
    response_model=ExtendedDescription,
)
async def extended_description(services: ServicesDep) -> Response:
    found = await texts.get_text(services, "extended_description")
    if found is None:
        return OrjsonResponse(ExtendedDescription(updated_at=None, content="").model_dump())
    body = ExtendedDescription(updated_at=iso(found.updated_at), content=_html(services, found.text))
    return OrjsonResponse(body.model_dump())


@router.get(
    "/api/v1/instance/privacy_policy",
    summary="This server's privacy policy (404 until the admin sets one)",
    response_model=PrivacyPolicy,
    responses={404: {"description": "No privacy policy has been set"}},
)
async def privacy_policy(services: ServicesDep) -> Response:
    found = await texts.get_text(services, "privacy_policy")
    if found is None:
        raise NotFound()
    body = PrivacyPolicy(updated_at=iso(found.updated_at), content=_html(services, found.text))
    return OrjsonResponse(body.model_dump())


@router.get(
    "/api/v1/instance/terms_of_service",
    summary="This server's terms of service (404 until the admin sets them)",
    response_model=TermsOfService,
    responses={404: {"description": "No terms of service have been set"}},
)
async def terms_of_service(services: ServicesDep) -> Response:
    found = await texts.get_text(services, "terms_of_service")
    if found is None:
        raise NotFound()
    body = TermsOfService(
        effective_date=found.updated_at.date().isoformat(),
        effective=True,
        content=_html(services, found.text),
        succeeded_by=None,
    )
    return OrjsonResponse(body.model_dump())


@router.get("/api/v1/custom_emojis", summary="The custom emojis of this server", response_model=list[CustomEmoji])
async def custom_emojis(services: ServicesDep) -> Response:
    found = await emojis.list_emojis(services)
    return OrjsonResponse([emoji_entity(services, emoji).model_dump() for emoji in found])


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def announcement_entity(services: Services, record: AnnouncementRecord, custom: dict[str, Emoji]) -> dict[str, Any]:
    reactions = []
    for reaction in record.reactions:
        emoji = custom.get(reaction.name)
        url = None if emoji is None else media_url(services, emoji.blob_key, private=False)
        reactions.append(
            AnnouncementReaction(name=reaction.name, count=reaction.count, me=reaction.me, url=url, static_url=url)
        )
    return Announcement(
        id=str(record.id),
        content=_html(services, record.text),
        starts_at=_time(record.starts_at),
        ends_at=_time(record.ends_at),
        all_day=record.all_day,
        published=True,
        published_at=iso(record.published_at),
        updated_at=iso(record.updated_at),
        read=record.read,
        mentions=[],
        statuses=[],
        tags=[],
        emojis=[],
        reactions=reactions,
    ).model_dump(mode="json", exclude_none=True)


@router.get(
    "/api/v1/announcements",
    summary="The announcements showing now, newest first",
    response_model=list[Announcement],
    dependencies=[require_scopes("read:accounts")],
)
async def list_announcements(
    viewer: CurrentAccount,
    services: ServicesDep,
    with_dismissed: Annotated[bool, Query(description="Include the ones you dismissed")] = False,
) -> Response:
    found = await announcements.showing(services, viewer.account_id, with_dismissed)
    custom = {emoji.shortcode: emoji for emoji in await emojis.list_emojis(services)} if found else {}
    return OrjsonResponse([announcement_entity(services, record, custom) for record in found])


@router.post(
    "/api/v1/announcements/{announcement_id}/dismiss",
    summary="Mark an announcement as read",
    response_model=dict[str, Any],
    dependencies=[require_scopes("write:accounts")],
)
async def dismiss_announcement(announcement_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await announcements.dismiss(services, viewer.account_id, record_id(announcement_id))
    return OrjsonResponse({})


@router.put(
    "/api/v1/announcements/{announcement_id}/reactions/{name}",
    summary="React to an announcement with an emoji",
    response_model=dict[str, Any],
    dependencies=[require_scopes("write:favourites")],
)
async def add_reaction(announcement_id: str, name: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await announcements.react(services, viewer.account_id, record_id(announcement_id), name)
    return OrjsonResponse({})


@router.delete(
    "/api/v1/announcements/{announcement_id}/reactions/{name}",
    summary="Take your reaction to an announcement back",
    response_model=dict[str, Any],
    dependencies=[require_scopes("write:favourites")],
)
async def remove_reaction(announcement_id: str, name: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await announcements.unreact(services, viewer.account_id, record_id(announcement_id), name)
    return OrjsonResponse({})
