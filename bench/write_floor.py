"""The write path's floor: a bare ASGI app sending a like's, a follow's and a comment's
statements (and, with ``--photos``, a photo post's upload and post), next to the real
server in the same run, on both shapes.

How much of the gap to the targets is this machine (two cores shared with the load
generator, Python, the driver, the database), and how much is Lumigram? For each shape:

1. Start it as ``bench/writes.py`` does and build a small world through the API (sign-ups,
   a ring of follows, photo posts to like and comment on).
2. The real server, closed loop at ``--connections`` [8] for ``--seconds`` [5] each:
   likes (distinct pairs), comments, follows (pairs outside the ring).
3. The floor: a raw ASGI app (uvicorn, uvloop, httptools; one process embedded, two
   scaled, as ``serve --processes 2``) on the same database, answering the same requests
   (same paths, same bearer tokens, looked up in memory as the server's token cache does)
   with the statements the server sends for them (``bench/write_profile.py
   --statements`` lists those): the same tables, columns, conditions and order, in one
   transaction, by the same drivers (embedded: aiosqlite as ``lumigram.infra.sqlite_driver``
   uses it, SQLite's one writer taken in turn on ``BEGIN IMMEDIATE``, the statements of
   its open transaction run in place and a read one hop to a reader's thread; scaled:
   asyncpg, a pool per process),
   and an answer of the same size built from the rows. No consumers: the server's own
   consumers (notifications, counters, fan-out) are part of what it costs.
   A photo upload is parsed from its multipart body, made into the stored sizes by the
   server's own ``process_image`` and put by its media-folder store (``put_many``: synced,
   renamed files) before its row is written; the post checks and attaches the photo. On the
   scaled shape the floor puts blobs in a folder, not in S3: a lower floor than the
   server's.
4. The same load against the floor, same connections and seconds, other pairs.

Reported per write: accepted/s, p50/p99, CPU ms per write of the serving processes
(and, for the server, every process: the consumers'), and the ratios real ÷ floor.

Usage: .venv/bin/python bench/write_floor.py [--shape both] [--seconds 5] [--json FILE]
       .venv/bin/python bench/write_floor.py serve --port P --database-url URL --tokens FILE
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feed import Stack, free_ports, log
from writes import (
    Runner,
    Settler,
    World,
    Writes,
    app_token,
    resolve_ids,
    start_shape,
)

# --- the floor app -----------------------------------------------------------------------

STATUS_COLUMNS = (
    "id, account_id, in_reply_to_id, in_reply_to_account_id, text, spoiler_text, sensitive, visibility, "
    "language, kind, comments_disabled, replies_count, favourites_count, reblogs_count, created_at, "
    "edited_at, deleted_at, has_poll"
)
ACCOUNT_COLUMNS = (
    "id, user_id, username, username_lower, display_name, note, avatar_key, header_key, locked, bot, "
    "discoverable, kind, followers_count, following_count, statuses_count, last_status_at, created_at, "
    "updated_at, deleted_at"
)
#: The statements, written with ``?``; PostgreSQL's ``$n`` are put in by ``numbered``.
SQL = {
    "status": f"SELECT {STATUS_COLUMNS} FROM statuses WHERE id = ? AND deleted_at IS NULL",  # noqa: S608
    "account": f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?",  # noqa: S608  # constants
    # The viewer's relation to the author: follows, blocks both ways, mutes (hydrate's).
    "relation": (
        "SELECT 0 AS kind, target_account_id FROM follows WHERE account_id = ? AND target_account_id = ? "
        "UNION ALL SELECT 1, target_account_id FROM blocks WHERE account_id = ? AND target_account_id = ? "
        "UNION ALL SELECT 1, account_id FROM blocks WHERE target_account_id = ? AND account_id = ? "
        "UNION ALL SELECT 2, target_account_id FROM mutes WHERE account_id = ? AND target_account_id = ?"
    ),
    "like": (
        "INSERT INTO favourites (account_id, status_id, id, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (account_id, status_id) DO NOTHING RETURNING id"
    ),
    "outbox": "INSERT INTO outbox (id, type, payload, created_at, published_at) VALUES (?, ?, ?, ?, ?)",
    "likes": "SELECT count(*) FROM favourites WHERE status_id = ?",
    "pair": "SELECT id, locked FROM accounts WHERE id IN (?, ?) AND deleted_at IS NULL ORDER BY id",
    "follow_state": (
        "SELECT EXISTS (SELECT 1 FROM blocks WHERE account_id = ? AND target_account_id = ? "
        "OR account_id = ? AND target_account_id = ?) AS blocked, "
        "EXISTS (SELECT 1 FROM follows WHERE account_id = ? AND target_account_id = ?) AS following"
    ),
    "follow": (
        "INSERT INTO follows (account_id, target_account_id, id, created_at, notify, reblogs) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, target_account_id) DO NOTHING RETURNING id"
    ),
    "counts": (
        "UPDATE accounts SET following_count = CASE WHEN id = ? THEN following_count + 1 ELSE following_count END, "
        "followers_count = CASE WHEN id = ? THEN followers_count + 1 ELSE followers_count END WHERE id IN (?, ?)"
    ),
    "relationship": (
        "SELECT 'f', account_id, target_account_id, notify, reblogs FROM follows "
        "WHERE account_id = ? AND target_account_id = ? OR target_account_id = ? AND account_id = ? "
        "UNION ALL SELECT 'r', account_id, target_account_id, notify, reblogs FROM follow_requests "
        "WHERE account_id = ? AND target_account_id = ? OR target_account_id = ? AND account_id = ? "
        "UNION ALL SELECT 'b', account_id, target_account_id, NULL, NULL FROM blocks "
        "WHERE account_id = ? AND target_account_id = ? OR target_account_id = ? AND account_id = ? "
        "UNION ALL SELECT 'm', account_id, target_account_id, notifications, NULL FROM mutes "
        "WHERE account_id = ? AND target_account_id = ? "
        "UNION ALL SELECT 'e', account_id, target_account_id, NULL, NULL FROM account_pins "
        "WHERE account_id = ? AND target_account_id = ? "
        "UNION ALL SELECT 'n', account_id, target_account_id, NULL, NULL FROM account_notes "
        "WHERE account_id = ? AND target_account_id = ?"
    ),
    "comment": (
        "INSERT INTO statuses (id, account_id, in_reply_to_id, in_reply_to_account_id, text, spoiler_text, "
        "sensitive, visibility, language, kind, comments_disabled, created_at, has_poll) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "replies": "UPDATE statuses SET replies_count = replies_count + 1 WHERE id = ?",
    "media": (
        "INSERT INTO media_attachments (id, account_id, position, kind, state, content_type, size, sha256, "
        "variants, meta, blurhash, focus_x, focus_y, private, created_at, processed_at) "
        "VALUES (?, ?, 0, 'image', 'ready', 'image/jpeg', ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)"
    ),
    "postable": (
        "SELECT id, variants, meta, blurhash, description FROM media_attachments "
        "WHERE id = ? AND account_id = ? AND status_id IS NULL AND story_id IS NULL AND state = 'ready'"
    ),
    "attach": "UPDATE media_attachments SET status_id = ?, position = ? WHERE id = ?",
    "posted": "UPDATE accounts SET statuses_count = statuses_count + 1, last_status_at = ? WHERE id = ?",
}
FOR_UPDATE = {"pair"}


def numbered(sql: str) -> str:
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


class SqliteFloor:
    """The embedded shape's way: a writer connection (``BEGIN IMMEDIATE``, taken in turn)
    and readers, each statement one hop to its connection's thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.writer_lock = asyncio.Lock()
        self.readers: asyncio.Queue[Any] = asyncio.Queue()

    async def start(self) -> None:
        import aiosqlite

        async def opened() -> Any:
            # Used from the loop as well inside the writer's transaction, as the server's is.
            conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
                await conn.execute(f"PRAGMA {pragma}")
            return conn

        self.writer = await opened()
        for _ in range(4):
            self.readers.put_nowait(await opened())

    async def run(self, conn: Any, name: str, *params: Any) -> list[Any]:
        from lumigram.infra.sqlite_driver import _run

        if conn is self.writer and conn._conn.in_transaction:
            # As the server's writer does: inside its open transaction, in place, no hop.
            _description, rows, _count, _last = _run(conn._conn, SQL[name], params, False)
        else:
            _description, rows, _count, _last = await conn._execute(_run, conn._conn, SQL[name], params, False)
        return list(rows)

    @contextlib.asynccontextmanager
    async def begin(self) -> Any:
        async with self.writer_lock:
            await self.run_raw(self.writer, "BEGIN IMMEDIATE")
            try:
                yield self.writer
            except BaseException:
                await self.run_raw(self.writer, "ROLLBACK")
                raise
            await self.run_raw(self.writer, "COMMIT")

    @contextlib.asynccontextmanager
    async def read(self) -> Any:
        conn = await self.readers.get()
        try:
            yield conn
        finally:
            self.readers.put_nowait(conn)

    async def run_raw(self, conn: Any, sql: str) -> None:
        from lumigram.infra.sqlite_driver import _run

        await conn._execute(_run, conn._conn, sql, None, False)

    @staticmethod
    def now() -> Any:
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class PostgresFloor:
    """The scaled shape's way: asyncpg, a pool per process, each statement prepared once."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def start(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.dsn, min_size=4, max_size=10)

    async def run(self, conn: Any, name: str, *params: Any) -> list[Any]:
        sql = numbered(SQL[name]) + (" FOR UPDATE" if name in FOR_UPDATE else "")
        return list(await conn.fetch(sql, *params))

    @contextlib.asynccontextmanager
    async def begin(self) -> Any:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> Any:
        async with self.pool.acquire() as conn:
            yield conn

    @staticmethod
    def now() -> Any:
        return datetime.now(UTC)


def status_answer(status: Any, author: Any, count: int, flags: dict[str, bool]) -> bytes:
    """A Mastodon Status of about the server's size, from the rows read."""
    account = {
        "id": str(author[0]),
        "username": author[2],
        "acct": author[2],
        "display_name": author[4] or "",
        "locked": bool(author[8]),
        "bot": bool(author[9]),
        "discoverable": bool(author[10]),
        "group": False,
        "created_at": str(author[16]),
        "note": author[5] or "",
        "url": f"http://127.0.0.1/@{author[2]}",
        "uri": f"http://127.0.0.1/users/{author[2]}",
        "avatar": "http://127.0.0.1/static/avatar.png",
        "avatar_static": "http://127.0.0.1/static/avatar.png",
        "header": "http://127.0.0.1/static/header.png",
        "header_static": "http://127.0.0.1/static/header.png",
        "followers_count": author[12],
        "following_count": author[13],
        "statuses_count": author[14],
        "last_status_at": str(author[15]),
        "emojis": [],
        "fields": [],
    }
    body = {
        "id": str(status[0]),
        "created_at": str(status[14]),
        "in_reply_to_id": str(status[2]) if status[2] else None,
        "in_reply_to_account_id": str(status[3]) if status[3] else None,
        "sensitive": bool(status[6]),
        "spoiler_text": status[5],
        "visibility": status[7],
        "language": status[8],
        "uri": f"http://127.0.0.1/users/{author[2]}/statuses/{status[0]}",
        "url": f"http://127.0.0.1/@{author[2]}/{status[0]}",
        "replies_count": status[11],
        "reblogs_count": status[13],
        "favourites_count": count,
        "edited_at": None,
        "content": f"<p>{status[4]}</p>",
        "reblog": None,
        "application": None,
        "account": account,
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
        **flags,
    }
    return orjson.dumps(body)


