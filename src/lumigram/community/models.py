"""The records of the server's own texts, announcements and custom emojis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    text: str
    hint: str


@dataclass(frozen=True, slots=True)
class ServerText:
    """One of the admin's long texts (see ``texts.TEXT_NAMES``), as plain text."""

    name: str
    text: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Reaction:
    name: str
    count: int
    me: bool


@dataclass(frozen=True, slots=True)
class Announcement:
    id: int
    text: str
    starts_at: datetime | None
    ends_at: datetime | None
    all_day: bool
    published_at: datetime
    updated_at: datetime
    read: bool
    reactions: tuple[Reaction, ...]


@dataclass(frozen=True, slots=True)
class Emoji:
    shortcode: str
    blob_key: str
    category: str | None
    visible_in_picker: bool
