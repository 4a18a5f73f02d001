"""A person's blocks of whole domains (Mastodon's user-level domain blocks).

This server does not federate yet, so nothing arrives from another domain for a block to
stop: the blocks are checked, stored and listed, ready for when it does.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lumigram.errors import ValidationFailed
from lumigram.infra.tables import domain_blocks, utcnow
from lumigram.paging import Page, PageRequest
from lumigram.services import Services

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})+")


def normalise_domain(raw: str, own_domain: str) -> str:
    """The domain in canonical form (lower case, no scheme or trailing dot); ValidationFailed otherwise."""
    domain = raw.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/").rstrip(".")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
        raise ValidationFailed.field("domain", "ERR_INVALID", "is not a valid domain name")
    if domain == own_domain.lower():
        raise ValidationFailed.field("domain", "ERR_INVALID", "is this server's own domain")
    return domain


async def block_domain(services: Services, account_id: int, raw: str) -> str:
    """Block a domain; blocking it again changes nothing."""
    domain = normalise_domain(raw, services.settings.domain)
    async with services.db.begin() as conn:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        row = {"account_id": account_id, "domain": domain, "id": services.ids.next_id(), "created_at": utcnow()}
        await conn.execute(dialect_insert(domain_blocks).values(**row).on_conflict_do_nothing())
    return domain


async def unblock_domain(services: Services, account_id: int, raw: str) -> None:
    """Lift a domain block; lifting one never made changes nothing."""
    domain = normalise_domain(raw, services.settings.domain)
    async with services.db.begin() as conn:
        await conn.execute(
            delete(domain_blocks).where(domain_blocks.c.account_id == account_id, domain_blocks.c.domain == domain)
        )


async def list_domain_blocks(services: Services, account_id: int, page: PageRequest) -> Page[str]:
    """The blocked domains, most recently blocked first."""
    limit = page.clamped_limit()
    if page.is_empty():
        return Page(limit=limit)
    column = domain_blocks.c.id
    query = select(domain_blocks.c.domain, column).where(domain_blocks.c.account_id == account_id)
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    if page.min_id is not None:
        query = query.where(column > page.min_id).order_by(column.asc()).limit(limit)
    else:
        query = query.order_by(column.desc()).limit(limit)
    async with services.db.connect() as conn:
        rows = list((await conn.execute(query)).all())
    if page.min_id is not None:
        rows.reverse()
    return Page(items=[row.domain for row in rows], cursors=[row.id for row in rows], limit=limit)
