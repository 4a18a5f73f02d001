"""The posts above comments, read to decide who may see a comment.

A comment's audience is the audience of the post its thread hangs from
(``lumigram.posts.visibility.can_see_comment``), so deciding it needs every post above
the comment: its parent, the parent's parent, up to the thread's post. A page of posts
usually holds them already (a thread's context does); the others are read in one
recursive statement, with their authors' locks and the viewers they mention. The chain
is walked on every read rather than stored on the comment: the rule then holds for
every comment ever written, and follows a later block or lock at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import accounts, blocks, follows, mentions, statuses
from lumigram.posts.models import Thread
from lumigram.posts.visibility import Audience, ViewerContext, can_see, can_see_comment, narrowest


@dataclass(frozen=True, slots=True)
class Link:
    """One post as the rule sees it, and the post it answers."""

    id: int
    in_reply_to_id: int | None
    audience: Audience


def _chains(dialect: str) -> Any:
    """The posts bound as ``ids`` and every post above them, each with its author's lock
    and (one row per mention) the accounts among ``viewers`` it mentions, NULL for none.
    ``UNION`` rather than ``UNION ALL``: chains that meet are walked once."""
    start = select(statuses.c.id, statuses.c.account_id, statuses.c.in_reply_to_id, statuses.c.visibility).where(
        among(dialect, statuses.c.id, "ids")
    )
    chain = start.cte("chain", recursive=True)
    above = statuses.alias("above")
    chain = chain.union(
        select(above.c.id, above.c.account_id, above.c.in_reply_to_id, above.c.visibility).where(
            above.c.id == chain.c.in_reply_to_id
        )
    )
    named = (mentions.c.status_id == chain.c.id) & among(dialect, mentions.c.account_id, "viewers")
    return select(
        chain.c.id,
        chain.c.account_id,
        chain.c.in_reply_to_id,
        chain.c.visibility,
        accounts.c.locked,
        mentions.c.account_id.label("mentioned"),
    ).select_from(chain.join(accounts, accounts.c.id == chain.c.account_id).outerjoin(mentions, named))


_CHAINS = Prebuilt(_chains)


async def read_links(conn: AsyncConnection, post_ids: Iterable[int], viewers: Sequence[int]) -> dict[int, Link]:
    """``post_ids`` and every post above them; mentions of ``viewers`` only."""
    wanted = sorted(set(post_ids))
    if not wanted:
        return {}
    rows = await _CHAINS.rows(conn, {"ids": wanted, "viewers": sorted(set(viewers))})
    found: dict[int, tuple[Any, set[int]]] = {}
    for row in rows:
        _, mentioned = found.setdefault(row.id, (row, set()))
        if row.mentioned is not None:
            mentioned.add(row.mentioned)
    return {
        post_id: Link(
            post_id,
            row.in_reply_to_id,
            Audience(row.account_id, bool(row.locked), row.visibility, frozenset(mentioned)),
        )
        for post_id, (row, mentioned) in found.items()
    }


def missing_above(parents: Mapping[int, int | None]) -> set[int]:
    """The posts above the comments among ``parents`` (post id → the post it answers)
    that ``parents`` lacks: where each chain leaves them."""
    missing: set[int] = set()
    for above in parents.values():
        seen: set[int] = set()
        while above is not None and above in parents and above not in seen:
            seen.add(above)
            above = parents[above]
        if above is not None and above not in parents:
            missing.add(above)
    return missing


def chain_above(link: Link, links: Mapping[int, Link]) -> list[Link] | None:
    """The posts above ``link``, its parent first and the thread's post last; None when
    one of them is not in ``links`` (it is gone)."""
    chain: list[Link] = []
    above = link.in_reply_to_id
    while above is not None:
        found = links.get(above)
        if found is None or len(chain) > len(links):  # gone (or, impossibly, a cycle)
            return None
        chain.append(found)
        above = found.in_reply_to_id
    return chain


def thread_of(chain: Sequence[Link] | None) -> Thread:
    """The ``Thread`` of a comment with ``chain`` above it."""
    if not chain:
        return Thread(None, frozenset(), False)
    root = chain[-1]
    return Thread(root.id, frozenset(c.audience.author_id for c in chain), root.audience.author_locked)


def shown_visibility(link: Link, chain: Sequence[Link] | None) -> str:
    """The visibility a comment is shown with: never wider than a post above it (a
    comment stored before replies were bounded on writing may say more)."""
    if not chain:
        return link.audience.visibility
    return narrowest(link.audience.visibility, *(c.audience.visibility for c in chain))


def may_see(context: ViewerContext, link: Link, chain: Sequence[Link] | None) -> bool:
    """The visibility rule for the post of ``link`` (a comment or not), ``chain`` being
    what ``chain_above`` found above it."""
    audience = link.audience
    if link.in_reply_to_id is None:
        return can_see(context, audience.author_id, audience.author_locked, audience.visibility, audience.mentioned)
    return can_see_comment(context, audience, None if chain is None else [c.audience for c in chain])


def _relations(dialect: str) -> Any:
    """Follows (kind 0) and blocks either way (1) between the accounts bound as
    ``viewers`` and those bound as ``authors``: (kind, viewer, author) rows."""
    viewer_follows = select(literal_column("0").label("kind"), follows.c.account_id, follows.c.target_account_id)
    blocking = select(literal_column("1"), blocks.c.account_id, blocks.c.target_account_id)
    blocked_by = select(literal_column("1"), blocks.c.target_account_id, blocks.c.account_id)
    return union_all(
        viewer_follows.where(
            among(dialect, follows.c.account_id, "viewers"), among(dialect, follows.c.target_account_id, "authors")
        ),
        blocking.where(
            among(dialect, blocks.c.account_id, "viewers"), among(dialect, blocks.c.target_account_id, "authors")
        ),
        blocked_by.where(
            among(dialect, blocks.c.target_account_id, "viewers"), among(dialect, blocks.c.account_id, "authors")
        ),
    )


_RELATIONS = Prebuilt(_relations)


async def audience_among(conn: AsyncConnection, status_id: int, viewers: Sequence[int]) -> set[int]:
    """Which of ``viewers`` may see the post ``status_id`` now (none once it is gone):
    the one rule, for several readers at once, in two statements (for notifications and
    streams, which decide for everyone a post names)."""
    wanted = sorted(set(viewers))
    links = await read_links(conn, [status_id], wanted)
    link = links.get(status_id)
    if link is None or not wanted:
        return set()
    chain = chain_above(link, links) if link.in_reply_to_id is not None else []
    authors = sorted({link.audience.author_id, *(c.audience.author_id for c in chain or [])})
    following: dict[int, set[int]] = {}
    blocked: dict[int, set[int]] = {}
    params = {"viewers": wanted, "authors": authors}
    for kind, viewer, author in await _RELATIONS.rows(conn, params):
        (following if kind == 0 else blocked).setdefault(viewer, set()).add(author)
    return {
        viewer
        for viewer in wanted
        if may_see(
            ViewerContext(
                viewer,
                following=frozenset(following.get(viewer, ())),
                blocked=frozenset(blocked.get(viewer, ())),
            ),
            link,
            chain,
        )
    }
