"""Every domain event, as a frozen dataclass with typed fields, and its one wire form.

An event is a past-tense fact written to the outbox in the transaction that made it true
(``lumigram.infra.outbox``), then published to the bus and handed to the consumers in
``lumigram.consumers``. This module is the only place that turns an event into a
payload and back: on the wire ids travel as strings (JavaScript clients and JSON tools
lose precision past 2**53), lists of ids as lists of strings.

Decoding is lenient where old writers were (a list field an older event lacks is empty,
an optional id is None) and strict where a consumer could not act (a missing id raises
``MalformedEvent``, which the consumer logs and skips: redelivering it would not help).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, Union

from lumigram.infra.bus import Event


class MalformedEvent(ValueError):
    """An event whose payload lacks a field its type needs, or holds one of the wrong kind."""


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base of every event; ``type`` is the name on the wire and the bus subject."""

    type: ClassVar[str] = ""
    #: The id the outbox gave the event, which ``decode`` carries over from the bus: what a
    #: consumer's once-only bookkeeping is keyed on. Not in the payload (the bus event
    #: carries it); 0 on an event not yet written.
    id: int = field(default=0, kw_only=True, compare=False)


# --- accounts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRegistered(DomainEvent):
    type: ClassVar[str] = "user.registered"
    user_id: int
    account_id: int
    username: str


@dataclass(frozen=True, slots=True)
class VerificationRequested(DomainEvent):
    """A person asked for a new confirmation message on ``channel`` ("email" or "phone")."""

    type: ClassVar[str] = "user.verification_requested"
    user_id: int
    channel: str


@dataclass(frozen=True, slots=True)
class AccountUpdated(DomainEvent):
    """A profile changed (name, bio, pictures, lock): what its posts show, or who may see them."""

    type: ClassVar[str] = "account.updated"
    account_id: int


@dataclass(frozen=True, slots=True)
class AccountDeleted(DomainEvent):
    """An account was deleted: its row is an emptied tombstone and its tokens are revoked.
    Each package's consumer removes what the account left in its keeping, in batches."""

    type: ClassVar[str] = "account.deleted"
    account_id: int


# --- the graph ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Edge(DomainEvent):
    """``account_id`` acted on ``target_account_id``."""

    account_id: int
    target_account_id: int


@dataclass(frozen=True, slots=True)
class FollowCreated(_Edge):
    type: ClassVar[str] = "follow.created"


@dataclass(frozen=True, slots=True)
class FollowUpdated(_Edge):
    """A follow's options changed (its ``reblogs`` or ``notify`` switch)."""

    type: ClassVar[str] = "follow.updated"


@dataclass(frozen=True, slots=True)
class FollowRemoved(_Edge):
    type: ClassVar[str] = "follow.removed"


@dataclass(frozen=True, slots=True)
class FollowRequested(_Edge):
    type: ClassVar[str] = "follow.requested"


@dataclass(frozen=True, slots=True)
class FollowRequestAuthorized(_Edge):
    """``account_id`` (the requester) was let in by ``target_account_id``."""

    type: ClassVar[str] = "follow_request.authorized"


@dataclass(frozen=True, slots=True)
class FollowRequestRejected(_Edge):
    type: ClassVar[str] = "follow_request.rejected"


@dataclass(frozen=True, slots=True)
class FollowRequestWithdrawn(_Edge):
    type: ClassVar[str] = "follow_request.withdrawn"


@dataclass(frozen=True, slots=True)
class BlockCreated(_Edge):
    type: ClassVar[str] = "block.created"


@dataclass(frozen=True, slots=True)
class BlockRemoved(_Edge):
    type: ClassVar[str] = "block.removed"


@dataclass(frozen=True, slots=True)
class MuteCreated(_Edge):
    type: ClassVar[str] = "mute.created"
    notifications: bool = True
    #: ISO 8601, or None for a mute without an end.
    expires_at: str | None = None


@dataclass(frozen=True, slots=True)
class MuteRemoved(_Edge):
    type: ClassVar[str] = "mute.removed"


# --- posts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostCreated(DomainEvent):
    type: ClassVar[str] = "post.created"
    status_id: int
    account_id: int
    visibility: str
    in_reply_to_id: int | None = None
    in_reply_to_account_id: int | None = None
    mentions: list[int] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    created_ms: int = 0
    #: The fan-out's choice (push to followers, or merge at read time) without a read.
    followers_count: int = 0


