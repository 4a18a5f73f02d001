"""Confirmation-page tickets: only an unaltered, unexpired ticket from this key and this
browser's session reads back."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from lumigram.web.confirm_tickets import TICKET_LIFETIME, Ticket, TicketSigner

KEY = "unit-test-secret-" + "k" * 32
CSRF = "the-browser-csrf-token"


def test_a_ticket_reads_back_for_its_session() -> None:
    signer = TicketSigner(KEY)
    now = time.time()
    ticket = signer.issue(123456789, CSRF, now=now)
    assert signer.read(ticket, CSRF, now=now) == Ticket(123456789, int(now) + TICKET_LIFETIME)


def test_a_ticket_stops_working_when_its_lifetime_is_over() -> None:
    signer = TicketSigner(KEY)
    now = time.time()
    ticket = signer.issue(7, CSRF, now=now)
    assert signer.read(ticket, CSRF, now=now + TICKET_LIFETIME - 1) is not None
    assert signer.read(ticket, CSRF, now=now + TICKET_LIFETIME + 1) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda t: "8" + t[1:],  # another login
        lambda t: t.replace(".", ".9", 1),  # a later expiry
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # a made-up signature
        lambda t: t.rpartition(".")[0],  # no signature
        lambda t: t + ".1",
        lambda t: "",
        lambda t: "x" * 1000,
        lambda t: "\udcff" + t,
    ],
)
def test_altered_tickets_are_refused(change: Callable[[str], str]) -> None:
    signer = TicketSigner(KEY)
    ticket = signer.issue(7, CSRF)
    assert signer.read(change(ticket), CSRF) is None


def test_a_ticket_is_refused_with_another_session_or_key() -> None:
    ticket = TicketSigner(KEY).issue(7, CSRF)
    assert TicketSigner(KEY).read(ticket, "another-browser") is None
    assert TicketSigner(KEY + "!").read(ticket, CSRF) is None
