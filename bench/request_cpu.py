"""CPU per request, by kind, measured inside one process against a seeded scaled world.

The load steps of ``bench/feed.py`` give CPU per request averaged over a mix; this
answers "what does one home rendering cost?" exactly. It starts PostgreSQL, Valkey and
NATS as ``bench/feed.py`` does, seeds a world, gives readers tokens, builds the app in
this process and drives it as an ASGI callable (no sockets, no client library), one
request at a time, reading ``time.process_time`` around each batch. Each kind also
reports the SQL statements and Valkey commands it ran per request.

Kinds: ``home_hit`` (a kept newest page, answered by the fast path), ``home_render``
(the same read after the reader's page generation was replaced, so the route renders it;
the replacement itself costs ``forget_only``), ``profile`` (a random account's newest 10
posts), ``profile_hit`` (one of twenty accounts' newest 10, kept rendered),
``profile_render`` (the same after the profile's kept pages were replaced), ``compose``
(text with mentions and a URL, and one photo uploaded beforehand).

Kept pages going stale: ``profile_check`` (one of the twenty profiles read after its
signed-in tiers' pages were stored again as they were, only stale, so the reader checks
the posts' fingerprints and keeps the page), against ``stale_only`` (making them stale
alone); ``home_check`` (a reader's stale kept page refreshed as the fast path has it
done, nothing on it changed) and ``home_refresh`` (the same refresh after the page was
forgotten, so it renders), against ``home_stale_only`` and ``forget_only``.

Usage: .venv/bin/python bench/request_cpu.py [--users 10000] [--requests 1000]
       [--kinds home_hit,home_render,profile] [--profile-kind home_render]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import feed

Headers = list[tuple[bytes, bytes]]


async def call(
    app: Any, method: str, path: str, query: bytes, headers: Headers, body: bytes = b""
) -> tuple[int, bytes]:
    """One request through the ASGI app: (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    delivered = False
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # no disconnect while the app works
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return int(answer["status"]), bytes(answer["body"])


FORM = b"application/x-www-form-urlencoded"


def in_process_settings(name: str) -> tuple[Path, Any]:
    """A fresh work folder and embedded-shape ``Settings`` for an API app driven in this
    process, its rate limits out of the way; passwords get the cheapest argon2id (signing
    the world up is not what is measured)."""
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from lumigram.accounts import passwords
    from lumigram.config import Settings

    passwords._hasher = PasswordHasher.from_parameters(CHEAPEST)
    workdir = Path(tempfile.mkdtemp(prefix=f"lumigram-{name}-"))
    settings = Settings(
        data_dir=workdir / "data",
        secret_key=f"{name}-secret-key-" + "x" * 32,
        base_url=f"http://{name}.invalid",
        signup_rate_limit=1_000_000,
        follow_rate_limit=1_000_000,
        post_rate_limit=1_000_000,
    )
    return workdir, settings


async def in_process_api(name: str, password: str) -> tuple[Path, Any, InProcessClient]:
    """``in_process_settings``'s app, migrated and started with its consumers and relay in
    this process: its work folder, its services, and a client with an app registered for
    sign-ups."""
    from lumigram.app import create_app
    from lumigram.bootstrap import build_services, start_consumers

    workdir, settings = in_process_settings(name)
    services = build_services(settings)
    await services.db.migrate()
    await start_consumers(services)
    await services.start_relay()
    api = InProcessClient(create_app(services=services), f"{name}.invalid".encode(), password)
    await api.register(name)
    return workdir, services, api


class InProcessClient:
    """The API driven in this process through ``call``: JSON answers, an error for any
    status of 300 or more, and accounts signed up through the API with one app's grant."""

    def __init__(self, app: Any, host: bytes, password: str) -> None:
        self.app = app
        self.host = [(b"host", host)]
        self.password = password
        self.grant_body = b""

    async def send(
        self, method: str, path: str, token: str | None, body: bytes = b"", kind: bytes = b"", query: bytes = b""
    ) -> Any:
        headers = list(self.host)
        if token:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        if kind:
            headers.append((b"content-type", kind))
        status, answer = await call(self.app, method, path, query, headers, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {answer[:200]!r}")
        return orjson.loads(answer)

    async def register(self, client_name: str) -> None:
        """An app for the sign-ups (``sign_up``)."""
        registration = (
            f"client_name={client_name}&redirect_uris=urn:ietf:wg:oauth:2.0:oob&scopes=read+write+follow".encode()
        )
        made = await self.send("POST", "/api/v1/apps", None, registration, FORM)
        self.grant_body = (
            f"grant_type=client_credentials&client_id={made['client_id']}&client_secret={made['client_secret']}"
            "&scope=read+write+follow"
        ).encode()

    async def sign_up(self, name: str) -> tuple[str, str]:
        """A new account's id and token."""
        grant = await self.send("POST", "/oauth/token", None, self.grant_body, FORM)
        body = f"username={name}&email={name}@example.org&password={self.password}&agreement=true".encode()
        token = (await self.send("POST", "/api/v1/accounts", grant["access_token"], body, FORM))["access_token"]
        me = await self.send("GET", "/api/v1/accounts/verify_credentials", token)
        return str(me["id"]), str(token)


async def measure(stack: feed.Stack, args: argparse.Namespace) -> None:
    readers, account_ids, _pairs = await feed._make_tokens(stack.env, args.readers, args.seed)
    import asyncpg
    from redis import Redis
    from sqlalchemy import event

    from lumigram.app import create_app
    from lumigram.bootstrap import build_services
    from lumigram.config import load_settings
    from lumigram.pagecache import profile_store as profile_pages
    from lumigram.pagecache import recheck
    from lumigram.pagecache import store as pages
    from lumigram.pagecache.home_pages import refresh_home_page
    from lumigram.pagecache.profile_pages import tier_statuses

    services = build_services(load_settings())
    app = create_app(services=services)
    statements = 0

    #: With ``--trace-kind``: each round trip of the traced requests, in order.
    trace: list[str] | None = None

    def count(*args: Any) -> None:
        nonlocal statements
        statements += 1
        if trace is not None:
            sql = next((a for a in args if isinstance(a, str)), "?")
            trace.append("SQL    " + " ".join(sql.split())[:150])

    inside_sqlalchemy = False

    def sqlalchemy_sends(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        nonlocal inside_sqlalchemy
        inside_sqlalchemy = True
        count(sql)

    def sqlalchemy_sent(*_args: Any) -> None:
        nonlocal inside_sqlalchemy
        inside_sqlalchemy = False

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", sqlalchemy_sends)
    event.listen(engine, "after_cursor_execute", sqlalchemy_sent)
    # Statements sent by the driver itself (``Prebuilt.rows`` and ``Prebuilt.execute``)
    # pass no SQLAlchemy event. SQLAlchemy's own statements use the driver's prepared
    # statements, except its ``executemany``, counted once above; ``BEGIN`` and
    # ``COMMIT`` (``execute`` without parameters) are not counted either way.
    driver_fetch = asyncpg.Connection.fetch
    driver_execute = asyncpg.Connection.execute
    driver_executemany = asyncpg.Connection.executemany

    async def counted_fetch(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        count(*args[:1])
        return await driver_fetch(self, *args, **kwargs)

    async def counted_execute(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        if args:
            count(query)
        return await driver_execute(self, query, *args, **kwargs)

    async def counted_executemany(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        if not inside_sqlalchemy:
            count(*args[:1])
        return await driver_executemany(self, *args, **kwargs)

    asyncpg.Connection.fetch = counted_fetch  # type: ignore[method-assign]
    asyncpg.Connection.execute = counted_execute  # type: ignore[method-assign]
    asyncpg.Connection.executemany = counted_executemany  # type: ignore[method-assign]
    from lumigram.infra.cache.resp import RespClient

    cache_send = RespClient._send

    async def traced_send(self: RespClient, data: bytes, count_: int) -> list[Any]:
        if trace is not None:
            # The command names of one write (one round trip), read back from RESP.
            lines = data.split(b"\r\n")
            names = [lines[i + 2].decode() for i, line in enumerate(lines[:-2]) if line.startswith(b"*")]
            trace.append(f"VALKEY {count_} command(s): " + " ".join(names[:12]) + (" …" if len(names) > 12 else ""))
        return await cache_send(self, data, count_)

    RespClient._send = traced_send  # type: ignore[method-assign]
    assert stack.redis_url is not None
    valkey = Redis.from_url(stack.redis_url)

    def commands() -> int:
        stats = valkey.info("commandstats")
        return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")

    def headers(reader: feed.Reader) -> Headers:
        return [(b"authorization", f"Bearer {reader.token}".encode()), (b"content-type", b"application/json")]

    rng = random.Random(args.seed)
    for _round in range(2):  # builds every feed, then keeps every page
        for reader in readers:
            status, _ = await call(app, "GET", "/api/v1/timelines/home", b"limit=10", headers(reader))
            assert status == 200
        await asyncio.sleep(2)
    photos: list[tuple[feed.Reader, str]] = []

    async def upload_photos(count: int) -> None:
        """Photos for the composes, uploaded (and processed) before that kind is measured."""
        jpeg = feed.small_jpeg()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            for index in range(count):
                reader = readers[index % len(readers)]
                uploaded = await client.post(
                    "/api/v2/media",
                    headers={"Authorization": f"Bearer {reader.token}"},
                    files={"file": ("p.jpg", jpeg, "image/jpeg")},
                )
                assert uploaded.status_code in (200, 202), uploaded.text
                photos.append((reader, uploaded.json()["id"]))
            for reader, media_id in photos:
                while True:
                    auth = {"Authorization": f"Bearer {reader.token}"}
                    shown = await client.get(f"/api/v1/media/{media_id}", headers=auth)
                    if shown.status_code == 200:
                        break
                    await asyncio.sleep(0.2)

    async def home_hit() -> None:
        reader = rng.choice(readers)
        assert (await call(app, "GET", "/api/v1/timelines/home", b"limit=10", headers(reader)))[0] == 200

    async def forget_only() -> None:
        await pages.forget(services, [rng.choice(readers).account_id])

    async def home_render() -> None:
        reader = rng.choice(readers)
        await pages.forget(services, [reader.account_id])
        assert (await call(app, "GET", "/api/v1/timelines/home", b"limit=10", headers(reader)))[0] == 200

    async def profile() -> None:
        reader, account = rng.choice(readers), rng.choice(account_ids)
        path = f"/api/v1/accounts/{account}/statuses"
        assert (await call(app, "GET", path, b"limit=10", headers(reader)))[0] == 200

    popular = account_ids[:20]

    async def profile_hit() -> None:
        """A kept profile page (twenty profiles read again and again, by any reader)."""
        reader, account = rng.choice(readers), rng.choice(popular)
        path = f"/api/v1/accounts/{account}/statuses"
        assert (await call(app, "GET", path, b"limit=10", headers(reader)))[0] == 200

    async def profile_render() -> None:
        """The same, after the profile's kept pages were replaced (the author posted)."""
        reader, account = rng.choice(readers), rng.choice(popular)
        await pages.forget(services, [], authors=[account])
        path = f"/api/v1/accounts/{account}/statuses"
        assert (await call(app, "GET", path, b"limit=10", headers(reader)))[0] == 200

    async def make_stale(slot: pages.Slot) -> None:
        """Store the slot's page again as it is, only stale, with no refresh claimed."""
        kept = slot.cached
        if slot.key is None or kept is None:
            return
        await services.cache.delete(f"{slot.key}:refresh")
        again = pages.Rendered(kept.ids, kept.entities(), kept.link, kept.versions)
        await pages.put(services, slot, again, fresh_for=0)

    async def profile_stale(account: int) -> None:
        tiers = (profile_pages.OUTSIDER, profile_pages.FOLLOWER)
        for slot in (await profile_pages.lookup(services, account, tiers, "10")).values():
            await make_stale(slot)

    async def stale_only() -> None:
        await profile_stale(rng.choice(popular))

    async def profile_check() -> None:
        reader, account = rng.choice(readers), rng.choice(popular)
        await profile_stale(account)
        path = f"/api/v1/accounts/{account}/statuses"
        assert (await call(app, "GET", path, b"limit=10", headers(reader)))[0] == 200

    async def check_only() -> None:
        """``profile_check``'s check alone, on a signed-in tier's stale page."""
        account = rng.choice(popular)
        found = await profile_pages.lookup(services, account, (profile_pages.OUTSIDER,), "10")
        slot = found[profile_pages.OUTSIDER]
        await make_stale(slot)
        slot = (await profile_pages.lookup(services, account, (profile_pages.OUTSIDER,), "10"))[profile_pages.OUTSIDER]
        await recheck.refreshed(services, slot, partial(tier_statuses, services, profile_pages.OUTSIDER))

    async def home_stale_only() -> None:
        await make_stale(await pages.lookup(services, rng.choice(readers).account_id, "10"))

    async def home_check() -> None:
        reader = rng.choice(readers)
        await make_stale(await pages.lookup(services, reader.account_id, "10"))
        await refresh_home_page(services, reader.account_id, "10")

    async def home_refresh() -> None:
        reader = rng.choice(readers)
        await pages.forget(services, [reader.account_id])
        await refresh_home_page(services, reader.account_id, "10")

    async def compose() -> None:
        reader, media_id = photos.pop()
        body = orjson.dumps({"status": feed.compose_text(rng, len(account_ids)), "media_ids": [media_id]})
        status, answer = await call(app, "POST", "/api/v1/statuses", b"", headers(reader), body)
        assert status == 200, answer

    kinds: dict[str, Callable[[], Awaitable[None]]] = {
        "home_hit": home_hit,
        "forget_only": forget_only,
        "home_render": home_render,
        "profile": profile,
        "profile_hit": profile_hit,
        "profile_render": profile_render,
        "compose": compose,
        "stale_only": stale_only,
        "profile_check": profile_check,
        "check_only": check_only,
        "home_stale_only": home_stale_only,
        "home_check": home_check,
        "home_refresh": home_refresh,
    }
    for name in args.kinds:
        run = kinds[name]
        if name == "compose":
            await upload_photos(args.requests + min(100, args.requests // 10) + 3)  # 3: --trace-kind
        for _ in range(min(100, args.requests // 10)):  # warm: prepared statements, caches
            await run()
        profiler = cProfile.Profile() if args.profile_kind == name else None
        statements, issued = 0, commands()
        started = time.process_time()
        if profiler is not None:
            profiler.enable()
        for _ in range(args.requests):
            await run()
        if profiler is not None:
            profiler.disable()
        cpu = (time.process_time() - started) / args.requests * 1000
        per_request = (commands() - issued) / args.requests
        print(
            f"{name:12s} CPU {cpu:.3f} ms/request, {statements / args.requests:.2f} SQL statements, "
            f"{per_request:.2f} Valkey commands",
            flush=True,
        )
        if name in (args.trace_kind or "").split(","):
            for number in range(3):
                trace = []
                await run()
                print(f"-- {name} #{number + 1}: {len(trace)} round trips")
                print("\n".join(trace))
            trace = None
        if profiler is not None:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(args.profile_sort).print_stats(40)
            print(text.getvalue())
    await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts", type=float, default=20)
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1000, help="per kind")
    parser.add_argument("--kinds", type=lambda text: text.split(","), default=["home_hit", "home_render", "profile"])
    parser.add_argument("--profile-kind", help="run this kind under cProfile and print the top functions")
    parser.add_argument(
        "--trace-kind", help="print each SQL statement and Valkey round trip of three requests of these kinds (a,b)"
    )
    parser.add_argument("--profile-sort", default="tottime", help="pstats order: tottime or cumulative")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-request-cpu-"))
    stack = feed.Stack(workdir, shape="scaled")
    try:
        feed.start_backends(stack)
        feed.seed_world(stack, args.users, args.posts, None)
        os.environ.update(stack.env)
        asyncio.run(measure(stack, args))
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