def multipart_file(body: bytes, content_type: bytes) -> bytes:
    """The ``file`` part of a multipart body (the least parsing the upload needs)."""
    boundary = b"--" + content_type.split(b"boundary=", 1)[1].strip(b'"')
    for part in body.split(boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data[: -2 if data.endswith(b"\r\n") else None]
    return b""


def media_answer(media_id: int, variants: dict[str, Any], meta: dict[str, Any], blurhash: str | None) -> dict[str, Any]:
    """A Mastodon MediaAttachment of about the server's size."""
    url = "http://127.0.0.1/media/"
    sizes = [next(iter(formats.values())) for formats in variants.values()]
    return {
        "id": str(media_id),
        "type": "image",
        "url": url + sizes[0]["key"],
        "preview_url": url + sizes[-1]["key"],
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": None,
        "blurhash": blurhash,
    }


def floor_app(
    db: SqliteFloor | PostgresFloor, tokens: dict[str, int], media_dir: Path | None = None
) -> Callable[..., Awaitable[None]]:
    import hashlib

    from lumigram.infra.blobstore.folder import FolderBlobStore
    from lumigram.uploads.images import process_image
    from lumigram.uploads.service import variant_blobs

    blobs = FolderBlobStore(media_dir) if media_dir is not None else None
    ids = itertools.count((1 << 61) + (os.getpid() << 32))
    like_path = re.compile(r"^/api/v1/statuses/(\d+)/favourite$")
    follow_path = re.compile(r"^/api/v1/accounts/(\d+)/follow$")

    def event(kind: str, **fields: int) -> tuple[int, str, str, Any, Any]:
        now = db.now()
        return (next(ids), kind, orjson.dumps(fields).decode(), now, now)

    async def like(viewer: int, status_id: int) -> tuple[int, bytes]:
        async with db.begin() as conn:
            found = await db.run(conn, "status", status_id)
            if not found:
                return 404, b'{"error":"Record not found"}'
            status = found[0]
            (author,) = await db.run(conn, "account", status[1])
            hidden = await db.run(
                conn, "relation", viewer, status[1], viewer, status[1], viewer, status[1], viewer, status[1]
            )
            if any(row[0] == 1 for row in hidden):
                return 404, b'{"error":"Record not found"}'
            if await db.run(conn, "like", viewer, status_id, next(ids), db.now()):
                await db.run(conn, "outbox", *event("favourite.created", status_id=status_id, account_id=viewer))
            (count,) = (await db.run(conn, "likes", status_id))[0]
        return 200, status_answer(status, author, count, {"favourited": True, "reblogged": False})

    async def follow(viewer: int, target: int) -> tuple[int, bytes]:
        async with db.begin() as conn:
            pair = await db.run(conn, "pair", min(viewer, target), max(viewer, target))
            if len(pair) < 2:
                return 404, b'{"error":"Record not found"}'
            (state,) = await db.run(conn, "follow_state", viewer, target, target, viewer, viewer, target)
            if state[0]:
                return 403, b'{"error":"This action is not allowed"}'
            if not state[1] and await db.run(conn, "follow", viewer, target, next(ids), db.now(), False, True):
                await db.run(conn, "counts", viewer, target, viewer, target)
                await db.run(conn, "outbox", *event("follow.created", account_id=viewer, target_account_id=target))
        params = (viewer, target, viewer, target) * 3 + (viewer, target) * 3
        async with db.read() as conn:
            rows = await db.run(conn, "relationship", *params)
        flags = {"id": str(target), "following": True, "edges": len(rows)}
        return 200, orjson.dumps(flags)

    async def comment(viewer: int, body: dict[str, Any]) -> tuple[int, bytes]:
        parent_id = int(body["in_reply_to_id"])
        text = str(body.get("status", ""))
        status_id = next(ids)
        now = db.now()
        async with db.begin() as conn:
            (me,) = await db.run(conn, "account", viewer)
            found = await db.run(conn, "status", parent_id)
            if not found:
                return 404, b'{"error":"Record not found"}'
            parent = found[0]
            # The parent's photos, tags and mentions come from the cache, as the server's do.
            await db.run(conn, "account", parent[1])
            hidden = await db.run(
                conn, "relation", viewer, parent[1], viewer, parent[1], viewer, parent[1], viewer, parent[1]
            )
            if any(row[0] == 1 for row in hidden):
                return 404, b'{"error":"Record not found"}'
            row = (
                status_id,
                viewer,
                parent_id,
                parent[1],
                text,
                "",
                False,
                parent[7],
                None,
                "comment",
                False,
                now,
                False,
            )
            await db.run(conn, "comment", *row)
            await db.run(conn, "replies", parent_id)
            await db.run(conn, "outbox", *event("post.created", status_id=status_id, account_id=viewer))
        made = (*row[:11], 0, 0, 0, now)  # the row's columns, then its three counts
        return 200, status_answer(made, me, 0, {"favourited": False, "reblogged": False})

    async def upload(viewer: int, body: bytes, content_type: bytes) -> tuple[int, bytes]:
        # The photo's stored sizes made and put as the server makes and puts them (its own
        # functions: the floor is the least a server must do, and this work is required),
        # then its row, in one transaction.
        data = multipart_file(body, content_type)
        if not data or blobs is None:
            return 422, b'{"error":"No file"}'
        media_id = next(ids)
        made = process_image(data)
        puts, variants = variant_blobs(media_id, made.variants)
        if made.master is not None:
            puts.append((f"media/{media_id}/master.jpg", made.master, "image/jpeg"))
        await blobs.put_many(puts)
        meta = {"original": {"width": made.width, "height": made.height}}
        now = db.now()
        row = (media_id, viewer, len(data), hashlib.sha256(data).hexdigest(), orjson.dumps(variants).decode())
        async with db.begin() as conn:
            await db.run(conn, "media", *row, orjson.dumps(meta).decode(), made.blurhash, False, now, now)
        return 200, orjson.dumps(media_answer(media_id, variants, meta, made.blurhash))

    async def post(viewer: int, body: dict[str, Any]) -> tuple[int, bytes]:
        media_ids = [int(i) for i in body.get("media_ids", [])]
        text = str(body.get("status", ""))
        status_id = next(ids)
        now = db.now()
        async with db.begin() as conn:
            (me,) = await db.run(conn, "account", viewer)
            media = []
            for media_id in media_ids:
                found = await db.run(conn, "postable", media_id, viewer)
                if not found:
                    return 422, b'{"error":"Media not found or not yours"}'
                media.append(found[0])
            row = (status_id, viewer, None, None, text, "", False, "public", None, "post", False, now, False)
            await db.run(conn, "comment", *row)
            for position, found in enumerate(media):
                await db.run(conn, "attach", status_id, position, found[0])
            await db.run(conn, "posted", now, viewer)
            await db.run(conn, "outbox", *event("post.created", status_id=status_id, account_id=viewer))
        made = (*row[:11], 0, 0, 0, now)
        answer = orjson.loads(status_answer(made, me, 0, {"favourited": False, "reblogged": False}))
        answer["media_attachments"] = [
            media_answer(int(m[0]), orjson.loads(m[1]), orjson.loads(m[2]), m[3]) for m in media
        ]
        return 200, orjson.dumps(answer)

    async def answer(scope: dict[str, Any], receive: Any) -> tuple[int, bytes]:
        token = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = value[7:]
        viewer = tokens.get(token.decode())
        if viewer is None:
            return 401, b'{"error":"The access token is invalid"}'
        path = scope["path"]
        if scope["method"] != "POST":
            return 405, b'{"error":"Method not allowed"}'
        if matched := like_path.match(path):
            return await like(viewer, int(matched[1]))
        if matched := follow_path.match(path):
            return await follow(viewer, int(matched[1]))
        if path not in ("/api/v1/statuses", "/api/v2/media"):
            return 404, b'{"error":"Record not found"}'
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if path == "/api/v2/media":
            kind = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
            return await upload(viewer, b"".join(chunks), kind)
        body = orjson.loads(b"".join(chunks))
        if "in_reply_to_id" in body:
            return await comment(viewer, body)
        return await post(viewer, body)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            if message["type"] == "lifespan.startup":
                await db.start()
                await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/":
            status, body = 200, b"{}"
        else:
            status, body = await answer(scope, receive)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_floor(port: int, database_url: str, tokens_path: Path, media_dir: Path | None = None) -> None:
    import uvicorn

    tokens = {token: int(account) for token, account in json.loads(tokens_path.read_text()).items()}
    if database_url.startswith("sqlite"):
        db: SqliteFloor | PostgresFloor = SqliteFloor(database_url.split("///", 1)[1])
    else:
        db = PostgresFloor(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # a second process shares it
    # Headers and body go out as two writes: without TCP_NODELAY the second waits for
    # the client's delayed ACK of the first, about 40 ms a request, and that, not the
    # statements, was the floor's rate (the server's sockets already send at once).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        floor_app(db, tokens, media_dir), log_level="warning", loop="uvloop", http="httptools", access_log=False
    )
    asyncio.run(uvicorn.Server(config).serve(sockets=[listener]))


# --- the run -----------------------------------------------------------------------------


def start_floor(stack: Stack, database_url: str, world: World, processes: int) -> int:
    (port,) = free_ports(1)
    tokens = stack.workdir / "floor-tokens.json"
    tokens.write_text(json.dumps({user.token: user.id for user in world.signed_up}))
    for n in range(processes):
        argv = [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(port)]
        argv += ["--media-dir", str(stack.workdir / "floor-media")]
        process = stack.popen([*argv, "--database-url", database_url, "--tokens", str(tokens)], f"floor{n}")
        stack.engine_pids[f"floor {n}"] = process.pid
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return port
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the floor app did not start")
        time.sleep(0.2)


async def exercise(stack: Stack, base_url: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    port = int(base_url.rsplit(":", 1)[1])
    world = World()
    world.app_token = await app_token(port)
    settler = Settler(stack, database_url)
    real = Runner(stack, port, settler, args)
    writes = Writes(world, args.ring, args.seed)
    c = args.connections
    try:
        await real.closed("sign_up", writes.sign_up, 120, c, count=args.users)
        world.users = world.signed_up[: args.users]
        await resolve_ids(port, world.users)
        n = len(world.users)
        ring = [(world.users[i], world.users[(i + k) % n]) for i in range(n) for k in range(1, args.ring + 1)]
        writes.follow_pairs(ring)
        await real.closed("ring", writes.follow, 120, c, count=len(ring))
        for _ in range(4):  # a busy box may time some uploads out: until enough posts exist
            await real.closed("posts", writes.photo_post, 120, c, count=args.posts - len(world.posts))
            if len(world.posts) >= args.posts:
                break
        outside = [(world.users[i], world.users[(i + k) % n]) for i in range(n) for k in range(args.ring + 1, n)]
        random.Random(args.seed).shuffle(outside)
        half = len(outside) // 2
        rows: dict[str, dict[str, Any]] = {}
        kinds = (("like", writes.like), ("comment", writes.comment), ("follow", writes.follow))
        if args.photos:
            kinds += (("photo_post", writes.photo_post),)
        for kind, job in kinds:
            if kind == "follow":
                writes.follow_pairs(outside[:half])
            rows[kind] = {"real": await real.closed(kind, job, args.seconds, c)}
        floor_port = await asyncio.to_thread(
            start_floor, stack, database_url, world, 1 if stack.shape == "embedded" else 2
        )
        floor = Runner(stack, floor_port, settler, args)
        for kind, job in kinds:
            if kind == "follow":
                writes.follow_pairs(outside[half:])
            rows[kind]["floor"] = await floor.closed(kind, job, args.seconds, c)
    finally:
        await settler.close()
    return {"shape": stack.shape, "writes": rows}


def serving_cpu(step: dict[str, Any], floor: bool) -> float:
    """CPU ms per write of the processes that answered: serve's, or the floor's."""
    spent = step["cpu_ms_per_write"]
    if floor:
        return round(sum(v for k, v in spent.items() if k.startswith("floor")), 2)
    return round(sum(v for k, v in spent.items() if k in ("serve", "serve processes", "serve supervisor")), 2)


def all_cpu(step: dict[str, Any]) -> float:
    spent = step["cpu_ms_per_write"]
    return round(sum(v for k, v in spent.items() if k not in ("load generator", "whole box")), 2)


def with_upload(latency: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """A photo post's latency figures with its upload's p99 beside the post's."""
    upload = step["latency"].get("upload", {}).get("p99_ms")
    return {**latency, "p99_ms": f"{latency.get('p99_ms')} (upload {upload})"}


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| shape | write | real: /s, p50 / p99 ms | floor: /s, p50 / p99 ms | real ÷ floor (rate) "
        "| CPU ms/write: real serving (all processes) | floor | real ÷ floor (serving CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for kind, pair in result["writes"].items():
            real, floor = pair["real"], pair["floor"]
            named = "post" if kind == "photo_post" else kind  # a photo post's latency: its post's
            latency = real["latency"].get(named, {})
            floor_latency = floor["latency"].get(named, {})
            if kind == "photo_post":
                latency = with_upload(latency, real)
                floor_latency = with_upload(floor_latency, floor)
            real_cpu, floor_cpu = serving_cpu(real, False), serving_cpu(floor, True)
            lines.append(
                f"| {result['shape']} | {kind} "
                f"| {real['per_second']}, {latency.get('p50_ms')} / {latency.get('p99_ms')} "
                f"| {floor['per_second']}, {floor_latency.get('p50_ms')} / {floor_latency.get('p99_ms')} "
                f"| {real['per_second'] / max(floor['per_second'], 0.1):.2f} "
                f"| {real_cpu} ({all_cpu(real)}) | {floor_cpu} | {real_cpu / max(floor_cpu, 0.01):.2f} |"
            )
    return "\n".join(lines)


def run_shape(shape: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"lumigram-floor-{shape}-"))
    stack = Stack(workdir, shape=shape)
    try:
        base_url, database_url = start_shape(stack)
        log(f"{shape} shape ready")
        return asyncio.run(exercise(stack, base_url, database_url, args))
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        parser = argparse.ArgumentParser()
        parser.add_argument("serve")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--database-url", required=True)
        parser.add_argument("--tokens", type=Path, required=True)
        parser.add_argument("--media-dir", type=Path)
        served = parser.parse_args()
        serve_floor(served.port, served.database_url, served.tokens, served.media_dir)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("embedded", "scaled", "both"), default="both")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--ring", type=int, default=10)
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--photos", action="store_true", help="also photo posts (upload, then post)")
    parser.add_argument("--json")
    # What ``writes.Runner`` reads.
    parser.add_argument("--settle-limit", type=float, default=30)
    args = parser.parse_args()
    args.census, args.py_spy = False, False
    load = os.getloadavg()
    results = [run_shape(shape, args) for shape in (("embedded", "scaled") if args.shape == "both" else (args.shape,))]
    log(f"load average at the start {load[0]:.1f}, at the end {os.getloadavg()[0]:.1f}")
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"load_average": [load, os.getloadavg()], "results": results}, indent=1))


if __name__ == "__main__":
    main()
