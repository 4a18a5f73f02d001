"""What a reel is: a top-level post whose media is one vertical video of at most 90 s.

Uploads take videos of up to 90 s (``uploads.transcode.MAX_DURATION``) because whether
a video becomes a reel is only known when it is posted; an ordinary post keeps the
one-minute limit of Instagram's feed videos, so the longer clips are for reels only.
"""

from __future__ import annotations

from typing import Any

import orjson

from lumigram.errors import ValidationFailed

#: Reels run up to a minute and a half.
MAX_REEL_SECONDS = 90
#: Videos in other posts run up to a minute.
MAX_POST_VIDEO_SECONDS = 60
#: Containers round; a clip of 90.4 s by its audio priming is still "ninety seconds".
_SLACK = 0.5


def _refused(message: str, field: str = "media_ids") -> ValidationFailed:
    return ValidationFailed(message, {field: [{"error": "ERR_INVALID", "description": message}]})


def _meta(row: Any) -> dict[str, Any]:
    meta: dict[str, Any] = orjson.loads(row.meta or "{}")
    return meta


def check_reel(rows: list[Any], in_reply_to_id: int | None, visibility: str, has_poll: bool) -> float:
    """The reel's duration in seconds; ValidationFailed (422) saying why the draft is no reel."""
    if in_reply_to_id is not None or visibility == "direct":
        raise _refused("A comment or a direct message cannot be a reel", "reel")
    if has_poll:
        raise _refused("A reel cannot have a poll", "poll")
    if len(rows) != 1 or rows[0].kind != "video":
        raise _refused("A reel needs exactly one video")
    meta = _meta(rows[0])
    width, height = int(meta.get("width", 0)), int(meta.get("height", 0))
    duration = float(meta.get("duration", 0.0))
    if height <= width:
        raise _refused(f"A reel's video must be vertical (taller than wide); this one is {width}x{height}")
    if duration > MAX_REEL_SECONDS + _SLACK:
        raise _refused(f"A reel may be at most {MAX_REEL_SECONDS} seconds (this one is {round(duration)})")
    return duration


def check_post_videos(rows: list[Any]) -> None:
    """An ordinary post's videos are at most a minute; longer ones may only be reels."""
    for row in rows:
        if row.kind != "video":
            continue
        duration = float(_meta(row).get("duration", 0.0))
        if duration > MAX_POST_VIDEO_SECONDS + _SLACK:
            raise _refused(
                f"Videos in posts may be at most {MAX_POST_VIDEO_SECONDS} seconds (media {row.id} is "
                f"{round(duration)}); post it as a reel (reel=true) for up to {MAX_REEL_SECONDS}"
            )
