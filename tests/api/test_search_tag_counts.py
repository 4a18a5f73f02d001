"""Kept hashtag counts and the bulk rebuild, on both shapes: a hashtag's uses and history
follow posts, edits, deletions and privacy changes through the bus; handling a post
again changes nothing; and ``reindex`` (``INSERT … SELECT`` per batch) rebuilds exactly
what the consumers kept, index rows, FTS5 words and counts alike."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.sql import Select

from lumigram.infra.tables import (
    search_account_grams,
    search_account_words,
    search_accounts,
    search_posts,
    search_tag_days,
    search_tag_uses,
    search_tags,
)
from lumigram.search.indexing import index_post, reindex
from lumigram.services import Services
from tests.factories import create_post, create_user, upload_photo
from tests.settle import settle


async def _tag(
    client: httpx.AsyncClient, services: Services, user: dict[str, Any], name: str
) -> tuple[int, str, str] | None:
    """The tag's kept all-time uses (what search orders by), and today's uses and
    accounts as hashtag search shows them; None when search does not list it."""
    response = await client.get("/api/v2/search", params={"q": f"#{name}", "type": "hashtags"}, headers=user["headers"])
    assert response.status_code == 200, response.text
    found = [tag for tag in response.json()["hashtags"] if tag["name"] == name]
    if not found:
        return None
    today = found[0]["history"][0]
    async with services.db.connect() as conn:
        uses = (await conn.execute(select(search_tags.c.uses).where(search_tags.c.name_lower == name))).scalar_one()
    return int(uses), today["uses"], today["accounts"]


async def _rows(services: Services) -> list[list[tuple[Any, ...]]]:
    """Everything the index keeps, in a stable order."""
    queries: list[Select[Any]] = [
        select(search_posts).order_by(search_posts.c.status_id),
        select(search_tag_uses).order_by(search_tag_uses.c.status_id, search_tag_uses.c.tag_id),
        select(search_tags).where(search_tags.c.uses > 0).order_by(search_tags.c.tag_id),
        select(search_tag_days).where(search_tag_days.c.uses > 0).order_by(search_tag_days.c.tag_id),
        select(search_accounts).order_by(search_accounts.c.account_id),
        select(search_account_words).order_by(search_account_words.c.word, search_account_words.c.account_id),
        select(search_account_grams).order_by(search_account_grams.c.gram, search_account_grams.c.account_id),
    ]
    async with services.db.connect() as conn:
        rows = [[tuple(row) for row in await conn.execute(query)] for query in queries]
        if conn.dialect.name == "sqlite":
            fts = await conn.execute(text("SELECT rowid, body FROM search_posts_fts ORDER BY rowid"))
            rows.append([tuple(row) for row in fts])
    return rows


async def test_kept_tag_counts_follow_changes_and_reindex_rebuilds_them(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob, viewer = [await create_user(client) for _ in range(3)]
    named = await client.patch(
        "/api/v1/accounts/update_credentials", headers=bob["headers"], data={"display_name": "Bob  of the Weir"}
    )
    assert named.status_code == 200, named.text
    first = await create_post(client, alice["headers"], text="dawn #keptcount")
    second = await create_post(client, alice["headers"], text="noon #keptcount #keptother")
    bobs = await create_post(client, bob["headers"], text="dusk #KeptCount", spoiler_text="light")
    await create_post(client, alice["headers"], text="mine #keptcount", visibility="private")
    photo = await upload_photo(client, bob["headers"], description="a heron by the weir")
    reply = await client.post(
        "/api/v1/statuses",
        headers=bob["headers"],
        json={"status": "", "media_ids": [photo["id"]], "in_reply_to_id": first["id"]},
    )
    assert reply.status_code == 200, reply.text
    await settle(services)
    # Three public uses by two accounts; the private post does not count.
    assert await _tag(client, services, viewer, "keptcount") == (3, "3", "2")

    # An event handled twice moves nothing.
    await index_post(services, int(second["id"]))
    assert await _tag(client, services, viewer, "keptcount") == (3, "3", "2")

    # An edit that drops the tag, and a deletion, take their uses back.
    edited = await client.put(f"/api/v1/statuses/{second['id']}", headers=alice["headers"], json={"status": "noon"})
    assert edited.status_code == 200, edited.text
    await settle(services)
    assert await _tag(client, services, viewer, "keptcount") == (2, "2", "2")
    assert await _tag(client, services, viewer, "keptother") is None
    gone = await client.delete(f"/api/v1/statuses/{bobs['id']}", headers=bob["headers"])
    assert gone.status_code == 200, gone.text
    await settle(services)
    assert await _tag(client, services, viewer, "keptcount") == (1, "1", "1")

    # A locked account's posts are no public uses; opened again, they are.
    for locked, expected in ((True, None), (False, (1, "1", "1"))):
        changed = await client.patch(
            "/api/v1/accounts/update_credentials", headers=alice["headers"], data={"locked": str(locked).lower()}
        )
        assert changed.status_code == 200, changed.text
        await settle(services)
        assert await _tag(client, services, viewer, "keptcount") == expected

    # A second tagged post by the reopened account, then a rebuild from the tables: the
    # same rows (caption, content warning and alt text bodies, FTS5's words, counts).
    await create_post(client, alice["headers"], text="late #keptcount #keptother", spoiler_text="cw")
    await settle(services)
    kept = await _rows(services)
    assert any("heron" in str(row) for row in kept[0])
    posts, _accounts = await reindex(services)
    assert posts == len(kept[0])
    assert await _rows(services) == kept
    assert kept[5], "display names' words are kept"
    assert await _tag(client, services, viewer, "keptcount") == (2, "2", "1")
