"""The limits of a poll (advertised in ``/api/v2/instance``) and the check of one asked for."""

from __future__ import annotations

from lumigram.accounts.text import clean_text
from lumigram.errors import Problems
from lumigram.posts.models import PollDraft

MIN_OPTIONS = 2
MAX_OPTIONS = 4
MAX_CHARACTERS_PER_OPTION = 50
#: Five minutes to thirty days, in seconds, as Mastodon allows.
MIN_EXPIRATION = 300
MAX_EXPIRATION = 30 * 24 * 3600

FIELD = "poll"


def check_poll(options: list[str], expires_in: int, multiple: bool, hide_totals: bool) -> PollDraft:
    """The poll as it will be stored; ValidationFailed naming what is out of bounds."""
    problems = Problems()
    # As captions are stored: no control characters, no surrounding whitespace.
    titles = tuple(clean_text(option) for option in options)
    if not MIN_OPTIONS <= len(titles) <= MAX_OPTIONS:
        problems.add(f"{FIELD}.options", "ERR_INVALID", f"must have {MIN_OPTIONS} to {MAX_OPTIONS} options")
    if any(not title for title in titles):
        problems.add(f"{FIELD}.options", "ERR_BLANK", "can't be blank")
    if any(len(title) > MAX_CHARACTERS_PER_OPTION for title in titles):
        problems.add(f"{FIELD}.options", "ERR_TOO_LONG", f"must be at most {MAX_CHARACTERS_PER_OPTION} characters each")
    if len(set(titles)) != len(titles):
        problems.add(f"{FIELD}.options", "ERR_TAKEN", "must be different from each other")
    if not MIN_EXPIRATION <= expires_in <= MAX_EXPIRATION:
        problems.add(
            f"{FIELD}.expires_in",
            "ERR_INVALID",
            f"must be between {MIN_EXPIRATION} and {MAX_EXPIRATION} seconds (5 minutes to 30 days)",
        )
    problems.raise_if_any()
    return PollDraft(titles, expires_in, multiple, hide_totals)
