"""Notifications (likes, comments, mentions, follows, new posts) and reading markers."""
