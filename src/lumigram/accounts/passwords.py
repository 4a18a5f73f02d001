"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).

Hashing costs tens of milliseconds of CPU and 64 MiB of memory by design, so it runs in
a worker thread to keep the event loop serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
#: Far above any passphrase people type; bounds the work one request can ask for.
MAX_LENGTH = 256

_hasher = PasswordHasher()

# Checked when a login name matches nobody, so that "no such user" takes as long as
# "wrong password" and response times do not reveal which accounts exist. The hash of a
# random password nobody kept, written here: hashing one on import took a fifth of a
# second and 64 MiB in every process (each CLI command, each worker), signing in or not.
# tests/unit/test_passwords.py checks it has today's parameters, so it costs the same.
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$Mo/TNA0wDo1rswHs5rpWAA$aVU7oHTL5NSANQEaUdzKWCFPkxSNcegs5ncbXtjrSsc"


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check ``password`` against ``stored_hash``; None burns the same time and fails."""
    if stored_hash is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return False
    return await asyncio.to_thread(_verify, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (rehash on next login)."""
    try:
        return bool(_hasher.check_needs_rehash(stored_hash))
    except (InvalidHashError, ValueError):
        return True
