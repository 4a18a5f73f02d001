"""Likes, bookmarks and comment threads (the seed's interactions service)."""
