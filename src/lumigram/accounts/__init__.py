"""Accounts and authentication: logins (users), profiles (accounts), OAuth apps and tokens,
e-mail and phone verification. No HTTP in here; ``lumigram.api`` and ``lumigram.web`` call it."""
