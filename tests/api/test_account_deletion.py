"""Deleting an account, on both shapes, as one journey: a user with a post and its photo,
a comment, a like, a follow each way, a story, a list membership and a message deletes
their account; from another account's view everything is gone or emptied, counts are
corrected, the blobs are removed and the user's tokens are refused."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from lumigram.infra.tables import media_attachments
from lumigram.janitor import sweep_once
from lumigram.posts.service import blob_keys
from lumigram.services import Services
from tests.factories import DEFAULT_PASSWORD, create_post, create_user, unique_username, upload_photo
from tests.settle import settle

API = "/api/v1/lumigram"


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def _blob_keys(services: Services, account_id: str) -> list[str]:
    async with services.db.connect() as conn:
        query = select(media_attachments).where(media_attachments.c.account_id == int(account_id))
        rows = (await conn.execute(query)).all()
    return [key for row in rows for key in blob_keys(row)]


async def test_deleting_an_account_removes_it_for_everyone(client: httpx.AsyncClient, services: Services) -> None:
    # Names with nothing alike: account search also finds names alike (shared trigrams),
    # and two "user_N_xxxxxx" names are alike about once in a hundred pairs.
    doomed = await create_user(client, username=unique_username("doomed"))
    friend = await create_user(client, username=unique_username("friend"))
    dh, fh = doomed["headers"], friend["headers"]
    _ok(await client.post(f"/api/v1/accounts/{friend['id']}/follow", headers=dh))
    _ok(await client.post(f"/api/v1/accounts/{doomed['id']}/follow", headers=fh))
    listed = _ok(await client.post("/api/v1/lists", headers=fh, json={"title": "People"}))
    _ok(await client.post(f"/api/v1/lists/{listed['id']}/accounts", headers=fh, json={"account_ids": [doomed["id"]]}))
    post = await create_post(client, dh, text="My last photo #farewell")
    theirs = await create_post(client, fh, text="A friend's photo")
    comment = _ok(
        await client.post("/api/v1/statuses", headers=dh, json={"status": "Nice", "in_reply_to_id": theirs["id"]})
    )
    _ok(await client.post(f"/api/v1/statuses/{theirs['id']}/favourite", headers=dh))
    story_media = await upload_photo(client, dh)
    story = _ok(await client.post(f"{API}/stories", headers=dh, json={"media_id": story_media["id"]}))
    thread = _ok(await client.post(f"{API}/threads", headers=dh, json={"account_ids": [friend["id"]]}))
    _ok(await client.post(f"{API}/threads/{thread['id']}/messages", headers=dh, json={"text": "Secret plans"}))
    await settle(services)
    keys = await _blob_keys(services, doomed["id"])
    assert len(keys) >= 2  # the post's photo and the story's, each in several sizes
    assert any(n["account"]["id"] == doomed["id"] for n in _ok(await client.get("/api/v1/notifications", headers=fh)))

    wrong = await client.post(f"{API}/account/delete", headers=dh, json={"password": "not-my-password"})
    assert wrong.status_code == 403, wrong.text
    assert "error" in wrong.json()
    assert _ok(await client.post(f"{API}/account/delete", headers=dh, json={"password": DEFAULT_PASSWORD})) == {}

    # At once: the token is refused, the profile is gone, and its username stays taken.
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=dh)).status_code == 401
    assert (await client.get(f"/api/v1/accounts/{doomed['id']}", headers=fh)).status_code == 404
    lookup = await client.get("/api/v1/accounts/lookup", params={"acct": doomed["username"]}, headers=fh)
    assert lookup.status_code == 404
    again = await client.post(f"{API}/account/delete", headers=dh, json={"password": DEFAULT_PASSWORD})
    assert again.status_code == 401

    # Once the consumers have run, nothing of it is left for the friend to see.
    await settle(services)
    await sweep_once(services)
    assert (await client.get(f"/api/v1/statuses/{post['id']}", headers=fh)).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{comment['id']}", headers=fh)).status_code == 404
    mine = _ok(await client.get(f"/api/v1/statuses/{theirs['id']}", headers=fh))
    assert (mine["favourites_count"], mine["replies_count"], mine["favourited"]) == (0, 0, False)
    assert _ok(await client.get(f"/api/v1/statuses/{theirs['id']}/context", headers=fh))["descendants"] == []
    me = _ok(await client.get("/api/v1/accounts/verify_credentials", headers=fh))
    assert (me["followers_count"], me["following_count"]) == (0, 0)
    home = _ok(await client.get("/api/v1/timelines/home", headers=fh))
    assert all(s["account"]["id"] != doomed["id"] for s in home)
    assert _ok(await client.get(f"/api/v1/lists/{listed['id']}/accounts", headers=fh)) == []
    notes = _ok(await client.get("/api/v1/notifications", headers=fh))
    assert all(n["account"]["id"] != doomed["id"] for n in notes)
    assert (await client.get(f"{API}/stories/{story['id']}", headers=fh)).status_code == 404
    assert _ok(await client.get(f"{API}/stories/tray", headers=fh)) == []
    found = _ok(await client.get("/api/v2/search", params={"q": doomed["username"], "type": "accounts"}, headers=fh))
    assert found["accounts"] == []
    tagged = _ok(await client.get("/api/v1/timelines/tag/farewell", headers=fh))
    assert tagged == []
    [message] = _ok(await client.get(f"{API}/threads/{thread['id']}/messages", headers=fh))
    assert (message["text"], message["unsent"], message["media_attachments"]) == ("", True, [])
    assert [key for key in keys if await services.blobs.stat(key) is not None] == []
