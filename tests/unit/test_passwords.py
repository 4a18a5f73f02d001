from __future__ import annotations

from argon2 import PasswordHasher

from lumigram.accounts import passwords


async def test_hashes_are_argon2id_and_verify() -> None:
    hashed = await passwords.hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert await passwords.verify_password(hashed, "correct horse battery staple")
    assert not await passwords.verify_password(hashed, "correct horse battery stapler")
    assert not passwords.needs_rehash(hashed)


async def test_each_hash_is_salted() -> None:
    first = await passwords.hash_password("same password")
    second = await passwords.hash_password("same password")
    assert first != second


async def test_missing_or_broken_hashes_never_verify() -> None:
    assert not await passwords.verify_password(None, "anything")
    assert not await passwords.verify_password("not-a-hash", "anything")
    assert not await passwords.verify_password("", "")


def test_hashes_with_older_parameters_need_rehashing() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw")
    assert passwords.needs_rehash(weak)
    assert passwords.needs_rehash("garbage")


def test_the_unknown_name_hash_has_todays_parameters_and_matches_nothing_typed() -> None:
    # Verifying it must cost what verifying a real account's hash costs.
    assert not passwords.needs_rehash(passwords._DUMMY_HASH)
    assert not passwords._verify(passwords._DUMMY_HASH, "lumigram-dummy-password-for-timing")
