"""Reels: made with ``POST /api/v1/statuses`` and ``reel=true``, played through HLS, ranked in
``GET /api/v1/lumigram/reels`` and watched through ``POST /api/v1/lumigram/reels/views``.

Every test runs on both shapes: the ladder is packaged by the worker's consumer (in
process, or over JetStream) and served from a folder or from SeaweedFS (where private
segments are a redirect to a presigned URL), and view counts go through the in-process
cache or Valkey before the janitor's fold writes them to SQLite or PostgreSQL.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
import httpx
from sqlalchemy import select, update

from lumigram import janitor
from lumigram.infra.tables import media_attachments, reels, statuses
from lumigram.services import Services
from tests.api.test_media_video import _settled, _upload
from tests.factories import create_user
from tests.reels_setup import post_reel
from tests.video_clips import make_clip

API = "/api/v1/lumigram"


async def _fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET a URL the API gave, following a redirect to the store as a player would."""
    parts = urlsplit(url)
    response = await client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)
    if response.status_code == 302:
        async with httpx.AsyncClient() as outside:
            return await outside.get(response.headers["location"])
    return response


def _uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def _frames(segment: bytes) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "segment.ts"
        path.write_bytes(segment)
        with av.open(str(path)) as container:
            assert [s.codec_context.name for s in container.streams.video] == ["h264"]
            assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
            return sum(1 for _ in container.decode(video=0))


async def _videos(client: httpx.AsyncClient, user: dict[str, Any], *clips: bytes) -> list[dict[str, Any]]:
    """Upload every clip, then wait for them all (the worker transcodes them side by side)."""
    accepted = [await _upload(client, user["headers"], clip) for clip in clips]
    assert all(response.status_code == 202 for response in accepted)
    done = []
    for response in accepted:
        settled = await _settled(client, user["headers"], response.json()["id"])
        assert settled.status_code == 200, settled.text
        done.append(settled.json())
    return done


async def _reel(client: httpx.AsyncClient, user: dict[str, Any], media_id: str, **fields: Any) -> httpx.Response:
    body = {"status": "Reel", "media_ids": [media_id], "reel": True, **fields}
    return await client.post("/api/v1/statuses", headers=user["headers"], json=body)


