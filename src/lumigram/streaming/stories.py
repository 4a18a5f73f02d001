"""Stories on open user streams: new ones to the followers, new viewers to the owner.

``story.created`` becomes a ``lumigram.story`` message (the story entity of the extension
API, as a follower sees it before watching it) on ``timeline:{follower}`` for each
follower with a stream open who may see it: not those muting or blocked either way, and
for a close-friends story only the owner's close friends.

``story.viewed`` becomes a ``lumigram.story_view`` message on the owner's
``timeline:{owner}`` (``{"story_id", "account", "views_count"}``), unless a block stands
between the two or the owner mutes the viewer, as for notifications; a story that has
expired or been taken down since is not announced. Like new posts, a view older than
``STALE_AFTER`` when the publisher sees it (a backlog) is history, not news.
"""

from __future__ import annotations

import time

from lumigram.entities.accounts import account_entity
from lumigram.entities.stories import story_entity
from lumigram.errors import NotFound
from lumigram.events import StoryCreated, StoryViewed
from lumigram.graph.service import follower_ids, shielded_from
from lumigram.ids import unix_ms_of
from lumigram.lists.service import close_friends_among
from lumigram.services import Services
from lumigram.stories import service as stories
from lumigram.stories.loading import accounts_by_id
from lumigram.stories.models import CLOSE_FRIENDS
from lumigram.streaming import channels

#: Followers read per round trip while looking for connected ones.
BATCH = 1000
EVENT = "lumigram.story"
VIEW_EVENT = "lumigram.story_view"
#: Seconds after which a view is no longer streamed (as for posts and messages).
STALE_AFTER = 300


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


async def stream_story_view(services: Services, event: StoryViewed) -> None:
    if event.id != 0 and time.time() * 1000 - unix_ms_of(event.id) > STALE_AFTER * 1000:
        return
    if not await channels.connected(services.cache, [event.owner_id]):
        return
    if await shielded_from(services, event.account_id, [event.owner_id]):
        return
    try:
        story = await stories.get_story(services, event.owner_id, event.story_id)
    except NotFound:
        return
    async with services.db.connect() as conn:
        viewer = (await accounts_by_id(conn, [event.account_id])).get(event.account_id)
    if viewer is None:
        return
    payload = {
        "story_id": str(story.id),
        "account": account_entity(services.settings, viewer).model_dump(mode="json"),
        "views_count": story.views_count,
    }
    await services.cache.publish(channels.home(event.owner_id), channels.encode(VIEW_EVENT, payload))
