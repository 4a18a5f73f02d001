""" "Suggested for you" and "followed by x, y and 3 others", read from the follow graph.

Suggestions are friends of friends: accounts followed by those the person follows,
ranked by how many of them follow each. Someone with no such accounts yet (a new
sign-up) gets the most followed accounts instead. Never suggested: the person, anyone
already followed or asked to follow, anyone blocked, blocking or muted, anyone
dismissed, and accounts that opted out of discovery or are private (suggesting a private
account through a friend would reveal a follow its owner's privacy hides).

Familiar followers are the followers of an account whom the person follows; for a
private account they are shown only to the account and its approved followers, as its
follower list is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import ColumnElement, Select

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row, get_account
from lumigram.infra.tables import (
    accounts,
    blocks,
    follow_requests,
    follows,
    mutes,
    suggestion_dismissals,
    utcnow,
)
from lumigram.services import Services

FRIENDS_OF_FRIENDS = "friends_of_friends"
MOST_FOLLOWED = "most_followed"
MAX_SUGGESTIONS = 80
#: Familiar followers shown per account (clients show two or three names and a count).
MAX_FAMILIAR = 40


@dataclass(frozen=True, slots=True)
class Suggestion:
    account: Account
    sources: tuple[str, ...]


def _suggestable(viewer_id: int) -> ColumnElement[bool]:
    """The accounts that may be suggested to ``viewer_id`` (the rules in the module's text)."""
    target = accounts.c.id
    now = utcnow()
    return and_(
        target != viewer_id,
        accounts.c.discoverable.is_(True),
        accounts.c.locked.is_(False),
        ~exists().where(follows.c.account_id == viewer_id, follows.c.target_account_id == target),
        ~exists().where(follow_requests.c.account_id == viewer_id, follow_requests.c.target_account_id == target),
        ~exists().where(
            or_(
                and_(blocks.c.account_id == viewer_id, blocks.c.target_account_id == target),
                and_(blocks.c.account_id == target, blocks.c.target_account_id == viewer_id),
            )
        ),
        ~exists().where(
            mutes.c.account_id == viewer_id,
            mutes.c.target_account_id == target,
            or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > now),
        ),
        ~exists().where(
            suggestion_dismissals.c.account_id == viewer_id, suggestion_dismissals.c.target_account_id == target
        ),
    )


def _friends_of_friends(viewer_id: int, limit: int) -> Select[tuple[int, int]]:
    followed = select(follows.c.target_account_id).where(follows.c.account_id == viewer_id)
    second = follows.alias("second")
    mutuals = func.count().label("mutuals")
    return (
        select(accounts.c.id, mutuals)
        .select_from(second.join(accounts, accounts.c.id == second.c.target_account_id))
        .where(second.c.account_id.in_(followed), _suggestable(viewer_id))
        .group_by(accounts.c.id, accounts.c.followers_count)
        .order_by(mutuals.desc(), accounts.c.followers_count.desc(), accounts.c.id.desc())
        .limit(limit)
    )


async def suggestions(services: Services, viewer_id: int, limit: int = 40) -> list[Suggestion]:
    """Who ``viewer_id`` might follow, best first."""
    limit = max(1, min(limit, MAX_SUGGESTIONS))
    async with services.db.connect() as conn:
        ranked = [row.id for row in (await conn.execute(_friends_of_friends(viewer_id, limit))).all()]
        popular: list[int] = []
        if len(ranked) < limit:
            query = (
                select(accounts.c.id)
                .where(_suggestable(viewer_id), accounts.c.id.not_in(ranked or [0]), accounts.c.followers_count > 0)
                .order_by(accounts.c.followers_count.desc(), accounts.c.id.desc())
                .limit(limit - len(ranked))
            )
            popular = [row.id for row in (await conn.execute(query)).all()]
        wanted = ranked + popular
        rows = {row.id: row for row in (await conn.execute(select(accounts).where(accounts.c.id.in_(wanted or [0]))))}
    found = [Suggestion(account_from_row(rows[i]), (FRIENDS_OF_FRIENDS,)) for i in ranked if i in rows]
    found += [Suggestion(account_from_row(rows[i]), (MOST_FOLLOWED,)) for i in popular if i in rows]
    return found


async def dismiss(services: Services, viewer_id: int, account_id: int) -> None:
    """Never suggest ``account_id`` to ``viewer_id`` again (NotFound for no such account)."""
    await get_account(services, account_id)
    async with services.db.begin() as conn:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        row = {
            "account_id": viewer_id,
            "target_account_id": account_id,
            "id": services.ids.next_id(),
            "created_at": utcnow(),
        }
        await conn.execute(dialect_insert(suggestion_dismissals).values(**row).on_conflict_do_nothing())


async def familiar_followers(
    services: Services, viewer_id: int, account_ids: Sequence[int]
) -> dict[int, list[Account]]:
    """For each account, its followers whom ``viewer_id`` follows (most followed first)."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    async with services.db.connect() as conn:
        owners = {
            row.id: row
            for row in await conn.execute(select(accounts.c.id, accounts.c.locked).where(accounts.c.id.in_(wanted)))
        }
        approved = {
            row.target_account_id
            for row in await conn.execute(
                select(follows.c.target_account_id).where(
                    follows.c.account_id == viewer_id, follows.c.target_account_id.in_(wanted)
                )
            )
        }
        blocked_by = {
            row.account_id
            for row in await conn.execute(
                select(blocks.c.account_id).where(
                    blocks.c.target_account_id == viewer_id, blocks.c.account_id.in_(wanted)
                )
            )
        }
        shown = [
            i
            for i in wanted
            if i in owners and i not in blocked_by and (i == viewer_id or not owners[i].locked or i in approved)
        ]
        found: dict[int, list[Account]] = {i: [] for i in wanted}
        mine = follows.alias("mine")
        for target in shown:
            query = (
                select(accounts)
                .join(follows, follows.c.account_id == accounts.c.id)
                .join(mine, and_(mine.c.target_account_id == accounts.c.id, mine.c.account_id == viewer_id))
                .where(
                    follows.c.target_account_id == target,
                    accounts.c.id != viewer_id,
                    ~exists().where(blocks.c.account_id == viewer_id, blocks.c.target_account_id == accounts.c.id),
                )
                .order_by(accounts.c.followers_count.desc(), accounts.c.id.desc())
                .limit(MAX_FAMILIAR)
            )
            found[target] = [account_from_row(row) for row in (await conn.execute(query)).all()]
    return found
