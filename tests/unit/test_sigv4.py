"""The S3 adapter's own request signer gives botocore's signature, header for header."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from botocore import auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lumigram.infra.blobstore.sigv4 import S3Signer

NOW = datetime(2026, 12, 6, 23, 59, 58, tzinfo=UTC)


def _botocore(host: str, path: str, body: bytes, content_type: str, token: str | None = None) -> dict[str, str]:
    signer = auth.S3SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token), "s3", "eu-west-3")
    # botocore's serializer percent-encodes the key before signing; the signer takes it so.
    request = AWSRequest(
        "PUT", f"http://{host}{quote(path, safe='/~')}", data=body, headers={"Content-Type": content_type}
    )
    signer.add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize(
    ("host", "path", "body", "content_type", "token"),
    [
        ("127.0.0.1:8333", "/media/m/1/1080-ab12.jpg", b"\xff\xd8photo", "image/jpeg", None),
        ("s3.eu-west-3.amazonaws.com", "/bucket/avatars/x_y-z.png", b"", "image/png", None),
        ("store.example:9000", "/prefix/bucket/a/b.mp4", bytes(range(256)) * 40, "video/mp4", "session-token"),
        ("127.0.0.1:8333", "/b/k~ey with space", b"x", "text/plain;  charset=utf-8", None),
    ],
)
def test_the_signature_is_botocores(
    monkeypatch: pytest.MonkeyPatch, host: str, path: str, body: bytes, content_type: str, token: str | None
) -> None:
    monkeypatch.setattr(auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    ours = S3Signer("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "eu-west-3", session_token=token)
    signed = ours.sign("PUT", host, path, body, {"Content-Type": content_type}, now=NOW)
    theirs = _botocore(host, path, body, content_type, token)
    assert signed["authorization"] == theirs["authorization"]
    for name in ("x-amz-date", "x-amz-content-sha256", "x-amz-security-token"):
        assert signed.get(name) == theirs.get(name)


def test_the_day_s_key_is_derived_again_the_next_day() -> None:
    signer = S3Signer("AKIDEXAMPLE", "secret", "us-east-1")
    today = signer.sign("PUT", "h", "/b/k", b"x", now=NOW)
    tomorrow = signer.sign("PUT", "h", "/b/k", b"x", now=NOW.replace(day=7))
    fresh = S3Signer("AKIDEXAMPLE", "secret", "us-east-1").sign("PUT", "h", "/b/k", b"x", now=NOW.replace(day=7))
    assert tomorrow["authorization"] == fresh["authorization"] != today["authorization"]
    assert "/20261207/us-east-1/s3/aws4_request," in tomorrow["authorization"]
