"""A story's owner hears of each new viewer on an open user stream (``lumigram.story_view``),
against a real server on loopback, on both shapes; views across a block or from an
account the owner mutes are not announced, nor a second view by the same account."""

from __future__ import annotations

import json

from lumigram.events import StoryViewed
from lumigram.services import Services
from lumigram.streaming.stories import stream_story_view
from tests.api.test_stories import API, _follow, _story
from tests.api.test_streaming import Server, event_source, server  # noqa: F401 (the fixture)
from tests.factories import create_user
from tests.settle import settle


async def test_the_owner_hears_of_new_viewers_but_not_across_a_block_or_a_mute(
    server: Server,  # noqa: F811
    services: Services,
) -> None:
    http = server.http
    alice, bob, carol, dave, erin = [await create_user(http) for _ in range(5)]
    for viewer in (bob, carol, dave, erin):
        await _follow(http, viewer, alice)
    story = await _story(http, alice)
    assert (await http.post(f"/api/v1/accounts/{dave['id']}/mute", headers=alice["headers"])).status_code == 200

    async with (
        event_source(server, "/api/v1/streaming/user", headers=alice["headers"]) as owner,
        event_source(server, "/api/v1/streaming/user", headers=bob["headers"]) as other,
    ):
        for viewer in (bob, bob, dave, carol):
            seen = await http.post(f"{API}/stories/{story['id']}/seen", headers=viewer["headers"])
            assert seen.status_code == 200, seen.text
        await settle(services)
        heard = json.loads(await owner.next("lumigram.story_view"))
        assert heard["story_id"] == story["id"]
        assert heard["account"]["id"] == bob["id"]
        assert heard["views_count"] in (1, 2, 3)  # as counted when the publisher read it
        heard = json.loads(await owner.next("lumigram.story_view"))
        assert heard["account"]["id"] == carol["id"]

        # Carol's view, announced again after Alice blocked her, is not streamed.
        blocked = await http.post(f"/api/v1/accounts/{carol['id']}/block", headers=alice["headers"])
        assert blocked.status_code == 200
        await stream_story_view(services, StoryViewed(story_id=int(story["id"]), account_id=int(carol["id"]),
                                                      owner_id=int(alice["id"])))  # fmt: skip
        # Published on the same channel after the ones above: once it is heard, they would be.
        await http.post(f"{API}/stories/{story['id']}/seen", headers=erin["headers"])
        await settle(services)
        assert json.loads(await owner.next("lumigram.story_view"))["account"]["id"] == erin["id"]
        assert [name for name, _ in owner.events if name == "lumigram.story_view"] == []
        assert [name for name, _ in other.events if name == "lumigram.story_view"] == []
