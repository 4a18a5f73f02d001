"""Matching posts against a viewer's hidden words (no I/O: the read paths load the filters).

A keyword matches case-insensitively anywhere in a post's caption, content warning or
photo descriptions; with ``whole_word`` it must stand as a word of its own (a keyword
that begins or ends with punctuation is matched as written there, as Mastodon does).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lumigram.filters.models import Filter
from lumigram.posts.models import FilterMatch, HydratedPost

_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One filter compiled for matching."""

    filter: Filter
    patterns: tuple[tuple[str, re.Pattern[str]], ...]


def _pattern(keyword: str, whole_word: bool) -> re.Pattern[str]:
    escaped = re.escape(keyword)
    if whole_word:
        start = r"(?<!\w)" if keyword[:1].isalnum() or keyword[:1] == "_" else ""
        end = r"(?!\w)" if keyword[-1:].isalnum() or keyword[-1:] == "_" else ""
        escaped = f"{start}{escaped}{end}"
    return re.compile(escaped, re.IGNORECASE)


def compile_filters(filters: Sequence[Filter]) -> list[Matcher]:
    return [
        Matcher(f, tuple((k.keyword, _pattern(k.keyword, k.whole_word)) for k in f.keywords if k.keyword))
        for f in filters
    ]


def _searchable(item: HydratedPost) -> str:
    post = item.post
    text = html.unescape(_TAGS.sub(" ", post.text))
    described = " ".join(m.description or "" for m in item.media)
    return "\n".join((text, post.spoiler_text, described))


def matches(matchers: Sequence[Matcher], item: HydratedPost) -> tuple[FilterMatch, ...]:
    """The filters ``item`` matches, each with the keywords found."""
    if not matchers:
        return ()
    text = _searchable(item)
    found = []
    for matcher in matchers:
        hits = tuple(keyword for keyword, pattern in matcher.patterns if pattern.search(text))
        if hits:
            f = matcher.filter
            found.append(FilterMatch(f.id, f.title, f.contexts, f.action, f.expires_at, hits))
    return tuple(found)


def hides(found: Sequence[FilterMatch]) -> bool:
    return any(match.action == "hide" for match in found)
