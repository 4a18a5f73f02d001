"""Hidden words: Mastodon's filters (v2, and v1 over the same rows)."""
