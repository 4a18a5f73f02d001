"""The calls clients make when they start: the server's rules and texts, weekly activity,
custom emojis, announcements (dismiss, reactions), preferences, domain blocks, translation,
and the limits the instance entity advertises."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image

from lumigram.community import announcements, emojis, texts
from lumigram.services import Services
from tests.factories import create_post, create_user


def _emoji_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (300, 300), (250, 200, 0, 255)).save(out, "PNG")
    return out.getvalue()


async def test_rules_texts_activity_and_limits_clients_read_at_start(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert (await client.get("/api/v1/instance/rules")).json() == []
    assert (await client.get("/api/v1/instance/privacy_policy")).status_code == 404
    assert (await client.get("/api/v1/instance/terms_of_service")).json() == {"error": "Record not found"}
    assert (await client.get("/api/v1/instance/extended_description")).json()["content"] == ""

    first = await texts.add_rule(services, "Post only photos you took", "No reposting others' work")
    await texts.add_rule(services, "Be kind")
    await texts.set_text(services, "privacy_policy", "We keep little.\n\nAsk us anything.")
    await texts.set_text(services, "terms_of_service", "Be nice.")
    await texts.set_text(services, "extended_description", "A place for #film photos.")

    rules = (await client.get("/api/v1/instance/rules")).json()
    assert [r["text"] for r in rules] == ["Post only photos you took", "Be kind"]
    assert rules[0] == {"id": str(first.id), "text": "Post only photos you took", "hint": "No reposting others' work"}
    v2 = (await client.get("/api/v2/instance")).json()
    assert v2["rules"] == rules
    assert (await client.get("/api/v1/instance")).json()["rules"] == rules
    policy = (await client.get("/api/v1/instance/privacy_policy")).json()
    assert policy["content"] == "<p>We keep little.</p><p>Ask us anything.</p>"
    assert policy["updated_at"].endswith("Z")
    terms = (await client.get("/api/v1/instance/terms_of_service")).json()
    assert terms["content"] == "<p>Be nice.</p>"
    assert terms["effective"] is True
    about = (await client.get("/api/v1/instance/extended_description")).json()
    assert "/tags/film" in about["content"]

    # The limits the services enforce, and the photo filters by name.
    configuration = v2["configuration"]
    assert configuration["statuses"]["max_media_attachments"] == 10
    assert configuration["statuses"]["max_characters"] == 2200
    assert configuration["accounts"]["max_pinned_statuses"] == 5
    assert configuration["media_attachments"]["video_duration_limit"] == 90  # a reel's
    assert configuration["media_attachments"]["post_video_duration_limit"] == 60
    assert configuration["media_attachments"]["video_frame_rate_limit"] == 60
    assert {"normal", "clarendon"} <= set(configuration["media_attachments"]["photo_filters"])
    assert configuration["translation"] == {"enabled": False}

    alice, bob = await create_user(client), await create_user(client)
    await create_post(client, alice["headers"], "first")
    await create_post(client, bob["headers"], "second")
    activity = (await client.get("/api/v1/instance/activity")).json()
    assert len(activity) == 12
    this_week = activity[0]
    assert this_week == {"week": this_week["week"], "statuses": "2", "logins": "2", "registrations": "2"}
    assert int(activity[1]["week"]) == int(this_week["week"]) - 7 * 24 * 3600
    assert all(week["statuses"] == "0" for week in activity[1:])
    assert (await client.get("/api/v1/instance/peers")).json() == []


async def test_emojis_announcements_preferences_domain_blocks_and_translation(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    assert (await client.get("/api/v1/custom_emojis")).json() == []
    await emojis.add_emoji(services, "sunny", _emoji_png(), "weather")
    listed = (await client.get("/api/v1/custom_emojis")).json()
    assert [(e["shortcode"], e["category"], e["visible_in_picker"]) for e in listed] == [("sunny", "weather", True)]
    image = await client.get(listed[0]["url"].removeprefix("http://testserver"))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (128, 128)

    # No announcement yet; then one the admin published, and one that has not started.
    assert (await client.get("/api/v1/announcements", headers=alice["headers"])).json() == []
    published = await announcements.publish(services, "Maintenance on Sunday")
    await announcements.publish(services, "Later", starts_at=datetime.now(UTC) + timedelta(days=1))
    base = f"/api/v1/announcements/{published.id}"
    shown = (await client.get("/api/v1/announcements", headers=alice["headers"])).json()
    assert [(a["id"], a["content"], a["read"]) for a in shown] == [
        (str(published.id), "<p>Maintenance on Sunday</p>", False)
    ]

    for user, name in ((alice, "👍"), (alice, "sunny"), (bob, "👍"), (bob, "👍")):
        response = await client.put(f"{base}/reactions/{name}", headers=user["headers"])
        assert response.status_code == 200, response.text
    refused = await client.put(f"{base}/reactions/notanemoji", headers=alice["headers"])
    assert refused.status_code == 422
    assert "emoji" in refused.json()["error"]
    reactions = (await client.get("/api/v1/announcements", headers=bob["headers"])).json()[0]["reactions"]
    assert [(r["name"], r["count"], r["me"]) for r in reactions] == [("👍", 2, True), ("sunny", 1, False)]
    assert reactions[1]["url"] == listed[0]["url"]
    assert (await client.delete(f"{base}/reactions/👍", headers=bob["headers"])).status_code == 200
    reactions = (await client.get("/api/v1/announcements", headers=bob["headers"])).json()[0]["reactions"]
    assert [(r["name"], r["count"], r["me"]) for r in reactions] == [("👍", 1, False), ("sunny", 1, False)]

    for _ in range(2):  # dismissing twice is fine
        assert (await client.post(f"{base}/dismiss", headers=alice["headers"])).json() == {}
    assert (await client.get("/api/v1/announcements", headers=alice["headers"])).json() == []
    kept = (await client.get("/api/v1/announcements?with_dismissed=true", headers=alice["headers"])).json()
    assert [a["read"] for a in kept] == [True]
    assert len((await client.get("/api/v1/announcements", headers=bob["headers"])).json()) == 1
    missing = await client.post("/api/v1/announcements/12345/dismiss", headers=alice["headers"])
    assert missing.status_code == 404
    assert missing.json() == {"error": "Record not found"}
    assert (await client.get("/api/v1/announcements")).status_code == 401

    preferences = (await client.get("/api/v1/preferences", headers=alice["headers"])).json()
    assert preferences["posting:default:visibility"] == "public"
    assert preferences["posting:default:language"] == "en"
    assert preferences["reading:expand:spoilers"] is False

    for domain in ("Spam.Example", "ads.example", "spam.example"):
        response = await client.post("/api/v1/domain_blocks", data={"domain": domain}, headers=alice["headers"])
        assert response.status_code == 200, response.text
    bad = await client.post("/api/v1/domain_blocks", data={"domain": "https://ads.example/"}, headers=alice["headers"])
    assert bad.status_code == 422
    assert "domain" in bad.json()["error"].lower()
    blocked = await client.get("/api/v1/domain_blocks", headers=alice["headers"])
    assert blocked.json() == ["ads.example", "spam.example"]
    assert (await client.get("/api/v1/domain_blocks", headers=bob["headers"])).json() == []
    paged = await client.get("/api/v1/domain_blocks", params={"limit": 1}, headers=alice["headers"])
    assert paged.json() == ["ads.example"]
    assert 'rel="next"' in paged.headers["link"]
    gone = await client.delete("/api/v1/domain_blocks", params={"domain": "ads.example"}, headers=alice["headers"])
    assert gone.status_code == 200
    assert (await client.get("/api/v1/domain_blocks", headers=alice["headers"])).json() == ["spam.example"]

    post: dict[str, Any] = await create_post(client, alice["headers"], "Bonjour")
    hidden = await create_post(client, alice["headers"], "only me", visibility="direct")
    translated = await client.post(f"/api/v1/statuses/{post['id']}/translate", headers=bob["headers"])
    assert translated.status_code == 404
    assert translated.json() == {"error": "Record not found"}
    assert (await client.post(f"/api/v1/statuses/{hidden['id']}/translate", headers=bob["headers"])).status_code == 404
    assert (await client.post(f"/api/v1/statuses/{post['id']}/translate")).status_code == 401
