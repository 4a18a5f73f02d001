"""New stories on the followers' open user streams.

``story.created`` becomes a ``lumigram.story`` message (the story entity of the extension
API, as a follower sees it before watching it) on ``timeline:{follower}`` for each
follower with a stream open who may see it: not those muting or blocked either way, and
for a close-friends story only the owner's close friends.
"""

from __future__ import annotations

from lumigram.entities.stories import story_entity
from lumigram.errors import NotFound
from lumigram.events import StoryCreated
from lumigram.graph.service import follower_ids, shielded_from
from lumigram.lists.service import close_friends_among
from lumigram.services import Services
from lumigram.stories import service as stories
from lumigram.stories.models import CLOSE_FRIENDS
from lumigram.streaming import channels

#: Followers read per round trip while looking for connected ones.
BATCH = 1000
EVENT = "lumigram.story"


async def stream_new_story(services: Services, event: StoryCreated) -> None:
    if not await channels.anyone_connected(services.cache):
        return
    try:
        story = await stories.get_story(services, event.account_id, event.story_id)
    except NotFound:  # gone or expired already: nothing to announce
        return
    message = channels.encode(EVENT, story_entity(services, story, viewer_id=0) | {"seen": False})
    after: int | None = None
    while True:
        batch = await follower_ids(services, event.account_id, after=after, limit=BATCH)
        online = await channels.connected(services.cache, batch) if batch else []
        hidden = await shielded_from(services, event.account_id, online)
        readers = [r for r in online if r not in hidden]
        if event.audience == CLOSE_FRIENDS and readers:
            async with services.db.connect() as conn:
                close = await close_friends_among(conn, event.account_id, readers)
            readers = [r for r in readers if r in close]
        for reader in readers:
            await services.cache.publish(channels.home(reader), message)
        if len(batch) < BATCH:
            return
        after = batch[-1]
