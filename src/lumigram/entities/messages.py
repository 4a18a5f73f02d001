"""The JSON of direct messages: Mastodon's Conversation, and Lumigram's Thread and Message
(the extension API under ``/api/v1/lumigram/threads``)."""

from __future__ import annotations

from typing import Any

from lumigram.entities.accounts import account_entity, iso
from lumigram.entities.media import media_entity
from lumigram.entities.statuses import status_entity
from lumigram.entities.stories import story_media
from lumigram.messages.conversations import Conversation
from lumigram.messages.models import Edit, Message, Thread
from lumigram.services import Services


def conversation_entity(services: Services, conversation: Conversation, viewer_id: int) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "unread": conversation.unread,
        "accounts": [account_entity(services.settings, a).model_dump(mode="json") for a in conversation.accounts],
        "last_status": status_entity(services, conversation.last_status, viewer_id),
    }


def message_entity(services: Services, message: Message, viewer_id: int) -> dict[str, Any]:
    shared_account = message.shared_account
    return {
        "id": str(message.id),
        "thread_id": str(message.thread_id),
        "account_id": str(message.account_id),
        "text": message.text,
        "media_attachments": [media_entity(services, m) for m in message.media],
        "status": status_entity(services, message.shared_post, viewer_id) if message.shared_post else None,
        "account": account_entity(services.settings, shared_account).model_dump(mode="json")
        if shared_account
        else None,
        "reactions": [{"account_id": str(r.account_id), "emoji": r.emoji} for r in message.reactions],
        "story": _answered_story(services, message),
        "created_at": iso(message.created_at),
        "edited_at": iso(message.edited_at) if message.edited_at else None,
        "unsent": message.unsent,
    }


def _answered_story(services: Services, message: Message) -> dict[str, Any] | None:
    """The story a reply answers: its media while it is live and the reader may see it,
    otherwise only that it is no longer available."""
    if message.story_id is None:
        return None
    story = message.story
    return {
        "id": str(message.story_id),
        "available": story is not None,
        "media_attachment": story_media(services, story) if story is not None else None,
        "expires_at": iso(story.expires_at) if story is not None else None,
    }


def thread_entity(services: Services, thread: Thread) -> dict[str, Any]:
    me = thread.me
    return {
        "id": str(thread.id),
        "kind": thread.kind,
        "name": thread.name,
        "accounts": [
            account_entity(services.settings, a).model_dump(mode="json")
            for a in thread.accounts
            if a.id != thread.viewer_id
        ],
        "admin_ids": [str(m.account_id) for m in thread.members if m.admin],
        "folder": me.folder,
        "muted": me.muted,
        "last_read_id": str(me.last_read_id),
        "unread_count": thread.unread_count,
        "last_message": message_entity(services, thread.last_message, thread.viewer_id)
        if thread.last_message
        else None,
        "created_at": iso(thread.created_at),
    }


def edit_entity(edit: Edit) -> dict[str, Any]:
    return {"text": edit.text, "created_at": iso(edit.created_at)}
