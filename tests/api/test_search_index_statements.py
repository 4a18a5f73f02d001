"""What the search index consumer sends for a new post, on both shapes: the post and its
photos read at once, its row and (on SQLite) its words written with one statement each,
built once; on PostgreSQL all of it by the driver itself, none through SQLAlchemy's
execution. Handling the event again (a redelivery) leaves the same index."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from lumigram.events import PostCreated
from lumigram.infra.tables import search_posts
from lumigram.search.handlers import index_changed_post
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle
from tests.statements import statements_sent


async def test_indexing_a_new_post_sends_few_statements(client: httpx.AsyncClient, services: Services) -> None:
    author = await create_user(client)
    post = await create_post(client, author["headers"], text="lanterns over the harbour")
    await settle(services)
    status_id = int(post["id"])
    async with services.db.connect() as conn:
        indexed = (await conn.execute(select(search_posts).where(search_posts.c.status_id == status_id))).one()
    event = PostCreated(status_id=status_id, account_id=int(author["id"]), visibility="public")
    with statements_sent(services) as sent:
        await index_changed_post(services, event)
    # SQLite: the post with its photos, its row, its words (and the transaction's own).
    # PostgreSQL: the first two, sent by the driver.
    writes = [text for text in sent if not text.upper().startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    if services.db.engine.dialect.name == "postgresql":
        assert writes == [], writes
    else:
        assert len(writes) <= 3, writes
    async with services.db.connect() as conn:
        again = (await conn.execute(select(search_posts).where(search_posts.c.status_id == status_id))).one()
    assert again == indexed
    assert indexed.has_media
    assert not indexed.is_reply
    assert indexed.body == "lanterns over the harbour"
    found = await client.get("/api/v2/search", headers=author["headers"], params={"q": "lanterns", "type": "statuses"})
    assert [status["id"] for status in found.json()["statuses"]] == [post["id"]]
