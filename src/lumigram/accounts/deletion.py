"""Deleting an account, by its owner (with the current password) or by an administrator.

The request does what must hold at once: the account's row becomes an emptied tombstone
(``deleted_at``; it keeps the username taken, as Mastodon does, so no one can take over
its name and be mistaken for it), every token acting as it is revoked, its open streams
end, and its login is disabled when it has no other profile. Everything the account left
elsewhere (posts and their media, comments, likes, follows, stories, messages, lists,
notifications, push subscriptions, filters, search entries) is removed by the consumers
of ``AccountDeleted``, each in its own package and in batches, so that an account with
thousands of posts is deleted without one long transaction.
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select, update

from lumigram.accounts import authcache, passwords
from lumigram.errors import Forbidden, NotFound
from lumigram.events import AccountDeleted
from lumigram.ids import shard_of
from lumigram.infra.tables import accounts, oauth_tokens, users, utcnow
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work


async def delete_own_account(services: Services, account_id: int, password: str) -> None:
    """The owner deletes their account; Forbidden unless ``password`` is the login's (a
    well-formed request the caller may not make, not a malformed one)."""
    async with services.db.connect() as conn:
        query = select(users.c.password_hash).join(accounts, accounts.c.user_id == users.c.id)
        stored = (await conn.execute(query.where(accounts.c.id == account_id))).scalar()
    if len(password) > passwords.MAX_LENGTH:
        password = ""  # never hash unbounded input
    if not await passwords.verify_password(stored, password):
        raise Forbidden("The password is not your current password")
    await delete_account(services, account_id)


async def delete_account(services: Services, account_id: int) -> None:
    """Delete an account now (NotFound if there is none, or it is already deleted)."""
    now = utcnow()
    async with unit_of_work(services) as work:
        conn = work.conn
        live = and_(accounts.c.id == account_id, accounts.c.deleted_at.is_(None))
        row = (await conn.execute(select(accounts.c.user_id).where(live))).first()
        if row is None:
            raise NotFound
        user_id = int(row.user_id)
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(
                deleted_at=now,
                updated_at=now,
                display_name="",
                note="",
                avatar_key=None,
                header_key=None,
                discoverable=False,
                followers_count=0,
                following_count=0,
                statuses_count=0,
            )
        )
        others = select(func.count()).where(
            accounts.c.user_id == user_id, accounts.c.id != account_id, accounts.c.deleted_at.is_(None)
        )
        last_profile = (await conn.execute(others)).scalar_one() == 0
        # A token names its profile, or (none named) acts as the login's first one.
        acting = oauth_tokens.c.account_id == account_id
        if last_profile:
            acting = or_(acting, oauth_tokens.c.user_id == user_id)
        revoked = (
            await conn.execute(
                update(oauth_tokens)
                .where(acting, oauth_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
                .returning(oauth_tokens.c.id, oauth_tokens.c.token_hash)
            )
        ).all()
        if last_profile:
            await conn.execute(update(users).where(users.c.id == user_id).values(disabled=True))
        await work.emit(AccountDeleted(account_id=account_id), shard=shard_of(account_id))
    for token in revoked:
        await authcache.forget_token(services, token.token_hash)
    if last_profile:
        await authcache.forget_user_state(services, user_id)
    await authcache.announce_revoked(
        services, token_ids=[int(t.id) for t in revoked], user_ids=[user_id] if last_profile else []
    )
