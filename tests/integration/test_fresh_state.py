"""The pools behind each test's fresh state lend databases and buckets back empty."""

from __future__ import annotations

import contextlib

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _run_async
from tests.fresh_state import BucketPool, DatabasePool, asyncpg_args


async def _dirty(url: str) -> None:
    connection = await asyncpg.connect(**asyncpg_args(make_url(url)))
    try:
        await connection.execute(
            "INSERT INTO tags (id, name, name_lower, created_at) VALUES (1, 'Left', 'left', now())"
        )
        await connection.execute("CREATE TABLE left_behind (n INT)")
    finally:
        await connection.close()
    # A connection the test forgot to close does not keep the database from being emptied.
    await asyncpg.connect(**asyncpg_args(make_url(url)))


async def _tables_and_tags(url: str) -> tuple[set[str], int]:
    connection = await asyncpg.connect(**asyncpg_args(make_url(url)))
    try:
        tables = {
            row[0] for row in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        return tables, int(await connection.fetchval("SELECT count(*) FROM tags"))
    finally:
        await connection.close()


def test_a_database_comes_back_empty_without_the_tables_a_test_added(postgres_pool: DatabasePool) -> None:
    name = _run_async(postgres_pool.take())
    url = postgres_pool.url(name)
    _run_async(_dirty(url))
    _run_async(postgres_pool.give_back(name))
    assert _run_async(postgres_pool.take()) == name  # lent again, not cloned anew
    tables, tags = _run_async(_tables_and_tags(url))
    assert "left_behind" not in tables
    assert {"tags", "alembic_version"} <= tables
    assert tags == 0
    _run_async(postgres_pool.give_back(name))


def test_a_database_at_another_schema_revision_is_dropped_not_lent(postgres_pool: DatabasePool) -> None:
    name = _run_async(postgres_pool.take())

    async def downgrade() -> None:
        connection = await asyncpg.connect(**asyncpg_args(make_url(postgres_pool.url(name))))
        try:
            await connection.execute("UPDATE alembic_version SET version_num = 'older'")
        finally:
            await connection.close()

    _run_async(downgrade())
    with pytest.raises(RuntimeError, match="revision"):
        _run_async(postgres_pool.give_back(name))
    assert _run_async(postgres_pool.take()) != name


def test_a_bucket_comes_back_empty(bucket_pool: BucketPool) -> None:
    bucket = bucket_pool.take()
    s3 = bucket_pool._s3
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # lent before, to another test
        s3.create_bucket(Bucket=bucket)
    for key in ("a/1", "a/2", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="unfinished")
    bucket_pool.give_back(bucket)
    assert bucket_pool.take() == bucket
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert upload["UploadId"] not in {
        u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    }
    bucket_pool.give_back(bucket)
