"""A computation no request waits on reads without PostgreSQL's parallel workers, and the
connection it used goes back to the pool as it came."""

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
