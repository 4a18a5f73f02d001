"""Small input hygiene shared by the accounts services."""

from __future__ import annotations

import re

# C0/C1 control characters except tab and newline. NUL in particular is refused by
# PostgreSQL's text type, so letting it through would turn bad input into a 500.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_AND_NEWLINES = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(value: str, keep_newlines: bool = False) -> str:
    """Drop control characters (keeping newlines if asked) and surrounding whitespace."""
    value = value.replace("\r\n", "\n")
    pattern = _CONTROL if keep_newlines else _CONTROL_AND_NEWLINES
    return pattern.sub("", value).strip()


def has_control_characters(value: str) -> bool:
    return _CONTROL_AND_NEWLINES.search(value) is not None
