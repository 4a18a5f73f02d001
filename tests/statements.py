"""Counting the SQL statements a piece of code sends: on one connection, whichever way it
sends them (through SQLAlchemy, or, for PostgreSQL reads, ``Prebuilt.rows``, through the
driver itself); or through SQLAlchemy on all of a test's database engines. On SQLite,
prebuilt statements sent past SQLAlchemy's execution are reported to its listeners all
the same, so they are counted with those through SQLAlchemy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.services import Services


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


@contextmanager
def statements_sent(services: Services) -> Iterator[list[str]]:
    """The statements SQLAlchemy sends inside the block from the calling task (a request
    under the in-process transport runs in it; the relay and the consumers do not), on the
    readers' engine and, on SQLite, the writer's: each statement's first four words."""
    sent: list[str] = []
    mine = asyncio.current_task()
    engines = {services.db.engine.sync_engine}
    writer = getattr(services.db, "_writer", None)
    if writer is not None:
        engines.add(writer.sync_engine)

    def record(_conn: object, _cursor: object, text: str, *_args: object) -> None:
        if asyncio.current_task() is mine:
            sent.append(" ".join(text.split()[:4]))

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
