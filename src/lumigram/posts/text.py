"""A caption's hashtags and mentions, and the HTML clients display.

Captions are stored as the plain text the author typed (Mastodon's ``source``); the
HTML is derived on the way out, so changing how links look never rewrites data.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

#: Instagram's limits: a caption of 2,200 characters with at most 30 hashtags.
MAX_TEXT = 2200
MAX_HASHTAGS = 30
MAX_TAG_LENGTH = 100
MAX_SPOILER = 500

# A hashtag starts after a non-word character (or the start) and is letters, digits,
# underscores in any script, not only digits. "#1" is a number, not a tag.
_HASHTAG = re.compile(rf"(?<![\w/&#])#(\w{{1,{MAX_TAG_LENGTH}}})")
# A local mention: @username, not inside an e-mail address (preceded by a word char).
_MENTION = re.compile(r"(?<![\w/@])@([A-Za-z0-9_]{1,30})\b(?!@)")
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_TOKEN = re.compile(f"{_URL.pattern}|{_HASHTAG.pattern}|{_MENTION.pattern}")


def hashtags(text: str) -> list[str]:
    """Distinct hashtags in order of appearance, as typed (case kept for display)."""
    seen: dict[str, str] = {}
    for match in _HASHTAG.finditer(text):
        name = match.group(1)
        if name.isdigit() or name.strip("_") == "":
            continue
        seen.setdefault(normalise_tag(name), name)
    return list(seen.values())


def normalise_tag(name: str) -> str:
    """The form tags are matched by: case-folded, so #Sunset, #SUNSET and #sunset are one tag."""
    return name.casefold()


def mentioned_usernames(text: str) -> list[str]:
    """Distinct mentioned usernames (lower-cased), in order of appearance."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def render(text: str, base_url: str, known_mentions: dict[str, str]) -> str:
    """Mastodon-style HTML: paragraphs, line breaks, linked hashtags, mentions and URLs.

    ``known_mentions`` maps a lower-cased username to its canonical spelling; mentions of
    unknown users stay plain text, as Mastodon leaves unresolvable mentions.
    """
    if not text:
        return ""
    paragraphs = [part.strip() for part in text.replace("\r\n", "\n").split("\n\n") if part.strip()]
    rendered = []
    for part in paragraphs:
        lines = [_link(line, base_url, known_mentions) for line in part.split("\n")]
        rendered.append(f"<p>{'<br />'.join(lines)}</p>")
    return "".join(rendered)


def _link(line: str, base_url: str, known: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("#"):
            name = token[1:]
            if name.isdigit():
                return html.escape(token)
            href = f"{base_url}/tags/{html.escape(normalise_tag(name))}"
            return f'<a href="{href}" class="mention hashtag" rel="tag">#<span>{html.escape(name)}</span></a>'
        if token.startswith("@"):
            username = known.get(token[1:].lower())
            if username is None:
                return html.escape(token)
            href = f"{base_url}/@{username}"
            return f'<span class="h-card"><a href="{href}" class="u-url mention">@<span>{username}</span></a></span>'
        escaped = html.escape(token)
        return f'<a href="{escaped}" rel="nofollow noopener noreferrer" target="_blank">{escaped}</a>'

    return _substitute(line, replace)


def _substitute(line: str, replace: Callable[[re.Match[str]], str]) -> str:
    """Escape the text between tokens, replace the tokens."""
    out = []
    position = 0
    for match in _TOKEN.finditer(line):
        out.append(html.escape(line[position : match.start()]))
        out.append(replace(match))
        position = match.end()
    out.append(html.escape(line[position:]))
    return "".join(out)
