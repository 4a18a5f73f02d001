"""The database port: one async SQLAlchemy engine over SQLite (WAL) or PostgreSQL (asyncpg).

Services use SQLAlchemy Core on ``Database.engine`` (``async with db.begin() as conn``);
no ORM sessions, so each query is exactly what it says. Migrations are Alembic's,
run by ``Database.migrate`` (and ``lumigram migrate``).

On a SQLite file (the embedded shape) statements run on the event loop's thread and
writes take turns at one writer connection: ``lumigram.infra.sqlite`` says why.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from lumigram.infra import sqlite
from lumigram.infra.sql import driver_error

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Database:
    def __init__(self, url: str, echo: bool = False, pool_size: int = 20, pool_timeout: float = 10.0) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        # An in-memory SQLite database lives in its one connection (SQLAlchemy's static
        # pool): no pool of readers and no writer of its own.
        path = parsed.database if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:") else None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # A fixed pool of readers: SQLAlchemy's default (5, with 10 overflow) closed
            # each overflow connection when it was given back, so under load connections
            # (each a thread and a cold page cache) were opened and closed by the hundred.
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)
            kwargs["async_creator"] = sqlite.inline_connector(path)
        elif self.dialect != "sqlite":
            # No pre-ping: on asyncpg it costs three round trips (begin, a query, rollback)
            # on every checkout, more than many reads themselves. A connection the server
            # dropped fails the one statement that finds out; SQLAlchemy then discards the
            # pool's older connections, and the API answers that request with a 503.
            # A fixed pool, no overflow: an overflow connection is closed when it is given
            # back, so under a burst connections were opened and dropped by the hundred a
            # second, and each new one prepared every statement again (7 % of serve CPU in
            # the DSB mix, and the tail latency). A request that finds every connection busy
            # waits for one instead (a 503 after ``pool_timeout``).
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout, pool_recycle=1800)
            # Each length of an ``IN (...)`` list is a statement of its own; with pages of
            # 1-40 posts and a few dozen query shapes, the default 100 prepared statements
            # per connection churned, and every miss cost a prepare round trip.
            kwargs["connect_args"] = {"prepared_statement_cache_size": 2000}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", sqlite.pragmas)
        # Reads run without a transaction: no BEGIN and ROLLBACK round trips around them.
        self._reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        #: SQLite's one writer; None on PostgreSQL.
        self._sqlite_writer: sqlite.SqliteWriter | None = None
        if path is not None:
            writer = create_async_engine(
                url, echo=echo, pool_size=1, max_overflow=0,
                async_creator=sqlite.inline_connector(path, isolation_level=None),  # BEGINs are ours
            )
            event.listen(writer.sync_engine, "connect", sqlite.writer_pragmas)
            self._sqlite_writer = sqlite.SqliteWriter(writer, path)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction, committed on success."""
        if self._sqlite_writer is not None:
            async with self._sqlite_writer.transaction() as conn:
                yield conn
            return
        if not self.is_postgres:
            async with self.engine.begin() as conn:
                yield conn
            return
        # On PostgreSQL the driver holds the transaction, on a connection SQLAlchemy sees
        # as autocommit: its statements run inside it as before, and prebuilt reads
        # (``lumigram.infra.sql.Prebuilt.rows``) can go to the driver directly, which
        # they could not while SQLAlchemy began its transaction lazily, at its first
        # statement.
        async with self._reads.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            transaction = driver.transaction()
            try:
                await transaction.start()
            except Exception as error:
                raise driver_error(conn, error, "BEGIN") from error
            try:
                yield conn
            except BaseException:
                # Also when cancelled; if the rollback cannot run (a statement was cut
                # off mid-way), the check below throws the connection away.
                with contextlib.suppress(Exception):
                    await transaction.rollback()
                raise
            else:
                try:
                    await transaction.commit()
                except Exception as error:
                    raise driver_error(conn, error, "COMMIT") from error
            finally:
                if driver.is_closed() or driver.is_in_transaction():
                    await conn.invalidate()  # never back in the pool inside a transaction

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads, each statement on its own (autocommit): a read that needs
        several statements to agree uses ``begin``."""
        async with self._reads.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade, revision)

    async def close(self) -> None:
        if self._sqlite_writer is not None:
            await self._sqlite_writer.close()
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)
