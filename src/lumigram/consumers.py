"""The table of bus consumers: which handler reacts to which event type.

Each service package contributes its consumers; ``lumigram worker`` (and ``serve`` on
the in-process bus) starts them all. One durable consumer per handler, so a slow
handler never holds up another.
"""

from __future__ import annotations

from lumigram.infra.bus import Consumer
from lumigram.services import Services


def consumers(services: Services) -> list[Consumer]:
    from lumigram.accounts.handlers import consumers as account_consumers
    from lumigram.feed.fanout import consumers as feed_consumers
    from lumigram.interactions.handlers import consumers as interaction_consumers
    from lumigram.notifications.handlers import consumers as notification_consumers
    from lumigram.pagecache.home_pages import put_post_into_home_pages
    from lumigram.push.handlers import consumers as push_consumers
    from lumigram.streaming.publisher import consumers as streaming_consumers
    from lumigram.uploads.handlers import consumers as upload_consumers

    return [
        *account_consumers(services),
        *upload_consumers(services),
        *feed_consumers(services, put_post_into_home_pages),
        *notification_consumers(services),
        *interaction_consumers(services),
        *push_consumers(services),
        *streaming_consumers(services),
    ]
