"""Polls on both shapes: made with a post (form and JSON), checked, voted in once each
(also concurrently), hidden totals, privacy, expiry by the services' clock, per-reader
``voted`` in kept home pages, and the end-of-poll notification sent once by the sweep."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from lumigram.polls.service import end_due_polls
from lumigram.services import Services
from tests.factories import create_user, upload_photo
from tests.settle import settle


def _form_poll(options: list[str], expires_in: int, **flags: str) -> list[tuple[str, str]]:
    fields = [("poll[options][]", option) for option in options] + [("poll[expires_in]", str(expires_in))]
    return fields + [(f"poll[{name}]", value) for name, value in flags.items()]


async def _vote(client: httpx.AsyncClient, user: dict[str, Any], poll_id: str, choices: list[int]) -> httpx.Response:
    return await client.post(f"/api/v1/polls/{poll_id}/votes", json={"choices": choices}, headers=user["headers"])


async def _home_poll(client: httpx.AsyncClient, user: dict[str, Any], status_id: str) -> dict[str, Any]:
    home = await client.get("/api/v1/timelines/home", headers=user["headers"])
    assert home.status_code == 200, home.text
    found: dict[str, Any] = next(s["poll"] for s in home.json() if s["id"] == status_id)
    return found


async def test_polls_are_made_voted_in_hidden_kept_private_and_closed_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob, carol, dave, eve = [await create_user(client) for _ in range(5)]
    for follower in (bob, dave):
        followed = await client.post(f"/api/v1/accounts/{alice['id']}/follow", headers=follower["headers"])
        assert followed.status_code == 200, followed.text

    limits = (await client.get("/api/v2/instance")).json()["configuration"]["polls"]
    assert limits == {
        "max_options": 4,
        "max_characters_per_option": 50,
        "min_expiration": 300,
        "max_expiration": 30 * 24 * 3600,
    }

    # Refused: too many options, too long an option, too short a time, a poll with photos,
    # and changing a poll once posted.
    photo = await upload_photo(client, alice["headers"])
    for bad, field in (
        ({"poll": {"options": ["a", "b", "c", "d", "e"], "expires_in": 600}}, "poll.options"),
        ({"poll": {"options": ["a", "x" * 51], "expires_in": 600}}, "poll.options"),
        ({"poll": {"options": ["a", "b"], "expires_in": 60}}, "poll.expires_in"),
        ({"poll": {"options": ["a", "b"], "expires_in": 600}, "media_ids": [photo["id"]]}, "poll"),
    ):
        refused = await client.post("/api/v1/statuses", json={"status": "which?", **bad}, headers=alice["headers"])
        assert refused.status_code == 422, refused.text
        assert {"error", "details"} <= refused.json().keys(), refused.text
        assert field in refused.json()["details"], refused.text

    # A single-choice poll with hidden totals, as a form; a multiple-choice one as JSON.
    made = await client.post(
        "/api/v1/statuses",
        content=urlencode(
            [("status", "Beach or mountains?"), *_form_poll(["beach", "mountains", "city"], 600, hide_totals="true")]
        ),
        headers={**alice["headers"], "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert made.status_code == 200, made.text
    hidden = made.json()
    poll_id = hidden["poll"]["id"]
    assert [o["title"] for o in hidden["poll"]["options"]] == ["beach", "mountains", "city"]
    assert (hidden["poll"]["expired"], hidden["poll"]["multiple"]) == (False, False)
    many = await client.post(
        "/api/v1/statuses",
        json={
            "status": "Pick your snacks",
            "poll": {"options": ["chips", "fruit", "nuts"], "expires_in": 3600, "multiple": True},
        },
        headers=alice["headers"],
    )
    assert many.status_code == 200, many.text
    multi_id = many.json()["poll"]["id"]
    edit = await client.put(
        f"/api/v1/statuses/{hidden['id']}",
        json={"status": "Beach?", "poll": {"options": ["yes", "no"], "expires_in": 600}},
        headers=alice["headers"],
    )
    assert edit.status_code == 422, edit.text
    assert "poll" in edit.json()["details"], edit.text
    await settle(services)
    # Both followers' kept home pages, rendered before anyone votes.
    assert (await _home_poll(client, bob, hidden["id"]))["voted"] is False
    assert (await _home_poll(client, dave, hidden["id"]))["voted"] is False

    # One choice only, never one's own poll, never twice.
    assert (await _vote(client, bob, poll_id, [0, 1])).status_code == 422
    assert (await _vote(client, bob, poll_id, [7])).status_code == 422
    assert (await _vote(client, alice, poll_id, [0])).status_code == 422
    voted = await _vote(client, bob, poll_id, [1])
    assert voted.status_code == 200, voted.text
    seen = voted.json()
    assert (seen["voted"], seen["own_votes"]) == (True, [1])
    assert (seen["votes_count"], [o["votes_count"] for o in seen["options"]]) == (1, [None, None, None])
    twice = await _vote(client, bob, poll_id, [2])
    assert twice.status_code == 422, twice.text
    assert "already voted" in twice.json()["error"], twice.text
    # The owner sees the hidden totals; the voter's kept page shows their vote, another
    # reader's page never shows it.
    own = (await client.get(f"/api/v1/polls/{poll_id}", headers=alice["headers"])).json()
    assert ([o["votes_count"] for o in own["options"]], own["voted"]) == ([0, 1, 0], True)
    assert (await _home_poll(client, bob, hidden["id"]))["own_votes"] == [1]
    for_dave = await _home_poll(client, dave, hidden["id"])
    assert (for_dave["voted"], for_dave["own_votes"]) == (False, [])
    anonymous = (await client.get(f"/api/v1/statuses/{hidden['id']}")).json()["poll"]
    assert "voted" not in anonymous
    assert anonymous["votes_count"] == 1

    # Concurrent votes: each voter counted once, a voter racing themself only once.
    results = await asyncio.gather(
        _vote(client, carol, multi_id, [0, 2]),
        _vote(client, dave, multi_id, [1]),
        _vote(client, bob, multi_id, [0]),
        _vote(client, eve, multi_id, [2]),
        _vote(client, eve, multi_id, [0]),
    )
    assert sorted(r.status_code for r in results) == [200, 200, 200, 200, 422], [r.text for r in results]
    counted = (await client.get(f"/api/v1/polls/{multi_id}", headers=carol["headers"])).json()
    assert (counted["voters_count"], counted["votes_count"]) == (4, 5)
    assert sum(o["votes_count"] for o in counted["options"]) == 5
    assert counted["own_votes"] == [0, 2]

    # A locked account's followers-only poll: strangers can neither read nor vote.
    locked = await client.patch("/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=eve["headers"])
    assert locked.status_code == 200, locked.text
    secret = await client.post(
        "/api/v1/statuses",
        json={"status": "Secret?", "visibility": "private", "poll": {"options": ["a", "b"], "expires_in": 300}},
        headers=eve["headers"],
    )
    assert secret.status_code == 200, secret.text
    secret_id = secret.json()["poll"]["id"]
    assert (await client.get(f"/api/v1/polls/{secret_id}", headers=carol["headers"])).status_code == 404
    assert (await client.get(f"/api/v1/polls/{secret_id}")).status_code == 404
    assert (await _vote(client, carol, secret_id, [0])).status_code == 404
    assert (await client.get(f"/api/v1/polls/{secret_id}", headers=eve["headers"])).status_code == 200

    # Time passes (the services' clock): the polls end, totals show, votes are refused.
    started = services.now()
    services.clock = lambda: started + timedelta(hours=2)
    ended = (await client.get(f"/api/v1/polls/{poll_id}", headers=bob["headers"])).json()
    assert (ended["expired"], [o["votes_count"] for o in ended["options"]]) == (True, [0, 1, 0])
    late = await _vote(client, carol, poll_id, [0])
    assert late.status_code == 422, late.text
    assert "ended" in late.json()["error"], late.text

    # Two sweeps at once (two workers): each poll closes once, and its owner and voters
    # hear of it once.
    first, second = await asyncio.gather(end_due_polls(services), end_due_polls(services))
    assert sorted(map(str, first + second)) == sorted([poll_id, multi_id, secret_id])
    assert await end_due_polls(services) == []
    await settle(services)
    expected = {
        "alice": {hidden["id"], many.json()["id"]},
        "bob": {hidden["id"], many.json()["id"]},
        "carol": {many.json()["id"]},
        "eve": {many.json()["id"], secret.json()["id"]},
    }
    for name, user in (("alice", alice), ("bob", bob), ("carol", carol), ("eve", eve)):
        listed = await client.get("/api/v1/notifications", params={"types[]": "poll"}, headers=user["headers"])
        assert listed.status_code == 200, listed.text
        polls = [n["status"]["id"] for n in listed.json() if n["type"] == "poll"]
        assert sorted(polls) == sorted(expected[name]), (name, listed.text)
