"""Mastodon.py, our reference client, driving a live ``lumigram serve`` on both shapes.

With ``test_mastodon_py_plumbing.py`` these tests drive the 121 calls below through
Mastodon.py 2.3 and check each one's effect, on both shapes. (``make_poll`` and
``push_subscription_generate_keys`` are used too, but they make no request.)

accounts (21): create_app, create_account, log_in, account_verify_credentials,
account_update_credentials, account, account_lookup, account_statuses, account_follow,
account_unfollow, account_followers, account_following, account_search, account_lists,
account_relationships, account_note_set, account_familiar_followers, account_pin,
account_unpin, endorsements, directory.
statuses (20): media_post, status_post, status_reply, status_update, status_history,
status, statuses, status_delete, status_context, status_favourite, status_unfavourite,
status_favourited_by, favourites, status_bookmark, status_unbookmark, bookmarks,
status_translate, status_mute, status_unmute, search_v2.
reposts (3): status_reblog, status_unreblog, status_reblogged_by (and a repost read with
status and statuses, and taken back with status_delete, by its own id).
timelines and streaming (6): timeline_home, timeline_public, timeline_local,
timeline_hashtag, timeline_list, stream_user.
notifications and markers (9): notifications, fetch_next, grouped_notifications,
grouped_notification_accounts, notifications_unread_count, notifications_dismiss,
notifications_clear, markers_set, markers_get.
conversations (2): conversations, conversations_read.
relationships (9): account_block, account_unblock, blocks, account_mute, account_unmute,
mutes, domain_block, domain_unblock, domain_blocks.
tags (9): tag, tag_follow, tag_unfollow, followed_tags, featured_tags,
featured_tag_create, featured_tag_delete, featured_tag_suggestions, account_featured_tags.
lists (8): list_create, lists, list, list_update, list_delete, list_accounts,
list_accounts_add, list_accounts_delete.
filters (8): create_filter_v2, filters_v2, filter_v2, update_filter_v2, delete_filter_v2,
add_filter_keyword_v2, filter_keywords_v2, delete_filter_keyword_v2.
polls (2): poll, poll_vote.
scheduled posts (4): scheduled_statuses, scheduled_status, scheduled_status_update,
scheduled_status_delete.
instance (7): instance, instance_v2, instance_rules, instance_peers, instance_activity,
instance_extended_description, instance_terms_of_service.
preferences and emoji (2): preferences, custom_emojis.
announcements (4): announcements, announcement_dismiss, announcement_reaction_create,
announcement_reaction_delete.
suggestions (3): suggestions, suggestions_v2, suggestion_delete.
push (4): push_subscription_set, push_subscription, push_subscription_update,
push_subscription_delete.
"""

from __future__ import annotations

import http.client
import io
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonError
from PIL import Image

from tests.live import LiveServer
from tests.video_clips import make_clip

# One worker runs the package's client tests: they share its live server per shape
# (tests/clients/conftest.py).
pytestmark = [pytest.mark.live, pytest.mark.xdist_group("clients")]


