"""``lumigram.pagecache.store.insert``: a fanned-out post put into kept pages, atomically
with the reader's generation, on both cache adapters."""

from __future__ import annotations

from lumigram.pagecache import store as pages
from lumigram.services import Services

READER = 41


def _link(page_variant: str, ids: list[int]) -> str:
    return f"{page_variant}:{','.join(map(str, ids))}"


def _entity(post_id: int) -> bytes:
    return b'{"id":"%d"}' % post_id


async def _keep(services: Services, ids: list[int]) -> pages.Slot:
    """A kept page of these posts, each post's fingerprint its id (so a test sees that
    they travel with their Statuses)."""
    slot = await pages.lookup(services, READER, pages.DEFAULT_VARIANT)
    await pages.put(services, slot, pages.Rendered(ids, [_entity(i) for i in ids], _link("default", ids), ids))
    return slot


async def _insert(services: Services, post_id: int, readers: list[int] | None = None) -> None:
    await pages.insert(services, readers or [READER], post_id, _entity(post_id), post_id, _link, default_limit=3)


async def _kept(services: Services) -> pages.CachedPage | None:
    return (await pages.lookup(services, READER, pages.DEFAULT_VARIANT)).cached


async def test_a_post_goes_where_its_id_belongs_and_a_full_page_drops_its_oldest(services: Services) -> None:
    await _keep(services, [30, 20])
    await _insert(services, 25)
    page = await _kept(services)
    assert page is not None
    assert page.body == b'[{"id":"30"},{"id":"25"},{"id":"20"}]'
    assert page.link == "default:30,25,20"
    await _insert(services, 40)  # full: the oldest leaves the page
    page = await _kept(services)
    assert page is not None
    assert page.body == b'[{"id":"40"},{"id":"30"},{"id":"25"}]'
    await _insert(services, 5)  # older than a full page: the page stands
    await _insert(services, 30)  # already there (a redelivered event)
    page = await _kept(services)
    assert page is not None
    assert page.body == b'[{"id":"40"},{"id":"30"},{"id":"25"}]'
    assert page.versions == page.ids == [40, 30, 25]
    assert page.fresh


async def test_a_rendering_begun_before_the_insert_is_never_served(services: Services) -> None:
    await _keep(services, [30, 20])
    begun = await pages.lookup(services, READER, pages.DEFAULT_VARIANT)  # its generations, read first
    await _insert(services, 35)
    # The rendering read the feed before the post arrived and stores its page now.
    await pages.put(services, begun, pages.Rendered([30, 20], [_entity(30), _entity(20)], None, [0, 0]))
    assert await _kept(services) is None  # a miss, so the next read renders; never the page without 35


async def test_readers_without_a_servable_page_have_their_pages_forgotten(services: Services) -> None:
    before = (await pages.lookup(services, READER, pages.DEFAULT_VARIANT)).generations
    await _insert(services, 50)
    after = (await pages.lookup(services, READER, pages.DEFAULT_VARIANT)).generations
    assert after != before
    assert await _kept(services) is None
    # One reader with a page, one without, in one call: each gets what it needs.
    await _keep(services, [60])
    await _insert(services, 70, readers=[READER, READER + 1])
    page = await _kept(services)
    assert page is not None
    assert page.body == b'[{"id":"70"},{"id":"60"}]'


async def test_the_author_gets_their_own_form_and_everyone_else_the_common_one(services: Services) -> None:
    author = READER + 1
    await _keep(services, [30, 20])
    slot = await pages.lookup(services, author, pages.DEFAULT_VARIANT)
    await pages.put(services, slot, pages.Rendered([20], [_entity(20)], _link("default", [20]), [0]))
    own = {author: b'{"id":"25","pinned":false}'}
    await pages.insert(services, [READER], 25, _entity(25), 25, _link, default_limit=3, own=own)
    page = await _kept(services)
    assert page is not None
    assert page.body == b'[{"id":"30"},{"id":"25"},{"id":"20"}]'
    authors = (await pages.lookup(services, author, pages.DEFAULT_VARIANT)).cached
    assert authors is not None
    assert authors.body == b'[{"id":"25","pinned":false},{"id":"20"}]'


async def test_a_confirmed_page_keeps_its_rendering_time_and_takes_the_mended_statuses(services: Services) -> None:
    slot = await _keep(services, [30, 20])
    kept = (await pages.lookup(services, READER, pages.DEFAULT_VARIANT)).cached
    assert kept is not None
    slot = pages.Slot(slot.key, slot.generations, kept)
    mended = await pages.confirm(services, slot, {20: (b'{"id":"20","n":1}', 99)})
    assert mended is not None
    found = await _kept(services)
    assert found is not None
    for page in (mended, found):
        assert page.body == b'[{"id":"30"},{"id":"20","n":1}]'
        assert page.versions == [30, 99]
        assert page.entities() == [b'{"id":"30"}', b'{"id":"20","n":1}']
        assert page.fresh
        assert page.rendered_at == kept.rendered_at
    # A post put in afterwards goes where its id belongs, the mended Status kept.
    await _insert(services, 25)
    found = await _kept(services)
    assert found is not None
    assert found.body == b'[{"id":"30"},{"id":"25"},{"id":"20","n":1}]'
    assert found.versions == [30, 25, 99]


async def test_a_page_is_kept_by_checks_only_while_its_oldest_status_is_young(services: Services) -> None:
    await _keep(services, [30])
    kept = await _kept(services)
    assert kept is not None
    assert pages.recheckable(kept)
    later = kept.rendered_at / 1000 + pages.PAGE_RECHECK_FOR + 1
    assert not pages.recheckable(kept, now=later)
