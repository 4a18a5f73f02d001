"""Mastodon's suggestions ("Suggested for you") and familiar followers ("followed by x, y
and 3 others"); the rules of who may appear are in ``lumigram.graph.suggestions``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import Account, account_entity
from lumigram.graph import suggestions

router = APIRouter(tags=["relationships"])

MAX_IDS = 40


class Suggestion(BaseModel):
    source: str
    sources: list[str]
    account: Account


class FamiliarFollowers(BaseModel):
    id: str
    accounts: list[Account]


def _ids(values: list[str]) -> list[int]:
    # As for relationships: unparseable ids are skipped, like unknown ones.
    return [int(v) for v in values[:MAX_IDS] if v.isascii() and v.isdigit() and len(v) <= 19]


@router.get(
    "/api/v2/suggestions",
    summary="Accounts you might follow: friends of friends first, by how many you follow follow them",
    response_model=list[Suggestion],
    dependencies=[require_scopes("read:accounts")],
)
async def list_suggestions(
    viewer: CurrentAccount,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=suggestions.MAX_SUGGESTIONS, description="At most 80")] = 40,
) -> Response:
    found = await suggestions.suggestions(services, viewer.account_id, limit)
    body = [
        Suggestion(
            # ``source`` is the single-valued field of Mastodon 3.x that clients still read.
            source="past_interactions" if item.sources == (suggestions.FRIENDS_OF_FRIENDS,) else "global",
            sources=list(item.sources),
            account=account_entity(services.settings, item.account),
        ).model_dump(mode="json")
        for item in found
    ]
    return OrjsonResponse(body)


@router.delete(
    "/api/v1/suggestions/{account_id:int}",
    summary="Stop suggesting an account",
    response_model=dict[str, str],
    dependencies=[require_scopes("write:accounts")],
)
async def dismiss_suggestion(account_id: int, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await suggestions.dismiss(services, viewer.account_id, account_id)
    return OrjsonResponse({})


@router.get(
    "/api/v1/accounts/familiar_followers",
    summary="For each account, its followers whom you follow",
    response_model=list[FamiliarFollowers],
    dependencies=[require_scopes("read:follows")],
)
async def familiar_followers(
    request: Request,
    viewer: CurrentAccount,
    services: ServicesDep,
    ids: Annotated[list[str], Query(alias="id[]", max_length=MAX_IDS)] = [],  # noqa: B006 (FastAPI copies defaults)
    plain_ids: Annotated[list[str], Query(alias="id", max_length=MAX_IDS)] = [],  # noqa: B006
) -> Response:
    given = [*ids, *plain_ids]
    if not given:
        # Mastodon.py sends the ids of this GET as a JSON body, which Mastodon reads too.
        sent = (await read_params(request)).get("id", [])
        given = [str(v) for v in (sent if isinstance(sent, list) else [sent])]
    wanted = _ids(given)
    found = await suggestions.familiar_followers(services, viewer.account_id, wanted)
    body = [
        FamiliarFollowers(
            id=str(account_id),
            accounts=[account_entity(services.settings, account) for account in found.get(account_id, [])],
        ).model_dump(mode="json")
        for account_id in dict.fromkeys(wanted)
    ]
    return OrjsonResponse(body)
