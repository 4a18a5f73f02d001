"""A stale kept page confirmed instead of rendered, when nothing it shows has changed.

See ``lumigram.feed.pages`` (why pages go stale) and ``lumigram.posts.versions`` (what
the fingerprints cover). Here rather than in ``pages`` because it reads the posts, and
the post service builds on ``pages``.
"""

from __future__ import annotations

from lumigram.bootstrap import Services
from lumigram.feed import pages
from lumigram.posts import versions


async def confirmed(services: Services, slot: pages.Slot) -> bool:
    """True when the slot's stale page still shows every post as it is now, and is kept
    fresh again; False when it must be rendered (a post changed or is gone, or the page
    is too old to keep)."""
    page = slot.cached
    if slot.key is None or page is None or not page.entries or not pages.recheckable(page):
        return False
    now = await versions.current(services, page.ids)
    if any(now.get(post_id) != version for post_id, _, version in page.entries):
        return False
    await pages.confirm(services, slot)
    return True
