from __future__ import annotations

import pytest

from lumigram.accounts.scopes import InvalidScope, grants, parse_scopes, within


def test_broad_scopes_cover_their_granular_children() -> None:
    assert grants({"read"}, "read:accounts")
    assert grants({"write"}, "write:media")
    assert grants({"admin:read"}, "admin:read:accounts")
    assert not grants({"read"}, "write:accounts")
    assert not grants({"read:statuses"}, "read:accounts")
    assert not grants({"read:accounts"}, "read")
    assert not grants({"admin:read"}, "admin:write:accounts")


def test_legacy_follow_and_profile() -> None:
    assert grants({"follow"}, "write:follows")
    assert not grants({"follow"}, "write:statuses")
    assert grants({"read:accounts"}, "profile")
    assert grants({"read"}, "profile")


def test_requested_scopes_must_fit_the_apps() -> None:
    assert within(("read:accounts", "write:media"), ("read", "write"))
    assert not within(("read", "push"), ("read", "write"))


def test_parsing() -> None:
    assert parse_scopes("read  write read") == ("read", "write")
    assert parse_scopes("read+write") == ("read", "write")
    assert parse_scopes(None) == ("read",)
    assert parse_scopes("   ") == ("read",)
    with pytest.raises(InvalidScope):
        parse_scopes("read everything")
