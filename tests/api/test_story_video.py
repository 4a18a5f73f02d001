"""A video story on both shapes, posted the way Pixelfed's apps post one (add, then
publish): transcoded without the HLS ladder only reels play, and shown over the 9:16
backdrop the server makes from its poster."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from lumigram.services import Services
from tests.api.test_stories import API, _key
from tests.factories import create_user
from tests.settle import settle
from tests.video_clips import make_clip


async def test_a_pixelfed_video_story_has_no_hls_ladder_and_gets_a_backdrop(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner = await create_user(client)
    clip = make_clip(width=180, height=320, seconds=1.0, audio=False)
    added = await client.post(
        "/api/v1.1/stories/add", headers=owner["headers"], files={"file": ("story.mp4", clip, "video/mp4")}
    )
    assert added.status_code == 200, added.text
    await settle(services)  # the transcode
    published = await client.post(
        "/api/v1.1/stories/publish", headers=owner["headers"], params={"media_id": added.json()["media_id"]}
    )
    assert published.json() == {"code": 200, "msg": "Successfully published"}, published.text

    (story,) = (await client.get(f"{API}/accounts/{owner['id']}/stories", headers=owner["headers"])).json()
    media = story["media_attachment"]
    assert media["type"] == "video"
    assert media["url"].split("?")[0].endswith(".mp4")
    # Vertical, yet no ladder: a story's video is never a reel.
    assert media["lumigram"]["hls_url"] is None
    backdrop = Image.open(io.BytesIO(await services.blobs.get(_key(media["lumigram"]["backdrop_url"]))))
    assert backdrop.size == (1080, 1920)
    assert media["meta"]["story"]["fills"] is True  # a 9:16 clip fills the frame; the backdrop is for others
