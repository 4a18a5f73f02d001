"""The story tray as the home page shows it: rendered with the page, so the rings are there
at once and no request of the page's own is left in flight when the reader moves on."""

from __future__ import annotations

from typing import Any

from lumigram.entities.accounts import account_entity
from lumigram.services import Services
from lumigram.stories import service as stories


async def home_tray(services: Services, viewer_id: int) -> dict[str, Any]:
    """The viewer's tray (the API's order) and whether the viewer has a live story."""
    entries = await stories.tray(services, viewer_id)
    own = await stories.account_stories(services, viewer_id, viewer_id)
    rings = []
    for entry in entries:
        account = account_entity(services.settings, entry.account)
        rings.append({"username": account.username, "avatar": account.avatar, "seen": entry.seen})
    return {"rings": rings, "own": bool(own)}
