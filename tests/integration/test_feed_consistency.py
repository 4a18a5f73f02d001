"""The home feed is eventually consistent with the follow graph: a Hypothesis state machine.

Random sequences of follow, unfollow, follow request and approval, block, unblock, mute,
unmute, post, delete, feed reads (which warm feeds), cache flushes and worker restarts
run against the real services on both shapes. After each step, once the bus has
drained, every user's home timeline must equal the reference pull model computed here
in plain Python from the database tables: the user's own posts and the posts of the
accounts they follow, minus those blocked either way or muted, newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import insert, select, update

from lumigram.accounts.service import create_user_as_admin
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings
from lumigram.errors import LumigramError
from lumigram.feed import home
from lumigram.graph import service as graph
from lumigram.infra.tables import accounts, blocks, follows, media_attachments, mutes, statuses, utcnow
from lumigram.paging import PageRequest
from lumigram.posts import service as posts
from lumigram.posts.models import Draft
from lumigram.services import Services
from tests.conftest import _migrated
from tests.fresh_state import copy_sqlite_template

USERS = 4
#: Seconds the bus gets to drain before a mismatch counts as a failure.
DRAIN_TIMEOUT = 5.0

user_index = st.integers(min_value=0, max_value=USERS - 1)


class FeedMachine(RuleBasedStateMachine):
    #: Settings with fresh storage (database, bucket, stream) for each example.
    fresh_settings: Callable[[], Settings]
    #: The migrated SQLite file each embedded example starts as a copy of.
    sqlite_template: Path | None = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.settings = type(self).fresh_settings()
        self.services = self._run(self._start())
        self.ids: list[int] = []
        self.posted: list[int] = []

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _start(self) -> Services:
        services = build_services(self.settings)
        # A copy of the migrated template (embedded) or a database handed out migrated
        # (scaled): migrating anew for each example cost more than the example itself.
        template = type(self).sqlite_template
        copied = template is not None and copy_sqlite_template(template, self.settings)
        if not copied and self.settings.database_url not in _migrated:
            await services.db.migrate()
        await services.cache.flush()
        await start_consumers(services)
        await services.start_relay()
        return services

    @initialize()
    def make_users(self) -> None:
        async def create() -> list[int]:
            made = []
            for i in range(USERS):
                account = await create_user_as_admin(self.services, f"u{i}", None, "a long enough password")
                made.append(account.id)
            # The last user is private: following them is a request the owner approves.
            async with self.services.db.begin() as conn:
                await conn.execute(update(accounts).where(accounts.c.id == made[-1]).values(locked=True))
            return made

        self.ids = self._run(create())

    def _try(self, coro: Any) -> None:
        # Refused by the rules (e.g. following someone who blocks you): state unchanged.
        with contextlib.suppress(LumigramError):
            self._run(coro)

    @rule(a=user_index, b=user_index)
    def follow(self, a: int, b: int) -> None:
        self._try(graph.follow(self.services, self.ids[a], self.ids[b]))

    @rule(a=user_index, b=user_index)
    def unfollow(self, a: int, b: int) -> None:
        self._try(graph.unfollow(self.services, self.ids[a], self.ids[b]))

    @rule(requester=user_index)
    def approve(self, requester: int) -> None:
        self._try(graph.authorize_follow_request(self.services, self.ids[-1], self.ids[requester]))

    @rule(a=user_index, b=user_index)
    def block(self, a: int, b: int) -> None:
        self._try(graph.block(self.services, self.ids[a], self.ids[b]))

    @rule(a=user_index, b=user_index)
    def unblock(self, a: int, b: int) -> None:
        self._try(graph.unblock(self.services, self.ids[a], self.ids[b]))

    @rule(a=user_index, b=user_index)
    def mute(self, a: int, b: int) -> None:
        self._try(graph.mute(self.services, self.ids[a], self.ids[b]))

    @rule(a=user_index, b=user_index)
    def unmute(self, a: int, b: int) -> None:
        self._try(graph.unmute(self.services, self.ids[a], self.ids[b]))

    @rule(a=user_index, visibility=st.sampled_from(["public", "unlisted", "private", "direct"]))
    def post(self, a: int, visibility: str) -> None:
        async def publish() -> int:
            media_id = self.services.ids.next_id()
            async with self.services.db.begin() as conn:
                # A ready upload, made directly: the photo pipeline is tested elsewhere.
                await conn.execute(
                    insert(media_attachments).values(
                        id=media_id, account_id=self.ids[a], kind="image", state="ready",
                        content_type="image/jpeg", created_at=utcnow(),
                    )
                )  # fmt: skip
            draft = Draft(text="a post", media_ids=[media_id], visibility=visibility)
            return (await posts.create_post(self.services, self.ids[a], draft)).post.id

        self.posted.append(self._run(publish()))

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        if not self.posted:
            return
        status_id = data.draw(st.sampled_from(self.posted))
        self.posted.remove(status_id)

        async def remove() -> None:
            async with self.services.db.connect() as conn:
                author = (
                    await conn.execute(select(statuses.c.account_id).where(statuses.c.id == status_id))
                ).scalar_one()
            await posts.delete_post(self.services, author, status_id)

        self._run(remove())

    @rule(a=user_index)
    def read(self, a: int) -> None:
        """Reading a feed marks it active: from then on fan-out writes into its cache."""
        self._run(home.home(self.services, self.ids[a], PageRequest(limit=40)))

    @rule()
    def flush_cache(self) -> None:
        self._run(self.services.cache.flush())

    @rule()
    def restart_worker(self) -> None:
        """Stop every consumer and the relay, and start a fresh set, as a redeploy would."""

        async def restart() -> Services:
            await self.services.close()
            return await self._start_again()

        self.services = self._run(restart())

    async def _start_again(self) -> Services:
        services = build_services(self.settings)
        await start_consumers(services)
        await services.start_relay()
        return services

    async def _expected(self) -> dict[int, list[int]]:
        async with self.services.db.connect() as conn:
            follow_edges = (await conn.execute(select(follows.c.account_id, follows.c.target_account_id))).all()
            block_edges = (await conn.execute(select(blocks.c.account_id, blocks.c.target_account_id))).all()
            mute_edges = (await conn.execute(select(mutes.c.account_id, mutes.c.target_account_id))).all()
            rows = (
                await conn.execute(
                    select(statuses.c.id, statuses.c.account_id, statuses.c.visibility, statuses.c.in_reply_to_id)
                )
            ).all()
        expected = {}
        for user in self.ids:
            followed = {t for a, t in follow_edges if a == user}
            hidden = {t for a, t in block_edges if a == user} | {a for a, t in block_edges if t == user}
            hidden |= {t for a, t in mute_edges if a == user}
            expected[user] = sorted(
                (
                    row.id
                    for row in rows
                    if row.in_reply_to_id is None
                    and row.visibility != "direct"
                    and (row.account_id == user or (row.account_id in followed and row.account_id not in hidden))
                ),
                reverse=True,
            )
        return expected

    async def _actual(self) -> dict[int, list[int]]:
        feeds = {}
        for user in self.ids:
            page = await home.home(self.services, user, PageRequest(limit=40))
            feeds[user] = [item.post.id for item in page.items]
        return feeds

    @invariant()
    def feeds_match_the_pull_model(self) -> None:
        if not self.ids:
            return

        async def check() -> None:
            deadline = self.loop.time() + DRAIN_TIMEOUT
            while True:
                expected, actual = await self._expected(), await self._actual()
                if expected == actual:
                    return
                if self.loop.time() > deadline:
                    raise AssertionError(f"home feeds differ from the pull model:\n{expected=}\n{actual=}")
                await asyncio.sleep(0.05)

        self._run(check())

    @invariant()
    def cached_feeds_hold_nothing_unexpected(self) -> None:
        """Cached feeds may lag, but once drained they hold only posts the model allows
        (the read path's checks must not be what hides a stale entry)."""
        if not self.ids:
            return

        async def check() -> None:
            from lumigram.feed import store

            deadline = self.loop.time() + DRAIN_TIMEOUT
            while True:
                expected = await self._expected()
                stray = {}
                for user in self.ids:
                    if await store.is_ready(self.services, user):
                        cached = await self.services.cache.zrevrange_by_score(store.feed_key(user), limit=1000)
                        extra = {int(m) for m, _ in cached} - set(expected[user])
                        if extra:
                            stray[user] = extra
                if not stray:
                    return
                if self.loop.time() > deadline:
                    raise AssertionError(f"cached feeds hold posts the model does not allow: {stray}")
                await asyncio.sleep(0.05)

        self._run(check())

    def teardown(self) -> None:
        try:
            self._run(self.services.close())
        finally:
            self.loop.close()


def test_home_feeds_match_the_pull_model(
    make_settings: Callable[..., Settings],
    shape: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cheap_password_hashing: None,
) -> None:
    counter = itertools.count()

    def fresh() -> Settings:
        n = next(counter)
        if shape == "embedded":
            return make_settings(data_dir=tmp_path / f"example{n}")
        fresh_database: Callable[[], str] = request.getfixturevalue("fresh_postgres_database")
        nats_url: str = request.getfixturevalue("nats_url")
        stream = f"FEEDSM{os.getpid()}x{n}"
        return make_settings(
            database_url=fresh_database(), bus_url=f"{nats_url}?stream={stream}&prefix={stream.lower()}"
        )

    FeedMachine.fresh_settings = staticmethod(fresh)  # type: ignore[assignment]
    FeedMachine.sqlite_template = request.getfixturevalue("sqlite_template") if shape == "embedded" else None
    # Each example is a fresh world of four users and 25 steps; new sequences are drawn
    # on every run, so runs add up to more than any one of them explores.
    examples = 12 if shape == "embedded" else 6
    run_state_machine_as_test(
        FeedMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            # No shrinking: every failing step waits out the drain timeout, and the
            # failure report already lists the whole sequence of steps.
            phases=[Phase.explicit, Phase.generate],
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
