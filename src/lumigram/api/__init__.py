"""The HTTP edge: Mastodon-compatible routers, entities and extension routes. No SQL here."""
