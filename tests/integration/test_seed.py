"""``lumigram seed``: a synthetic world that is consistent and usable through the API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from lumigram import ids
from lumigram.infra.tables import accounts, follows, media_attachments, status_tags, statuses
from lumigram.seed import SEED_PASSWORD, WorldNotEmpty, load_edges, plan_world, synthetic_follows, write_world
from lumigram.services import Services


def test_synthetic_graph_has_the_planned_shape() -> None:
    n = 5000
    src, dst = synthetic_follows(n, np.random.default_rng(3))
    assert not np.any(src == dst)
    assert np.unique(src * n + dst).size == src.size
    out_degree = np.bincount(src, minlength=n)
    assert 30 <= out_degree.mean() <= 50
    assert 18 <= np.median(out_degree) <= 32
    in_degree = np.bincount(dst, minlength=n)
    # Celebrities: a few accounts followed by at least 5 % of users, most by far fewer.
    assert (in_degree >= 0.05 * n).sum() >= 3
    assert np.median(in_degree) < 0.01 * n


def test_edge_lists_load_as_mutual_follows(tmp_path: Path) -> None:
    edges = tmp_path / "g.edges"
    edges.write_text("% a comment\n10 20\n20 10\n20 30\n30 30\n")
    n, src, dst = load_edges(edges)
    assert n == 3  # node ids 10, 20, 30 -> users 0, 1, 2
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_post_ids_sort_by_time_and_fit_the_id_layout() -> None:
    world = plan_world(300, 5, seed=1, now_ms=1_800_000_000_000)
    status_ids = ((world.post_ms - ids.EPOCH_MS) << 23) | (world.shards[world.post_author] << 10) | (2 * world.post_seq)
    assert np.all(np.diff(status_ids) > 0)
    assert [ids.unix_ms_of(int(i)) for i in status_ids[:50]] == world.post_ms[:50].tolist()
    assert plan_world(300, 5, seed=1, now_ms=1_800_000_000_000).post_ms.tolist() == world.post_ms.tolist()


async def test_seeded_world_is_consistent_and_usable(services: Services, client: httpx.AsyncClient) -> None:
    world = plan_world(200, 3, seed=7)
    summary = await write_world(services, world)
    assert summary.users == 200
    assert summary.follows == world.follow_src.size > 200 * 20

    async with services.db.connect() as conn:
        rows = (await conn.execute(select(accounts))).all()
        assert len(rows) == 200
        assert {r.username for r in rows} == {f"user_{i}" for i in range(1, 201)}
        edges = (await conn.execute(select(follows.c.account_id, follows.c.target_account_id, follows.c.id))).all()
        assert len(edges) == summary.follows
        assert not [e for e in edges if e.account_id == e.target_account_id]
        assert len({(e.account_id, e.target_account_id) for e in edges}) == len(edges)
        assert len({e.id for e in edges}) == len(edges)
        followers: dict[int, int] = {}
        following: dict[int, int] = {}
        for e in edges:
            following[e.account_id] = following.get(e.account_id, 0) + 1
            followers[e.target_account_id] = followers.get(e.target_account_id, 0) + 1
        for r in rows:
            assert (r.followers_count, r.following_count) == (followers.get(r.id, 0), following.get(r.id, 0))
        assert max(r.followers_count for r in rows) == summary.max_in_degree

        posts = (await conn.execute(select(statuses.c.id, statuses.c.account_id, statuses.c.created_at))).all()
        assert len(posts) == summary.posts
        by_id = sorted(posts, key=lambda p: p.id)
        assert [p.created_at for p in by_id] == sorted(p.created_at for p in posts)
        assert all(ids.shard_of(p.id) == ids.shard_of(p.account_id) for p in posts)
        counts: dict[int, int] = {}
        for p in posts:
            counts[p.account_id] = counts.get(p.account_id, 0) + 1
        assert all(r.statuses_count == counts.get(r.id, 0) for r in rows)
        attached = (
            await conn.execute(
                select(func.count())
                .select_from(media_attachments)
                .where(media_attachments.c.status_id.in_(select(statuses.c.id)), media_attachments.c.state == "ready")
            )
        ).scalar_one()
        assert attached == summary.posts
        assert (await conn.execute(select(func.count()).select_from(status_tags))).scalar_one() > 0

    # A seeded user signs in with the documented password and reads a profile's posts.
    app = await client.post(
        "/api/v1/apps", data={"client_name": "t", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write"}
    )
    app_json = app.json()
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "user_5",
            "password": SEED_PASSWORD,
            "client_id": app_json["client_id"],
            "client_secret": app_json["client_secret"],
            "scope": "read write",
        },
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    author = max(rows, key=lambda r: r.statuses_count)
    page = await client.get(f"/api/v1/accounts/{author.id}/statuses", params={"limit": 10}, headers=headers)
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body) == min(10, author.statuses_count)
    assert [int(s["id"]) for s in body] == sorted((int(s["id"]) for s in body), reverse=True)
    media_url = body[0]["media_attachments"][0]["preview_url"]
    image = await client.get(httpx.URL(media_url).path)
    assert image.status_code == 200
    assert await services.blobs.stat(httpx.URL(media_url).path.removeprefix("/media/")) is not None
    assert image.content[:3] == b"\xff\xd8\xff"

    with pytest.raises(WorldNotEmpty):
        await write_world(services, plan_world(10, 1, seed=8))
    again = await write_world(services, plan_world(10, 1, seed=8), force=True)
    async with services.db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(accounts))).scalar_one() == again.users == 10
    # The first world's shared placeholder blobs went with it.
    key = httpx.URL(media_url).path.removeprefix("/media/")
    assert await services.blobs.stat(key) is None


def test_the_seed_command_refuses_a_populated_database(tmp_path: Path) -> None:
    env = {**os.environ, "LUMIGRAM_DATA_DIR": str(tmp_path / "data")}
    env.pop("LUMIGRAM_DATABASE_URL", None)
    command = [sys.executable, "-m", "lumigram.cli", "seed", "--users", "30", "--posts", "2"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "seeded 30 users" in first.stdout
    assert SEED_PASSWORD in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert "--force" in second.stderr
