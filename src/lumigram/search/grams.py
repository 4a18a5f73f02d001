"""Trigrams of names, the measure behind typo-tolerant account search.

The same cut as PostgreSQL's pg_trgm: lower-cased words of letters and digits, each
padded with two spaces in front and one behind, so that "alice" gives "  a", " al",
"ali", "lic", "ice" and "ce ". Two names are alike by the share of trigrams they have in
common (shared / union), which survives a typo or two in a name of some length.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

_WORD = re.compile(r"[^\W_]+")

#: Below this share of common trigrams two names are not alike (pg_trgm's default).
THRESHOLD = 0.3


def trigrams(text: str) -> set[str]:
    grams: set[str] = set()
    for word in _WORD.findall(text.casefold()):
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def similarity(left: AbstractSet[str], right: AbstractSet[str]) -> float:
    if not left or not right:
        return 0.0
    shared = len(left & right)
    return shared / (len(left) + len(right) - shared)
