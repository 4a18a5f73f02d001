"""Domain errors raised by services; the API layer maps each to an HTTP status.

Messages are written for the person using the app: they end up verbatim in
Mastodon's ``{"error": "..."}`` body.
"""

from __future__ import annotations

from typing import Any


class LumigramError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(LumigramError):
    """Missing, or hidden from this viewer (we never reveal which)."""

    def __init__(self, message: str = "Record not found") -> None:
        super().__init__(message)


class Unauthorized(LumigramError):
    """No valid credentials."""

    def __init__(self, message: str = "The access token is invalid") -> None:
        super().__init__(message)


class Forbidden(LumigramError):
    """Credentials are fine but this action is not allowed."""

    def __init__(self, message: str = "This action is not allowed") -> None:
        super().__init__(message)


class ValidationFailed(LumigramError):
    """Input that cannot be accepted; ``details`` maps a field to its problems."""

    def __init__(self, message: str, details: dict[str, list[dict[str, Any]]] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}

    @classmethod
    def field(cls, field: str, error: str, description: str) -> ValidationFailed:
        """One field's problem, in Mastodon's ``details`` shape."""
        return cls(
            f"Validation failed: {field.replace('_', ' ').capitalize()} {description}",
            {field: [{"error": error, "description": description}]},
        )


class Problems:
    """Collects field problems so one 422 names every one of them, as Mastodon does."""

    def __init__(self) -> None:
        self.details: dict[str, list[dict[str, Any]]] = {}

    def add(self, field: str, code: str, description: str) -> None:
        self.details.setdefault(field, []).append({"error": code, "description": description})

    def has(self, field: str) -> bool:
        return field in self.details

    def raise_if_any(self) -> None:
        if not self.details:
            return
        parts = [
            f"{field.replace('_', ' ').capitalize()} {problem['description']}"
            for field, problems in self.details.items()
            for problem in problems
        ]
        raise ValidationFailed("Validation failed: " + ", ".join(parts), self.details)


class Conflict(LumigramError):
    """The request clashes with the current state (e.g. a request already in progress)."""


class RateLimited(LumigramError):
    def __init__(self, limit: int, remaining: int, reset_after: int) -> None:
        super().__init__("Too many requests")
        self.limit = limit
        self.remaining = remaining
        self.reset_after = reset_after


class ServiceUnavailable(LumigramError):
    """A backend the request needs is down; the client may retry."""
