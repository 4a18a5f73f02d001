"""Who sees a post, on every read path: viewer kinds × public and private authors.

Each case makes an author (open or private), a viewer in one relation to them, and one
post tagged #matrix; then asks every read endpoint of the posts and feed issues whether
the viewer gets it. A muted author stays reachable directly (status, profile) but
vanishes from every feed and from search, as in Mastodon and Instagram.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.reels_setup import post_reel
from tests.settle import settle

VIEWERS = ("anonymous", "stranger", "follower", "pending", "blocked", "blocking", "muted", "self")
PATHS = (
    "status",
    "history",
    "profile",
    "public",
    "local",
    "tag",
    "home",
    "followers",
    "directory",
    "search",
    "explore",
    "reblogged_by",
    "poll",
    "reels",
    "list",
    "suggestions",
    "familiar_followers",
)

# For each (author is private, viewer kind): the set of paths where the post (or, for
# "followers", the author's follower list; for "directory", the author) is visible.
EVERYWHERE_OPEN = {"status", "history", "profile", "public", "local", "tag", "followers", "directory", "search"}
EXPECTED: dict[tuple[bool, str], set[str]] = {
    # The explore grid shows only accounts the viewer does not follow (nor their own).
    (False, "anonymous"): EVERYWHERE_OPEN | {"explore"},
    (False, "stranger"): EVERYWHERE_OPEN | {"explore"},
    (False, "follower"): EVERYWHERE_OPEN | {"home"},
    # An open account accepts the follow at once: the "pending" viewer is simply a follower.
    (False, "pending"): EVERYWHERE_OPEN | {"home"},
    (False, "blocked"): set(),
    # Blocking hides the author's posts from you; their (public) follower list stays yours to see.
    (False, "blocking"): {"followers"},
    (False, "muted"): {"status", "history", "profile", "followers"},
    (False, "self"): EVERYWHERE_OPEN | {"home"},
    (True, "anonymous"): set(),
    (True, "stranger"): set(),
    (True, "follower"): {"status", "history", "profile", "home", "followers", "search"},
    (True, "pending"): set(),
    (True, "blocked"): set(),
    (True, "blocking"): set(),
    (True, "muted"): {"status", "history", "profile", "followers"},
    (True, "self"): {"status", "history", "profile", "home", "followers", "search"},
}

# Who reposted a post is listed to exactly those who may see the post.
EXPECTED = {key: seen | {"reblogged_by"} if "status" in seen else seen for key, seen in EXPECTED.items()}
# A poll is readable by exactly those who may see its post.
EXPECTED = {key: seen | {"poll"} if "status" in seen else seen for key, seen in EXPECTED.items()}
# The reels feed (signed-in viewers only, never one's own reels) shows an open account's
# reels to anyone it has no block or mute with, and a private account's to its followers.
REELS_SEEN = {(False, "stranger"), (False, "follower"), (False, "pending"), (True, "follower")}
EXPECTED = {key: seen | {"reels"} if key in REELS_SEEN else seen for key, seen in EXPECTED.items()}
# A list holds only accounts its owner follows (never the owner) and reads like home.
EXPECTED = {key: seen | {"list"} if "home" in seen and key[1] != "self" else seen for key, seen in EXPECTED.items()}
# The viewer follows the author's follower, so the author is a friend of a friend: suggested
# only to a stranger, and only when open (never across a block or mute, nor once followed).
EXPECTED[(False, "stranger")] = EXPECTED[(False, "stranger")] | {"suggestions"}
# "Followed by <the friend>" is shown (to signed-in viewers) where the follower list is.
EXPECTED = {
    key: seen | {"familiar_followers"} if "followers" in seen and key[1] != "anonymous" else seen
    for key, seen in EXPECTED.items()
}


async def _visible(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], author: dict[str, Any], post: dict[str, Any]
) -> bool:
    def has_post(response: httpx.Response) -> bool:
        assert response.status_code == 200, (path, response.text)
        return post["id"] in [item["id"] for item in response.json()]

    if path == "status":
        response = await client.get(f"/api/v1/statuses/{post['id']}", headers=headers)
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200
    if path == "poll":
        # The author's poll, posted beside the photo with the same visibility.
        response = await client.get(f"/api/v1/polls/{post['poll_id']}", headers=headers)
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200
    if path == "reels":
        if not headers:
            return (await client.get("/api/v1/lumigram/reels")).status_code == 200
        feed = await client.get("/api/v1/lumigram/reels", headers=headers)
        return post["reel_id"] in [reel["id"] for reel in feed.json()]
    if path == "list":
        if not headers:
            return (await client.get("/api/v1/lists")).status_code == 200
        made = await client.post("/api/v1/lists", data={"title": "Matrix"}, headers=headers)
        assert made.status_code == 200, made.text
        # Refused (422) unless the viewer follows the author; the list then stays empty.
        await client.post(
            f"/api/v1/lists/{made.json()['id']}/accounts", data={"account_ids[]": author["id"]}, headers=headers
        )
        return has_post(await client.get(f"/api/v1/timelines/list/{made.json()['id']}", headers=headers))
    if path == "suggestions":
        if not headers:
            return (await client.get("/api/v2/suggestions")).status_code == 200
        response = await client.get("/api/v2/suggestions", params={"limit": 80}, headers=headers)
        assert response.status_code == 200, response.text
        return author["id"] in [suggestion["account"]["id"] for suggestion in response.json()]
    if path == "familiar_followers":
        response = await client.get("/api/v1/accounts/familiar_followers", params={"id": author["id"]}, headers=headers)
        if not headers:
            return response.status_code == 200
        assert response.status_code == 200, response.text
        (entry,) = response.json()
        return bool(entry["accounts"])  # the friend, whom the viewer follows
    if path == "reblogged_by":
        response = await client.get(f"/api/v1/statuses/{post['id']}/reblogged_by", headers=headers)
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200
    if path == "history":
        response = await client.get(f"/api/v1/statuses/{post['id']}/history", headers=headers)
        assert response.status_code in (200, 404), response.text
        return response.status_code == 200
    if path == "profile":
        return has_post(await client.get(f"/api/v1/accounts/{author['id']}/statuses", headers=headers))
    if path == "public":
        return has_post(await client.get("/api/v1/timelines/public", headers=headers))
    if path == "local":
        return has_post(await client.get("/api/v1/timelines/public", params={"local": "true"}, headers=headers))
    if path == "directory":
        response = await client.get("/api/v1/directory", params={"order": "new"}, headers=headers)
        assert response.status_code == 200, response.text
        return author["id"] in [account["id"] for account in response.json()]
    if path == "tag":
        return has_post(await client.get("/api/v1/timelines/tag/matrix", headers=headers))
    if path == "home":
        if not headers:
            return (await client.get("/api/v1/timelines/home")).status_code == 200
        return has_post(await client.get("/api/v1/timelines/home", headers=headers))
    if path == "followers":
        response = await client.get(f"/api/v1/accounts/{author['id']}/followers", headers=headers)
        assert response.status_code == 200, response.text
        return bool(response.json())  # the author always has one follower here
    if path == "explore":
        return has_post(await client.get("/api/v1/explore", headers=headers))
    if path == "search":
        response = await client.get("/api/v2/search", params={"q": "eyes", "type": "statuses"}, headers=headers)
        assert response.status_code == 200, response.text
        return post["id"] in [item["id"] for item in response.json()["statuses"]]
    raise AssertionError(path)


#: The web app's pages and the API path each must agree with.
WEB_PAGES = {
    "status": "{post}",
    "profile": "/@{author}",
    "tag": "/tags/matrix",
    "home": "/",
    "search": "/search?q=eyes&type=statuses",
    "explore": "/explore",
    "followers": "/@{author}/followers",
}


async def _web_seen(
    client: httpx.AsyncClient, who: dict[str, Any] | None, author: dict[str, Any], post: dict[str, Any]
) -> set[str]:
    """The API paths whose web page shows the post to ``who`` (None: a visitor), signed in
    through the sign-in page in a browser session of its own."""
    transport = client._transport  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as browser:
        if who is not None:
            form = (await browser.get("/auth/sign_in")).text
            csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            login = {"login": who["username"], "password": who["password"], "csrf": csrf, "next": "/"}
            assert (await browser.post("/auth/sign_in", data=login)).status_code == 303
        seen = set()
        for path, page in WEB_PAGES.items():
            url = page.format(post=post["url"].removeprefix(str(client.base_url)), author=author["username"])
            response = await browser.get(url)
            assert response.status_code in (200, 404), (url, response.text)
            # The follower list page shows the author's followers (never empty here), not the post.
            shown = 'class="people-list"' in response.text if path == "followers" else post["url"] in response.text
            if shown:
                seen.add(path)
    return seen


@pytest.mark.parametrize("private", [False, True], ids=["open", "private"])
@pytest.mark.parametrize("viewer_kind", VIEWERS)
async def test_privacy_matrix(client: httpx.AsyncClient, services: Services, private: bool, viewer_kind: str) -> None:
    author, viewer, friend = [await create_user(client) for _ in range(3)]
    if private:
        await client.patch("/api/v1/accounts/update_credentials", headers=author["headers"], data={"locked": "true"})

    async def follow(who: dict[str, Any]) -> None:
        await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=who["headers"])
        if private:
            await client.post(f"/api/v1/follow_requests/{who['id']}/authorize", headers=author["headers"])

    await follow(friend)  # so the follower list is never empty
    # The viewer knows the friend: the author is a friend of a friend, followed by the friend.
    knows = author if viewer_kind == "self" else viewer
    await client.post(f"/api/v1/accounts/{friend['id']}/follow", headers=knows["headers"])
    if viewer_kind in ("follower", "muted"):
        await follow(viewer)
    if viewer_kind == "pending":
        await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=viewer["headers"])
    if viewer_kind == "blocked":
        await client.post(f"/api/v1/accounts/{viewer['id']}/block", headers=author["headers"])
    if viewer_kind == "blocking":
        await client.post(f"/api/v1/accounts/{author['id']}/block", headers=viewer["headers"])
    if viewer_kind == "muted":
        await client.post(f"/api/v1/accounts/{author['id']}/mute", headers=viewer["headers"])
    # Before the post: the explore grid shows an account's newest post.
    reel = await post_reel(client, services, author)
    post = await create_post(client, author["headers"], text="Only for the right eyes #matrix")
    post["reel_id"] = reel["id"]
    poll = {"options": ["yes", "no"], "expires_in": 600}
    asked = await client.post("/api/v1/statuses", json={"status": "Right?", "poll": poll}, headers=author["headers"])
    assert asked.status_code == 200, asked.text
    post["poll_id"] = asked.json()["poll"]["id"]
    await settle(services)  # the search index follows the bus

    headers: dict[str, str] = {}
    if viewer_kind == "self":
        headers = author["headers"]
    elif viewer_kind != "anonymous":
        headers = viewer["headers"]
    seen = {path for path in PATHS if await _visible(client, path, headers, author, post)}
    assert seen == EXPECTED[(private, viewer_kind)]
    who = None if viewer_kind == "anonymous" else author if viewer_kind == "self" else viewer
    assert await _web_seen(client, who, author, post) == seen & WEB_PAGES.keys()


@pytest.mark.parametrize("visibility", ["unlisted", "private", "direct"])
async def test_post_visibility_levels(client: httpx.AsyncClient, visibility: str) -> None:
    author, follower, mentioned, stranger = [await create_user(client) for _ in range(4)]
    await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=follower["headers"])
    post = await create_post(
        client, author["headers"], text=f"hello @{mentioned['username']} #matrix", visibility=visibility
    )
    expected = {
        "unlisted": {"anonymous", "stranger", "follower", "mentioned"},
        "private": {"follower", "mentioned"},
        "direct": {"mentioned"},
    }[visibility]
    viewers = {"anonymous": {}, "stranger": stranger["headers"], "follower": follower["headers"],
               "mentioned": mentioned["headers"]}  # fmt: skip
    seen = {
        name
        for name, headers in viewers.items()
        if (await client.get(f"/api/v1/statuses/{post['id']}", headers=headers)).status_code == 200
    }
    assert seen == expected
    # None of these is in the public or hashtag timelines.
    assert post["id"] not in [s["id"] for s in (await client.get("/api/v1/timelines/public")).json()]
    assert post["id"] not in [s["id"] for s in (await client.get("/api/v1/timelines/tag/matrix")).json()]
    in_home = post["id"] in [
        s["id"] for s in (await client.get("/api/v1/timelines/home", headers=follower["headers"])).json()
    ]
    assert in_home == (visibility != "direct")
