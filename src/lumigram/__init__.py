"""Lumigram: a self-hostable photo and video sharing server."""

__version__ = "0.1.0"

#: The Mastodon API version we speak; clients gate features on it.
MASTODON_API_VERSION = "4.3.0"
