"""Which usernames are acceptable: Mastodon's rule (1-30 of ``[A-Za-z0-9_]``) minus reserved names."""

from __future__ import annotations

import re

MAX_LENGTH = 30

# Explicit ASCII class: ``\w`` would also admit letters from every script, which makes
# look-alike names (Cyrillic "а" for Latin "a") possible.
_PATTERN = re.compile(r"[A-Za-z0-9_]{1,30}")

#: Names that would impersonate the server or collide with our paths; compared lower-cased.
RESERVED = frozenset(
    {
        "about", "abuse", "account", "accounts", "admin", "administrator", "api", "app", "apps", "auth",
        "avatars", "blog", "direct", "docs", "explore", "feed", "headers", "help", "home", "hostmaster",
        "inbox", "info", "instance", "lumigram", "mail", "mastodon", "me", "media", "messages", "mod",
        "moderator", "moderators", "nobody", "nodeinfo", "noreply", "no_reply", "notifications", "null",
        "oauth", "outbox", "owner", "postmaster", "privacy", "reels", "register", "root", "search",
        "security", "settings", "signin", "signup", "sign_in", "sign_up", "staff", "static", "stories",
        "support", "system", "tags", "terms", "undefined", "users", "webmaster", "well_known", "www",
    }
)  # fmt: skip


def username_problem(username: str) -> tuple[str, str] | None:
    """None when ``username`` is acceptable, else (Mastodon error code, description)."""
    if not username:
        return "ERR_BLANK", "can't be blank"
    if len(username) > MAX_LENGTH:
        return "ERR_TOO_LONG", f"is too long (maximum is {MAX_LENGTH} characters)"
    if not _PATTERN.fullmatch(username):
        return "ERR_INVALID", "must contain only letters, numbers and underscores"
    if username.lower() in RESERVED:
        return "ERR_RESERVED", "is reserved"
    return None


def is_valid_username(username: str) -> bool:
    return username_problem(username) is None
