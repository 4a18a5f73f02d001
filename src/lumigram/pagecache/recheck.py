"""A stale kept page made current without rendering it whole.

See ``lumigram.pagecache.store`` (why pages go stale) and ``lumigram.pagecache.fingerprints`` (what
the fingerprints cover). When every post's fingerprint is still current the page is
kept as it is; when a few changed (a like, a comment, an author's new follower), only
their Statuses are rendered again and put in place; when more than half changed, or one
is gone, the caller renders the page. Here rather than in ``pages`` because it reads the
posts, and the post service builds on ``pages``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lumigram.pagecache import fingerprints as versions
from lumigram.pagecache import store as pages
from lumigram.services import Services

#: The Statuses of these posts as the page shows them, each with its fingerprint
#: (``versions.version_of`` of what it was rendered from); a post that can no longer be
#: shown there is left out.
RenderPosts = Callable[[list[int]], Awaitable[dict[int, tuple[bytes, int]]]]


async def refreshed(services: Services, slot: pages.Slot, render_posts: RenderPosts) -> pages.CachedPage | None:
    """The slot's stale page, current again and kept fresh; None when it must be rendered
    whole (or is too old to keep: ``pages.recheckable``)."""
    page = slot.cached
    if slot.key is None or page is None or not page.entries or not pages.recheckable(page):
        return None
    now = await versions.current(services, page.ids)
    changed = [post_id for post_id, _, version in page.entries if now.get(post_id) != version]
    if len(changed) * 2 > len(page.entries) or any(post_id not in now for post_id in changed):
        return None
    replaced = await render_posts(changed) if changed else {}
    if set(replaced) != set(changed):
        return None
    return await pages.confirm(services, slot, replaced)
