"""Bus consumers that keep the search index current.

Posts are indexed when made or edited and forgotten when deleted; accounts' names when
they sign up or change their profile, and forgotten (with their recent searches) when
the account is deleted. Who may see what (privacy, blocks, opting out of
search) is read from the live tables at search time, so those changes need nothing here.
"""

from __future__ import annotations

from sqlalchemy import delete

from lumigram.events import AccountDeleted, AccountUpdated, PostCreated, PostDeleted, PostUpdated, UserRegistered
from lumigram.infra.tables import search_history
from lumigram.search.indexing import index_account, index_post
from lumigram.services import Services

POSTS = "search.posts"
ACCOUNTS = "search.accounts"


async def index_changed_post(services: Services, event: PostCreated | PostUpdated | PostDeleted) -> None:
    # A new post is a hashtag use only if public and tagged (its event says which): making
    # any other changes no kept use, so reading its uses is left out. An edit, a lock or a
    # deletion brings them in line as ever.
    await index_post(services, event.status_id, tag_uses=not _never_a_use(event))


def _never_a_use(event: PostCreated | PostUpdated | PostDeleted) -> bool:
    return isinstance(event, PostCreated) and (not event.tags or event.visibility != "public")


async def index_changed_account(services: Services, event: UserRegistered | AccountUpdated) -> None:
    await index_account(services, event.account_id)


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """A deleted account's names leave the index (it is no longer indexable), and its recent searches go."""
    await index_account(services, event.account_id)
    async with services.db.begin() as conn:
        await conn.execute(delete(search_history).where(search_history.c.account_id == event.account_id))
