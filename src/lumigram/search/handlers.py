"""Bus consumers that keep the search index current.

Posts are indexed when made or edited and forgotten when deleted; accounts' names when
they sign up or change their profile. Who may see what (privacy, blocks, opting out of
search) is read from the live tables at search time, so those changes need nothing here.
"""

from __future__ import annotations

from lumigram.events import AccountUpdated, PostCreated, PostDeleted, PostUpdated, UserRegistered
from lumigram.search.indexing import index_account, index_post
from lumigram.services import Services

POSTS = "search.posts"
ACCOUNTS = "search.accounts"


async def index_changed_post(services: Services, event: PostCreated | PostUpdated | PostDeleted) -> None:
    await index_post(services, event.status_id)


async def index_changed_account(services: Services, event: UserRegistered | AccountUpdated) -> None:
    await index_account(services, event.account_id)
