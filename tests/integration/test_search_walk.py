"""PostgreSQL's post search walks the newest posts for a common word and asks the GIN index
for a rare one (``lumigram.search.index.PostgresIndex``): both ways find the same pages.

A few thousand seeded posts are too few for the walk to pay, so the tests lower the cost
ratio that decides it (and, for the bounded walk, the rows it may read) and build the
statements again; the decision itself is read from the same SQL the search sends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from lumigram.infra.tables import accounts
from lumigram.search import index, posts
from lumigram.search.indexing import reindex
from lumigram.search.models import SearchRequest
from lumigram.seed import plan_world, write_world
from lumigram.services import Services

pytestmark = pytest.mark.parametrize("shape", ["scaled"], indirect=True)

#: One common word, a common word with a rarer tag, two common words always together, a
#: rare tag.
QUERIES = ("filter", "filter sunset", "caught home", "mountains")
PAGES = ((20, 0), (20, 40), (10, 300))


@pytest.fixture
def statements_rebuilt() -> Iterator[None]:
    """Search statements are built once per shape; a test that changes what they hold
    builds them again, and leaves none of its own behind."""
    posts._prebuilt.cache_clear()
    yield
    posts._prebuilt.cache_clear()


async def _pages(services: Services, viewer: int, query: str) -> list[list[int]]:
    async with services.db.connect() as conn:
        return [
            await posts.found_post_ids(conn, viewer, SearchRequest(q=query, limit=limit, offset=offset))
            for limit, offset in PAGES
        ]


async def _common(services: Services, query: str) -> bool:
    common = index.PostgresIndex().common_words()
    async with services.db.connect() as conn:
        found = await conn.execute(select(common.c.common), {"terms": query, "newest": posts.CANDIDATES + 20})
        return bool(found.scalar_one())


async def test_walking_the_newest_posts_finds_what_the_index_finds(
    services: Services, monkeypatch: pytest.MonkeyPatch, statements_rebuilt: None
) -> None:
    await write_world(services, plan_world(80, 30, seed=11))
    await reindex(services)  # and ANALYZE: the word counts the decision reads
    async with services.db.connect() as conn:
        viewer = int((await conn.execute(select(accounts.c.id).limit(1))).scalar_one())

    monkeypatch.setattr(index, "WALK_COST_RATIO", 1e9)  # never walk: the index alone
    assert [await _common(services, query) for query in QUERIES] == [False] * len(QUERIES)
    by_index = {query: await _pages(services, viewer, query) for query in QUERIES}
    assert all(by_index[query][0] for query in QUERIES), by_index

    monkeypatch.setattr(index, "WALK_COST_RATIO", 0.003)
    # "filter" is in about a sixth of the seeded captions, and so are "caught" and "home"
    # (together, by the product of their shares, in about a thirty-sixth): those are
    # walked. With "sunset", a tag in a few posts, "filter" is not, nor the tag.
    assert [await _common(services, query) for query in QUERIES] == [True, False, True, False]
    posts._prebuilt.cache_clear()
    assert {query: await _pages(services, viewer, query) for query in QUERIES} == by_index

    # Walked with too few rows to finish: the index must find the older rest.
    monkeypatch.setattr(index, "WALK_COST_RATIO", 1e-6)
    monkeypatch.setattr(index, "WALK_MARGIN", 0.001)
    assert [await _common(services, query) for query in QUERIES[:3]] == [True, True, True]
    posts._prebuilt.cache_clear()
    assert {query: await _pages(services, viewer, query) for query in QUERIES} == by_index
