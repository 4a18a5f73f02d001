"""Records the stories service hands out, and the rules' constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lumigram.accounts.models import Account
from lumigram.stories.affinity import Signals
from lumigram.uploads.models import MediaRecord

#: How long a story is shown: from ``created_at`` until exactly this much later.
LIFETIME = timedelta(hours=24)
#: Live stories one account may have at once.
MAX_LIVE = 100
MAX_CAPTION = 2200
MAX_LINK = 2048
MAX_REPLY = 1000
MAX_EMOJI = 32
MAX_HIGHLIGHT_TITLE = 100
MAX_HIGHLIGHT_STORIES = 100
#: Seconds a story is shown for before the next (Pixelfed's ``duration``).
DEFAULT_DURATION = 10
MAX_DURATION = 60
#: The longest video a story plays.
MAX_VIDEO_SECONDS = 60

FOLLOWERS = "followers"
CLOSE_FRIENDS = "close_friends"
AUDIENCES = (FOLLOWERS, CLOSE_FRIENDS)

DRAFT = "draft"
LIVE = "live"

REPLY = "reply"
REACTION = "reaction"

#: Notification types (namespaced, as Mastodon asks of extensions).
STORY_MENTION = "lumigram.story_mention"
STORY_REPLY = "lumigram.story_reply"
STORY_REACTION = "lumigram.story_reaction"


@dataclass(frozen=True, slots=True)
class StoryDraft:
    """What a client sends to make a story."""

    media_id: int
    caption: str = ""
    link: str | None = None
    audience: str = FOLLOWERS
    replies_enabled: bool = True
    reactions_enabled: bool = True
    duration: int = DEFAULT_DURATION


@dataclass(frozen=True, slots=True)
class Story:
    id: int
    account_id: int
    state: str
    caption: str
    link: str | None
    audience: str
    replies_enabled: bool
    reactions_enabled: bool
    duration: int
    views_count: int
    created_at: datetime
    expires_at: datetime
    account: Account
    media: MediaRecord
    mentions: list[Account] = field(default_factory=list)
    #: Whether the viewer asking has seen it (always True for its owner).
    seen: bool = False

    def live_at(self, now: datetime) -> bool:
        return self.state == LIVE and self.created_at <= now < self.expires_at


@dataclass(frozen=True, slots=True)
class TrayEntry:
    """One account in the viewer's tray, with its live stories oldest first, and what
    ranks it: the viewer's signals towards the account (``stories.affinity``)."""

    account: Account
    stories: list[Story]
    affinity: Signals = field(default_factory=Signals)

    @property
    def seen(self) -> bool:
        return all(story.seen for story in self.stories)

    @property
    def latest_at(self) -> datetime:
        return max(story.created_at for story in self.stories)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who saw a story, and when first."""

    account: Account
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Reply:
    id: int
    account: Account
    kind: str
    content: str
    created_at: datetime
    #: The story's owner (known when the reply is made; 0 in the owner's own listings).
    owner_id: int = 0


@dataclass(frozen=True, slots=True)
class Highlight:
    id: int
    account_id: int
    title: str
    cover_story_id: int | None
    position: int
    created_at: datetime
    #: The stories the viewer may see, in the highlight's order (empty in listings).
    stories: list[Story] = field(default_factory=list)
    stories_count: int = 0
    cover: Story | None = None
