"""The comment rule alone (``lumigram.posts.visibility.can_see_comment``): a comment is for
those who may see the post its thread hangs from, narrowed by any comment on the way
that was addressed to fewer."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from lumigram.posts.visibility import Audience, ViewerContext, can_see_comment, narrowest

A, B, C, VIEWER = 1, 2, 3, 9


def _viewer(following: Collection[int] = (), blocked: Collection[int] = ()) -> ViewerContext:
    return ViewerContext(VIEWER, following=frozenset(following), blocked=frozenset(blocked))


def test_narrowest_orders_visibilities_by_their_audience() -> None:
    assert narrowest("public", "private") == "private"
    assert narrowest("unlisted", "public") == "unlisted"
    assert narrowest("private", "direct", "public") == "direct"


@pytest.mark.parametrize(
    ("post", "context", "expected"),
    [
        # A locked account's followers-only post: its followers, whoever the commenter's are.
        (Audience(A, True, "private"), _viewer(following={A}), True),
        (Audience(A, True, "private"), _viewer(following={B}), False),
        # A locked account's public post is for its followers too.
        (Audience(A, True, "public"), _viewer(), False),
        # An open account's public post: anyone, but not someone its owner blocked.
        (Audience(A, False, "public"), _viewer(), True),
        (Audience(A, False, "public"), _viewer(blocked={A}), False),
        # Named in the post itself: as for the post.
        (Audience(A, False, "private", frozenset({VIEWER})), _viewer(), True),
    ],
)
def test_a_comment_is_for_those_who_may_see_its_post(post: Audience, context: ViewerContext, expected: bool) -> None:
    # Stored public, as comments were before replies were bounded: that does not widen it.
    comment = Audience(B, False, "public", frozenset({VIEWER}))
    assert can_see_comment(context, comment, [post]) is expected


def test_a_comment_addressed_to_fewer_than_its_post_keeps_to_them() -> None:
    post = Audience(A, False, "public")
    followers_only = Audience(B, False, "private")
    assert not can_see_comment(_viewer(), followers_only, [post])
    assert can_see_comment(_viewer(following={B}), followers_only, [post])
    # So does a locked account's comment under an open post, and every reply below it.
    by_locked = Audience(B, True, "public")
    reply = Audience(C, False, "public")
    assert not can_see_comment(_viewer(), by_locked, [post])
    assert not can_see_comment(_viewer(following={C}), reply, [by_locked, post])
    assert can_see_comment(_viewer(following={B}), reply, [by_locked, post])


def test_its_author_sees_a_comment_and_nobody_else_once_its_thread_is_gone() -> None:
    comment = Audience(B, False, "public")
    assert can_see_comment(ViewerContext(B), comment, None)
    assert not can_see_comment(_viewer(following={A, B}), comment, None)
    # The commenter still sees their own comment after the post's owner blocked them.
    assert can_see_comment(ViewerContext(B, blocked=frozenset({A})), comment, [Audience(A, False, "public")])


def test_nobody_in_particular_sees_only_comments_under_open_posts() -> None:
    comment = Audience(B, False, "public")
    assert can_see_comment(ViewerContext(None), comment, [Audience(A, False, "public")])
    assert not can_see_comment(ViewerContext(None), comment, [Audience(A, False, "private")])
