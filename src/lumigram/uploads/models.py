"""An uploaded photo or video as the rest of the program reads it.

Posts carry their attachments as these records and the entities render them, so the
record and the one way of reading it from a ``media_attachments`` row live here, below
both the upload commands (``lumigram.uploads.service``) and the posts built on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class MediaRecord:
    id: int
    account_id: int
    status_id: int | None
    kind: str
    state: str
    description: str | None
    focus_x: float
    focus_y: float
    blurhash: str | None
    private: bool
    variants: dict[str, Any]
    meta: dict[str, Any]
    error: str | None
    #: The photo's filter (None for none) and its non-zero adjustments.
    filter: str | None = None
    adjustments: dict[str, int] = field(default_factory=dict)


def media_record(row: Any) -> MediaRecord:
    """The record of a ``media_attachments`` row (its JSON columns decoded)."""
    return MediaRecord(
        id=row.id,
        account_id=row.account_id,
        status_id=row.status_id,
        kind=row.kind,
        state=row.state,
        description=row.description,
        focus_x=row.focus_x,
        focus_y=row.focus_y,
        blurhash=row.blurhash,
        private=row.private,
        variants=orjson.loads(row.variants),
        meta=orjson.loads(row.meta),
        error=row.error,
        filter=row.filter,
        adjustments=orjson.loads(row.adjustments) if row.adjustments else {},
    )
