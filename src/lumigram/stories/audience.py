"""Who may see an account's stories: one rule, loaded once per viewer and batch of owners.

* The owner always may.
* Blocks, either way, hide everything.
* A private (locked) account's stories are for its approved followers.
* A close-friends story is for the accounts on the owner's close-friends list (the one of
  its lists marked so; the lists service says who is on it); to anyone else it does not
  exist (404, never 403).
* Muting an account hides its stories from the viewer's tray only: asked for by id or
  through the account, they are shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.sql import one_of
from lumigram.infra.tables import accounts, blocks, follows, mutes
from lumigram.lists.service import close_friend_owners
from lumigram.stories.models import CLOSE_FRIENDS


@dataclass(frozen=True, slots=True)
class Relations:
    """What the viewer is to each of a batch of story owners."""

    viewer_id: int
    locked: frozenset[int] = field(default_factory=frozenset)
    following: frozenset[int] = field(default_factory=frozenset)
    blocked: frozenset[int] = field(default_factory=frozenset)
    muted: frozenset[int] = field(default_factory=frozenset)
    #: Owners whose close-friends list has the viewer on it.
    close_friend_of: frozenset[int] = field(default_factory=frozenset)

    def may_see(self, owner_id: int, audience: str) -> bool:
        if owner_id == self.viewer_id:
            return True
        if owner_id in self.blocked:
            return False
        if audience == CLOSE_FRIENDS and owner_id not in self.close_friend_of:
            return False
        return owner_id not in self.locked or owner_id in self.following

    def may_see_profile(self, owner_id: int) -> bool:
        """Whether the viewer may see the owner's posts (and so their highlights)."""
        return self.may_see(owner_id, "")


async def relations(conn: AsyncConnection, viewer_id: int, owner_ids: Iterable[int], now: datetime) -> Relations:
    """The viewer's relations to ``owner_ids``, in one query."""
    owners = sorted(set(owner_ids))
    if not owners:
        return Relations(viewer_id)
    close_friend_of = close_friend_owners(conn, viewer_id, owners).subquery()
    query = union_all(
        select(literal_column("0").label("kind"), accounts.c.id.label("owner")).where(
            one_of(conn, accounts.c.id, owners), accounts.c.locked.is_(True)
        ),
        select(literal_column("1"), follows.c.target_account_id).where(
            follows.c.account_id == viewer_id, one_of(conn, follows.c.target_account_id, owners)
        ),
        select(literal_column("2"), blocks.c.target_account_id).where(
            blocks.c.account_id == viewer_id, one_of(conn, blocks.c.target_account_id, owners)
        ),
        select(literal_column("2"), blocks.c.account_id).where(
            blocks.c.target_account_id == viewer_id, one_of(conn, blocks.c.account_id, owners)
        ),
        select(literal_column("3"), mutes.c.target_account_id).where(
            mutes.c.account_id == viewer_id,
            one_of(conn, mutes.c.target_account_id, owners),
            mutes.c.expires_at.is_(None) | (mutes.c.expires_at > now),
        ),
        select(literal_column("4"), close_friend_of.c.account_id),
    )
    found: tuple[set[int], ...] = (set(), set(), set(), set(), set())
    for kind, owner in (await conn.execute(query)).all():
        found[int(kind)].add(int(owner))
    locked, following, blocked, muted, close = found
    return Relations(
        viewer_id, frozenset(locked), frozenset(following), frozenset(blocked), frozenset(muted), frozenset(close)
    )
