"""A computation no request waits on reads without PostgreSQL's parallel workers, and the
connection it used goes back to the pool as it came; a starting server readies its
connections."""

from __future__ import annotations

from sqlalchemy import text

from lumigram.services import Services


async def test_unhurried_reads_take_no_parallel_workers_and_leave_none_off(services: Services) -> None:
    if not services.db.is_postgres:
        async with services.db.connect_unhurried() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        return
    show = text("SHOW max_parallel_workers_per_gather")
    async with services.db.connect() as conn:
        usual = (await conn.execute(show)).scalar_one()
    assert usual != "0"
    async with services.db.connect_unhurried() as conn:
        backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert (await conn.execute(show)).scalar_one() == "0"
    # The pool lends the connection used last first: the same backend, its setting back.
    async with services.db.connect() as conn:
        assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() == backend
        assert (await conn.execute(show)).scalar_one() == usual


async def test_a_starting_server_readies_its_connections(services: Services) -> None:
    """``warm`` leaves that many PostgreSQL connections open in the pool, each having bound
    the arrays the statements bind; on SQLite it does nothing."""
    await services.db.warm(3)
    if not services.db.is_postgres:
        return
    pool = services.db.engine.pool
    assert pool.checkedin() >= 3  # type: ignore[attr-defined]
    # The three lent next (last in, first out: the readied ones), held at once, each
    # already knows the array type: none asks the server's catalog on its first request.
    async with services.db.connect() as a, services.db.connect() as b, services.db.connect() as c:
        for conn in (a, b, c):
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            assert raw._protocol.get_settings().get_data_codec(1016) is not None  # bigint[]
