"""Wait for the bus to go quiet instead of polling for its effects.

``settle(services)`` returns once every event committed so far has been published by
the outbox relay and handled by every consumer, and so have the events those handlers
emitted in turn. Tests that only need the consumers' effects call it where they used to
poll; tests about the timing of delivery itself keep their own waits.
"""

from __future__ import annotations

import asyncio

from lumigram.services import Services

#: Far above what the slowest handler (a video) takes on a loaded machine; reaching it is a bug.
SETTLE_TIMEOUT = 30.0


async def settle(services: Services, timeout: float = SETTLE_TIMEOUT) -> None:
    """Publish what is pending and wait until the consumers have handled all of it."""
    relay, bus = services.relay, services.bus
    async with asyncio.timeout(timeout):
        await relay.drain()
        while True:
            # Handlers commit (and hand over) what they emit before they acknowledge, so once
            # the bus is idle every follow-up event is in the relay's hands; a drain that
            # publishes nothing, with nothing published meanwhile, means all is done.
            mark = relay.published
            await bus.idle()
            await relay.drain()
            if relay.published == mark:
                return
