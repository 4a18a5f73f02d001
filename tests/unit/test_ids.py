from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lumigram import ids
from lumigram.ids import IdGenerator

times = st.integers(min_value=0, max_value=ids.MAX_TIME)
shards = st.integers(min_value=0, max_value=ids.SHARD_COUNT - 1)
sequences = st.integers(min_value=0, max_value=ids.SEQUENCE_MASK)


@given(times, shards, sequences)
def test_fields_round_trip_through_an_id(ms: int, shard: int, sequence: int) -> None:
    id_ = ids.compose(ms, shard, sequence)
    assert 0 <= id_ < 2**64
    assert ids.shard_of(id_) == shard
    assert ids.sequence_of(id_) == sequence
    assert ids.unix_ms_of(id_) == ms + ids.EPOCH_MS


@given(times, times, shards, shards, sequences, sequences)
def test_ids_sort_by_time_first(ms1: int, ms2: int, s1: int, s2: int, q1: int, q2: int) -> None:
    if ms1 < ms2:
        assert ids.compose(ms1, s1, q1) < ids.compose(ms2, s2, q2)


@pytest.mark.parametrize(("ms", "shard", "sequence"), [(-1, 0, 0), (0, ids.SHARD_COUNT, 0), (0, 0, 1024)])
def test_out_of_range_fields_are_refused(ms: int, shard: int, sequence: int) -> None:
    with pytest.raises(ValueError, match=r"range|must be"):
        ids.compose(ms, shard, sequence)


def test_ids_from_many_threads_are_unique_and_increasing_per_thread() -> None:
    generator = IdGenerator()
    per_thread: dict[int, list[int]] = {}
    lock = threading.Lock()

    def make(worker: int) -> None:
        made = [generator.next_id(shard=worker % 3) for _ in range(3000)]
        with lock:
            per_thread[worker] = made

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(make, range(8)))
    everything = [i for made in per_thread.values() for i in made]
    assert len(set(everything)) == len(everything) == 24_000
    for made in per_thread.values():
        assert made == sorted(made)


def test_the_shard_and_time_of_a_new_id_can_be_read_back() -> None:
    generator = IdGenerator(clock=lambda: ids.EPOCH_MS + 123_456)
    id_ = generator.next_id(shard=4242)
    assert ids.shard_of(id_) == 4242
    assert ids.unix_ms_of(id_) == ids.EPOCH_MS + 123_456
    assert ids.datetime_of(id_).year >= 2024


def test_sequence_overflow_waits_for_the_next_millisecond() -> None:
    now = [ids.EPOCH_MS + 1000]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += 1  # time passes while we wait

    generator = IdGenerator(clock=lambda: now[0], sleep=sleep, first_sequence=lambda: 0)
    first_ms = [generator.next_id(shard=7) for _ in range(1024)]
    assert {ids.unix_ms_of(i) for i in first_ms} == {ids.EPOCH_MS + 1000}
    assert not sleeps
    overflow = generator.next_id(shard=7)
    assert sleeps, "the 1,025th id in one millisecond must wait"
    assert ids.unix_ms_of(overflow) == ids.EPOCH_MS + 1001
    assert ids.sequence_of(overflow) == 0
    assert overflow > first_ms[-1]


def test_other_shards_do_not_share_a_sequence() -> None:
    generator = IdGenerator(clock=lambda: ids.EPOCH_MS + 5, first_sequence=lambda: 0)
    for _ in range(1024):
        generator.next_id(shard=1)
    # Shard 2 still has its whole sequence in the same millisecond.
    assert ids.sequence_of(generator.next_id(shard=2)) == 0


def test_each_millisecond_starts_its_sequence_at_a_random_point_below_512() -> None:
    now = [ids.EPOCH_MS]
    generator = IdGenerator(clock=lambda: now[0])
    starts = set()
    for _ in range(200):
        now[0] += 1
        starts.add(ids.sequence_of(generator.next_id(shard=3)))
    assert max(starts) < ids.FIRST_SEQUENCE_SPREAD
    assert len(starts) > 50  # spread out, so two processes rarely start alike
    # And at least 512 ids still fit in one millisecond before it waits.
    made = [generator.next_id(shard=3) for _ in range(512)]
    assert {ids.unix_ms_of(i) for i in made} == {now[0]}


def test_a_clock_that_steps_back_never_makes_ids_go_back() -> None:
    now = [ids.EPOCH_MS + 10_000]
    generator = IdGenerator(clock=lambda: now[0])
    before = generator.next_id(shard=1)
    now[0] -= 5000
    after = generator.next_id(shard=1)
    assert after > before


def test_lowest_id_at_is_a_time_cursor() -> None:
    generator = IdGenerator(clock=lambda: ids.EPOCH_MS + 50_000)
    id_ = generator.next_id()
    assert ids.lowest_id_at(ids.EPOCH_MS + 50_000) <= id_ < ids.lowest_id_at(ids.EPOCH_MS + 50_001)


def test_tokens_are_hex_of_the_asked_size_and_do_not_repeat() -> None:
    assert re.fullmatch("[0-9a-f]{8}", ids.token(4))
    assert re.fullmatch("[0-9a-f]{12}", ids.token(6))
    assert len({ids.token(8) for _ in range(10_000)}) == 10_000


def test_a_forked_process_draws_other_tokens_than_its_parent() -> None:
    # Processes forked from one parent (``serve --processes``) must not make the same
    # cache generations in step: the generator is seeded again in the child.
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(writing, ids.token(8).encode())
        os._exit(0)
    os.close(writing)
    mine = ids.token(8)
    os.waitpid(child, 0)
    with os.fdopen(reading, "rb") as pipe:
        theirs = pipe.read().decode()
    assert len(theirs) == 16
    assert theirs != mine
