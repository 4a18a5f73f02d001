"""One router per resource of the Mastodon-compatible API (and Lumigram's extensions)."""
