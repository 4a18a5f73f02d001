"""Who may see a post: one rule, applied on every read path.

* The author always sees their own posts.
* Blocks hide everything both ways.
* ``direct`` posts are for the accounts they mention.
* ``private`` posts, and every post of a private (locked) account whatever its
  visibility, are for approved followers and the accounts they mention. Instagram hides
  a private account's whole grid, including posts made before it went private; so do we.
* ``public`` and ``unlisted`` posts of open accounts are for everyone, signed in or not.

``ViewerContext`` is loaded once per batch of posts (one query, with the viewer's marks
when hydrating), never per post.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, literal_column, select

from lumigram.infra.sql import among
from lumigram.infra.tables import blocks, follows, mutes


def context_selects(dialect: str) -> list[Select[Any]]:
    """Follows (kind 0), blocks either way (1) and live mutes (2) between the viewer bound
    as ``viewer`` and the authors bound as ``authors`` (``now`` bounds the mutes): the
    parts of one ``UNION ALL``, which hydration extends with the viewer's marks."""
    viewer, authors = bindparam("viewer", type_=BigInteger), "authors"
    return [
        select(literal_column("0").label("kind"), follows.c.target_account_id.label("author")).where(
            follows.c.account_id == viewer, among(dialect, follows.c.target_account_id, authors)
        ),
        select(literal_column("1"), blocks.c.target_account_id).where(
            blocks.c.account_id == viewer, among(dialect, blocks.c.target_account_id, authors)
        ),
        select(literal_column("1"), blocks.c.account_id).where(
            blocks.c.target_account_id == viewer, among(dialect, blocks.c.account_id, authors)
        ),
        select(literal_column("2"), mutes.c.target_account_id).where(
            mutes.c.account_id == viewer,
            among(dialect, mutes.c.target_account_id, authors),
            mutes.c.expires_at.is_(None) | (mutes.c.expires_at > bindparam("now", type_=mutes.c.expires_at.type)),
        ),
    ]


def context_from_rows(viewer_id: int, rows: Iterable[tuple[int, int]]) -> ViewerContext:
    """The context from (kind, author) rows of ``context_selects``; other kinds are ignored."""
    found: tuple[set[int], set[int], set[int]] = (set(), set(), set())
    for kind, author in rows:
        if kind < 3:
            found[kind].add(author)
    following, blocked, muted = found
    return ViewerContext(viewer_id, frozenset(following), frozenset(blocked), frozenset(muted))


@dataclass(frozen=True, slots=True)
class ViewerContext:
    viewer_id: int | None
    following: frozenset[int] = field(default_factory=frozenset)
    blocked: frozenset[int] = field(default_factory=frozenset)
    #: Authors the viewer muted: shown when asked for directly, never in feeds.
    muted: frozenset[int] = field(default_factory=frozenset)


def can_see(
    context: ViewerContext, author_id: int, author_locked: bool, visibility: str, mentioned: Iterable[int]
) -> bool:
    viewer = context.viewer_id
    if viewer is not None and viewer == author_id:
        return True
    if author_id in context.blocked:
        return False
    if visibility == "direct":
        return viewer is not None and viewer in set(mentioned)
    if visibility == "private" or author_locked:
        return viewer is not None and (author_id in context.following or viewer in set(mentioned))
    return True


def media_is_private(author_locked: bool, visibility: str) -> bool:
    """Whether a post's media must be served only through signed, expiring URLs."""
    return author_locked or visibility in ("private", "direct")
