"""What a blob key may look like, checked in one place by every store and every caller.

The app makes every key itself (``media/<id>/1080-<hash>.jpg``, ``avatars/<hash>.png``),
but keys also arrive from outside, in URL paths. Stores disagree on what some spellings
mean: SeaweedFS collapses ``//`` and reads ``\\`` as ``/``, answers 400 to ``.`` and
``..`` segments and NUL, while a folder refuses them. A key that a store reads as a
different blob could be judged by one name and served under another. So rather than
list the bad shapes, a key must have the one narrow form the app makes: ``/``-separated
segments of ASCII letters, digits, ``-``, ``_`` and ``.``, none empty and none starting
with a dot (which also rules out ``.``, ``..`` and hidden files). Nothing in a valid key
needs percent-encoding, so no spelling of it is ever ambiguous.
"""

from __future__ import annotations

import re

#: S3's own limit on a key's length.
MAX_KEY_LENGTH = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")  # 255: a file name on most file systems


class InvalidBlobKey(ValueError):
    """The key is not one the app could have made; no store is asked about it."""


def check_key(key: str) -> str:
    """``key`` itself when it is well formed; InvalidBlobKey otherwise."""
    if len(key) > MAX_KEY_LENGTH or not all(_SEGMENT.fullmatch(segment) for segment in key.split("/")):
        raise InvalidBlobKey(f"invalid blob key {key[:100]!r}")
    return key
