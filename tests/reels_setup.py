"""Reels for tests that are about who sees them, not about video: an upload row that is
as the transcoder leaves a vertical clip (ready, with its size and length), so a real
reel can be posted through the API without paying for a transcode in every case."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import insert, select

from lumigram.infra.tables import media_attachments, utcnow
from lumigram.services import Services


async def ready_video(
    services: Services, account_id: str, like: int | None = None, width: int = 48, height: int = 64
) -> str:
    """A ready video upload of ``account_id``; ``like``: copy that media's stored files and
    description of them (so its MP4, poster and HLS ladder are served for this one too)."""
    variants, meta = "{}", orjson.dumps({"width": width, "height": height, "duration": 1.0}).decode()
    if like is not None:
        async with services.db.connect() as conn:
            row = (await conn.execute(select(media_attachments).where(media_attachments.c.id == like))).one()
        variants, meta = row.variants, row.meta
    media_id = services.ids.next_id()
    async with services.db.begin() as conn:
        await conn.execute(
            insert(media_attachments).values(
                id=media_id,
                account_id=int(account_id),
                kind="video",
                state="ready",
                content_type="video/mp4",
                size=1,
                sha256="0" * 64,
                variants=variants,
                meta=meta,
                focus_x=0.0,
                focus_y=0.0,
                private=False,
                created_at=utcnow(),
            )
        )
    return str(media_id)


async def post_reel(
    client: httpx.AsyncClient, services: Services, user: dict[str, Any], like: int | None = None, **fields: Any
) -> dict[str, Any]:
    """Post a reel through ``POST /api/v1/statuses``; the Status."""
    media_id = await ready_video(services, user["id"], like)
    body = {"status": "A reel", "media_ids": [media_id], "reel": True, **fields}
    response = await client.post("/api/v1/statuses", headers=user["headers"], json=body)
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status
