"""Who did something to a post (liked it, reposted it): the accounts behind the rows of one
engagement table, for a viewer who may see the post, newest row first, paged by its id."""

from __future__ import annotations

from sqlalchemy import Table, select

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row
from lumigram.errors import NotFound
from lumigram.infra.tables import accounts, blocks
from lumigram.paging import MAX_ID, Page, PageRequest, window
from lumigram.posts.hydrate import hydrate_in
from lumigram.services import Services


async def engaged_accounts(
    services: Services, viewer_id: int | None, status_id: int, page: PageRequest, table: Table
) -> Page[Account]:
    """The accounts of ``table``'s rows (``id``, ``account_id``, ``status_id``) on a post the
    viewer may see (NotFound otherwise). Accounts that block the viewer, or that the viewer
    blocks, are left out."""
    limit = page.clamped_limit()
    if not 0 < status_id <= MAX_ID:
        raise NotFound
    async with services.db.connect() as conn:
        if not await hydrate_in(conn, viewer_id, [status_id]):
            raise NotFound
        if page.is_empty():
            return Page(limit=limit)
        query = (
            select(accounts, table.c.id.label("edge_id"))
            .join(table, table.c.account_id == accounts.c.id)
            .where(table.c.status_id == status_id)
        )
        if viewer_id is not None:
            query = query.where(
                accounts.c.id.not_in(select(blocks.c.target_account_id).where(blocks.c.account_id == viewer_id)),
                accounts.c.id.not_in(select(blocks.c.account_id).where(blocks.c.target_account_id == viewer_id)),
            )
        query, ascending = window(query, table.c.id, page, limit)
        rows = list((await conn.execute(query)).all())
    if ascending:
        rows.reverse()
    return Page(items=[account_from_row(row) for row in rows], cursors=[row.edge_id for row in rows], limit=limit)
