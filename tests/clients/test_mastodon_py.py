"""Mastodon.py, our reference client, driving a live ``lumigram serve`` on both shapes."""

from __future__ import annotations

import http.client
import io
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from mastodon import Mastodon, MastodonError
from PIL import Image

from lumigram.config import Settings
from tests.conftest import SHAPES
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.live


def _photo_with_gps() -> bytes:
    image = Image.new("RGB", (640, 480), (10, 90, 160))
    exif = image.getexif()
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (59.0, 19.0, 48.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture(scope="module", params=SHAPES)
def server(request: pytest.FixtureRequest, make_module_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    """One live server per shape for the module: each test signs up people of its own."""
    shape = request.param
    # Scaled out, the consumers run in a separate `lumigram worker` and two serve
    # processes share the port, as in production: a client's requests land on either.
    workers = 1 if shape == "scaled" else 0
    settings = make_module_settings(
        shape, inline_worker=shape == "embedded", serve_processes=2 if shape == "scaled" else 1
    )
    with live_server(settings, workers=workers) as running:
        yield running


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
        username="alice@example.org", password="correct horse battery", scopes=["read", "write"], allow_http=True
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


def test_a_kept_alive_connection_outlives_a_five_second_poll(server: LiveServer) -> None:
    # Mastodon.py polls a processing video every 5 s over one pooled connection; the
    # server must not close that connection as it goes idle for those 5 s.
    url = httpx.URL(server.base_url)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=10)
    try:
        connection.request("GET", "/api/v1/instance")
        first = connection.getresponse()
        first.read()
        assert first.status == 200
        time.sleep(6)
        connection.request("GET", "/api/v1/instance")
        second = connection.getresponse()
        second.read()
        assert second.status == 200
    finally:
        connection.close()
