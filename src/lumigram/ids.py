"""64-bit, time-sortable, shard-aware identifiers (Instagram's scheme).

Bit layout, most significant first::

    | 41 bits: ms since EPOCH_MS | 13 bits: logical shard | 10 bits: sequence |

* Sorting ids sorts by creation time (to the millisecond), so an id is also a
  pagination cursor.
* The shard bits say which logical shard owns the row: rows owned by a user carry
  that user's shard, so a later step can route every owner's rows to one of several
  databases without rewriting ids.
* Each millisecond's sequence starts at a random value below 512 and counts up; when it
  would pass 1,023 the generator waits for the next millisecond rather than reuse a
  value. The random start is what keeps two processes apart: Instagram drew the
  sequence from one PostgreSQL sequence per shard, but our generators run in many
  stateless processes, and two of them making an id on the same shard in the same
  millisecond would otherwise both start at 0. With random starts they collide only
  when their starts are within a few ids of each other (about 1 in 500 for such a
  pair), and the primary key turns that rare case into a retryable error, not a
  silent duplicate.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

#: 2024-01-01T00:00:00Z. 41 bits of milliseconds last ~69 years from here.
EPOCH_MS = 1_704_067_200_000

TIME_BITS = 41
SHARD_BITS = 13
SEQUENCE_BITS = 10

SHARD_COUNT = 1 << SHARD_BITS
SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1
SHARD_MASK = SHARD_COUNT - 1
MAX_TIME = (1 << TIME_BITS) - 1
#: A millisecond's sequence starts below this, leaving at least 512 ids per shard per ms.
FIRST_SEQUENCE_SPREAD = 512


def compose(ms_since_epoch: int, shard: int, sequence: int) -> int:
    """Pack the three fields into one id; each is range-checked."""
    if not 0 <= ms_since_epoch <= MAX_TIME:
        raise ValueError("timestamp out of range for a 41-bit id")
    if not 0 <= shard < SHARD_COUNT:
        raise ValueError(f"shard must be in [0, {SHARD_COUNT})")
    if not 0 <= sequence <= SEQUENCE_MASK:
        raise ValueError(f"sequence must be in [0, {SEQUENCE_MASK}]")
    return (ms_since_epoch << (SHARD_BITS + SEQUENCE_BITS)) | (shard << SEQUENCE_BITS) | sequence


def shard_of(id_: int) -> int:
    """The logical shard an id belongs to."""
    return (id_ >> SEQUENCE_BITS) & SHARD_MASK


def sequence_of(id_: int) -> int:
    return id_ & SEQUENCE_MASK


def unix_ms_of(id_: int) -> int:
    """Milliseconds since the Unix epoch at which the id was made."""
    return (id_ >> (SHARD_BITS + SEQUENCE_BITS)) + EPOCH_MS


def datetime_of(id_: int) -> datetime:
    return datetime.fromtimestamp(unix_ms_of(id_) / 1000, tz=UTC)


def lowest_id_at(unix_ms: int) -> int:
    """The smallest id that could be made at ``unix_ms``: a cursor for "since time T"."""
    return compose(max(unix_ms - EPOCH_MS, 0), 0, 0)


def random_shard() -> int:
    return random.randrange(SHARD_COUNT)  # noqa: S311  # not a secret: see ``token``


def token(nbytes: int) -> str:
    """``nbytes`` random bytes as hex, for values that must differ, not stay secret (cache
    generations, lock holders, pending counters' tags). Drawn from the process's own
    generator (seeded from the system's at start and again in a forked child): the
    system's, through ``secrets``, is a system call that hands the interpreter's lock to
    another thread, and the serving loop then waited for it back, up to a switch interval
    each time, a post's fan-out making one such call per follower."""
    return random.getrandbits(8 * nbytes).to_bytes(nbytes, "big").hex()


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class IdGenerator:
    """Makes ids in this process; thread-safe and monotonic per shard.

    ``clock`` returns Unix milliseconds; tests pass a fake one to drive overflow.
    If the clock steps backwards we keep using the last millisecond seen, so ids
    never go backwards either.
    """

    def __init__(
        self,
        clock: Callable[[], int] = _wall_clock_ms,
        sleep: Callable[[float], None] = time.sleep,
        first_sequence: Callable[[], int] = lambda: random.randrange(FIRST_SEQUENCE_SPREAD),  # noqa: S311
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._first_sequence = first_sequence
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequences: dict[int, int] = {}

    def next_id(self, shard: int | None = None) -> int:
        """A new id on ``shard`` (a random shard when None)."""
        if shard is None:
            shard = random_shard()
        with self._lock:
            now = max(self._clock() - EPOCH_MS, self._last_ms)
            if now != self._last_ms:
                self._last_ms = now
                self._sequences.clear()
            sequence = self._sequences.get(shard)
            if sequence is None:
                sequence = self._first_sequence()
            while sequence > SEQUENCE_MASK:
                # 1,024 ids already made on this shard in this millisecond: wait.
                self._sleep(0.0002)
                now = max(self._clock() - EPOCH_MS, self._last_ms)
                if now != self._last_ms:
                    self._last_ms = now
                    self._sequences.clear()
                sequence = self._sequences.get(shard)
                if sequence is None:
                    sequence = self._first_sequence()
            self._sequences[shard] = sequence + 1
            return compose(now, shard, sequence)