async def test_a_private_reel_plays_through_signed_hls(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob, stranger = [await create_user(client) for _ in range(3)]
    assert (await client.post(f"/api/v1/accounts/{alice['id']}/follow", headers=bob["headers"])).status_code == 200

    # Not a reel: two videos, a landscape one, one too long (its length as the transcoder found it).
    wide, tall = await _videos(
        client,
        alice,
        make_clip(width=64, height=48, seconds=0.5, fps=10, audio=False),
        make_clip(width=144, height=256, seconds=2, fps=15),
    )
    assert wide["lumigram"]["hls_url"] is None  # only a vertical video is packaged
    both = await client.post(
        "/api/v1/statuses", headers=alice["headers"], json={"media_ids": [tall["id"], wide["id"]], "reel": True}
    )
    assert both.status_code == 422
    assert both.json()["error"] == "A reel needs exactly one video"
    refused = await _reel(client, alice, wide["id"])
    assert refused.status_code == 422
    assert refused.json()["error"] == "A reel's video must be vertical (taller than wide); this one is 64x48"
    async with services.db.begin() as conn:
        long = '{"width": 48, "height": 64, "duration": 95.0}'
        await conn.execute(update(media_attachments).where(media_attachments.c.id == int(wide["id"])).values(meta=long))
    refused = await _reel(client, alice, wide["id"])
    assert refused.status_code == 422
    assert refused.json()["error"] == "A reel may be at most 90 seconds (this one is 95)"
    as_post = await client.post("/api/v1/statuses", headers=alice["headers"], json={"media_ids": [wide["id"]]})
    assert as_post.status_code == 422
    assert as_post.json()["error"].startswith("Videos in posts may be at most 60 seconds")

    # A vertical clip, posted to followers only: its media is private, so every URL is signed.
    created = await _reel(client, alice, tall["id"], visibility="private")
    assert created.status_code == 200, created.text
    reel = created.json()
    assert reel["lumigram"]["kind"] == "reel"
    assert reel["lumigram"]["plays_count"] == 0

    shown = await client.get(f"/api/v1/statuses/{reel['id']}", headers=bob["headers"])
    assert shown.status_code == 200
    master_url = shown.json()["media_attachments"][0]["lumigram"]["hls_url"]
    assert {"exp", "sig"} <= parse_qs(urlsplit(master_url).query).keys()
    assert (await client.get(urlsplit(master_url).path)).status_code == 404  # unsigned
    assert (await client.get(f"/api/v1/statuses/{reel['id']}", headers=stranger["headers"])).status_code == 404

    master = await _fetch(client, master_url)
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    lines = master.text.splitlines()
    assert lines[0] == "#EXTM3U"
    info = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(info) == 1  # a 144-wide source has no 360p: one rung at its own size
    assert "RESOLUTION=144x256" in info[0]
    assert 'CODECS="avc1.64' in info[0]
    assert "mp4a.40.2" in info[0]
    assert int(info[0].split("BANDWIDTH=", 1)[1].split(",", 1)[0]) > 0
    frames = 0
    for rung_url in _uris(master.text):
        assert "sig=" in rung_url
        rung = await _fetch(client, rung_url)
        assert rung.status_code == 200
        assert "#EXT-X-ENDLIST" in rung.text
        for segment_url in _uris(rung.text):
            assert "sig=" in segment_url
            assert (await client.get(urlsplit(segment_url).path)).status_code == 404  # unsigned
            segment = await _fetch(client, segment_url)
            assert segment.status_code == 200
            frames += _frames(segment.content)
    assert abs(frames - 30) <= 2  # 2 s at 15 fps, all of it


async def _feed(client: httpx.AsyncClient, user: dict[str, Any], **params: Any) -> httpx.Response:
    response = await client.get(f"{API}/reels", headers=user["headers"], params=params)
    assert response.status_code == 200, response.text
    return response


async def _ids(client: httpx.AsyncClient, user: dict[str, Any]) -> list[str]:
    """Every reel of the viewer's feed, page after page (three at a time)."""
    found: list[str] = []
    response = await _feed(client, user, limit=3)
    while True:
        page = [status["id"] for status in response.json()]
        authors = [status["account"]["id"] for status in response.json()]
        assert all(authors.count(author) <= 2 for author in authors), authors
        found += page
        link = response.headers.get("link")
        if not link:
            return found
        parts = urlsplit(link.split("<", 1)[1].split(">", 1)[0])
        response = await client.get(f"{parts.path}?{parts.query}", headers=user["headers"])
        assert response.status_code == 200, response.text


async def test_reels_feed_ranks_pages_and_counts_views(client: httpx.AsyncClient, services: Services) -> None:
    # Blocks, mutes and private accounts: tests/api/test_privacy_matrix.py asks the reels feed too.
    viewer, fan, followed, other = [await create_user(client) for _ in range(4)]
    assert (await client.post(f"/api/v1/accounts/{followed['id']}/follow", headers=viewer["headers"])).status_code
    mine = [await post_reel(client, services, followed) for _ in range(3)]
    theirs = [await post_reel(client, services, other) for _ in range(2)]
    unlisted = await post_reel(client, services, other, visibility="unlisted")  # kept out of discovery
    own = await post_reel(client, services, viewer)  # one's own reels are not in one's feed
    eligible = {r["id"] for r in [*mine, *theirs]}

    everything = await _ids(client, viewer)
    assert sorted(everything) == sorted(eligible)  # each once, across pages, none hidden
    assert unlisted["id"] not in everything
    assert own["id"] not in everything

    # A fan watches one of the other account's reels: 3 plays, 3 to the end, 2 loops.
    target = theirs[0]["id"]
    events = [{"status_id": target, "type": kind} for kind in ("play", "complete", "loop") * 2]
    events += [{"status_id": target, "type": "play"}, {"status_id": target, "type": "complete"}]
    events += [{"status_id": target, "type": "watch", "watch_ms": 5000}]
    events += [{"status_id": "1", "type": "play"}]  # no such reel (deleted since, say): ignored
    reported = await client.post(f"{API}/reels/views", headers=fan["headers"], json={"events": events})
    assert reported.status_code == 200, reported.text
    assert reported.json() == {"counted": 9, "ignored": 1}
    for bad in ({"events": []}, {"events": [{"status_id": target, "type": "stare"}]}, {"events": "x"}):
        refused = await client.post(f"{API}/reels/views", headers=fan["headers"], json=bad)
        assert refused.status_code == 422
        assert isinstance(refused.json()["error"], str)
    bad_cursor = await client.get(f"{API}/reels", headers=viewer["headers"], params={"cursor": "nope"})
    assert bad_cursor.status_code == 422
    assert "cursor" in bad_cursor.json()["error"].lower()

    # Counted in the cache at once (the ranking reads pending counts), in the database once folded.
    explained = {
        s["id"]: s["lumigram"]["score"] for s in (await _feed(client, viewer, explain="true", limit=40)).json()
    }
    assert explained[target]["completion"] == round((3 + 1) / (3 + 2), 4)
    assert explained[target]["loops"] == round((2 / 4) / (2 / 4 + 1), 4)
    assert explained[theirs[1]["id"]]["completion"] == 0.5
    assert len(explained) == len(eligible) - 1  # the third reel of one author waits for the next page
    followed_shown = [explained[r["id"]] for r in mine if r["id"] in explained]
    assert len(followed_shown) == 2
    assert all(score["affinity"] >= 0.5 > explained[target]["affinity"] for score in followed_shown)
    for score in explained.values():
        assert set(score) == {"total", "velocity", "completion", "loops", "freshness", "affinity"}
    ranked = list(explained)
    assert [explained[i]["total"] for i in ranked] == sorted((explained[i]["total"] for i in ranked), reverse=True)
    assert ranked.index(target) < ranked.index(theirs[1]["id"])

    async with services.db.connect() as conn:
        plays = (await conn.execute(select(statuses.c.plays_count).where(statuses.c.id == int(target)))).scalar()
    assert plays == 0
    assert await janitor.fold_views(services) == 1
    assert await janitor.fold_views(services) == 0  # nothing left pending
    async with services.db.connect() as conn:
        row = (await conn.execute(select(reels).where(reels.c.status_id == int(target)))).one()
    assert (row.completes_count, row.loops_count, row.watch_ms) == (3, 2, 5000)
    shown = await client.get(f"/api/v1/statuses/{target}", headers=viewer["headers"])
    assert shown.json()["lumigram"]["plays_count"] == 3
    again = {s["id"]: s["lumigram"]["score"] for s in (await _feed(client, viewer, explain="true", limit=40)).json()}
    assert again[target]["completion"] == explained[target]["completion"]  # folded, not lost nor doubled

    # What the viewer starts is left out of their feed from then on, and only of theirs.
    watched = await client.post(
        f"{API}/reels/views", headers=viewer["headers"], json={"events": [{"status_id": mine[0]["id"], "type": "play"}]}
    )
    assert watched.json() == {"counted": 1, "ignored": 0}
    assert mine[0]["id"] not in await _ids(client, viewer)
    assert mine[0]["id"] in await _ids(client, fan)
