"""Who may see a post: one rule, applied on every read path.

* The author always sees their own posts.
* Blocks hide everything both ways.
* ``direct`` posts are for the accounts they mention.
* ``private`` posts, and every post of a private (locked) account whatever its
  visibility, are for approved followers and the accounts they mention. Instagram hides
  a private account's whole grid, including posts made before it went private; so do we.
* ``public`` and ``unlisted`` posts of open accounts are for everyone, signed in or not.
* A comment is for those who may see the post its thread hangs from, as on Instagram:
  its audience is never wider than that post's, whatever visibility it was stored with
  (comments written before replies were bounded on writing included), and it follows
  that post's owner's blocks and lock at once. A comment addressed to fewer than the
  post (a followers-only or direct one, or one by a locked account under an open post)
  is for those of them it was addressed to, and so is every reply below it.

``ViewerContext`` is loaded once per batch of posts (one query, with the viewer's marks
when hydrating), never per post.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
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


#: Visibilities from the narrowest audience to the widest.
_WIDTH = {"direct": 0, "private": 1, "unlisted": 2, "public": 3}


def narrowest(*visibilities: str) -> str:
    """The visibility of the smallest audience among ``visibilities`` (an unknown value
    counts as the smallest)."""
    return min(visibilities, key=lambda visibility: _WIDTH.get(visibility, -1))


@dataclass(frozen=True, slots=True)
class Audience:
    """What decides who may see one post: its author, whether they are locked, its
    visibility as stored, and the accounts it mentions (those among the viewers asked
    about, at least)."""

    author_id: int
    author_locked: bool
    visibility: str
    mentioned: Collection[int] = frozenset()

    @property
    def width(self) -> int:
        """How wide its audience is (``_WIDTH``): a locked account's posts are for its
        followers whatever their visibility."""
        if self.author_locked and self.visibility in ("public", "unlisted"):
            return _WIDTH["private"]
        return _WIDTH.get(self.visibility, -1)


def _addressed_to(
    context: ViewerContext, author_id: int, author_locked: bool, visibility: str, mentioned: Iterable[int]
) -> bool:
    """Whether the viewer is among those a post is addressed to, blocks aside."""
    viewer = context.viewer_id
    if viewer is not None and viewer == author_id:
        return True
    if visibility == "direct":
        return viewer is not None and viewer in set(mentioned)
    if visibility == "private" or author_locked:
        return viewer is not None and (author_id in context.following or viewer in set(mentioned))
    return True


def can_see(
    context: ViewerContext, author_id: int, author_locked: bool, visibility: str, mentioned: Iterable[int]
) -> bool:
    """The rule for a post that is not a comment (``can_see_comment`` for one that is)."""
    if author_id in context.blocked and context.viewer_id != author_id:
        return False
    return _addressed_to(context, author_id, author_locked, visibility, mentioned)


def can_see_comment(context: ViewerContext, comment: Audience, above: Sequence[Audience] | None) -> bool:
    """The rule for a comment: ``above`` holds the posts above it, its parent first and
    the post its thread hangs from last; None when one of them is gone, and with it what
    the comment's audience was (then only its author sees it)."""
    viewer = context.viewer_id
    if viewer is not None and viewer == comment.author_id:
        return True
    if not above or comment.author_id in context.blocked:
        return False
    post = above[-1]
    if not can_see(context, post.author_id, post.author_locked, post.visibility, post.mentioned):
        return False
    # The post's audience bounds the thread; a comment on the way addressed to fewer
    # (its own followers, the accounts it names) bounds every reply below it.
    return all(
        c.width >= post.width or _addressed_to(context, c.author_id, c.author_locked, c.visibility, c.mentioned)
        for c in (comment, *above[:-1])
    )


def media_is_private(author_locked: bool, visibility: str) -> bool:
    """Whether a post's media must be served only through signed, expiring URLs."""
    return author_locked or visibility in ("private", "direct")
