"""``lumigram.events``: every event type survives its wire form, bad payloads are refused,
and payloads written by older code (before the typed events) still decode."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from lumigram import events
from lumigram.events import (
    EVENT_TYPES,
    AccountUpdated,
    BookmarkChanged,
    DomainEvent,
    FavouriteCreated,
    FollowCreated,
    MalformedEvent,
    MuteCreated,
    PostCreated,
    PostDeleted,
    PostUpdated,
    TagFollowed,
    decode,
    decode_as,
    to_payload,
)
from lumigram.infra.bus import Event

#: Past 2**53: a JSON number would lose its last digits.
BIG = 2**62 + 12345


def _payload_fields(cls: type[DomainEvent]) -> list[dataclasses.Field[Any]]:
    """The fields that travel in the payload (the event's own id travels beside it)."""
    return [f for f in dataclasses.fields(cls) if f.name != "id"]


def _sample(cls: type[DomainEvent]) -> DomainEvent:
    """An event of ``cls`` with every field set to a value that is not its default."""
    values: dict[str, Any] = {}
    for n, f in enumerate(_payload_fields(cls)):
        kind = str(f.type)
        if kind.startswith("list[int]"):
            values[f.name] = [BIG + n, 7]
        elif kind.startswith("list[str]"):
            values[f.name] = [f"tag{n}", "sunset"]
        elif kind.startswith("int"):
            values[f.name] = BIG + n
        elif kind.startswith("bool"):
            values[f.name] = False
        elif kind.startswith("str"):
            values[f.name] = f"text {n}"
        else:
            raise AssertionError(f"no sample for {cls.__name__}.{f.name}: {kind}")
    return cls(**values)


def _on_the_wire(event: DomainEvent, event_id: int = 1) -> Event:
    """As a consumer receives it: the payload through JSON, as the outbox stores it."""
    return Event(id=event_id, type=event.type, payload=orjson.loads(orjson.dumps(to_payload(event))))


@pytest.mark.parametrize("cls", list(EVENT_TYPES.values()), ids=list(EVENT_TYPES))
def test_every_event_type_round_trips(cls: type[DomainEvent]) -> None:
    event = _sample(cls)
    assert decode(_on_the_wire(event)) == event
    assert decode_as(_on_the_wire(event), cls) == event


@pytest.mark.parametrize("cls", list(EVENT_TYPES.values()), ids=list(EVENT_TYPES))
def test_ids_travel_as_strings(cls: type[DomainEvent]) -> None:
    payload = to_payload(_sample(cls))
    for f in _payload_fields(cls):
        if str(f.type).startswith("int"):
            assert payload[f.name] == str(getattr(_sample(cls), f.name))
        if str(f.type).startswith("list[int]"):
            assert all(isinstance(v, str) for v in payload[f.name])


def test_every_event_type_is_listed_once_under_its_name() -> None:
    listed = list(EVENT_TYPES.values())
    assert len(set(listed)) == len(listed)
    assert all(name == cls.type and name for name, cls in EVENT_TYPES.items())
    declared = {
        value
        for value in vars(events).values()
        if isinstance(value, type) and issubclass(value, DomainEvent) and value.type
    }
    assert declared == set(listed)


def test_optional_fields_keep_their_absence() -> None:
    top_level = PostCreated(status_id=5, account_id=6, visibility="public")
    payload = to_payload(top_level)
    assert payload["in_reply_to_id"] is None
    assert payload["mentions"] == []
    assert decode(_on_the_wire(top_level)) == top_level
    forever = MuteCreated(account_id=1, target_account_id=2)
    assert decode(_on_the_wire(forever)) == forever


@pytest.mark.parametrize(
    ("type_", "payload", "problem"),
    [
        ("follow.created", {"target_account_id": "2"}, "account_id is missing"),
        ("follow.created", {"account_id": "x", "target_account_id": "2"}, "account_id is not a valid int"),
        ("follow.created", {"account_id": True, "target_account_id": "2"}, "account_id is not a valid int"),
        ("post.pinned", {"status_id": "1", "account_id": "2", "pinned": "yes"}, "pinned is not a valid bool"),
        ("post.created", {"status_id": "1", "account_id": "2", "visibility": 3}, "visibility is not a valid str"),
        (
            "post.created",
            {"status_id": "1", "account_id": "2", "visibility": "public", "mentions": "3"},
            "mentions is not a valid",
        ),
        (
            "post.created",
            {"status_id": "1", "account_id": "2", "visibility": "public", "mentions": ["3", "x"]},
            "mentions is not a valid",
        ),
        ("no.such.thing", {}, "unknown event type"),
    ],
)
def test_malformed_payloads_are_refused(type_: str, payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedEvent, match=problem):
        decode(Event(id=1, type=type_, payload=payload))


def test_decode_as_refuses_another_type() -> None:
    followed = _on_the_wire(FollowCreated(account_id=1, target_account_id=2))
    with pytest.raises(MalformedEvent, match="not a PostCreated"):
        decode_as(followed, PostCreated)


# --- payloads as the services wrote them by hand, before the typed events ------------------


def test_old_post_created_payload_decodes() -> None:
    old = {
        "status_id": "101",
        "account_id": "7",
        "visibility": "public",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "mentions": ["8", "9", "8"],
        "tags": ["sunset", ""],
        "created_ms": 1700000000000,
        "followers_count": 12,
    }
    assert decode(Event(id=1, type="post.created", payload=old)) == PostCreated(
        status_id=101,
        account_id=7,
        visibility="public",
        mentions=[8, 9],  # once each, in order
        tags=["sunset"],
        created_ms=1700000000000,
        followers_count=12,
    )
    # Older still: no counts, no time, no lists.
    oldest = {"status_id": "101", "account_id": "7", "visibility": "unlisted"}
    assert decode(Event(id=2, type="post.created", payload=oldest)) == PostCreated(101, 7, "unlisted")


def test_old_post_deleted_payload_decodes_without_the_deleter() -> None:
    # Tags and mentions were only written where a stream needed them; the deleter not at all.
    old = {"status_id": "5", "account_id": "6", "visibility": "public", "in_reply_to_id": None}
    deleted = decode_as(Event(id=1, type="post.deleted", payload=old), PostDeleted)
    assert deleted == PostDeleted(status_id=5, account_id=6, visibility="public")
    assert deleted.deleted_by is None
    new = PostDeleted(status_id=5, account_id=6, visibility="direct", mentions=[9], deleted_by=6)
    assert to_payload(new)["deleted_by"] == "6"


def test_old_like_and_edit_payloads_decode() -> None:
    liked = {"status_id": "1", "account_id": "2", "status_account_id": "3", "count_tag": None}
    assert decode(Event(id=1, type="favourite.created", payload=liked)) == FavouriteCreated(1, 2, 3)
    tagged = {**liked, "count_tag": "t1"}
    assert decode(Event(id=2, type="favourite.created", payload=tagged)) == FavouriteCreated(1, 2, 3, "t1")
    edited = {"status_id": "1", "account_id": "2", "visibility": "private", "new_mentions": ["4"]}
    assert decode(Event(id=3, type="post.updated", payload=edited)) == PostUpdated(1, 2, "private", [4])


def test_old_graph_and_tag_payloads_decode() -> None:
    muted = {"account_id": "1", "target_account_id": "2", "notifications": False, "expires_at": "2030-01-01T00:00:00"}
    assert decode(Event(id=1, type="mute.created", payload=muted)) == MuteCreated(1, 2, False, "2030-01-01T00:00:00")
    tag = {"account_id": "1", "tag_id": "2", "tag": "sunset"}
    assert decode(Event(id=2, type="tag.followed", payload=tag)) == TagFollowed(1, 2, "sunset")


def test_events_new_with_the_unit_of_work_round_trip() -> None:
    for event in (AccountUpdated(account_id=BIG), BookmarkChanged(status_id=1, account_id=BIG, bookmarked=True)):
        assert decode(_on_the_wire(event)) == event
