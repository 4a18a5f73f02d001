"""Mastodon's Notification and grouped-notification entities."""

from __future__ import annotations

from typing import Any

from lumigram.accounts.models import Account
from lumigram.entities.accounts import account_entity, iso
from lumigram.entities.statuses import status_entity
from lumigram.notifications.models import Group, Notification
from lumigram.services import Services


def cached_account(services: Services, account: Account, cache: dict[int, dict[str, Any]]) -> dict[str, Any]:
    entity = cache.get(account.id)
    if entity is None:
        entity = cache[account.id] = account_entity(services.settings, account).model_dump(mode="json")
    return entity


def notification_entity(
    services: Services, item: Notification, viewer_id: int, accounts_cache: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Mastodon's Notification; ``status`` only for the types that carry a post."""
    cache = accounts_cache if accounts_cache is not None else {}
    entity: dict[str, Any] = {
        "id": str(item.id),
        "type": item.type,
        "created_at": iso(item.created_at),
        "group_key": item.group_key,
        "account": cached_account(services, item.account, cache),
    }
    if item.status is not None:
        entity["status"] = status_entity(services, item.status, viewer_id, cache)
    return entity


def group_entity(group: Group) -> dict[str, Any]:
    return {
        "group_key": group.group_key,
        "notifications_count": group.notifications_count,
        "type": group.type,
        "most_recent_notification_id": str(group.most_recent_notification_id),
        "page_min_id": str(group.page_min_id),
        "page_max_id": str(group.page_max_id),
        "latest_page_notification_at": iso(group.latest_page_notification_at),
        "sample_account_ids": [str(a.id) for a in group.sample_accounts],
        "status_id": str(group.status.post.id) if group.status is not None else None,
    }


def grouped_body(services: Services, groups: list[Group], viewer_id: int) -> dict[str, Any]:
    """Mastodon's GroupedNotificationsResults: each account and post once, groups by id."""
    cache: dict[int, dict[str, Any]] = {}
    accounts: dict[int, dict[str, Any]] = {}
    statuses: dict[int, dict[str, Any]] = {}
    for group in groups:
        for account in group.sample_accounts:
            accounts.setdefault(account.id, cached_account(services, account, cache))
        if group.status is not None:
            statuses.setdefault(group.status.post.id, status_entity(services, group.status, viewer_id, cache))
    return {
        "accounts": list(accounts.values()),
        "statuses": list(statuses.values()),
        "notification_groups": [group_entity(group) for group in groups],
    }
