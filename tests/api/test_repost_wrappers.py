"""A repost by its own id, and reposts on open streams, on both shapes.

Mastodon reads a reblog's id as the wrapper status (its original nested in ``reblog``),
deletes it as an unreblog, and streams it to the reposter's followers as an ``update``
(``delete`` with the wrapper's id once taken back). One journey checks each of these and
the privacy rules around them: blocks, a locked reposter, ``show_reblogs``, mutes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from lumigram.services import Services
from tests.api.test_streaming import Server, next_frame, no_frame, serving
from tests.factories import create_app, create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _follow(http: httpx.AsyncClient, who: User, whom: User, **options: Any) -> None:
    await _ok(await http.post(f"/api/v1/accounts/{whom['id']}/follow", headers=who["headers"], json=options))


async def _status(http: httpx.AsyncClient, status_id: str, user: User | None) -> httpx.Response:
    return await http.get(f"/api/v1/statuses/{status_id}", headers=user["headers"] if user else {})


def _user_stream(server: Server, user: User) -> Any:
    return connect(f"{server.ws_url}?stream=user&access_token={user['token']}")


async def _update(ws: ClientConnection) -> dict[str, Any]:
    status: dict[str, Any] = json.loads((await next_frame(ws, "update"))["payload"])
    return status


async def test_a_repost_reads_deletes_and_streams_as_mastodons_reblog_wrapper(services: Services) -> None:
    async with serving(services) as server:
        http = server.http
        app = await create_app(http)
        author, reposter, reader, quiet, muter, shunned = await asyncio.gather(
            *(create_user(http, app=app) for _ in range(6))
        )
        post, *_ = await asyncio.gather(
            create_post(http, author["headers"], text="Pier at dusk"),
            *(_follow(http, follower, reposter) for follower in (reader, muter, shunned)),
            _follow(http, quiet, reposter, reblogs=False),  # turned this account's reposts off
            http.post(f"/api/v1/accounts/{author['id']}/mute", headers=muter["headers"]),
        )
        # After the follow: a block ends it, and the blocked one keeps their stream of follows.
        await _ok(await http.post(f"/api/v1/accounts/{shunned['id']}/block", headers=reposter["headers"]))

        async with (
            _user_stream(server, reposter) as own,
            _user_stream(server, reader) as follower,
            _user_stream(server, quiet) as quiet_ws,
            _user_stream(server, muter) as muter_ws,
        ):
            wrapper = await _ok(await http.post(f"/api/v1/statuses/{post['id']}/reblog", headers=reposter["headers"]))
            # The reader's home stream gets the wrapper, as Mastodon streams a reblog.
            streamed = await _update(follower)
            assert (streamed["id"], streamed["account"]["id"]) == (wrapper["id"], reposter["id"])
            assert streamed["reblog"]["id"] == post["id"]
            assert streamed["reblogged"] is False
            mine = await _update(own)
            assert (mine["id"], mine["reblogged"]) == (wrapper["id"], True)
            await settle(services)
            await no_frame(quiet_ws)  # show_reblogs off
            await no_frame(muter_ws)  # the original's author muted

            # Read by its own id: the wrapper, for who may see the original and the reposter.
            read = await _ok(await _status(http, wrapper["id"], reader))
            assert (read["id"], read["reblog"]["id"], read["account"]["id"]) == (
                wrapper["id"],
                post["id"],
                reposter["id"],
            )
            assert (await _ok(await _status(http, wrapper["id"], None)))["reblog"]["id"] == post["id"]
            assert (await _status(http, wrapper["id"], shunned)).status_code == 404  # blocked by the reposter
            many = await http.get(
                "/api/v1/statuses", params={"id[]": [wrapper["id"], post["id"]]}, headers=reader["headers"]
            )
            assert [s["id"] for s in await _ok_list(many)] == [wrapper["id"], post["id"]]

            # Someone else's repost is not theirs to delete; the reposter's delete is an unreblog.
            assert (
                await http.delete(f"/api/v1/statuses/{wrapper['id']}", headers=reader["headers"])
            ).status_code == 404
            gone = await _ok(await http.delete(f"/api/v1/statuses/{wrapper['id']}", headers=reposter["headers"]))
            assert (gone["id"], gone["reblog"]["id"], gone["reblog"]["reblogged"]) == (wrapper["id"], post["id"], False)
            assert (await next_frame(follower, "delete"))["payload"] == wrapper["id"]
            assert (await _status(http, wrapper["id"], reader)).status_code == 404
            original = await _ok(await _status(http, post["id"], reposter))
            assert (original["reblogged"], original["reblogs_count"]) == (False, 0)

        # Once the reposter locks their account, their reposts are for approved followers only.
        await _ok(
            await http.patch(
                "/api/v1/accounts/update_credentials", headers=reposter["headers"], data={"locked": "true"}
            )
        )
        again = await _ok(await http.post(f"/api/v1/statuses/{post['id']}/reblog", headers=reposter["headers"]))
        assert (await _ok(await _status(http, again["id"], reader)))["reblog"]["id"] == post["id"]
        for outsider in (author, None):
            assert (await _status(http, again["id"], outsider)).status_code == 404
        assert (await _status(http, "99999999999999999999", reader)).status_code == 404


async def _ok_list(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body
