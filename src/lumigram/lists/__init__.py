"""Lists of followed accounts: Mastodon's lists, Instagram's Favorites and Close Friends."""
