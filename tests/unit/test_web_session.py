from __future__ import annotations

import time
from dataclasses import replace

from lumigram.web.session import SessionSigner, csrf_ok, new_session, signed_in

KEY = "k" * 40


def test_round_trip() -> None:
    signer = SessionSigner(KEY)
    session = signed_in(123, 456)
    loaded = signer.loads(signer.dumps(session))
    assert loaded == session
    assert loaded is not None
    assert loaded.signed_in


def test_tampering_or_another_key_is_refused() -> None:
    signer = SessionSigner(KEY)
    value = signer.dumps(signed_in(1, 2))
    payload, signature = value.split(".")
    assert signer.loads(payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature) is None
    assert signer.loads(payload + "." + signature[::-1]) is None
    assert SessionSigner("z" * 40).loads(value) is None
    for junk in ("", "nodot", ".", "a.b", "x" * 5000):
        assert signer.loads(junk) is None


def test_expired_sessions_are_refused() -> None:
    signer = SessionSigner(KEY)
    old = replace(new_session(), expires=int(time.time()) - 1)
    assert signer.loads(signer.dumps(old)) is None


def test_csrf_comparison() -> None:
    session = new_session()
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, session.csrf + "x")
    assert not csrf_ok(session, None)
    assert not csrf_ok(None, session.csrf)
