"""The blocked and muted accounts settings pages (one implementation serves both), on
both shapes: each lists its own accounts with the button that undoes it, a timed mute
shows when it ends, and an empty list says so."""

from __future__ import annotations

import httpx

from lumigram.services import Services
from tests.factories import create_user
from tests.web_session import signed_in_browser


def _listed(page: str, person: dict[str, object]) -> bool:
    return f'data-account-id="{person["id"]}"' in page


async def test_blocked_and_muted_pages_list_their_own_accounts(client: httpx.AsyncClient, services: Services) -> None:
    owner, blocked, muted = await create_user(client), await create_user(client), await create_user(client)
    assert (await client.get("/settings/muted")).headers["location"].startswith("/auth/sign_in")
    async with signed_in_browser(client, owner) as browser:
        empty_blocked, empty_muted = (
            (await browser.get("/settings/blocked")).text,
            (await browser.get("/settings/muted")).text,
        )
        await client.post(f"/api/v1/accounts/{blocked['id']}/block", headers=owner["headers"])
        await client.post(f"/api/v1/accounts/{muted['id']}/mute", headers=owner["headers"], data={"duration": "3600"})
        blocks, mutes = await browser.get("/settings/blocked"), await browser.get("/settings/muted")

    assert "You have not blocked anyone." in empty_blocked
    assert "You have not muted anyone." in empty_muted
    assert "Muted accounts&#39; posts" not in empty_muted
    assert "Muted accounts' posts" in empty_muted

    assert blocks.status_code == mutes.status_code == 200
    assert _listed(blocks.text, blocked)
    assert not _listed(blocks.text, muted)
    assert 'data-action="unblock" data-done="Unblocked"' in blocks.text
    assert f'aria-label="Unblock {blocked["username"]}"' in blocks.text
    assert "until <time" not in blocks.text
    assert "You have not blocked anyone." not in blocks.text
    assert 'aria-current="page">Blocked accounts' in blocks.text

    assert _listed(mutes.text, muted)
    assert not _listed(mutes.text, blocked)
    assert 'data-action="unmute" data-done="Unmuted"' in mutes.text
    assert f'aria-label="Unmute {muted["username"]}"' in mutes.text
    assert "until <time datetime=" in mutes.text
    assert 'aria-current="page">Muted accounts' in mutes.text
