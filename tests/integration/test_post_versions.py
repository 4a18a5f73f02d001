"""``lumigram.pagecache.fingerprints``: a post's fingerprint as rendered and as it is now agree
while nothing changed, and part ways on each change a kept page does not hear of."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.pagecache import fingerprints as versions
from lumigram.posts.hydrate import hydrate
from lumigram.services import Services
from tests.conftest import eventually
from tests.factories import create_post, create_user


async def _rendered_version(services: Services, post_id: int) -> int:
    """The fingerprint of the post as a page would be rendered from it now."""
    found = await hydrate(services, None, [post_id], check_visibility=False)
    assert len(found) == 1
    return versions.version_of(found[0])


async def _agreeing(services: Services, post_id: int, unlike: int | None = None) -> int:
    """Once rendering and checking see the same post (a like or a count may be in
    flight), and it differs from ``unlike``: its fingerprint."""

    async def agreed() -> int | None:
        rendered = await _rendered_version(services, post_id)
        current = (await versions.current(services, [post_id])).get(post_id)
        return rendered if current == rendered != unlike else None

    found: int = await eventually(agreed)
    return found


async def _current(services: Services, post_id: int) -> int | None:
    return (await versions.current(services, [post_id])).get(post_id)


async def test_unchanged_posts_keep_their_fingerprint(client: httpx.AsyncClient, services: Services) -> None:
    author, other = await create_user(client), await create_user(client)
    post = await create_post(client, author["headers"], text=f"hello @{other['username']} #versions", photos=2)
    post_id = int(post["id"])
    first = await _agreeing(services, post_id)
    assert await _current(services, post_id) == first
    assert await _rendered_version(services, post_id) == first
    # Reading the post, or anyone else's post, changes nothing of it.
    second = int((await create_post(client, other["headers"], text="someone else"))["id"])
    assert (await client.get(f"/api/v1/statuses/{post_id}", headers=other["headers"])).status_code == 200
    assert await _current(services, post_id) == first
    # Several posts at once; an unknown id has none.
    await _agreeing(services, second)
    both = await versions.current(services, [post_id, second, post_id + 10**12])
    assert both[post_id] == first
    assert both[second] == await _rendered_version(services, second)
    assert post_id + 10**12 not in both


async def _changes(services: Services, post_id: int, before: int) -> int:
    """The fingerprint after a change: different from ``before``, and again the one a
    rendering now gives."""
    return await _agreeing(services, post_id, unlike=before)


async def test_each_change_a_page_is_not_told_of_changes_the_fingerprint(
    client: httpx.AsyncClient, services: Services
) -> None:
    author, fan = await create_user(client), await create_user(client)
    post: dict[str, Any] = await create_post(client, author["headers"], text="numbers")
    post_id = int(post["id"])
    version = await _agreeing(services, post_id)

    # Someone else's like (a pending count in the cache, then the column).
    liked = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=fan["headers"])
    assert liked.status_code == 200
    version = await _changes(services, post_id, version)
    # A comment.
    reply = await client.post(
        "/api/v1/statuses", headers=fan["headers"], json={"status": "nice", "in_reply_to_id": str(post_id)}
    )
    assert reply.status_code == 200, reply.text
    version = await _changes(services, post_id, version)
    # The author gains a follower.
    assert (await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=fan["headers"])).status_code == 200
    version = await _changes(services, post_id, version)
    # The author posts again (their post count).
    await create_post(client, author["headers"], text="another")
    version = await _changes(services, post_id, version)
    # The author's profile.
    updated = await client.patch(
        "/api/v1/accounts/update_credentials", headers=author["headers"], data={"display_name": "Renamed"}
    )
    assert updated.status_code == 200, updated.text
    version = await _changes(services, post_id, version)
    # The photo's alt text, changed after posting.
    media_id = post["media_attachments"][0]["id"]
    described = await client.put(
        f"/api/v1/media/{media_id}", headers=author["headers"], data={"description": "a red square"}
    )
    assert described.status_code == 200, described.text
    version = await _changes(services, post_id, version)
    # An edit.
    edited = await client.put(f"/api/v1/statuses/{post_id}", headers=author["headers"], json={"status": "edited"})
    assert edited.status_code == 200, edited.text
    version = await _changes(services, post_id, version)
    # Deleted: none.
    assert (await client.delete(f"/api/v1/statuses/{post_id}", headers=author["headers"])).status_code == 200
    assert await _current(services, post_id) is None
