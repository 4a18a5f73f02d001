"""What a follow sends to the database, and the relationships read in one statement.

A follow used to send fourteen statements (the pair locked, blocks, the edge looked for,
the edge, two counter updates, the event, then six reads for the answer); it now sends
six in its transaction and one for the answer, and the answer is still exact whatever
the edges between the two: follows both ways, a pending request, blocks, mutes with or
without notifications, an endorsement, a note.
"""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.services import Services
from tests.factories import create_user
from tests.statements import statements_sent


async def relations(client: httpx.AsyncClient, viewer: dict[str, Any], *others: dict[str, Any]) -> list[Any]:
    response = await client.get(
        "/api/v1/accounts/relationships", params={"id[]": [o["id"] for o in others]}, headers=viewer["headers"]
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_follow_is_few_statements_and_relationships_stay_exact(
    client: httpx.AsyncClient, services: Services, shape: str
) -> None:
    ann, bo, cy, di = [await create_user(client) for _ in range(4)]
    h = ann["headers"]
    # Bo follows Ann first: Ann's answer must say followed_by.
    assert (await client.post(f"/api/v1/accounts/{ann['id']}/follow", headers=bo["headers"])).status_code == 200
    if shape == "embedded":
        # The token looked up once, as any busy client's is (the lookup is cached).
        assert (await client.get("/api/v1/accounts/verify_credentials", headers=h)).status_code == 200
        with statements_sent(services) as sent:
            followed = await client.post(f"/api/v1/accounts/{bo['id']}/follow", headers=h)
        # BEGIN, the pair, blocks and the edge, the edge, the counters, the event; the answer.
        assert len(sent) <= 7, sent
    else:
        followed = await client.post(f"/api/v1/accounts/{bo['id']}/follow", headers=h)
    assert followed.status_code == 200, followed.text
    body = followed.json()
    assert (body["following"], body["followed_by"], body["showing_reblogs"], body["notifying"]) == (
        True,
        True,
        True,
        False,
    )
    # Following again with options changes only them; counts moved once.
    again = await client.post(f"/api/v1/accounts/{bo['id']}/follow", data={"notify": "true"}, headers=h)
    assert (again.json()["following"], again.json()["notifying"]) == (True, True)
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=h)).json()
    assert (me["following_count"], me["followers_count"]) == (1, 1)

    # Cy is locked: a request; Ann endorses Bo and writes a note; Ann mutes Di without
    # notifications and Di blocks Ann.
    locked = await client.patch("/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=cy["headers"])
    assert locked.status_code == 200
    requested = await client.post(f"/api/v1/accounts/{cy['id']}/follow", data={"reblogs": "false"}, headers=h)
    assert (requested.json()["requested"], requested.json()["following"]) == (True, False)
    assert (await client.post(f"/api/v1/accounts/{bo['id']}/pin", headers=h)).status_code == 200
    assert (
        await client.post(f"/api/v1/accounts/{bo['id']}/note", data={"comment": "bo!"}, headers=h)
    ).status_code == 200
    muted = await client.post(f"/api/v1/accounts/{di['id']}/mute", data={"notifications": "false"}, headers=h)
    assert muted.status_code == 200
    assert (await client.post(f"/api/v1/accounts/{ann['id']}/block", headers=di["headers"])).status_code == 200

    b, c, d = await relations(client, ann, bo, cy, di)
    assert (b["following"], b["followed_by"], b["endorsed"], b["note"], b["notifying"]) == (
        True,
        True,
        True,
        "bo!",
        True,
    )
    assert (b["blocking"], b["blocked_by"], b["muting"], b["requested"]) == (False, False, False, False)
    assert (c["requested"], c["following"], c["showing_reblogs"], c["endorsed"], c["note"]) == (
        True,
        False,
        False,
        False,
        "",
    )
    assert (d["muting"], d["muting_notifications"], d["blocked_by"], d["blocking"]) == (True, False, True, False)
    # The other way round: Cy sees the request, Di its block.
    (seen_by_cy,) = await relations(client, cy, ann)
    assert (seen_by_cy["requested_by"], seen_by_cy["followed_by"]) == (True, False)
    (seen_by_di,) = await relations(client, di, ann)
    assert (seen_by_di["blocking"], seen_by_di["muting"]) == (True, False)
    # A block stands between: the follow is refused.
    refused = await client.post(f"/api/v1/accounts/{di['id']}/follow", headers=h)
    assert refused.status_code == 403, refused.text
