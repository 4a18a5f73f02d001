from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from lumigram.accounts.usernames import MAX_LENGTH, RESERVED, is_valid_username, username_problem

ALLOWED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


@given(st.text(alphabet=ALLOWED, min_size=1, max_size=MAX_LENGTH))
def test_names_of_allowed_characters_are_valid_unless_reserved(name: str) -> None:
    assert is_valid_username(name) == (name.lower() not in RESERVED)


@given(st.text(max_size=40))
def test_validity_is_exactly_the_rule(name: str) -> None:
    expected = re.fullmatch(r"[A-Za-z0-9_]{1,30}", name, flags=re.ASCII) is not None and name.lower() not in RESERVED
    assert is_valid_username(name) == expected
    problem = username_problem(name)
    assert (problem is None) == expected
    if problem is not None:
        assert problem[0] in {"ERR_BLANK", "ERR_TOO_LONG", "ERR_INVALID", "ERR_RESERVED"}


@given(st.text(alphabet=ALLOWED, min_size=31, max_size=60))
def test_long_names_are_too_long(name: str) -> None:
    assert username_problem(name) == ("ERR_TOO_LONG", "is too long (maximum is 30 characters)")


def test_lookalikes_and_separators_are_refused() -> None:
    for name in ("аlice", "alice\n", "al ice", "alice.b", "alice-b", "@alice", "ｆｕｌｌ"):
        assert not is_valid_username(name), name
    for name in ("ADMIN", "Root", "oauth", "Settings"):
        assert username_problem(name) == ("ERR_RESERVED", "is reserved")
