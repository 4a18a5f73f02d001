"""`lumigram migrate` says what it did: created the schema, upgraded it, or found it current."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from lumigram.infra.database import Database, alembic_config
from tests.servers import unique_name


def _revisions() -> tuple[str, str]:
    """The newest revision and the one before it."""
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    assert head is not None
    previous = scripts.get_revision(head).down_revision
    assert isinstance(previous, str)
    return head, previous


def _migrate(data: Path, database_url: str | None = None) -> str:
    env = {**os.environ, "LUMIGRAM_DATA_DIR": str(data)}
    if database_url is not None:
        env["LUMIGRAM_DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-m", "lumigram.cli", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())


async def _migrate_to(database_url: str, revision: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate(revision)
    finally:
        await db.close()


def test_migrate_reports_creating_then_finding_the_schema_current(tmp_path: Path) -> None:
    head, _ = _revisions()
    data = tmp_path / "data"
    assert _migrate(data) == f"created the database schema (revision {head})"
    assert _migrate(data) == f"the database is already up to date (revision {head})"


def test_migrate_reports_the_revisions_it_upgraded_between(tmp_path: Path) -> None:
    head, previous = _revisions()
    data = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{data / 'older.db'}"
    data.mkdir()
    asyncio.run(_migrate_to(url, previous))
    assert _migrate(data, url) == f"upgraded the database from revision {previous} to {head}"


def test_migrate_reports_the_same_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    head, _ = _revisions()
    admin = make_url(postgres_url)
    name = unique_name("migrate_").lower()

    async def create() -> None:
        connection = await asyncpg.connect(
            user=admin.username,
            password=admin.password,
            database=admin.database,
            host=admin.query.get("host") or admin.host,
            port=admin.port,
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    url = admin.set(database=name).render_as_string(hide_password=False)
    assert _migrate(tmp_path / "data", url) == f"created the database schema (revision {head})"
    assert _migrate(tmp_path / "data", url) == f"the database is already up to date (revision {head})"
