"""What one search sends to the database, per kind, on both shapes: a few statements, each
built once; on PostgreSQL every one goes by the driver itself (``Prebuilt.rows``), not
through SQLAlchemy's execution, which cost more CPU than the statements themselves."""

from __future__ import annotations

import httpx

from lumigram.search.accounts import find_accounts
from lumigram.search.hashtags import find_hashtags
from lumigram.search.models import SearchRequest
from lumigram.search.posts import find_posts
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle
from tests.statements import statements_on


async def test_each_search_kind_sends_few_statements_by_the_driver(
    client: httpx.AsyncClient, services: Services
) -> None:
    viewer, author = await create_user(client), await create_user(client)
    post = await create_post(client, author["headers"], text="golden #marigolds by the river")
    await settle(services)
    viewer_id = int(viewer["id"])
    postgres = services.db.engine.dialect.name == "postgresql"
    async with services.db.connect() as conn:
        async with statements_on(conn) as by_name:
            found = await find_accounts(conn, viewer_id, author["username"], 1, 0, False)
        async with statements_on(conn) as by_typo:  # no prefix fills the page: names alike too
            alike = await find_accounts(conn, viewer_id, author["username"] + "x", 10, 0, False)
        async with statements_on(conn) as by_tag:
            tags = await find_hashtags(conn, viewer_id, "#marig", 10, 0)
        async with statements_on(conn) as by_words:
            posts = await find_posts(conn, None, viewer_id, SearchRequest(q="river", limit=20))
    assert author["id"] in {str(hit.account.id) for hit in found}
    assert author["id"] in {str(hit.account.id) for hit in alike}
    assert [tag.name for tag in tags] == ["marigolds"]
    assert [str(item.post.id) for item in posts] == [post["id"]]
    # Candidates with the viewer's relations to them, then the page's whole rows (the page
    # filled by the one named); names alike, read too, are one more.
    # A tag: the tags, their days, which the viewer follows. Words: the matches, then the
    # shared hydration of the page.
    for sent, most in ((by_name, 2), (by_typo, 3), (by_tag, 3), (by_words, 6)):
        assert 0 < len(sent.all) <= most, sent.all
        if postgres:
            assert sent.through_sqlalchemy == [], sent.through_sqlalchemy
