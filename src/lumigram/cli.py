"""The ``lumigram`` command: serve, worker, migrate and admin tasks."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from lumigram import __version__
from lumigram.config import Settings, describe_error, load_settings

if TYPE_CHECKING:
    from lumigram.infra.database import Database
    from lumigram.services import Services

T = TypeVar("T")

app = typer.Typer(
    name="lumigram",
    help="Lumigram: a self-hostable photo and video sharing server with a Mastodon-compatible API.\n\n"
    "Configured by LUMIGRAM_* environment variables (see the README); with none set it runs embedded: "
    "SQLite, a media folder, in-process cache and event bus, all under ./data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
admin = typer.Typer(help="Administrative tasks.", no_args_is_help=True)
app.add_typer(admin, name="admin")
search = typer.Typer(help="The search index.", no_args_is_help=True)
app.add_typer(search, name="search")


@search.callback()
def _search_group() -> None:
    """The search index (a group even with one command, so that ``search reindex`` reads as it should)."""


err = Console(stderr=True)
out = Console()


def _settings(**overrides: object) -> Settings:
    """Load settings or exit with one line per bad setting."""
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err.print(f"[red]lumigram: configuration error[/red]\n{describe_error(exc)}", highlight=False)
        raise typer.Exit(2) from None


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def _schema_revision(db: Database) -> str | None:
    """The schema's Alembic revision; None for a database never migrated."""
    from alembic.runtime.migration import MigrationContext

    async with db.engine.connect() as conn:
        revision: str | None = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
        return revision


async def _migrate(settings: Settings) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision; the revisions before and after."""
    from lumigram.infra.database import Database

    db = Database(settings.database_url)
    try:
        before = await _schema_revision(db)
        await db.migrate()
        return before, await _schema_revision(db)
    finally:
        await db.close()


def _describe_migration(before: str | None, after: str | None) -> str:
    if before is None:
        return f"created the database schema (revision {after})"
    if before == after:
        return f"the database is already up to date (revision {after})"
    return f"upgraded the database from revision {before} to {after}"


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"lumigram {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Lumigram command line."""


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""
    settings = _settings()
    before, after = asyncio.run(_migrate(settings))
    out.print(f"[green]{_describe_migration(before, after)}[/green]", highlight=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (LUMIGRAM_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (LUMIGRAM_PORT).")] = None,
    processes: Annotated[
        int | None, typer.Option(help="Server processes sharing the port (LUMIGRAM_SERVE_PROCESSES).")
    ] = None,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Run migrations first.")] = True,
) -> None:
    """Serve the web app and API (and, on the in-process bus, the background consumers)."""
    import uvicorn

    from lumigram.app import create_app
    from lumigram.push.keys import vapid_keys

    settings = _settings(host=host, port=port, serve_processes=processes)
    if settings.serve_processes > 1 and (settings.embedded_bus or settings.cache_url.startswith("memory:")):
        err.print(
            "[red]lumigram: more than one serve process needs the scaled shape[/red]\n"
            "LUMIGRAM_CACHE_URL and LUMIGRAM_BUS_URL must name shared servers (Redis/Valkey, NATS): "
            "the in-process cache and bus cannot be shared between processes.",
            highlight=False,
        )
        raise typer.Exit(2)
    _configure_logging(settings.log_level)
    if migrate_first:
        asyncio.run(_migrate(settings))
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "loop": "uvloop",
        "http": "httptools",
        "proxy_headers": True,
        "server_header": False,
        # Open streams (server-sent events) never end by themselves; without a bound a
        # stop would wait for every client to leave.
        "timeout_graceful_shutdown": settings.shutdown_grace,
        # Clients poll: Mastodon.py asks for a processing video every 5 s on one kept-alive
        # connection. With uvicorn's 5 s idle bound the server closed it at the moment the
        # client reused it, and the poll failed. A bound past common poll intervals (the
        # same as nginx's default) keeps polling clients on their connection.
        "timeout_keep_alive": 75,
    }
    if settings.serve_processes == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # The children build their settings from the environment; settle what they would
    # otherwise each create on first use (the secret key file, the push key pair) here.
    settings.ensure_secret_key()
    vapid_keys(settings)
    for name, value in {"LUMIGRAM_HOST": settings.host, "LUMIGRAM_PORT": str(settings.port)}.items():
        os.environ[name] = value
    uvicorn.run("lumigram.app:create_app", factory=True, workers=settings.serve_processes, **options)


