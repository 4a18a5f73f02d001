"""Mastodon's markers: where a user stopped reading the home timeline and the notifications.

Each save bumps the marker's ``version`` so a client syncing several devices can tell
a newer position from its own; the notifications marker is also what the unread count
counts from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lumigram.infra.tables import markers, utcnow
from lumigram.notifications.models import Marker
from lumigram.services import Services

TIMELINES = ("home", "notifications")


async def get_markers(services: Services, account_id: int, timelines: Iterable[str]) -> dict[str, Marker]:
    """The saved markers among ``timelines`` (unknown names and unsaved markers are left out)."""
    wanted = sorted({t for t in timelines if t in TIMELINES})
    if not wanted:
        return {}
    async with services.db.connect() as conn:
        rows = (
            await conn.execute(
                select(markers).where(markers.c.account_id == account_id, markers.c.timeline.in_(wanted))
            )
        ).all()
    return {row.timeline: Marker(row.timeline, row.last_read_id, row.version, row.updated_at) for row in rows}


async def save_markers(services: Services, account_id: int, positions: Mapping[str, int]) -> dict[str, Marker]:
    """Move the given markers (``timeline -> last_read_id``); each saved one's version goes up by one."""
    wanted = {t: i for t, i in positions.items() if t in TIMELINES}
    if not wanted:
        return {}
    now = utcnow()
    async with services.db.begin() as conn:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        for timeline, last_read_id in sorted(wanted.items()):
            statement = dialect_insert(markers).values(
                account_id=account_id, timeline=timeline, last_read_id=last_read_id, version=1, updated_at=now
            )
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["account_id", "timeline"],
                    set_={"last_read_id": last_read_id, "version": markers.c.version + 1, "updated_at": now},
                )
            )
    return await get_markers(services, account_id, wanted)