@dataclass(frozen=True, slots=True)
class PostUpdated(DomainEvent):
    type: ClassVar[str] = "post.updated"
    status_id: int
    account_id: int
    visibility: str
    #: Accounts the edit mentions for the first time: they are told, as in Mastodon.
    new_mentions: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PostDeleted(DomainEvent):
    """The post's tag and mention rows are gone when this is read, so the streams that
    carried it learn from here where it was: tags for hashtag streams (public posts),
    mentions for direct streams (direct posts)."""

    type: ClassVar[str] = "post.deleted"
    status_id: int
    account_id: int
    visibility: str
    in_reply_to_id: int | None = None
    tags: list[str] = field(default_factory=list)
    mentions: list[int] = field(default_factory=list)
    #: Who deleted it: the author, or the owner of the post a comment answers (None from
    #: older writers, which meant the author).
    deleted_by: int | None = None


@dataclass(frozen=True, slots=True)
class PostPinned(DomainEvent):
    """Pinned or unpinned: the author's profile and home pages show ``pinned``."""

    type: ClassVar[str] = "post.pinned"
    status_id: int
    account_id: int
    pinned: bool


@dataclass(frozen=True, slots=True)
class TagFollowed(DomainEvent):
    type: ClassVar[str] = "tag.followed"
    account_id: int
    tag_id: int
    tag: str


@dataclass(frozen=True, slots=True)
class TagUnfollowed(DomainEvent):
    type: ClassVar[str] = "tag.unfollowed"
    account_id: int
    tag_id: int
    tag: str


# --- media -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaUploaded(DomainEvent):
    """A video was stored as sent; the worker transcodes it."""

    type: ClassVar[str] = "media.uploaded"
    media_id: int
    account_id: int


# --- interactions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Like(DomainEvent):
    status_id: int
    account_id: int
    status_account_id: int
    #: Which pending-counter slot the request's ±1 went into (``lumigram.posts.counters``).
    count_tag: str | None = None


@dataclass(frozen=True, slots=True)
class FavouriteCreated(_Like):
    type: ClassVar[str] = "favourite.created"


@dataclass(frozen=True, slots=True)
class FavouriteRemoved(_Like):
    type: ClassVar[str] = "favourite.removed"


@dataclass(frozen=True, slots=True)
class BookmarkChanged(DomainEvent):
    """Bookmarked or not: only the bookmarker's own kept pages show it."""

    type: ClassVar[str] = "bookmark.changed"
    status_id: int
    account_id: int
    bookmarked: bool


# --- stories -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoryCreated(DomainEvent):
    """A story went live: its mentions are told, the followers' open streams shown it."""

    type: ClassVar[str] = "story.created"
    story_id: int
    account_id: int
    #: "followers" or "close_friends".
    audience: str
    mentions: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoryReplied(DomainEvent):
    """``account_id`` answered ``owner_id``'s story with a reply or an emoji reaction."""

    type: ClassVar[str] = "story.replied"
    story_id: int
    account_id: int
    owner_id: int
    #: "reply" or "reaction".
    kind: str


@dataclass(frozen=True, slots=True)
class StoryViewed(DomainEvent):
    """``account_id`` saw ``owner_id``'s story for the first time: the owner's open user
    streams hear of it."""

    type: ClassVar[str] = "story.viewed"
    story_id: int
    account_id: int
    owner_id: int


# --- direct messages ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ThreadEvent(DomainEvent):
    """Something happened in a message thread; ``audience`` is who was a member then and
    has not declined it: the only accounts its stream messages may go to."""

    thread_id: int
    account_id: int
    audience: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MessageSent(_ThreadEvent):
    type: ClassVar[str] = "message.sent"
    message_id: int = 0
    #: Recipients for whom this message opened a request: told once, never again.
    requested: list[int] = field(default_factory=list)
    #: Whether its writer published the message (and the request) to the members' open
    #: streams itself once it committed, leaving only the pushes to the bus.
    streamed: bool = False


@dataclass(frozen=True, slots=True)
class MessageEdited(_ThreadEvent):
    type: ClassVar[str] = "message.edited"
    message_id: int = 0


