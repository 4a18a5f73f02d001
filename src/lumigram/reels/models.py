"""Records of the reels package: view events, scored reels and the feed's cursor."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

import orjson

from lumigram.errors import ValidationFailed
from lumigram.posts.models import HydratedPost

#: What a player reports: a start, a watch to the end, a replay, and time watched.
VIEW_TYPES = ("play", "complete", "loop", "watch")
#: Events in one batch; a player sends what piled up since its last batch.
MAX_BATCH = 100
#: Milliseconds of watching one event may report: a 90 s reel looped for ten minutes.
MAX_WATCH_MS = 600_000
#: Reels a cursor carries over from one page to the next because their author already
#: had two on the page (see ``lumigram.reels.service``).
MAX_DEFERRED = 40


@dataclass(frozen=True, slots=True)
class ViewEvent:
    status_id: int
    type: str
    #: For ``watch``: milliseconds watched since the player's last report.
    watch_ms: int = 0


@dataclass(frozen=True, slots=True)
class Counts:
    """How a reel has been watched, folded and pending together."""

    plays: int = 0
    completes: int = 0
    loops: int = 0
    watch_ms: int = 0


@dataclass(frozen=True, slots=True)
class ScoredReel:
    item: HydratedPost
    score: float
    components: dict[str, float]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of the reels feed stopped: the clock the scores were taken at (so the
    next page ranks the same way), the rank key of the last reel considered, and the reels
    above it not shown yet (held back by the two-per-author rule)."""

    now_ms: int
    score: float
    status_id: int
    deferred: tuple[int, ...] = field(default_factory=tuple)

    def encode(self) -> str:
        raw = orjson.dumps({"t": self.now_ms, "s": self.score, "i": self.status_id, "d": list(self.deferred)})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(text: str) -> Cursor:
        """The cursor a previous page gave; ValidationFailed (422) for anything else."""
        try:
            data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor = Cursor(
                now_ms=int(data["t"]),
                score=float(data["s"]),
                status_id=int(data["i"]),
                deferred=tuple(int(i) for i in data["d"])[:MAX_DEFERRED],
            )
        except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
            raise ValidationFailed.field("cursor", "ERR_INVALID", "is not a cursor this server gave") from None
        if not 0 <= cursor.now_ms < 2**48 or cursor.status_id < 0 or any(i < 0 for i in cursor.deferred):
            raise ValidationFailed.field("cursor", "ERR_INVALID", "is not a cursor this server gave")
        return cursor
