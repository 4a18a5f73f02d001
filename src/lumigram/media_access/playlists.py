"""HLS playlists of private media, with every URI in them signed.

A playlist names its rungs and segments relative to itself (``hls-…-360p.m3u8``,
``hls-…-360p-000.ts``), which is all a public one needs. A private one is fetched with a
signature that covers its own key only; a player resolving those names would ask for
unsigned URLs and get 404. So a private playlist is served rewritten: each name becomes
the signed URL of its key, expiring no later than the playlist's own URL.
"""

from __future__ import annotations

from lumigram.media_access.service import media_url
from lumigram.services import Services

PLAYLIST_SUFFIX = ".m3u8"


def is_playlist(key: str) -> bool:
    return key.endswith(PLAYLIST_SUFFIX)


def signed_playlist(services: Services, key: str, text: str, not_after: int) -> str:
    """``text`` (the playlist at ``key``) with its relative URIs replaced by signed URLs.

    Only bare names in the playlist's own folder are rewritten; the packager writes no
    other kind, and anything else is left as it is rather than signed (a signature must
    never be made for a key the playlist's owner did not store)."""
    folder = key.rsplit("/", 1)[0]
    lines = []
    for line in text.splitlines():
        name = line.strip()
        if name and not name.startswith("#") and "/" not in name and ":" not in name:
            line = media_url(services, f"{folder}/{name}", True, not_after)
        lines.append(line)
    return "\n".join(lines) + "\n"