@dataclass(frozen=True, slots=True)
class MessageUnsent(_ThreadEvent):
    type: ClassVar[str] = "message.unsent"
    message_id: int = 0


@dataclass(frozen=True, slots=True)
class MessageReacted(_ThreadEvent):
    """``account_id`` reacted with ``emoji`` (empty: took the reaction back)."""

    type: ClassVar[str] = "message.reacted"
    message_id: int = 0
    emoji: str = ""


@dataclass(frozen=True, slots=True)
class ThreadRead(_ThreadEvent):
    type: ClassVar[str] = "thread.read"
    last_read_id: int = 0


@dataclass(frozen=True, slots=True)
class ThreadMembersChanged(_ThreadEvent):
    """``account_id`` added or removed members (or left: removed is themselves)."""

    type: ClassVar[str] = "thread.members_changed"
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


# --- reposts, lists, hidden words --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Repost(DomainEvent):
    """``account_id`` reposted (or took back the repost of) ``status_id``, a post of
    ``status_account_id``; ``reblog_id`` is the repost's own id, its place in feeds."""

    reblog_id: int
    status_id: int
    account_id: int
    status_account_id: int


@dataclass(frozen=True, slots=True)
class ReblogCreated(_Repost):
    type: ClassVar[str] = "reblog.created"


@dataclass(frozen=True, slots=True)
class ReblogRemoved(_Repost):
    type: ClassVar[str] = "reblog.removed"


@dataclass(frozen=True, slots=True)
class ListChanged(DomainEvent):
    """One of the owner's lists was made, changed, emptied or deleted: an exclusive
    list's members leave (or re-enter) the owner's home feed."""

    type: ClassVar[str] = "list.changed"
    account_id: int
    list_id: int


@dataclass(frozen=True, slots=True)
class FiltersChanged(DomainEvent):
    """The owner's hidden words changed: what their timelines hide or warn about."""

    type: ClassVar[str] = "filters.changed"
    account_id: int


# --- polls -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollVoted(DomainEvent):
    """``account_id`` voted in the poll of ``status_id``, a post of ``status_account_id``:
    the voter's pages show ``voted`` and everyone's show new counts."""

    type: ClassVar[str] = "poll.voted"
    status_id: int
    account_id: int
    status_account_id: int


@dataclass(frozen=True, slots=True)
class PollEnded(DomainEvent):
    """The poll of ``status_id`` (a post of ``account_id``) closed: its owner and voters
    are told, once, by the one sweep that claimed it."""

    type: ClassVar[str] = "poll.ended"
    status_id: int
    account_id: int


# --- notifications -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationCreated(DomainEvent):
    """A notification for a recipient with a push subscription: the Web Push consumer sends it.

    An event from before ``account_id`` was carried leaves it None."""

    type: ClassVar[str] = "notification.created"
    notification_id: int
    account_id: int | None = None
    #: False: the recipient had no push subscription when it was made (older writers).
    push: bool = True
    #: The notification's type (``favourite``, ``follow`` …); empty in older events.
    notification_type: str = ""


# --- the wire form -----------------------------------------------------------------------

E = TypeVar("E", bound=DomainEvent)

#: Every event type by its wire name.
EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.type: cls
    for cls in (
        UserRegistered,
        VerificationRequested,
        AccountUpdated,
        AccountDeleted,
        FollowCreated,
        FollowUpdated,
        FollowRemoved,
        FollowRequested,
        FollowRequestAuthorized,
        FollowRequestRejected,
        FollowRequestWithdrawn,
        BlockCreated,
        BlockRemoved,
        MuteCreated,
        MuteRemoved,
        PostCreated,
        PostUpdated,
        PostDeleted,
        PostPinned,
        TagFollowed,
        TagUnfollowed,
        MediaUploaded,
        FavouriteCreated,
        FavouriteRemoved,
        BookmarkChanged,
        StoryCreated,
        StoryReplied,
        StoryViewed,
        ReblogCreated,
        ReblogRemoved,
        ListChanged,
        FiltersChanged,
        PollVoted,
        PollEnded,
        NotificationCreated,
        MessageSent,
        MessageEdited,
        MessageUnsent,
        MessageReacted,
        ThreadRead,
        ThreadMembersChanged,
    )
}


