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

import base64
import binascii
import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from lumigram.config import Settings

KEY_FILE = "vapid_private_key"
#: Order of the P-256 group: a private scalar lies in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_DERIVATION_INFO = b"lumigram vapid key v1"


def b64url_decode(value: str) -> bytes:
    """Base64 in either alphabet, padded or not: clients send all four spellings
    (Mastodon.py sends standard base64 with padding, browsers urlsafe without)."""
    text = value.strip().replace("+", "-").replace("/", "_").rstrip("=")
    if not text or any(ch.isspace() for ch in text):
        raise ValueError("not base64")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc


def b64url(data: bytes) -> str:
    """Urlsafe base64 without padding, the spelling Web Push uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _from_scalar(value: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(value, ec.SECP256R1())


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A private key from its raw-scalar base64; ValueError with the reason otherwise."""
    raw = b64url_decode(text)
    if len(raw) != 32:
        raise ValueError(f"must be the base64 of a 32-byte P-256 private key (got {len(raw)} bytes)")
    scalar = int.from_bytes(raw, "big")
    if not 0 < scalar < _P256_ORDER:
        raise ValueError("is not a valid P-256 private key")
    return _from_scalar(scalar)


def private_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    """The uncompressed public point (65 bytes), urlsafe base64: a client's applicationServerKey."""
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(point)


def check_public_key(public: str, private: str) -> None:
    """ValueError unless ``public`` is the public half of ``private``."""
    try:
        point = b64url_decode(public)
    except ValueError:
        raise ValueError("is not base64") from None
    if point != b64url_decode(public_key_text(parse_private_key(private))):
        raise ValueError("does not belong to LUMIGRAM_VAPID_PRIVATE_KEY")


def derive_private_key(secret: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key determined by ``secret`` (HKDF-SHA256), for processes that share only it."""
    material = HKDF(algorithm=hashes.SHA256(), length=48, salt=None, info=_DERIVATION_INFO).derive(secret.encode())
    # 48 bytes reduced modulo n - 1 leave a bias below 2^-128: uniform for every purpose.
    return _from_scalar(int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1)


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


def generate_pair() -> tuple[str, str]:
    """A fresh (private, public) pair in the settings' format."""
    key = ec.generate_private_key(ec.SECP256R1())
    return private_key_text(key), public_key_text(key)


if __name__ == "__main__":
    private, public = generate_pair()
    print(f"LUMIGRAM_VAPID_PRIVATE_KEY={private}")
    print(f"LUMIGRAM_VAPID_PUBLIC_KEY={public}")
