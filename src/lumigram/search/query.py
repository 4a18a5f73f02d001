"""Reading a search box's text: words, "quoted phrases" and Mastodon's operators.

``from:alice`` (posts by alice), ``has:media``, ``is:reply`` (and their negations with a
leading ``-``) are taken out of the text; what remains is matched as full text, phrases
word for word in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The longest query read; the rest is ignored rather than refused, as in Mastodon.
MAX_QUERY = 200
_TOKEN = re.compile(r'(-?)(\w+):(\S+)|"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[^\W_]+")
#: Control characters: never part of a query, and NUL is refused by PostgreSQL's text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: English words too common to search by. PostgreSQL's ``english`` configuration drops
#: them (and more) from both posts and queries; SQLite's FTS5 keeps every word, so there
#: "sunset at the beach" found only posts that said "at" and "the". Taken out of a
#: query's loose words on both shapes (never out of a quoted phrase), unless nothing
#: else is left. ``or`` among them also keeps PostgreSQL's websearch syntax from
#: reading it as OR.
# fmt: off
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "do", "for", "from", "had", "has", "have",
    "he", "her", "his", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or",
    "our", "she", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to",
    "too", "us", "was", "we", "were", "what", "when", "where", "which", "who", "will", "with", "you", "your"
})
# fmt: on


def clean(text: str) -> str:
    """The query with control characters as spaces, runs of spaces as one, trimmed."""
    return " ".join(_CONTROL.sub(" ", text).split())


@dataclass(frozen=True, slots=True)
class PostQuery:
    words: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    from_username: str | None = None
    #: True: only posts with photos or videos; False: only without; None: either.
    has_media: bool | None = None
    is_reply: bool | None = None

    @property
    def has_text(self) -> bool:
        return bool(self.words or self.phrases)

    @property
    def has_filter(self) -> bool:
        return self.from_username is not None or self.has_media is not None or self.is_reply is not None

    def plain_text(self) -> str:
        """Words and phrases again, phrases quoted: the form PostgreSQL's websearch reads."""
        parts = [*self.words, *(f'"{" ".join(phrase)}"' for phrase in self.phrases)]
        return " ".join(parts)


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def parse(text: str) -> PostQuery:
    words: list[str] = []
    phrases: list[list[str]] = []
    from_username: str | None = None
    has_media: bool | None = None
    is_reply: bool | None = None
    for match in _TOKEN.finditer(text[:MAX_QUERY]):
        negated, key, value, phrase, plain = match.groups()
        if key is not None:
            key, value = key.casefold(), value.casefold()
            if key == "from":
                from_username = value.removeprefix("@").split("@")[0]
                continue
            if key == "has" and value == "media":
                has_media = not negated
                continue
            if key == "is" and value == "reply":
                is_reply = not negated
                continue
            words += words_of(match.group(0))  # not an operator we know: plain words
        elif phrase is not None:
            found = words_of(phrase)
            if len(found) > 1:
                phrases.append(found)
            else:
                words += found
        else:
            words += words_of(plain)
    searched = [word for word in words if word not in STOP_WORDS]
    if searched or phrases:
        words = searched
    return PostQuery(words, phrases, from_username, has_media, is_reply)


def like_prefix(text: str) -> str:
    """A ``LIKE … ESCAPE '/'`` pattern for what starts with ``text``, taken literally."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
