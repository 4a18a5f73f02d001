"""Who sees a comment: those who may see the post it answers, on every read path.

B comments on a post of A's; viewers in every relation to A and B then ask every read
path for the comment. On Instagram a comment is seen only by those who may see its post,
so a comment on a locked account's followers-only post is for A's approved followers,
not for B's followers, strangers or anyone A blocked, whatever visibility the comment
was sent (or, before replies were bounded, stored) with; and the rule follows A's later
blocks and lock at once, kept profile pages included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from lumigram.infra.tables import statuses
from lumigram.services import Services
from tests.api.test_notifications import comment, listed, settle
from tests.api.test_privacy_matrix import _visible
from tests.api.test_profile_pages import _reader, _routed
from tests.factories import create_post, upload_photo

User = dict[str, Any]

VIEWERS = ("anonymous", "stranger", "a_follower", "b_follower", "blocked", "a", "b")
PATHS = ("status", "history", "context", "profile", "profile_route", "public", "tag", "home", "notifications")

# For each kind of post A's is (a locked account's followers-only post, or an open
# account's public one), the paths where each viewer finds B's comment. A comment is
# never a timeline item (public, tag, home); B is not told of their own comment.
_ON_A_PROFILE = {"status", "history", "context"}
_ANYWHERE = _ON_A_PROFILE | {"profile", "profile_route"}
EXPECTED: dict[str, dict[str, set[str]]] = {
    "locked": {
        "anonymous": set(),
        "stranger": set(),
        # B's own followers-only listing is not theirs; the comment itself is.
        "a_follower": _ON_A_PROFILE | {"notifications"},
        "b_follower": set(),
        "blocked": set(),
        "a": _ON_A_PROFILE | {"notifications"},
        "b": _ANYWHERE,
    },
    "open": {
        "anonymous": _ANYWHERE,
        "stranger": _ANYWHERE | {"notifications"},
        "a_follower": _ANYWHERE | {"notifications"},
        "b_follower": _ANYWHERE | {"notifications"},
        "blocked": set(),
        "a": _ANYWHERE | {"notifications"},
        "b": _ANYWHERE,
    },
}


@dataclass
class Cast:
    a: User
    b: User
    a_follower: User
    b_follower: User
    blocked: User
    stranger: User

    def headers(self, viewer: str) -> dict[str, str]:
        if viewer == "anonymous":
            return {}
        user: User = getattr(self, viewer)
        headers: dict[str, str] = user["headers"]
        return headers


async def _ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, response.text
    return response


async def _follow(client: httpx.AsyncClient, reader: User, author: User, locked: bool) -> None:
    await _ok(await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"]))
    if locked:
        authorize = f"/api/v1/follow_requests/{reader['id']}/authorize"
        await _ok(await client.post(authorize, headers=author["headers"]))


async def _cast(client: httpx.AsyncClient, locked: bool) -> Cast:
    """A (locked or not), B and an approved follower of A's, B's follower, someone A
    blocked (who followed both before) and a stranger; every token known to the auth
    cache, so the kept profile pages answer them."""
    a, b, a_follower, b_follower, blocked, stranger = [await _reader(client) for _ in range(6)]
    if locked:
        await _ok(await client.patch("/api/v1/accounts/update_credentials", headers=a["headers"], data={"locked": "1"}))
    for reader in (b, a_follower, blocked):
        await _follow(client, reader, a, locked)
    for reader in (b_follower, blocked):
        await _follow(client, reader, b, False)
    await _ok(await client.post(f"/api/v1/accounts/{blocked['id']}/block", headers=a["headers"]))
    return Cast(a, b, a_follower, b_follower, blocked, stranger)


def _names(cast: Cast) -> str:
    """Mentions of everyone but A and B: naming someone must not show them the comment."""
    return " ".join(f"@{u['username']}" for u in (cast.stranger, cast.a_follower, cast.b_follower, cast.blocked))


async def _in_context(client: httpx.AsyncClient, headers: dict[str, str], post: User, comment_id: str) -> bool:
    response = await client.get(f"/api/v1/statuses/{post['id']}/context", headers=headers)
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200 and comment_id in [s["id"] for s in response.json()["descendants"]]


async def _notified(client: httpx.AsyncClient, viewer: User | None, comment_id: str) -> bool:
    if viewer is None:
        return False
    return comment_id in [(n.get("status") or {}).get("id") for n in await listed(client, viewer)]


async def _seen_on(client: httpx.AsyncClient, cast: Cast, viewer: str, post: User, made: User) -> set[str]:
    headers = cast.headers(viewer)
    user: User | None = None if viewer == "anonymous" else getattr(cast, viewer)
    seen = {path for path in ("status", "history", "public", "tag", "home")
            if await _visible(client, path, headers, cast.b, made)}  # fmt: skip
    # Through the app as a client calls it (kept pages first), and past them to the route.
    if await _visible(client, "profile", headers, cast.b, made):
        seen.add("profile")
    status, _, body = await _routed(client, cast.b, headers or None, b"limit=5")
    assert status == 200
    if made["id"].encode() in body:
        seen.add("profile_route")
    if await _in_context(client, headers, post, made["id"]):
        seen.add("context")
    if await _notified(client, user, made["id"]):
        seen.add("notifications")
    return seen


@pytest.mark.parametrize("kind", ["locked", "open"])
async def test_a_comment_is_seen_by_those_who_may_see_its_post(
    client: httpx.AsyncClient, services: Services, kind: str
) -> None:
    cast = await _cast(client, locked=kind == "locked")
    visibility = "private" if kind == "locked" else "public"
    post = await create_post(client, cast.a["headers"], text="Sunday lunch #matrix", visibility=visibility)
    # No visibility given: a client's default, "public".
    made = await comment(client, cast.b, post, f"{_names(cast)} looks lovely #matrix")
    assert made["visibility"] == visibility
    await settle(services)

    seen = {viewer: await _seen_on(client, cast, viewer, post, made) for viewer in VIEWERS}
    assert seen == EXPECTED[kind]


async def test_a_reply_is_never_for_more_readers_than_what_it_answers(client: httpx.AsyncClient) -> None:
    cast = await _cast(client, locked=True)
    friends = await create_post(client, cast.a["headers"], text="for friends", visibility="private")
    quiet = await create_post(client, cast.b["headers"], text="quietly", visibility="unlisted")
    asked_for = {
        # (what is answered, visibility asked for) -> visibility given
        (friends["id"], None): "private",
        (friends["id"], "public"): "private",
        (friends["id"], "unlisted"): "private",
        (friends["id"], "direct"): "direct",
        (quiet["id"], "public"): "unlisted",
        (quiet["id"], "private"): "private",
    }
    for (parent_id, asked), given in asked_for.items():
        fields = {} if asked is None else {"visibility": asked}
        made = await comment(client, cast.b, {"id": parent_id}, "yes", **fields)
        assert made["visibility"] == given, (parent_id, asked)

    # A reply to a comment is bounded by the thread's post too, and seen as it is.
    first = await comment(client, cast.b, friends, "first")
    reply = await comment(client, cast.a_follower, first, "second", visibility="public")
    assert reply["visibility"] == "private"
    readers = {"stranger": False, "b_follower": False, "a_follower": True, "a": True, "b": True}
    for viewer, expected in readers.items():
        response = await client.get(f"/api/v1/statuses/{reply['id']}", headers=cast.headers(viewer))
        assert (response.status_code == 200) == expected, viewer

    # Photos on a comment are as private as the thread's post's (a locked account's
    # public post's included), posted with the comment or added by an edit.
    everyone = await create_post(client, cast.a["headers"], text="for my followers, as I am locked")
    for parent in (friends, everyone):
        photo = await upload_photo(client, cast.b["headers"])
        pictured = await comment(client, cast.b, parent, "see", media_ids=[photo["id"]])
        await _served_signed_only(client, pictured["media_attachments"][0]["url"])
    plain = await comment(client, cast.b, everyone, "words first")
    photo = await upload_photo(client, cast.b["headers"])
    edit = {"status": "and a photo", "media_ids": [photo["id"]]}
    edited = await _ok(await client.put(f"/api/v1/statuses/{plain['id']}", headers=cast.b["headers"], json=edit))
    await _served_signed_only(client, edited.json()["media_attachments"][0]["url"])


async def _served_signed_only(client: httpx.AsyncClient, url: str) -> None:
    """The photo's URL is signed, and the same path without the signature is refused."""
    path, _, query = url.removeprefix("http://testserver").partition("?")
    assert "sig=" in query, url
    assert (await client.get(path)).status_code == 404
    assert (await client.get(f"{path}?{query}")).status_code in (200, 302)