async def _run_worker(settings: Settings) -> None:
    from lumigram.bootstrap import build_services, start_consumers
    from lumigram.infra import gc_tuning as heap

    services = build_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await services.db.ping()
        # Its consumers' connections readied before the first events come (``Database.warm``).
        await services.db.warm()
        # Workers relay too: if every serve process is down, pending events still flow.
        await services.start_relay()
        await start_consumers(services)
        heap.settle()
        logging.getLogger("lumigram.worker").info("worker started; consuming from %s", settings.bus_url)
        await stop.wait()
    finally:
        await services.close()


@app.command()
def worker() -> None:
    """Consume events from the bus (fan-out, notifications, indexing, e-mail). Run as many as you like."""
    import uvloop

    settings = _settings()
    _configure_logging(settings.log_level)
    # The event loop serve runs on too: a worker is mostly socket writes (each statement,
    # cache command and acknowledgement is one), and uvloop's transports do them in C.
    uvloop.run(_run_worker(settings))


async def _seed(settings: Settings, world: object, force: bool) -> object:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from lumigram.bootstrap import build_services
    from lumigram.seed import World, write_world

    assert isinstance(world, World)
    services = build_services(settings)
    try:
        await services.db.migrate()
        with Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def report(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(phase, total=total)
                progress.update(tasks[phase], completed=done)

            return await write_world(services, world, force=force, report=report)
    finally:
        await services.close()


@app.command()
def seed(
    users: Annotated[int, typer.Option(min=1, help="How many users (ignored with --edges).")] = 10_000,
    posts: Annotated[float, typer.Option(min=0, help="Posts per user, on average (Poisson).")] = 20.0,
    edges: Annotated[
        str | None, typer.Option(help="An undirected edge list (u v per line) to load as mutual follows.")
    ] = None,
    random_seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed plans the same world.")] = 42,
    force: Annotated[bool, typer.Option("--force", help="Erase the existing data first.")] = False,
) -> None:
    """Fill the database with a synthetic world (users, follows, posts with photos) for benchmarks and demos."""
    import time

    from lumigram.seed import SeedSummary, WorldNotEmpty, plan_world

    settings = _settings()
    started = time.perf_counter()
    if edges is not None and not Path(edges).is_file():
        err.print(f"[red]lumigram: no such file: {edges}[/red]", highlight=False)
        raise typer.Exit(2)
    world = plan_world(users, posts, random_seed, Path(edges) if edges else None)
    try:
        summary = asyncio.run(_seed(settings, world, force))
    except WorldNotEmpty as exc:
        err.print(f"[red]lumigram: {exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    assert isinstance(summary, SeedSummary)
    out.print(
        f"seeded {summary.users:,} users, {summary.follows:,} follows, {summary.posts:,} posts "
        f"(max followers {summary.max_in_degree:,}, max following {summary.max_out_degree:,}) "
        f"in {time.perf_counter() - started:.1f} s",
        highlight=False,
    )
    out.print(f"every user's password: {summary.password}", highlight=False)


async def _create_user(
    settings: Settings, username: str, email: str | None, password: str, make_admin: bool
) -> tuple[int, str]:
    from lumigram.accounts.service import create_user_as_admin
    from lumigram.bootstrap import build_services

    services = build_services(settings)
    try:
        account = await create_user_as_admin(
            services, username=username, email=email, password=password, admin=make_admin
        )
        return account.id, account.username
    finally:
        await services.close()


@admin.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="The new account's username.")],
    email: Annotated[str | None, typer.Option(help="E-mail address (marked as confirmed).")] = None,
    password: Annotated[
        str | None, typer.Option(help="Password; asked for when omitted.", envvar="LUMIGRAM_NEW_PASSWORD")
    ] = None,
    make_admin: Annotated[bool, typer.Option("--admin", help="Give the user admin rights.")] = False,
) -> None:
    """Create a confirmed user (for a first admin, or when sign-ups are closed)."""
    from lumigram.errors import LumigramError

    settings = _settings()
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        account_id, name = asyncio.run(_create_user(settings, username, email, password, make_admin))
    except LumigramError as exc:
        err.print(f"[red]lumigram: {exc.message}[/red]", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"created @{name} (id {account_id})")


