"""Counting the SQL statements a piece of code sends on one connection, whichever way it
sends them: through SQLAlchemy, or (PostgreSQL reads, ``Prebuilt.rows``) through the
driver itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass
class Sent:
    """What ``statements_on`` saw, by the way it was sent."""

    through_sqlalchemy: list[str] = field(default_factory=list)
    through_driver: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return self.through_sqlalchemy + self.through_driver


@asynccontextmanager
async def statements_on(conn: AsyncConnection) -> AsyncIterator[Sent]:
    """The statements sent on ``conn`` inside the block (complete when the block ends: the
    driver reports its own a loop turn later)."""
    sent = Sent()

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.through_sqlalchemy.append(statement)

    def logged(query: Any) -> None:
        sent.through_driver.append(query.query)

    sync = conn.sync_connection
    assert sync is not None
    driver = (await conn.get_raw_connection()).driver_connection
    listens_to_driver = conn.dialect.name == "postgresql"
    if listens_to_driver:
        # The driver looks up the array types the reads bind once per connection, with
        # queries of its own: have it done before counting, whichever connection this is.
        await driver.fetchval("SELECT $1::bigint[], $2::varchar[]", [], [])
    event.listen(sync, "before_cursor_execute", record)
    if listens_to_driver:
        driver.add_query_logger(logged)
    try:
        yield sent
    finally:
        event.remove(sync, "before_cursor_execute", record)
        if listens_to_driver:
            await asyncio.sleep(0)  # the driver's logger is called soon, not at once
            driver.remove_query_logger(logged)
