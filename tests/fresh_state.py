"""Fresh state for every test, without paying to build it from nothing each time.

* PostgreSQL: a few migrated databases are cloned from a template once and lent to one
  test at a time. When the test is over its rows are deleted (foreign keys unchecked,
  in one transaction), tables it created are dropped, and the database goes back to the
  pool. Cloning a database per test cost little at the time but left hundreds of them
  for the server to write out and for the session's end to delete.
* S3: buckets are lent the same way and emptied when given back; making a bucket is a
  SeaweedFS collection with volumes of its own, the slowest part of a scaled test.
* SQLite: one migrated file is copied into a test's data folder instead of running
  every migration again.

Whatever cannot be put back as it was (a schema changed, a bucket that will not empty)
is dropped instead of lent again.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from lumigram.config import Settings
from lumigram.infra.database import Database


def asyncpg_args(url: Any) -> dict[str, Any]:
    """asyncpg's connect() arguments for a SQLAlchemy URL (pgserver's socket is ``?host=``)."""
    args: dict[str, Any] = {"user": url.username, "password": url.password, "database": url.database}
    host = url.query.get("host") or url.host
    if host:
        args["host"] = host
    if url.port:
        args["port"] = url.port
    return args


class DatabasePool:
    """Migrated PostgreSQL databases, each lent to one test at a time."""

    def __init__(self, admin_url: str, template: str) -> None:
        self._admin = make_url(admin_url)
        self._template = template
        self._free: list[str] = []
        #: The template's tables and schema revision: what a database given back must still have.
        self._tables: list[str] = []
        self._revision = ""

    def url(self, name: str) -> str:
        return self._admin.set(database=name).render_as_string(hide_password=False)

    async def _connect(self, database: str | None = None) -> asyncpg.Connection:
        url = self._admin if database is None else self._admin.set(database=database)
        return await asyncpg.connect(**asyncpg_args(url))

    async def inspect_template(self) -> None:
        connection = await self._connect(self._template)
        try:
            self._tables = await _tables(connection)
            self._revision = await connection.fetchval("SELECT version_num FROM alembic_version")
        finally:
            await connection.close()

    async def take(self) -> str:
        """A migrated, empty database's name: a returned one, or a new clone of the template."""
        if self._free:
            return self._free.pop()
        from tests.servers import unique_name

        name = unique_name("t_").lower()
        connection = await self._connect()
        try:
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        finally:
            await connection.close()
        return name

    async def give_back(self, name: str) -> None:
        """Empty ``name`` and lend it again; drop it when it cannot be put back as it was."""
        try:
            await self._empty(name)
        except Exception:
            await self.drop(name)
            raise
        self._free.append(name)

    async def _empty(self, name: str) -> None:
        admin = await self._connect()
        try:
            # A connection the test left open would hold locks (or rows) over into the next test.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
        finally:
            await admin.close()
        connection = await self._connect(name)
        try:
            revision = await connection.fetchval("SELECT version_num FROM alembic_version")
            if revision != self._revision:
                raise RuntimeError(f"database {name} was left at revision {revision}, not {self._revision}")
            async with connection.transaction():
                for extra in set(await _tables(connection)) - set(self._tables):
                    await connection.execute(f'DROP TABLE "{extra}" CASCADE')
                # DELETE, not TRUNCATE: on a test's few rows it is a hundred times faster, since
                # TRUNCATE makes new files for every table and index. With foreign keys unchecked
                # (replica role) the order does not matter; no table has a sequence to restart.
                await connection.execute("SET LOCAL session_replication_role = replica")
                statements = "; ".join(f'DELETE FROM "{table}"' for table in self._tables)  # noqa: S608 (catalog names)
                await connection.execute(statements)
        finally:
            await connection.close()

    async def drop(self, name: str) -> None:
        connection = await self._connect()
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def _tables(connection: asyncpg.Connection) -> list[str]:
    rows = await connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
    )
    return sorted(str(row["tablename"]) for row in rows)


async def create_template(admin_url: str, template: str) -> None:
    """A new database ``template`` with every migration applied."""
    url = make_url(admin_url)
    connection = await asyncpg.connect(**asyncpg_args(url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{template}"')
        await connection.execute(f'CREATE DATABASE "{template}"')
    finally:
        await connection.close()
    db = Database(url.set(database=template).render_as_string(hide_password=False))
    try:
        await db.migrate()
    finally:
        await db.close()


class BucketPool:
    """S3 buckets, each lent to one test at a time and emptied when given back."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, master_url: str) -> None:
        import boto3
        from botocore.config import Config

        self._master_url = master_url
        self._free: list[str] = []
        self._s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, connect_timeout=5),
        )

    def take(self) -> str:
        from tests.servers import unique_name

        return self._free.pop() if self._free else unique_name("bucket-").lower()

    def give_back(self, bucket: str) -> None:
        try:
            self._empty(bucket)
        except Exception:
            self.drop(bucket)
            raise
        self._free.append(bucket)

    def _empty(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        try:
            uploads = self._s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchBucket", "404"):
                return  # the test never stored anything: the store makes it on first use
            raise
        for upload in uploads:
            self._s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        if self._s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0):
            raise RuntimeError(f"bucket {bucket} did not empty")

    def drop(self, bucket: str) -> None:
        # Frees the bucket's volumes too, unlike deleting it through S3.
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{self._master_url}/col/delete", params={"collection": bucket}, timeout=10)


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file of ``settings``, or None when the database is not SQLite."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)


async def create_sqlite_template(path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.migrate()
    finally:
        await db.close()
    # Closing checkpoints the write-ahead log into the file: the one file is the whole database.
    for suffix in ("-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            raise RuntimeError(f"the SQLite template {path} kept its {suffix} file after closing")


def copy_sqlite_template(template: Path, settings: Settings) -> bool:
    """Put a migrated copy of ``template`` where ``settings`` keep their SQLite database, when
    there is none yet; True when copied (the database then needs no migrating)."""
    path = sqlite_path(settings)
    if path is None or path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return True