async def _delete_account(settings: Settings, username: str) -> int:
    from lumigram.accounts.deletion import delete_account
    from lumigram.accounts.service import find_account
    from lumigram.bootstrap import build_services

    services = build_services(settings)
    try:
        account = await find_account(services, username.removeprefix("@"))
        await delete_account(services, account.id)
        return account.id
    finally:
        await services.close()


@admin.command("delete-account")
def delete_account(username: Annotated[str, typer.Argument(help="The account's username.")]) -> None:
    """Delete an account at once, without asking: its tokens stop working, and the server's
    workers remove its posts, media, follows, likes, stories and messages' content."""
    from lumigram.errors import NotFound

    settings = _settings()
    try:
        account_id = asyncio.run(_delete_account(settings, username))
    except NotFound:
        err.print(f"[red]lumigram: no account named {username}[/red]", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"deleted @{username.removeprefix('@')} (id {account_id})")


async def _reconcile_counts(settings: Settings) -> tuple[int, int]:
    from lumigram.bootstrap import build_services
    from lumigram.graph.reconcile import reconcile_counts
    from lumigram.interactions.reconcile import reconcile_status_counts

    services = build_services(settings)
    try:
        return await reconcile_counts(services), await reconcile_status_counts(services)
    finally:
        await services.close()


@admin.command("reconcile-counts")
def reconcile_counts() -> None:
    """Recompute every account's followers/following counts and every post's like and
    comment counts from their tables."""
    accounts_fixed, posts_fixed = asyncio.run(_reconcile_counts(_settings()))
    out.print(f"fixed {accounts_fixed} account(s) and {posts_fixed} post(s)")


async def _sweep_media(settings: Settings) -> int:
    from lumigram.bootstrap import build_services
    from lumigram.janitor import sweep_once

    services = build_services(settings)
    try:
        return await sweep_once(services)
    finally:
        await services.close()


@admin.command("sweep-media")
def sweep_media() -> None:
    """Remove deleted posts' media past the grace period and uploads never posted (the worker does it each minute)."""
    removed = asyncio.run(_sweep_media(_settings()))
    out.print(f"removed {removed} blob(s) or upload(s)")


async def _reencode_profile_images(settings: Settings) -> tuple[int, int, int]:
    from lumigram.accounts.reencode import reencode_profile_images
    from lumigram.bootstrap import build_services

    services = build_services(settings)
    try:
        report = await reencode_profile_images(services)
        return report.reencoded, report.kept, report.unreadable
    finally:
        await services.close()


@admin.command("reencode-profile-images")
def reencode_profile_images() -> None:
    """Re-encode avatars and headers stored as uploaded by earlier versions (removing their
    metadata, GPS included), and delete those originals."""
    reencoded, kept, unreadable = asyncio.run(_reencode_profile_images(_settings()))
    out.print(
        f"re-encoded {reencoded} image(s), {kept} already clean, {unreadable} unreadable or missing (left as they are)"
    )


async def _reindex(settings: Settings, progress: Callable[[int, int], None]) -> tuple[int, int]:
    from lumigram.bootstrap import build_services
    from lumigram.search.indexing import reindex as rebuild

    services = build_services(settings)
    try:
        return await rebuild(services, progress)
    finally:
        await services.close()