def _photo_with_gps() -> bytes:
    image = Image.new("RGB", (640, 480), (10, 90, 160))
    exif = image.getexif()
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (59.0, 19.0, 48.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_new_user_signs_up_logs_in_and_edits_the_profile(server: LiveServer) -> None:
    client_id, client_secret = Mastodon.create_app(
        "lumigram-test", api_base_url=server.base_url, scopes=["read", "write", "follow", "push"]
    )
    anonymous = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
    token = anonymous.create_account(
        "alice_m", "correct horse battery", "alice@example.org", agreement=True, scopes=["read", "write"]
    )
    assert token

    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
    # Mastodon.py refuses plain-http OAuth endpoints unless told; the test server is loopback http.
    api.log_in(
        username="alice@example.org",
        password="correct horse battery",
        scopes=["read", "write", "push"],
        allow_http=True,
    )
    me = api.account_verify_credentials()
    assert me.username == "alice_m"
    assert me.acct == "alice_m"
    assert isinstance(me.id, int | str)
    assert me.created_at is not None

    updated = api.account_update_credentials(display_name="Alice M", note="Film photos", locked=True)
    assert updated.display_name == "Alice M"
    assert "Film photos" in updated.note
    assert updated.locked is True
    assert api.account_verify_credentials().display_name == "Alice M"

    assert api.account(me.id).username == "alice_m"
    assert api.account_lookup("alice_m").id == me.id

    instance = api.instance()
    assert "Lumigram" in instance.version

    # Web Push: a subscription to this machine (nothing here notifies alice, so no push goes).
    _private_keys, public_keys = api.push_subscription_generate_keys()
    subscribed = api.push_subscription_set("http://127.0.0.1:9/push", public_keys, favourite_events=True)
    assert (subscribed.endpoint, subscribed.alerts.favourite, subscribed.alerts.follow) == (
        "http://127.0.0.1:9/push",
        True,
        False,
    )
    assert api.push_subscription_update(follow_events=True).alerts.follow is True
    assert api.push_subscription().alerts.follow is True
    api.push_subscription_delete()
    with pytest.raises(MastodonError):
        api.push_subscription()

    photo = api.media_post(_photo_with_gps(), mime_type="image/jpeg", description="Harbour", synchronous=True)
    assert photo.type == "image"
    assert photo.description == "Harbour"
    served = httpx.get(photo.url, timeout=10, follow_redirects=True)  # private: S3 redirects to a presigned URL
    assert served.status_code == 200
    assert b"GPS" not in served.content
    assert b"Exif" not in served.content


def test_a_wrong_password_is_refused(server: LiveServer) -> None:
    client_id, client_secret = Mastodon.create_app("lumigram-test", api_base_url=server.base_url)
    anonymous = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
    anonymous.create_account("bob_m", "a long enough password", "bob@example.org", agreement=True)
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
    with pytest.raises(MastodonError):
        api.log_in(username="bob@example.org", password="not the password", allow_http=True)


def _logged_in(server: LiveServer, username: str) -> Mastodon:
    client_id, client_secret = Mastodon.create_app(
        "lumigram-test", api_base_url=server.base_url, scopes=["read", "write", "follow"]
    )
    anonymous = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
    scopes = ["read", "write", "follow"]
    anonymous.create_account(
        username, "a long enough password", f"{username}@example.org", agreement=True, scopes=scopes
    )
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
    api.log_in(username=f"{username}@example.org", password="a long enough password", scopes=scopes, allow_http=True)
    return api


def test_a_post_reaches_a_followers_home_timeline_within_a_second(server: LiveServer) -> None:
    import time

    alice = _logged_in(server, "alice_p")
    bob = _logged_in(server, "bob_p")
    alice_id = alice.account_verify_credentials().id
    bob.account_follow(alice_id)
    assert bob.timeline_home() == []  # the first read warms bob's feed

    photo = alice.media_post(_photo_with_gps(), mime_type="image/jpeg", description="Pier", synchronous=True)
    posted = alice.status_post("Evening at the pier #sea", media_ids=[photo.id], visibility="public")
    start = time.monotonic()
    seen: list[object] = []
    while time.monotonic() - start < 1.0 and not seen:
        seen = [s.id for s in bob.timeline_home()]
        time.sleep(0.02)
    assert seen == [posted.id], f"not in the follower's home timeline after {time.monotonic() - start:.2f}s"

    assert posted.media_attachments[0].description == "Pier"
    assert [t.name for t in posted.tags] == ["sea"]
    served = httpx.get(posted.media_attachments[0].url, timeout=10, follow_redirects=True)
    assert served.status_code == 200
    assert b"GPS" not in served.content

    edited = alice.status_update(posted.id, status="Evening at the old pier #sea")
    assert edited.edited_at is not None
    assert len(alice.status_history(posted.id)) == 2
    assert [s.id for s in bob.account_statuses(alice_id, only_media=True)] == [posted.id]
    assert bob.status(posted.id).content == edited.content
    gone = alice.status_delete(posted.id)
    assert "old pier" in gone.text
    with pytest.raises(MastodonError):
        bob.status(posted.id)


def _settled(read: Callable[[], object], expected: object, timeout: float = 10.0) -> object:
    """``read()`` once it returns ``expected``, or its last answer after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def test_likes_comments_and_saved_posts_through_mastodon_py(server: LiveServer) -> None:
    alice = _logged_in(server, "alice_l")
    bob = _logged_in(server, "bob_l")
    carol = _logged_in(server, "carol_l")
    photo = alice.media_post(_photo_with_gps(), mime_type="image/jpeg", synchronous=True)
    post = alice.status_post("Morning light", media_ids=[photo.id])

    liked = bob.status_favourite(post.id)
    assert liked.favourited is True
    assert liked.favourites_count == 1
    assert bob.status_favourite(post.id).favourites_count == 1  # a second like counts once
    carol.status_favourite(post.id)
    assert [a.username for a in alice.status_favourited_by(post.id)] == ["carol_l", "bob_l"]
    assert [s.id for s in bob.favourites()] == [post.id]

    comment = bob.status_reply(post, "Lovely!")
    assert comment.in_reply_to_id == post.id
    answer = alice.status_reply(comment, "Thank you")
    context = carol.status_context(post.id)
    assert context.ancestors == []
    assert [s.id for s in context.descendants] == [comment.id, answer.id]
    assert [s.id for s in carol.status_context(answer.id).ancestors] == [post.id, comment.id]
    assert carol.status_favourite(comment.id).favourites_count == 1  # a comment is liked like a post

    saved = carol.status_bookmark(post.id)
    assert saved.bookmarked is True
    assert [s.id for s in carol.bookmarks()] == [post.id]
    assert bob.bookmarks() == []
    assert carol.status_unbookmark(post.id).bookmarked is False

    assert bob.status_unfavourite(post.id).favourited is False
    # Counts are eventually consistent: until the workers fold the unlike in, a recount that
    # already saw it can sit beside its pending -1. The count settles on the truth.
    assert _settled(lambda: alice.status(post.id).favourites_count, 1) == 1
    alice.status_delete(comment.id)  # the post's owner removes a comment on their post
    assert [s.id for s in carol.status_context(post.id).descendants] == []
    _reposts_lists_filters_tags_and_relationships(alice, bob, carol, post)


def _reposts_lists_filters_tags_and_relationships(alice: Mastodon, bob: Mastodon, carol: Mastodon, post: Any) -> None:
    """The calls apps make around the feed, each checked through Mastodon.py on both shapes."""
    alice_id, bob_id, carol_id = (api.account_verify_credentials().id for api in (alice, bob, carol))

    # --- reposts: the wrapper, by its own id too; taken back by unreblog or by delete
    carol.account_follow(bob_id)
    wrapper = bob.status_reblog(post.id)
    assert (wrapper.reblog.id, wrapper.reblogged, wrapper.account.id) == (post.id, True, bob_id)
    assert [a.id for a in alice.status_reblogged_by(post.id)] == [bob_id]
    assert carol.status(wrapper.id).reblog.id == post.id
    assert [s.id for s in carol.statuses([wrapper.id, post.id])] == [wrapper.id, post.id]
    assert _settled(lambda: [s.id for s in carol.timeline_home()], [wrapper.id]) == [wrapper.id]
    assert bob.status_unreblog(post.id).reblogged is False
    again = bob.status_reblog(post.id)
    assert bob.status_delete(again.id).reblog.id == post.id
    assert (alice.status(post.id).reblogs_count, bob.status(post.id).reblogged) == (0, False)

    # --- lists
    carol.account_follow(alice_id)
    friends = carol.list_create("Friends")
    assert carol.list_update(friends.id, "Harbour friends").title == "Harbour friends"
    carol.list_accounts_add(friends.id, [alice_id])
    assert [(x.id, x.title) for x in carol.lists()] == [(friends.id, "Harbour friends")]
    assert carol.list(friends.id).title == "Harbour friends"
    assert [a.id for a in carol.list_accounts(friends.id)] == [alice_id]
    assert [x.id for x in carol.account_lists(alice_id)] == [friends.id]
    assert _settled(lambda: [s.id for s in carol.timeline_list(friends.id)], [post.id]) == [post.id]
    carol.list_accounts_delete(friends.id, [alice_id])
    assert carol.list_accounts(friends.id) == []
    carol.list_delete(friends.id)
    assert carol.lists() == []

    # --- filters (v2): a warning on matching posts, then gone
    keywords = [{"keyword": "morning", "whole_word": True}]
    warning = carol.create_filter_v2("Mornings", ["public"], "warn", keywords_attributes=keywords)
    assert [f.title for f in carol.filters_v2()] == ["Mornings"]
    shown = next(s for s in carol.timeline_public() if s.id == post.id)
    assert [(r.filter.title, r.keyword_matches) for r in shown.filtered] == [("Mornings", ["morning"])]
    assert carol.update_filter_v2(warning.id, title="Early").title == "Early"
    assert carol.filter_v2(warning.id).title == "Early"
    light = carol.add_filter_keyword_v2(warning.id, "light")
    assert sorted(k.keyword for k in carol.filter_keywords_v2(warning.id)) == ["light", "morning"]
    carol.delete_filter_keyword_v2(light.id)
    assert [k.keyword for k in carol.filter_keywords_v2(warning.id)] == ["morning"]
    carol.delete_filter_v2(warning.id)
    assert carol.filters_v2() == []

    # --- hashtags
    photo = alice.media_post(_photo_with_gps(), mime_type="image/jpeg", synchronous=True)
    tagged = alice.status_post("Boats #harbour", media_ids=[photo.id])
    assert carol.tag_follow("harbour").following is True
    assert [t.name for t in carol.followed_tags()] == ["harbour"]
    assert carol.tag("harbour").following is True
    assert [s.id for s in carol.timeline_hashtag("harbour")] == [tagged.id]
    assert carol.tag_unfollow("harbour").following is False

    # --- conversations: a direct message, read
    bob.status_post("@carol_l see you at the pier", visibility="direct")
    assert _settled(lambda: len(carol.conversations()), 1) == 1
    (conversation,) = carol.conversations()
    assert (conversation.unread, [a.id for a in conversation.accounts]) == (True, [bob_id])
    assert carol.conversations_read(conversation.id).unread is False

    # --- relationships, followers, search
    assert carol_id in [a.id for a in alice.account_followers(alice_id)]
    assert {a.id for a in carol.account_following(carol_id)} == {alice_id, bob_id}
    assert alice_id in [a.id for a in bob.account_search("alice_l")]
    # Other tests' people on this server are alice_* too: the exact name ranks first.
    assert bob.search_v2("alice_l", result_type="accounts").accounts[0].id == alice_id
    assert carol.account_unfollow(alice_id).following is False
    assert bob.account_mute(carol_id).muting is True
    assert [a.id for a in bob.mutes()] == [carol_id]
    assert bob.account_unmute(carol_id).muting is False
    assert bob.account_block(carol_id).blocking is True
    assert [a.id for a in bob.blocks()] == [carol_id]
    assert bob.account_unblock(carol_id).blocking is False
    assert carol.account_relationships(bob_id)[0].following is False  # a block ends the follow


def test_notifications_and_markers_through_mastodon_py(server: LiveServer) -> None:
    import time

    alice = _logged_in(server, "alice_n")
    bob = _logged_in(server, "bob_n")
    carol = _logged_in(server, "carol_n")
    alice_id = alice.account_verify_credentials().id
    photo = alice.media_post(_photo_with_gps(), mime_type="image/jpeg", synchronous=True)
    post = alice.status_post("Harbour", media_ids=[photo.id])
    bob.account_follow(alice_id)
    bob.status_favourite(post.id)
    carol.status_favourite(post.id)
    carol.status_post("@alice_n look at this", in_reply_to_id=post.id)  # names her: a mention

    deadline = time.monotonic() + 10
    found: list[object] = []
    while time.monotonic() < deadline and len(found) < 4:
        found = list(alice.notifications())
        time.sleep(0.05)
    assert sorted((n.type, n.account.username) for n in found) == [
        ("favourite", "bob_n"),
        ("favourite", "carol_n"),
        ("follow", "bob_n"),
        ("mention", "carol_n"),
    ]
    by_type = {n.type: n for n in found}
    assert by_type["favourite"].status.id == post.id
    assert [n.type for n in alice.notifications(types=["mention"])] == ["mention"]
    assert {n.type for n in alice.notifications(exclude_types=["favourite"])} == {"follow", "mention"}
    assert alice.notifications(id=by_type["follow"].id).account.username == "bob_n"
    first = alice.notifications(limit=2)
    rest = alice.fetch_next(first)
    assert [n.id for n in [*first, *rest]] == [n.id for n in found]

    grouped = alice.grouped_notifications()
    likes = next(g for g in grouped.notification_groups if g.type == "favourite")
    assert likes.notifications_count == 2
    assert likes.status_id == post.id
    assert {a.username for a in alice.grouped_notification_accounts(likes.group_key)} == {"bob_n", "carol_n"}

    assert alice.notifications_unread_count().count == 4
    alice.markers_set("notifications", found[0].id)
    assert alice.markers_get("notifications")["notifications"].last_read_id == found[0].id
    assert alice.notifications_unread_count().count == 0

    alice.notifications_dismiss(by_type["mention"].id)
    assert len(alice.notifications()) == 3
    alice.notifications_clear()
    assert alice.notifications() == []


def test_stream_user_receives_a_notification_when_a_post_is_liked(server: LiveServer) -> None:
    import threading

    from mastodon import StreamListener

    alice = _logged_in(server, "alice_s")
    bob = _logged_in(server, "bob_s")
    received: list[object] = []
    arrived = threading.Event()

    opened = threading.Event()

    class Listener(StreamListener):  # type: ignore[misc]
        def handle_heartbeat(self) -> None:
            # The server's first line is a comment, sent once the stream is subscribed.
            opened.set()

        def on_notification(self, notification: object) -> None:
            received.append(notification)
            arrived.set()

    photo = alice.media_post(_photo_with_gps(), mime_type="image/jpeg", synchronous=True)
    posted = alice.status_post("Harbour at dusk", media_ids=[photo.id])
    # Mastodon.py streams over server-sent events, found through urls.streaming_api.
    handle = alice.stream_user(Listener(), run_async=True, reconnect_async=False)
    try:
        assert opened.wait(10), "the user stream did not open"
        bob.status_favourite(posted.id)
        assert arrived.wait(10), "no notification event on the user stream"
        notification = received[0]
        assert notification.type == "favourite"  # type: ignore[attr-defined]
        assert notification.status.id == posted.id  # type: ignore[attr-defined]
    finally:
        # Mastodon.py's close returns only once its reader sees the next line, the server's
        # heartbeat up to 15 s away; the server's stop at the module's end ends the stream.
        threading.Thread(target=handle.close, daemon=True).start()


def _processed(api: Mastodon, media_id: object, timeout: float = 60.0) -> Any:
    """What ``GET /api/v1/media/:id`` answers once processing is over (or raises, if refused),
    asked as Mastodon.py's synchronous upload asks, but every 0.1 s instead of every 5 s."""
    deadline = time.monotonic() + timeout
    media = api.media(media_id)
    while media.url is None and time.monotonic() < deadline:
        time.sleep(0.1)
        media = api.media(media_id)
    return media


def test_mastodon_py_waits_for_a_video_on_a_kept_alive_connection(server: LiveServer) -> None:
    """A video is answered 202 before it is transcoded; Mastodon.py's ``synchronous`` upload
    then asks for it, sleeps a fixed 5 s and asks again, on one pooled connection. The
    server must keep that connection open across the 5 s (it once closed it at the moment
    the client reused it). A raw connection, idle for as long as the upload takes (at
    least 5.5 s), checks the same on its own."""
    url = httpx.URL(server.base_url)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=10)
    try:
        connection.request("GET", "/api/v1/instance")
        first = connection.getresponse()
        first.read()
        assert first.status == 200
        idle_since = time.monotonic()

        client_id, client_secret = Mastodon.create_app(
            "lumigram-video-test", api_base_url=server.base_url, scopes=["read", "write"]
        )
        anonymous = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url)
        token = anonymous.create_account(
            "vera_v", "correct horse battery", "vera@example.org", agreement=True, scopes=["read", "write"]
        )
        api = Mastodon(access_token=token, api_base_url=server.base_url)
        media = api.media_post(
            make_clip(seconds=1), mime_type="video/mp4", file_name="clip.mp4", description="Tide", synchronous=True
        )
        assert media.type == "video"
        assert media.url is not None
        assert media.preview_url is not None
        served = httpx.get(media.url)
        assert served.status_code == 200
        assert served.headers["content-type"] == "video/mp4"

        # A clip with no video track is refused once the worker has looked at it: the poll
        # ends in a 422 (which Mastodon.py's synchronous upload reports as "could not be
        # processed"). Polled here every 0.1 s, not after Mastodon.py's second 5 s sleep.
        pending = api.media_post(make_clip(video=False), mime_type="video/mp4", file_name="voice.mp4")
        assert pending.url is None
        with pytest.raises(MastodonAPIError) as refused:
            _processed(api, pending.id)
        assert refused.value.args[1] == 422

        time.sleep(max(0.0, 5.5 - (time.monotonic() - idle_since)))
        connection.request("GET", "/api/v1/instance")
        second = connection.getresponse()
        second.read()
        assert second.status == 200
    finally:
        connection.close()
