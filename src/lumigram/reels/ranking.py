"""The reels feed's score: how much a viewer may want to watch a reel now.

    score = 0.30 · velocity + 0.20 · completion + 0.10 · loops + 0.20 · freshness + 0.20 · affinity

* velocity   = v / (v + 1) with v = (likes + 2 · comments + 0.1 · plays) / (age_hours + 2) ** 1.5:
  engagement per hour with a gravity, as the home feed's relevance, plays counting a little.
* completion = (completes + 1) / (plays + 2): the share of plays watched to the end,
  starting from an even chance so a reel with two plays is not judged by them alone.
* loops      = r / (r + 1) with r = loops / (plays + 1): replays per play, squashed.
* freshness  = 0.5 ** (age_hours / 24): a reel loses half its freshness a day.
* affinity   = 1 − (1 − a) · (1 − 0.5 · followed), where a is the home feed's affinity
  (likes, comments, messages and profile visits towards the author in the last 30 days):
  following counts, and so does what the viewer does.
"""

from __future__ import annotations

from lumigram.reels.models import Counts

WEIGHTS = {"velocity": 0.30, "completion": 0.20, "loops": 0.10, "freshness": 0.20, "affinity": 0.20}
FOLLOWED = 0.5


def components(
    counts: Counts, likes: int, comments: int, age_hours: float, affinity: float, followed: bool
) -> dict[str, float]:
    age = max(age_hours, 0.0)
    velocity = (likes + 2 * comments + 0.1 * counts.plays) / (age + 2) ** 1.5
    loop_rate = counts.loops / (counts.plays + 1)
    return {
        "velocity": velocity / (velocity + 1),
        "completion": min(1.0, (counts.completes + 1) / (counts.plays + 2)),
        "loops": loop_rate / (loop_rate + 1),
        "freshness": 0.5 ** (age / 24),
        "affinity": 1 - (1 - affinity) * (1 - (FOLLOWED if followed else 0.0)),
    }


def total(parts: dict[str, float]) -> float:
    return sum(WEIGHTS[name] * value for name, value in parts.items())