@search.command("reindex")
def reindex() -> None:
    """Rebuild the search index from the tables (after an upgrade, or to repair it).
    Searches made meanwhile find only what is rebuilt so far."""
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("indexing", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        posts, accounts = asyncio.run(_reindex(_settings(), advance))
    out.print(f"indexed {posts} post(s) and {accounts} account(s)")


async def _hide_from_trends(settings: Settings, tag: str | None, status_id: int | None, hidden: bool) -> bool:
    from lumigram.bootstrap import build_services
    from lumigram.search.service import hide_from_trends as hide

    services = build_services(settings)
    try:
        return await hide(services, tag, status_id, hidden)
    finally:
        await services.close()


@admin.command("hide-from-trends")
def hide_from_trends(
    tag: Annotated[str | None, typer.Option(help="A hashtag's name.")] = None,
    status: Annotated[int | None, typer.Option(help="A post's id.")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Let it back into trends.")] = False,
) -> None:
    """Keep a hashtag or a post out of /api/v1/trends (or, with --undo, let it back in)."""
    from lumigram.errors import LumigramError

    if (tag is None) == (status is None):
        err.print("[red]lumigram: give either --tag or --status[/red]", highlight=False)
        raise typer.Exit(2)
    try:
        changed = asyncio.run(_hide_from_trends(_settings(), tag, status, not undo))
    except LumigramError as exc:
        err.print(f"[red]lumigram: {exc.message}[/red]", highlight=False)
        raise typer.Exit(1) from None
    what = f"#{tag}" if tag is not None else f"post {status}"
    state = "back in trends" if undo else "hidden from trends"
    out.print(f"{what} {state}" if changed else f"{what} was already {state}")


async def _with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run one admin task against the configured backends (migrating first), then close them."""
    from lumigram.bootstrap import build_services

    services = build_services(settings)
    try:
        await services.db.migrate()
        return await work(services)
    finally:
        await services.close()


def _admin_task(work: Callable[[Services], Awaitable[T]]) -> T:
    """Run an admin task; a domain error is printed as one line and exits 1."""
    from lumigram.errors import LumigramError

    try:
        return asyncio.run(_with_services(_settings(), work))
    except LumigramError as exc:
        err.print(f"[red]lumigram: {exc.message}[/red]", highlight=False)
        raise typer.Exit(1) from None


@admin.command("add-rule")
def add_rule(
    text: Annotated[str, typer.Argument(help="The rule, as people will read it.")],
    hint: Annotated[str, typer.Option(help="A longer explanation shown under the rule.")] = "",
) -> None:
    """Add a rule of this server (shown at /api/v1/instance/rules and in the instance entity)."""
    from lumigram.community import texts

    rule = _admin_task(lambda services: texts.add_rule(services, text, hint))
    out.print(f"added rule {rule.id}")


@admin.command("remove-rule")
def remove_rule(rule_id: Annotated[int, typer.Argument(help="The rule's id (from /api/v1/instance/rules).")]) -> None:
    """Remove a rule of this server."""
    from lumigram.community import texts

    if not _admin_task(lambda services: texts.remove_rule(services, rule_id)):
        err.print(f"[red]lumigram: no rule with id {rule_id}[/red]", highlight=False)
        raise typer.Exit(1)
    out.print(f"removed rule {rule_id}")


@admin.command("set-text")
def set_text(
    name: Annotated[str, typer.Argument(help="extended_description, privacy_policy or terms_of_service.")],
    source: Annotated[Path, typer.Argument(help="A text file (blank lines separate paragraphs); '-' reads stdin.")],
) -> None:
    """Set one of the server's long texts; an empty file removes it."""
    from lumigram.community import texts

    text = sys.stdin.read() if str(source) == "-" else source.read_text(encoding="utf-8")
    _admin_task(lambda services: texts.set_text(services, name, text))
    out.print(f"{name} {'set' if text.strip() else 'removed'}")


@admin.command("announce")
def announce(
    text: Annotated[str, typer.Argument(help="The announcement.")],
    starts_at: Annotated[
        datetime | None, typer.Option(help="When it starts showing (UTC unless a zone is given); now if omitted.")
    ] = None,
    ends_at: Annotated[datetime | None, typer.Option(help="When it stops showing; never if omitted.")] = None,
    all_day: Annotated[bool, typer.Option("--all-day", help="Shown as whole days, without times.")] = False,
) -> None:
    """Publish an announcement to everyone (GET /api/v1/announcements)."""
    from lumigram.community import announcements

    def utc(value: datetime | None) -> datetime | None:
        return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC))

    published = _admin_task(
        lambda services: announcements.publish(services, text, utc(starts_at), utc(ends_at), all_day)
    )
    out.print(f"published announcement {published.id}")


@admin.command("add-emoji")
def add_emoji(
    shortcode: Annotated[str, typer.Argument(help="Its name, used as :shortcode:.")],
    image: Annotated[Path, typer.Argument(help="A PNG, GIF or WebP file of at most 256 KB.", exists=True)],
    category: Annotated[str | None, typer.Option(help="The picker category it is listed under.")] = None,
) -> None:
    """Add a custom emoji (GET /api/v1/custom_emojis; usable as an announcement reaction)."""
    from lumigram.community import emojis

    data = image.read_bytes()
    emoji = _admin_task(lambda services: emojis.add_emoji(services, shortcode, data, category))
    out.print(f"added :{emoji.shortcode}:")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
