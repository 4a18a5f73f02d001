"""Periodic housekeeping run beside the bus consumers: removing the blobs of deleted
posts once their grace period is over, uploads never posted, and expired stories no one
keeps; publishing the scheduled posts whose time has come; closing the polls whose
time is up (their voters are then notified); and folding reels' pending view counts
into the database.

Every sweep is safe to run in several workers at once, so no leader election is needed.
"""

from __future__ import annotations

import asyncio
import logging

from lumigram.services import Services

log = logging.getLogger(__name__)

#: Seconds between sweeps; deletion is never urgent, a minute of lag is fine.
INTERVAL = 60.0


async def sweep_once(services: Services) -> int:
    from lumigram.posts.cleanup import sweep_blob_deletions, sweep_orphan_media
    from lumigram.stories.sweeper import sweep_expired_stories

    removed = await sweep_blob_deletions(services) + await sweep_orphan_media(services)
    return removed + await sweep_expired_stories(services)


async def publish_scheduled(services: Services) -> int:
    from lumigram.posts.scheduled import publish_due

    return len(await publish_due(services))


async def end_polls(services: Services) -> int:
    from lumigram.polls.service import end_due_polls

    return len(await end_due_polls(services))


async def fold_views(services: Services) -> int:
    from lumigram.reels.views import fold_pending

    return await fold_pending(services)


async def run(services: Services, interval: float = INTERVAL) -> None:
    while True:
        # The wait comes first: nothing here is urgent (the rounds promise a minute), and a
        # sweep at start-up only races the start itself; a process stopped moments after
        # starting (a test, a failed deploy) then never cancels one half-way through.
        await asyncio.sleep(interval)
        try:
            published = await publish_scheduled(services)
            if published:
                log.info("janitor published %d scheduled post(s)", published)
            ended = await end_polls(services)
            if ended:
                log.info("janitor closed %d poll(s)", ended)
            folded = await fold_views(services)
            if folded:
                log.info("janitor folded the views of %d reel(s)", folded)
            removed = await sweep_once(services)
            if removed:
                log.info("janitor removed %d blob(s) or upload(s)", removed)
        except asyncio.CancelledError:
            raise
        except Exception:  # a backend hiccup: try again next round, never die
            log.exception("janitor sweep failed")
