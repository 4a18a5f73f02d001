"""Signing up on the web page when the server requires confirmation: the same flow as the
API (the link by e-mail, no session until it is opened), then signing in to the feed."""

from __future__ import annotations

import re

import httpx

from lumigram.services import Services
from tests.api.test_verification import Mailbox, link_in, mailbox, setup  # noqa: F401 (fixtures)
from tests.settle import settle

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "a web-typed password"


def _csrf(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def test_web_sign_up_waits_for_the_e_mail_link_then_signs_in(
    setup: tuple[httpx.AsyncClient, Services],  # noqa: F811
    mailbox: Mailbox,  # noqa: F811
    cheap_password_hashing: None,
) -> None:
    client, services = setup
    form = {"username": "webdora", "email": "dora@example.org", "password": PASSWORD, "agreement": "on"}
    signed_up = await client.post("/auth/sign_up", data={**form, "csrf": _csrf(await client.get("/auth/sign_up"))})
    assert signed_up.status_code == 200
    assert "dora@example.org" in signed_up.text
    assert "lumigram-token" not in (await client.get("/")).text  # not signed in yet

    sign_in = {"login": "webdora", "password": PASSWORD, "next": "/"}
    early = await client.post("/auth/sign_in", data={**sign_in, "csrf": _csrf(await client.get("/auth/sign_in"))})
    assert early.status_code == 403
    assert "Confirm your login" in early.text

    await settle(services)
    (message,) = mailbox.to("dora@example.org")
    assert (await client.get(link_in(message))).status_code == 200
    signed_in = await client.post("/auth/sign_in", data={**sign_in, "csrf": _csrf(await client.get("/auth/sign_in"))})
    assert signed_in.status_code == 303
    assert "lumigram-token" in (await client.get("/")).text
