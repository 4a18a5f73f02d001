"""A browser of its own for a user, signed in through the web app's sign-in page, for
tests that drive the pages through the ASGI client."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextlib.asynccontextmanager
async def signed_in_browser(client: httpx.AsyncClient, user: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookies on ``client``'s app, signed in as ``user``."""
    transport = client._transport  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as browser:
        csrf = CSRF.search((await browser.get("/auth/sign_in")).text)
        assert csrf is not None
        form = {"login": user["username"], "password": user["password"], "csrf": csrf.group(1), "next": "/"}
        assert (await browser.post("/auth/sign_in", data=form)).status_code == 303
        yield browser
