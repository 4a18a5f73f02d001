"""Mastodon's JSON entities (Account, Status, MediaAttachment, Notification), built from
domain models, for the API's answers, the kept pages and the streaming publisher alike."""
