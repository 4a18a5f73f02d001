"""The server's VAPID key pair (RFC 8292): it signs every push so push services know us.

Clients subscribe with the public key (``applicationServerKey``, read from
``/api/v2/instance`` at ``configuration.vapid.public_key``) and a browser's push service
then accepts pushes for that subscription only when signed by the matching private key.
So the key must be the same in every process and must not change: a new key silently
orphans every existing subscription.

Where the key comes from, in order:

1. ``LUMIGRAM_VAPID_PRIVATE_KEY`` (and optionally ``LUMIGRAM_VAPID_PUBLIC_KEY``, checked
   against it): the urlsafe base64 of the raw 32-byte P-256 scalar, Mastodon's format, so
   a key moved over from a Mastodon server keeps its subscriptions working.
2. Embedded shape (SQLite): generated once and kept in ``data_dir/vapid_private_key``,
   like the secret key; one process, one folder, one key.
3. Scaled shape (PostgreSQL): derived from ``LUMIGRAM_SECRET_KEY`` with HKDF. Every
   process of a scaled deployment must already share the secret key, so they agree
   without a file that each host would otherwise generate differently. Rotating the
   secret key then changes the VAPID key too, which is why production deployments
   should set ``LUMIGRAM_VAPID_PRIVATE_KEY`` explicitly.

``python -m lumigram.push.keys`` prints a fresh pair as environment lines.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from lumigram.vapid import derive_private_key, generate_pair, parse_private_key, private_key_text, public_key_text

if TYPE_CHECKING:
    from lumigram.config import Settings

KEY_FILE = "vapid_private_key"


def _stored_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The key kept in ``data_dir``, made on first use (exclusive create: never two keys)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(private_key_text(key) + "\n")
    return parse_private_key(path.read_text())


@dataclass(frozen=True, slots=True)
class VapidKeys:
    private_key: ec.EllipticCurvePrivateKey
    #: What clients pass to ``PushManager.subscribe`` as ``applicationServerKey``.
    public_key: str


_cache: dict[tuple[str, str, str, str], VapidKeys] = {}
_lock = threading.Lock()


def vapid_keys(settings: Settings) -> VapidKeys:
    """This server's key pair (see the module docstring for where it comes from)."""
    cache_key = (settings.vapid_private_key, str(settings.data_dir), settings.database_url, settings.secret_key)
    found = _cache.get(cache_key)
    if found is not None:
        return found
    with _lock:
        if settings.vapid_private_key:
            key = parse_private_key(settings.vapid_private_key)
        elif settings.database_url.startswith("sqlite"):
            key = _stored_key(settings.data_dir)
        else:
            key = derive_private_key(settings.ensure_secret_key())
        keys = VapidKeys(private_key=key, public_key=public_key_text(key))
        _cache[cache_key] = keys
        return keys


if __name__ == "__main__":
    private, public = generate_pair()
    print(f"LUMIGRAM_VAPID_PRIVATE_KEY={private}")
    print(f"LUMIGRAM_VAPID_PUBLIC_KEY={public}")
