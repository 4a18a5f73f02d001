"""The newest page of each profile, kept rendered once per audience instead of per reader.

A profile read (in DeathStarBench's mix, three reads in ten) otherwise costs a handful of
queries and a rendering, though most readers of a profile see the same posts: what a
reader may list depends only on whether they follow the account (``lumigram.posts.
queries.account_posts``), and what differs per reader in the Statuses is only their own
likes and bookmarks. So each profile keeps one rendered page per *tier*:

* ``anonymous``: no token (the Statuses carry no per-reader fields);
* ``outsider``: signed in, not an approved follower (public and unlisted posts; nothing
  when the account is locked);
* ``follower``: an approved follower (followers-only posts too).

The reader's own relation to the account (follow, block either way) and their marks on
the page's posts are read from the database on every request, in one statement, so a
follow, an unfollow or a block takes effect at once; a block answers an empty page, and
the reader's likes and bookmarks are written into their copy. The account itself, its
posts and its lock decide what a tier's page holds: the author's posts, edits,
deletions and profile changes replace the profile's generation
(``pages.forget(..., authors=...)``), so a page computed before is never served again.
Numbers (likes, replies, follower counts) are checked on the same timer as home pages
(``lumigram.pagecache.store``).

The reader viewing their own profile, and any page other than the newest with at most
a ``limit``, is always computed. So is a newest page showing a comment in a thread of
another account's post: a comment is for those who may see the post it answers, which
depends on each reader's relation to that account too (and on its lock and blocks,
which do not replace this profile's generation). Such a page is kept only as a mark
(``mark_per_reader``) saying so, for as long as a page would be.
"""

from __future__ import annotations

from lumigram.pagecache import store as pages
from lumigram.services import Services

ANONYMOUS = "anonymous"
OUTSIDER = "outsider"
FOLLOWER = "follower"


def page_key(author_id: int, tier: str, page_variant: str) -> str:
    return f"profile:page:{author_id}:{tier}:{page_variant}"


def keys(author_id: int, tiers: tuple[str, ...], page_variant: str) -> list[str]:
    """What to fetch (in one ``MGET``) for ``slots``: the generation, then each tier's page."""
    return [pages.profile_generation_key(author_id), *(page_key(author_id, tier, page_variant) for tier in tiers)]


#: Stored, with the generation after it, where a tier's page would be when it must be
#: computed for each reader; a kept page starts with another byte (``lumigram.pagecache.store``).
_PER_READER = b"\x00"


def slots(
    author_id: int, tiers: tuple[str, ...], page_variant: str, values: list[bytes | None]
) -> dict[str, pages.Slot]:
    """Each tier's slot from the values of ``keys(...)``: one without a key where the
    page is computed for each reader (``mark_per_reader``)."""
    generation = pages.generation(values[0])
    return {
        tier: pages.Slot(None, generation)
        if raw == _PER_READER + generation
        else pages.slot_of(page_key(author_id, tier, page_variant), generation, raw)
        for tier, raw in zip(tiers, values[1:], strict=True)
    }


async def mark_per_reader(services: Services, slot: pages.Slot) -> None:
    """Note in the slot that its page is computed for each reader, until the profile's
    generation changes (or a page's lifetime has passed)."""
    if slot.key is not None:
        await services.cache.set(slot.key, _PER_READER + slot.generations, ttl=pages.PAGE_MAX_AGE)


async def lookup(
    services: Services, author_id: int, tiers: tuple[str, ...], page_variant: str
) -> dict[str, pages.Slot]:
    values = await services.cache.get_many(keys(author_id, tiers, page_variant))
    return slots(author_id, tiers, page_variant, values)
