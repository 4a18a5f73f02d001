"""Mastodon.py driving a live server through the calls apps make at start and the profile,
post and discovery extras: rules and texts (set with ``lumigram admin``), activity,
preferences, custom emojis, announcements, domain blocks, translation, conversation mute,
the local timeline, scheduled posts, suggestions, familiar followers, featured hashtags,
endorsements, notes and the directory. Each call's effect is checked, on both shapes."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from mastodon import Mastodon, MastodonNotFoundError
from PIL import Image
from typer.testing import CliRunner

from lumigram import cli
from lumigram.config import Settings
from tests.live import LiveServer, settings_env

# The package's live server per shape (tests/clients/conftest.py), shared with the other client tests.
pytestmark = [pytest.mark.live, pytest.mark.xdist_group("clients")]

PASSWORD = "a long enough password"
SCOPES = ["read", "write", "follow"]


def _admin(settings: Settings, *args: str, stdin: str | None = None) -> str:
    """Run ``lumigram admin ...`` against the live server's data, as its admin would (in this
    process: a child would spend seconds starting Python and importing the app)."""
    result = CliRunner().invoke(cli.app, ["admin", *args], env=settings_env(settings), input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def _logged_in(server: LiveServer, username: str) -> Mastodon:
    client_id, client_secret = Mastodon.create_app("plumbing-test", api_base_url=server.base_url, scopes=SCOPES)
    anonymous = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
    anonymous.create_account(username, PASSWORD, f"{username}@example.org", agreement=True, scopes=SCOPES)
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
    api.log_in(username=f"{username}@example.org", password=PASSWORD, scopes=SCOPES, allow_http=True)
    return api


def _image(kind: str, color: tuple[int, ...]) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA" if kind == "PNG" else "RGB", (64, 64), color).save(out, kind)
    return out.getvalue()


def test_mastodon_py_drives_every_plumbing_call(server: LiveServer, server_settings: Settings, tmp_path: Path) -> None:
    settings = server_settings
    alice, bob, carol = (_logged_in(server, name) for name in ("alice_q", "bob_q", "carol_q"))
    alice_id, bob_id, carol_id = (api.account_verify_credentials().id for api in (alice, bob, carol))

    # --- what the admin sets through the CLI, and what clients read at start
    _admin(settings, "add-rule", "Share only your own photos", "--hint", "No reposting")
    extra = _admin(settings, "add-rule", "A rule to take back").split()[-1]
    assert _admin(settings, "remove-rule", extra).strip() == f"removed rule {extra}"
    policy = tmp_path / "policy.txt"
    policy.write_text("We keep little.\n\nAsk us anything.")
    _admin(settings, "set-text", "privacy_policy", str(policy))
    _admin(settings, "set-text", "terms_of_service", "-", stdin="Be kind.")
    _admin(settings, "set-text", "extended_description", "-", stdin="A home for #film photographers.")
    emoji_file = tmp_path / "sun.png"
    emoji_file.write_bytes(_image("PNG", (250, 200, 0, 255)))
    _admin(settings, "add-emoji", "sun", str(emoji_file), "--category", "weather")
    announced = _admin(settings, "announce", "Maintenance on Sunday")
    assert announced.startswith("published announcement ")

    rules = alice.instance_rules()
    assert [(r.text, r.hint) for r in rules] == [("Share only your own photos", "No reposting")]
    assert alice.instance_peers() == []
    assert "film" in alice.instance_extended_description().content
    assert alice.instance_terms_of_service().content == "<p>Be kind.</p>"
    privacy = httpx.get(f"{server.base_url}/api/v1/instance/privacy_policy", timeout=10).json()
    assert privacy["content"] == "<p>We keep little.</p><p>Ask us anything.</p>"
    # The other client tests sign people up on this server too: the exact counts are
    # tests/api/test_server_plumbing.py's to check.
    week = alice.instance_activity()[0]
    assert int(week.registrations) >= 3
    assert int(week.logins) >= 3
    configuration = alice.instance_v2().configuration
    assert configuration.statuses.max_media_attachments == 10
    assert configuration.media_attachments.video_duration_limit == 90  # a reel's
    assert configuration.media_attachments.post_video_duration_limit == 60
    assert "clarendon" in configuration.media_attachments.photo_filters
    assert configuration.translation.enabled is False
    preferences = alice.preferences()
    assert preferences["posting:default:visibility"] == "public"
    emojis = alice.custom_emojis()
    assert [(e.shortcode, e.category) for e in emojis] == [("sun", "weather")]
    assert httpx.get(emojis[0].url, timeout=10).headers["content-type"] == "image/png"

    (announcement,) = alice.announcements()
    assert "Maintenance" in announcement.content
    alice.announcement_reaction_create(announcement.id, "sun")
    bob.announcement_reaction_create(announcement.id, "👍")
    bob.announcement_reaction_create(announcement.id, "sun")
    bob.announcement_reaction_delete(announcement.id, "👍")
    reactions = {r.name: (r.count, r.me) for r in alice.announcements()[0].reactions}
    assert reactions == {"sun": (2, True)}
    alice.announcement_dismiss(announcement.id)
    assert alice.announcements() == []
    assert len(bob.announcements()) == 1

    alice.domain_block("spam.example")
    assert alice.domain_blocks() == ["spam.example"]
    alice.domain_unblock("spam.example")
    assert alice.domain_blocks() == []

    # --- posts: translation, conversation mute, the local timeline, scheduled posts
    photo = alice.media_post(_image("JPEG", (10, 90, 160)), mime_type="image/jpeg", synchronous=True)
    post = alice.status_post("Harbour at dawn #film", media_ids=[photo.id])
    with pytest.raises(MastodonNotFoundError):
        bob.status_translate(post.id)
    assert alice.status_mute(post.id).muted is True
    assert alice.status(post.id).muted is True
    bob.status_reply(post, "Lovely light")
    assert alice.status_unmute(post.id).muted is False
    assert post.id in [s.id for s in carol.timeline_local()]

    later = alice.media_post(_image("JPEG", (200, 90, 10)), mime_type="image/jpeg", synchronous=True)
    when = datetime.now(UTC) + timedelta(hours=2)
    waiting = alice.status_post("Sunset, soon", media_ids=[later.id], scheduled_at=when)
    assert [s.id for s in alice.scheduled_statuses()] == [waiting.id]
    assert alice.scheduled_status(waiting.id).params.text == "Sunset, soon"
    moved = alice.scheduled_status_update(waiting.id, when + timedelta(days=1))
    assert moved.scheduled_at.date() == (when + timedelta(days=1)).date()
    alice.scheduled_status_delete(waiting.id)
    assert alice.scheduled_statuses() == []

    # --- polls
    asked = alice.status_post("Film or digital?", poll=alice.make_poll(["film", "digital"], expires_in=600))
    voted = bob.poll_vote(asked.poll.id, [0])
    assert (voted.voted, voted.own_votes, voted.votes_count) == (True, [0], 1)
    assert [o.votes_count for o in carol.poll(asked.poll.id).options] == [1, 0]

    # --- discovery: suggestions, familiar followers, directory
    carol.account_follow(bob_id)
    bob.account_follow(alice_id)
    suggested = carol.suggestions_v2()
    assert (suggested[0].account.id, suggested[0].sources) == (alice_id, ["friends_of_friends"])
    carol.suggestion_delete(alice_id)
    assert alice_id not in [a.id for a in carol.suggestions()]
    (familiar,) = carol.account_familiar_followers(alice_id)
    assert [a.id for a in familiar.accounts] == [bob_id]
    assert alice_id in [a.id for a in carol.directory(order="active")]

    # --- profile extras: featured hashtags, endorsements, notes
    assert [t.name for t in alice.featured_tag_suggestions()] == ["film"]
    featured = alice.featured_tag_create("film")
    assert (featured.name, int(featured.statuses_count)) == ("film", 1)
    assert [t.name for t in bob.account_featured_tags(alice_id)] == ["film"]
    alice.featured_tag_delete(featured.id)
    assert alice.featured_tags() == []

    assert carol.account_pin(bob_id).endorsed is True
    assert [a.id for a in carol.endorsements()] == [bob_id]
    assert carol.account_unpin(bob_id).endorsed is False
    assert carol.account_note_set(bob_id, "met at the harbour").note == "met at the harbour"
    assert carol.account_relationships(bob_id)[0].note == "met at the harbour"
    assert bob.account_relationships(carol_id)[0].note == ""
    for api in (alice, bob, carol):
        api.session.close()  # idle keep-alive connections would hold the server's shutdown up