@dataclass(frozen=True, slots=True)
class _Field:
    """One payload field of an event type, with its wire conversions chosen once."""

    name: str
    #: No default: a payload without it cannot make the event.
    required: bool
    #: ``X | None``: a missing or null value is None.
    optional: bool
    #: The wire value (not None) as the field's Python value; raises ``MalformedEvent``.
    read: Callable[[str, Any], Any]
    #: The field's Python value (not None) as its wire value.
    write: Callable[[Any], Any]


def _read_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise MalformedEvent(f"{name} is not a valid int")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MalformedEvent(f"{name} is not a valid int") from None


def _reader_of(kind: Any) -> Callable[[str, Any], Any]:
    """The check and conversion of one wire value into ``kind`` (not optional)."""
    if kind is int:
        return _read_int
    if kind is bool or kind is str:

        def exactly(name: str, value: Any) -> Any:
            if not isinstance(value, kind):
                raise MalformedEvent(f"{name} is not a valid {kind.__name__}")
            return value

        return exactly
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        invalid = f"is not a valid {getattr(kind, '__name__', kind)}"

        def listed(name: str, value: Any) -> list[Any]:
            if not isinstance(value, list):
                raise MalformedEvent(f"{name} {invalid}")
            if item is int:
                # Once each, in order: a consumer acts once per account.
                try:
                    return list(dict.fromkeys(int(v) for v in value))
                except (TypeError, ValueError):
                    raise MalformedEvent(f"{name} {invalid}") from None
            return [v for v in value if isinstance(v, str) and v]

        return listed

    def unsupported(name: str, value: Any) -> Any:
        raise MalformedEvent(f"{name} has a type events cannot carry")

    return unsupported


def _writer_of(kind: Any) -> Callable[[Any], Any]:
    """One field's value (not None) as it travels: ids as strings, past 2**53 too."""
    if kind is int:
        return str
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        if item is int:
            return lambda value: [str(v) for v in value]
        return list
    return lambda value: value


def _describe(cls: type[DomainEvent]) -> tuple[_Field, ...]:
    """Each payload field of ``cls`` (all but ``id``), its types resolved once: encoding
    and decoding are on every write and every consumer's turn, and asking ``typing``
    about each field there doubled a decode's time (a post's, 7 against 15 µs)."""
    hints = typing.get_type_hints(cls)
    described = []
    for f in dataclasses.fields(cls):
        if f.name == "id":
            continue
        kind = hints[f.name]
        optional = typing.get_origin(kind) in (Union, types.UnionType) and type(None) in typing.get_args(kind)
        if optional:
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        described.append(_Field(f.name, required, optional, _reader_of(kind), _writer_of(kind)))
    return tuple(described)


#: Each type's fields, resolved once at import.
_FIELDS = {cls: _describe(cls) for cls in EVENT_TYPES.values()}


def to_payload(event: DomainEvent) -> dict[str, Any]:
    """The JSON-compatible payload ``event`` travels as."""
    payload: dict[str, Any] = {}
    for f in _FIELDS[type(event)]:
        value = getattr(event, f.name)
        payload[f.name] = None if value is None else f.write(value)
    return payload


def decode(event: Event) -> DomainEvent:
    """The typed event a bus ``Event`` carries, with its id; ``MalformedEvent`` when it cannot be one."""
    cls = EVENT_TYPES.get(event.type)
    if cls is None:
        raise MalformedEvent(f"unknown event type {event.type!r}")
    values: dict[str, Any] = {}
    payload = event.payload
    for f in _FIELDS[cls]:
        raw = payload.get(f.name)
        if raw is None:
            if not f.required:
                continue  # the field's default: an older writer, or nothing to say
            if not f.optional:
                raise MalformedEvent(f"{f.name} is missing")
            values[f.name] = None
            continue
        values[f.name] = f.read(f.name, raw)
    return cls(**values, id=event.id)


def decode_as(event: Event, cls: type[E]) -> E:
    """``decode``, checked to be a ``cls``: for a handler subscribed to that type alone."""
    decoded = decode(event)
    if not isinstance(decoded, cls):
        raise MalformedEvent(f"{event.type!r} is not a {cls.__name__}")
    return decoded
