"""Real time: Mastodon's streaming API fed by the cache's pub/sub.

* ``publisher``: bus consumers that turn domain events into stream messages on the
  contract's channels (``timeline:{account}``, ``timeline:public``, ...).
* ``hub``: one cache subscription per process, shared by every open stream, with a
  bounded queue per connection.
* ``channels``: channel names, message encoding, and the Mastodon stream names that map
  onto them.

The HTTP and WebSocket endpoints live in ``lumigram.api.routes.streaming``.
"""
