"""Search: accounts, hashtags and posts, behind a port with an FTS5 and a PostgreSQL adapter."""
