"""Security headers for the web app's pages: a strict Content-Security-Policy and friends.

Scripts and styles come only from this server's ``/static`` files: no inline script, no
inline style attribute, no ``eval``. Photos may also come from the media CDN when one is
configured; the scripts talk to the JSON API and the streaming WebSocket on this origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from lumigram.config import Settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    media = "'self' blob: data:"
    if settings.media_base_url:
        media += f" {_origin(settings.media_base_url)}"
    socket = _origin(settings.base_url).replace("http", "ws", 1)
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media}",
            f"media-src {media}",
            f"connect-src 'self' {socket}",
            "font-src 'self'",
            "manifest-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


def page_headers(settings: Settings, cacheable: bool = False) -> dict[str, str]:
    """Headers for an HTML page; a page that shows a signed-in person is never cached."""
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "Cache-Control": "public, max-age=0, must-revalidate" if cacheable else "no-store",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
