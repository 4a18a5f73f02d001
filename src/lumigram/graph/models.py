"""Immutable records the graph service hands out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lumigram.accounts.models import Account


@dataclass(frozen=True, slots=True)
class Relationship:
    """How ``viewer`` and the account ``id`` relate (Mastodon's Relationship, minus constants)."""

    id: int
    following: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    requested: bool = False
    requested_by: bool = False
    endorsed: bool = False
    #: The viewer's private note about the account ("" for none).
    note: str = ""


@dataclass(frozen=True, slots=True)
class MutedAccount:
    """An entry of the mutes list: the account and when its mute ends (None: never)."""

    account: Account
    expires_at: datetime | None