async def test_a_comment_stored_wider_than_its_post_is_still_bounded(
    client: httpx.AsyncClient, services: Services
) -> None:
    cast = await _cast(client, locked=True)
    post = await create_post(client, cast.a["headers"], text="for friends", visibility="private")
    made = await comment(client, cast.b, post, "written before comments were bounded")
    # As a comment was stored before replies were bounded on writing.
    async with services.db.begin() as conn:
        await conn.execute(update(statuses).where(statuses.c.id == int(made["id"])).values(visibility="public"))

    for viewer in ("anonymous", "stranger", "b_follower", "blocked"):
        headers = cast.headers(viewer)
        assert (await client.get(f"/api/v1/statuses/{made['id']}", headers=headers)).status_code == 404, viewer
        assert not await _visible(client, "profile", headers, cast.b, made), viewer
        assert made["id"].encode() not in (await _routed(client, cast.b, headers or None, b"limit=5"))[2], viewer
    shown = await _ok(await client.get(f"/api/v1/statuses/{made['id']}", headers=cast.a_follower["headers"]))
    # Shown as no wider than its post, as it would be stored now.
    assert shown.json()["visibility"] == "private"


async def test_a_later_block_or_lock_hides_comments_at_once(client: httpx.AsyncClient) -> None:
    a, b, reader = [await _reader(client) for _ in range(3)]
    post = await create_post(client, a["headers"], text="for everyone")
    made = await comment(client, b, post, "nice")
    by_id = f"/api/v1/statuses/{made['id']}"

    async def sees(headers: dict[str, str]) -> dict[str, bool]:
        status = (await client.get(by_id, headers=headers)).status_code == 200
        # Through the app as clients read it: kept profile pages first.
        return {"status": status, "profile": await _visible(client, "profile", headers, b, made)}

    # Read twice: the second read of a profile page finds it kept, if it was kept.
    for _ in range(2):
        assert await sees({}) == {"status": True, "profile": True}
        assert await sees(reader["headers"]) == {"status": True, "profile": True}

    await _ok(await client.post(f"/api/v1/accounts/{reader['id']}/block", headers=a["headers"]))
    assert await sees(reader["headers"]) == {"status": False, "profile": False}
    assert await sees({}) == {"status": True, "profile": True}

    await _ok(await client.patch("/api/v1/accounts/update_credentials", headers=a["headers"], data={"locked": "1"}))
    assert await sees({}) == {"status": False, "profile": False}


async def test_comments_hidden_from_a_reader_do_not_end_the_profile_early(client: httpx.AsyncClient) -> None:
    cast = await _cast(client, locked=True)
    older = [await create_post(client, cast.b["headers"], text=f"mine {n}") for n in range(2)]
    friends = await create_post(client, cast.a["headers"], text="for friends", visibility="private")
    for n in range(3):
        await comment(client, cast.b, friends, f"comment {n}")
    # B's follower may list B's followers-only comments, but not see A's post they answer.
    response = await _ok(
        await client.get(f"/api/v1/accounts/{cast.b['id']}/statuses?limit=2", headers=cast.b_follower["headers"])
    )
    assert [s["id"] for s in response.json()] == [p["id"] for p in reversed(older)]
    assert 'rel="next"' in response.headers["link"]
