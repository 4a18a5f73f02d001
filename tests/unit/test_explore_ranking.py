"""The explore ranking's pages, against the rule written plainly: a page takes the best
posts in order, at most two of one author; a post over the cap waits, in its order, for
the next page with room; and the engagement and recency kept per clock score as worked out
afresh."""

from __future__ import annotations

import random

from lumigram.search import explore
from lumigram.search.explore_pool import Candidate


def _pages_plainly(ranking: list[explore.Scored], size: int) -> list[list[int]]:
    waiting, pages = list(ranking), []
    while waiting:
        current: list[int] = []
        held = []
        for score, status_id, author, values in waiting:
            if len(current) < size and sum(1 for i in current if i % 1000 == author) < explore.PER_AUTHOR:
                current.append(status_id)
            else:
                held.append((score, status_id, author, values))
        pages.append(current)
        waiting = held
    return pages


def test_pages_follow_the_rule() -> None:
    rng = random.Random(7)
    for _ in range(200):
        authors = rng.randint(1, 8)
        # Each post id names its author in its last three digits, for the plain rule above.
        ranking = sorted(
            (
                (rng.random(), n * 1000 + rng.randrange(authors), 0, (0.0, 0.0, 0.0, 0.0))
                for n in range(rng.randint(0, 60))
            ),
            reverse=True,
        )
        ranking = [(score, status_id, status_id % 1000, values) for score, status_id, _, values in ranking]
        size = rng.randint(1, 7)
        expected = _pages_plainly(ranking, size)
        for number, page_ids in enumerate(expected):
            shown, left = explore.page(ranking, number, size)
            assert [item.status_id for item in shown] == page_ids
            assert left == sum(len(p) for p in expected[number + 1 :])
        assert explore.page(ranking, len(expected), size) == ([], 0)


def test_kept_parts_score_as_fresh() -> None:
    now_s = 1_800_000_000.0
    found = [Candidate(i, i % 5, now_s - i * 3600, i % 4, i % 3, (i % 2,)) for i in range(1, 40)]
    interest, similar = {1: 2.0}, {2: 3}
    first = explore._scored(found, interest, similar, now_s)
    again = explore._scored(found, interest, similar, now_s)  # the kept engagement and recency
    assert again == first
    # A candidate read anew (its counts moved) is worked out anew, not taken from the kept.
    liked = [Candidate(c.id, c.account_id, c.created_at, c.likes + 50, c.comments, c.tags) for c in found]
    moved = {item[1]: item[3][0] for item in explore._scored(liked, interest, similar, now_s)}
    assert all(moved[item[1]] > item[3][0] for item in first)
