"""The story tray as the home page shows it: rendered with the page, so the rings are there
at once and no request of the page's own is left in flight when the reader moves on."""

from __future__ import annotations

from typing import Any

import orjson

from lumigram.entities.accounts import account_entity
from lumigram.services import Services
from lumigram.stories import service as stories
from lumigram.stories.models import Story, TrayEntry
from lumigram.stories.tray_cache import HOME


async def home_tray(services: Services, viewer_id: int) -> dict[str, Any]:
    """The viewer's tray (the API's order) and whether the viewer has a live story, kept
    rendered with the API's tray (``stories.tray_cache``)."""

    def render(entries: list[TrayEntry], own: list[Story]) -> bytes:
        rings = []
        for entry in entries:
            account = account_entity(services.settings, entry.account)
            rings.append({"username": account.username, "avatar": account.avatar, "seen": entry.seen})
        return orjson.dumps({"rings": rings, "own": bool(own)})

    tray: dict[str, Any] = orjson.loads(await stories.kept_tray(services, viewer_id, HOME, render, with_own=True))
    return tray
