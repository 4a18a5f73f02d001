"""A post spliced into a kept page's stored bytes gives the page a rendering would give."""

from __future__ import annotations

import random

import orjson

from lumigram.infra import cache
from lumigram.pagecache import store


def _page(rng: random.Random, count: int) -> tuple[bytes, list[int], list[bytes]]:
    ids = sorted(rng.sample(range(1_000, 1_000 + 10 * count + 50), count), reverse=True)
    entities = [orjson.dumps({"id": str(i), "text": "y" * rng.randint(0, 200)}) for i in ids]
    rendered = store.Rendered(ids, entities, "next" if ids else None, [rng.randint(0, 9) for _ in ids])
    return store._encode(b"g1", 1, 2, 3, rendered, b"[" + b",".join(entities) + b"]"), ids, entities


def _link(_ids: list[int]) -> str:
    return "next"


def test_a_post_lands_where_its_id_belongs_and_the_page_keeps_its_limit() -> None:
    rng = random.Random(20261206)
    for _ in range(3_000):
        raw, ids, entities = _page(rng, rng.randint(0, 40))
        limit = rng.choice([10, 20, 40])
        newest = (ids[0] if ids else 1_000) + rng.randint(1, 5)
        post_id = newest if rng.random() < 0.5 else rng.choice([*ids, rng.randint(900, 1_500)])
        entity = orjson.dumps({"id": str(post_id), "text": "new"})
        header = store._header(raw)
        assert header is not None
        # Only the page's first bytes are read to splice it; the store does the rest.
        splice = store._post_splice(
            raw[: rng.choice([len(raw), 4096])], header, b"g2", post_id, len(entity), 7, limit, _link
        )
        assert splice is not None
        if len(ids) > 1:  # a head short of the index cannot be spliced
            short = raw[: header.offset + store._ENTRY.size]
            assert store._post_splice(short, header, b"g2", post_id, len(entity), 7, limit, _link) is None
        spliced = cache.spliced(splice, raw, [entity])
        assert spliced is not None
        after = store._header(spliced)
        assert after is not None
        assert after.generations == b"g2"
        body = orjson.loads(spliced[after.offset + after.count * store._ENTRY.size :])
        position = sum(1 for i in ids if i > post_id)
        if post_id in ids or position >= limit:  # a redelivery, or older than a whole page
            expected = [orjson.loads(e) for e in entities]
        else:
            together = [*entities[:position], entity, *entities[position:]][: min(limit, len(entities) + 1)]
            expected = [orjson.loads(e) for e in together]
        assert body == expected
        index = list(store._ENTRY.iter_unpack(spliced[after.offset : after.offset + after.count * store._ENTRY.size]))
        assert [int(status["id"]) for status in body] == [entry[0] for entry in index]
