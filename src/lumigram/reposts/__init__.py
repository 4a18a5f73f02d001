"""Reposts (Mastodon's reblogs): sharing someone's public post with one's own followers."""
