"""What the page templates show of posts: the API's own entities, plus what a browser
needs that the entities leave out (``srcset`` from the stored variants, grid tiles and a
placeholder colour from the BlurHash)."""

from __future__ import annotations

from typing import Any

from lumigram.entities.statuses import status_entity
from lumigram.media_access.service import media_url
from lumigram.posts.models import HydratedPost
from lumigram.services import Services
from lumigram.uploads.models import MediaRecord

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_SIZES = "(min-width: 40rem) 38rem, 100vw"


def placeholder_colour(blurhash: str | None) -> str | None:
    """The BlurHash's average colour (its DC component, characters 2 to 5) as ``#rrggbb``."""
    if not blurhash or len(blurhash) < 6:
        return None
    value = 0
    for char in blurhash[2:6]:
        digit = _BASE83.find(char)
        if digit < 0:
            return None
        value = value * 83 + digit
    return f"#{value & 0xFFFFFF:06x}"


def _image(services: Services, record: MediaRecord) -> dict[str, Any] | None:
    variants = record.variants
    if not variants or record.kind == "video":
        return None
    widths = [(name, formats["jpeg"]) for name, formats in variants.items() if name.isdigit() and "jpeg" in formats]
    if not widths:
        return None
    widths.sort(key=lambda pair: pair[1]["width"])
    largest = widths[-1][1]
    grid = variants.get("grid", {}).get("jpeg") or widths[0][1]
    return {
        "src": media_url(services, largest["key"], record.private),
        "srcset": ", ".join(f"{media_url(services, v['key'], record.private)} {v['width']}w" for _, v in widths),
        "sizes": _SIZES,
        "width": largest["width"],
        "height": largest["height"],
        "tile": media_url(services, grid["key"], record.private),
    }


def _video(services: Services, record: MediaRecord) -> dict[str, Any] | None:
    variants = record.variants
    if record.kind != "video" or not variants:
        return None
    mp4 = variants["video"]["mp4"]
    poster = variants["poster"]["jpeg"]
    return {
        "src": media_url(services, mp4["key"], record.private),
        "poster": media_url(services, poster["key"], record.private),
        "width": mp4["width"],
        "height": mp4["height"],
        "tile": media_url(services, poster["key"], record.private),
    }


def post_view(
    services: Services, item: HydratedPost, viewer_id: int | None, accounts: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """The status entity with ``web.media``: one entry per attachment, in album order."""
    entity = status_entity(services, item, viewer_id, accounts)
    media = []
    for record in item.media:
        media.append(
            {
                "id": str(record.id),
                "alt": record.description or "",
                "placeholder": placeholder_colour(record.blurhash),
                "image": _image(services, record),
                "video": _video(services, record),
            }
        )
    entity["web"] = {"media": media}
    return entity


def post_views(services: Services, items: list[HydratedPost], viewer_id: int | None) -> list[dict[str, Any]]:
    accounts: dict[int, dict[str, Any]] = {}
    return [post_view(services, item, viewer_id, accounts) for item in items]
