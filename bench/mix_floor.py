"""The DeathStarBench mix's floor on this box: the least work a Python server must do for it.

`bench/feed.py --floor-rates` runs the same open-loop mix (60 % home reads, 30 % profile
reads, 10 % composes, the same paths, tokens and bodies) against this raw ASGI app after
Lumigram's own steps, on the same PostgreSQL, Valkey and seeded world. It answers each
request with the fewest round trips that still do the work the request names:

* **home read**: one Valkey script call (token to account, the feed's ten newest ids,
  their Status documents), joined into a JSON array;
* **profile read**: a Valkey GET of the token, then one PostgreSQL statement for the
  account's ten newest posts with their author, serialised with orjson;
* **compose**: a Valkey GET of the token, one PostgreSQL statement that inserts the post
  and returns its author with the author's followers, then one Valkey pipeline: the new
  Status document, and the post put into every follower's kept feed (a Lua loop).

It leaves out everything else a real server owes its users: privacy and blocks, the
viewer's marks, media, mentions and notifications, counters, the outbox and the bus,
rate limits, input checks, pagination headers, cache invalidation beyond the feed. So
its throughput is an upper bound for any server of this kind written in Python on this
box, with the load generator beside it; it is a yardstick, not a competitor, and it is
never used by Lumigram itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from lumigram.ids import IdGenerator, datetime_of
from lumigram.infra.cache.resp import RespClient

#: How many feed entries each reader starts with, and the cap the fan-out trims to.
FEED_START = 20
FEED_CAP = 800
PAGE = 10

_HOME_SCRIPT = """
local account = redis.call('GET', KEYS[1])
if not account then return false end
local ids = redis.call('ZREVRANGE', 'floor:feed:' .. account, 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return {} end
for i, id in ipairs(ids) do ids[i] = 'floor:status:' .. id end
return redis.call('MGET', unpack(ids))
"""

# Only the feeds of active readers are kept, as in Lumigram's fan-out.
_FANOUT_SCRIPT = """
local cap = tonumber(ARGV[2])
for i = 3, #ARGV do
  if redis.call('EXISTS', 'floor:active:' .. ARGV[i]) == 1 then
    local key = 'floor:feed:' .. ARGV[i]
    redis.call('ZADD', key, ARGV[1], ARGV[1])
    redis.call('ZREMRANGEBYRANK', key, 0, -cap - 1)
  end
end
return 0
"""

# Loaded by ``prepare``; the app calls them by digest, as any client would.
_HOME_DIGEST = hashlib.sha1(_HOME_SCRIPT.encode(), usedforsecurity=False).hexdigest()
_FANOUT_DIGEST = hashlib.sha1(_FANOUT_SCRIPT.encode(), usedforsecurity=False).hexdigest()


# Constant text only (nothing interpolated), hence the ``noqa``s below.
_AUTHOR_COLUMNS = (
    "a.id AS a_id, a.username, a.display_name, a.note, a.locked, a.bot, a.created_at AS a_created_at, "
    "a.followers_count, a.following_count, a.statuses_count, a.last_status_at"
)
_POSTS_WITH_AUTHORS = (
    "SELECT s.id, s.text, s.visibility, s.replies_count, s.favourites_count, s.reblogs_count, s.created_at, "  # noqa: S608
    + _AUTHOR_COLUMNS
    + " FROM statuses s JOIN accounts a ON a.id = s.account_id WHERE "
)
PROFILE_SQL = _POSTS_WITH_AUTHORS + "s.account_id = $1 AND s.deleted_at IS NULL ORDER BY s.id DESC LIMIT $2"
POSTS_SQL = _POSTS_WITH_AUTHORS + "s.id = ANY($1::bigint[])"
COMPOSE_SQL = (
    "WITH new AS (INSERT INTO statuses (id, account_id, text, visibility, created_at) "  # noqa: S608
    "VALUES ($1, $2, $3, 'public', $4) RETURNING id) SELECT "
    + _AUTHOR_COLUMNS
    + ", ARRAY(SELECT f.account_id FROM follows f WHERE f.target_account_id = a.id) AS followers "
    "FROM accounts a WHERE a.id = $2 AND EXISTS (SELECT 1 FROM new)"
)
FEED_SQL = (
    "SELECT s.id FROM statuses s JOIN follows f ON f.target_account_id = s.account_id "
    "WHERE f.account_id = $1 AND s.deleted_at IS NULL ORDER BY s.id DESC LIMIT $2"
)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """``postgresql+asyncpg://…`` (Lumigram's setting) as asyncpg spells it."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _account(row: asyncpg.Record, base: str) -> dict[str, Any]:
    username = row["username"]
    return {
        "id": str(row["a_id"]),
        "username": username,
        "acct": username,
        "display_name": row["display_name"],
        "locked": row["locked"],
        "bot": row["bot"],
        "created_at": _when(row["a_created_at"]),
        "note": row["note"],
        "url": f"{base}/@{username}",
        "avatar": f"{base}/avatars/original/missing.png",
        "avatar_static": f"{base}/avatars/original/missing.png",
        "header": f"{base}/headers/original/missing.png",
        "header_static": f"{base}/headers/original/missing.png",
        "followers_count": row["followers_count"],
        "following_count": row["following_count"],
        "statuses_count": row["statuses_count"],
        "last_status_at": _when(row["last_status_at"]),
        "emojis": [],
        "fields": [],
    }


def status_document(row: asyncpg.Record, base: str, post: tuple[int, str, datetime] | None = None) -> bytes:
    """A Mastodon Status for a post row joined with its author's (``post`` for a new one)."""
    post_id, text, created = post if post is not None else (row["id"], row["text"], row["created_at"])
    return orjson.dumps(
        {
            "id": str(post_id),
            "created_at": _when(created),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public" if post else row["visibility"],
            "language": None,
            "uri": f"{base}/statuses/{post_id}",
            "url": f"{base}/p/{post_id}",
            "replies_count": 0 if post else row["replies_count"],
            "reblogs_count": 0 if post else row["reblogs_count"],
            "favourites_count": 0 if post else row["favourites_count"],
            "edited_at": None,
            "content": f"<p>{text}</p>",
            "reblog": None,
            "application": None,
            "account": _account(row, base),
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
    )


async def prepare(dsn: str, redis_url: str, base: str, readers: Iterable[tuple[int, str]]) -> int:
    """Token keys and starting feeds for the readers, with their posts' Status documents;
    the number of documents written."""
    connection = await asyncpg.connect(asyncpg_dsn(dsn))
    cache = RespClient(redis_url)
    try:
        post_ids: set[int] = set()
        commands: list[Sequence[Any]] = []
        for account_id, token in readers:
            ids = [r["id"] for r in await connection.fetch(FEED_SQL, account_id, FEED_START)]
            post_ids.update(ids)
            feed = f"floor:feed:{account_id}"
            commands += [
                ("SET", _token_key(token.encode()), account_id),
                ("SET", f"floor:active:{account_id}", 1),
                ("DEL", feed),
            ]
            if ids:
                commands.append(("ZADD", feed, *[part for i in ids for part in (i, i)]))
        commands += [("SCRIPT", "LOAD", _HOME_SCRIPT), ("SCRIPT", "LOAD", _FANOUT_SCRIPT)]
        rows = await connection.fetch(POSTS_SQL, sorted(post_ids))
        commands += [("SET", f"floor:status:{r['id']}", status_document(r, base)) for r in rows]
        for start in range(0, len(commands), 500):
            await cache.batch(commands[start : start + 500])
        return len(rows)
    finally:
        await cache.close()
        await connection.close()


# --- the app (one per serving process; settings come from the environment) --------------

_pool: asyncpg.Pool | None = None
_cache: RespClient | None = None
_ids = IdGenerator()
_BASE = os.environ.get("FLOOR_BASE_URL", "http://127.0.0.1")
_JSON = [(b"content-type", b"application/json; charset=utf-8")]


async def _clients() -> tuple[asyncpg.Pool, RespClient]:
    global _pool, _cache
    if _pool is None:
        _pool = await asyncpg.create_pool(asyncpg_dsn(os.environ["FLOOR_DATABASE_URL"]), min_size=2, max_size=16)
        _cache = RespClient(os.environ["FLOOR_CACHE_URL"])
    assert _cache is not None
    return _pool, _cache


def _token(scope: dict[str, Any]) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return bytes(value[7:])
    return None


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


_INVALID_TOKEN = (401, b'{"error":"The access token is invalid"}')


def _token_key(token: bytes) -> bytes:
    return b"floor:token:" + token


async def _home(cache: RespClient, token: bytes) -> tuple[int, bytes]:
    documents = await cache.execute("EVALSHA", _HOME_DIGEST, 1, _token_key(token), PAGE)
    if documents is None:
        return _INVALID_TOKEN
    return 200, b"[" + b",".join(d for d in documents if d is not None) + b"]"


async def _profile(pool: asyncpg.Pool, cache: RespClient, token: bytes, account_id: int) -> tuple[int, bytes]:
    if await cache.execute("GET", _token_key(token)) is None:
        return _INVALID_TOKEN
    rows = await pool.fetch(PROFILE_SQL, account_id, PAGE)
    return 200, b"[" + b",".join(status_document(r, _BASE) for r in rows) + b"]"


async def _compose(pool: asyncpg.Pool, cache: RespClient, token: bytes, body: bytes) -> tuple[int, bytes]:
    account = await cache.execute("GET", _token_key(token))
    if account is None:
        return _INVALID_TOKEN
    text = str(orjson.loads(body).get("status", ""))
    post_id = _ids.next_id()
    created = datetime_of(post_id)
    row = await pool.fetchrow(COMPOSE_SQL, post_id, int(account), text, created)
    document = status_document(row, _BASE, (post_id, text, created))
    await cache.batch(
        [
            ("SET", f"floor:status:{post_id}", document),
            ("EVALSHA", _FANOUT_DIGEST, 0, post_id, FEED_CAP, *row["followers"]),
        ]
    )
    return 200, document


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    if path == "/":
        await _reply(send, 200, b"{}")
        return
    token = _token(scope)
    if token is None:
        await _reply(send, 401, b'{"error":"The access token is missing"}')
        return
    pool, cache = await _clients()
    if path == "/api/v1/timelines/home":
        status, body = await _home(cache, token)
    elif path.startswith("/api/v1/accounts/") and path.endswith("/statuses"):
        status, body = await _profile(pool, cache, token, int(path.split("/")[4]))
    elif path == "/api/v1/statuses" and scope["method"] == "POST":
        status, body = await _compose(pool, cache, token, await _body(receive))
    else:
        status, body = 404, b'{"error":"Record not found"}'
    await _reply(send, status, body)


def serve(port: int, processes: int) -> None:
    """Serve the app on 127.0.0.1 as ``lumigram serve`` does (uvloop, httptools, workers)."""
    import uvicorn

    uvicorn.run(
        "mix_floor:app",
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host="127.0.0.1",
        port=port,
        workers=processes,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        server_header=False,
        date_header=False,
        lifespan="off",
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="(internal) the DSB mix floor app; see bench/feed.py")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=2)
    arguments = parser.parse_args()
    serve(arguments.port, arguments.processes)
