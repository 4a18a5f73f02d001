"""The text forms of Web Push keys, and the P-256 arithmetic behind them.

Mastodon writes a VAPID private key as the urlsafe base64 of its raw 32-byte scalar and a
public key as its uncompressed 65-byte point; browsers send their subscription keys in the
same alphabet. The settings check a configured key with these functions when they load (a
typo fails at start), which is why they sit below the settings and know nothing of them:
where this server's key comes from is ``lumigram.push.keys``.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


def generate_pair() -> tuple[str, str]:
    """A fresh (private, public) pair in the settings' format."""
    key = ec.generate_private_key(ec.SECP256R1())
    return private_key_text(key), public_key_text(key)
