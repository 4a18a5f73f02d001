"""``GET /media/<key>``: stored media, with ETag, byte ranges and long-lived caching.

Content-addressed keys never change meaning, so public ones are cached for a year as
immutable. Private ones need ``?exp=&sig=`` (see ``lumigram.media_access.signing``): a
missing, wrong or expired signature answers 404, as for media that does not exist, and
so does any spelling of a key but the one the app hands out (``media//<id>/...``,
``%2F``, ``./``: see ``lumigram.media_access.service.requested_key``).
With an S3 store the app redirects a signed request to a short-lived presigned URL,
so the store, not the app, moves the bytes.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from lumigram.api.deps import ServicesDep
from lumigram.api.responses import error_response
from lumigram.media_access.playlists import is_playlist, signed_playlist
from lumigram.media_access.service import authorize

router = APIRouter(tags=["media files"])

PUBLIC_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, max-age=3600"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end) inclusive; None for the whole blob; "unsatisfiable" for a range past the end."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # a form we do not serve (several ranges): send everything, as RFC 9110 allows
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end


# Two routes, not one of two methods: FastAPI gives a route one operation id, so GET and
# HEAD shared it (a duplicate in the document, and a warning each time it was built).
@router.get("/media/{key:path}", summary="A stored photo, video or variant")
@router.head("/media/{key:path}", summary="A stored photo, video or variant: its headers alone")
async def media_file(
    key: str,
    request: Request,
    services: ServicesDep,
    exp: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    raw_path = request.scope.get("raw_path")
    grant = await authorize(services, key, exp, sig, raw_path if isinstance(raw_path, bytes) else None)
    cache_control = PRIVATE_CACHE if grant.private else PUBLIC_CACHE
    if grant.private and exp is not None and is_playlist(grant.info.key):
        # Its segments' URLs are signed on the way out (never redirected to the store,
        # which would hand out the names unsigned).
        text = (await services.blobs.get(grant.info.key)).decode()
        signed = signed_playlist(services, grant.info.key, text, not_after=exp)
        return Response(
            signed,
            media_type=grant.info.content_type,
            headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        )
    if grant.redirect is not None:
        return RedirectResponse(grant.redirect, status_code=302, headers={"Cache-Control": "private, no-store"})
    info = grant.info
    etag = f'"{info.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    wanted = _byte_range(request.headers.get("range"), info.size)
    if wanted == "unsatisfiable":
        return error_response(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{info.size}"})
    status = 200
    start, end = 0, info.size - 1
    if isinstance(wanted, tuple):
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(max(end - start + 1, 0))
    if request.method == "HEAD" or info.size == 0:
        return Response(status_code=status, headers=headers, media_type=info.content_type)
    body = services.blobs.stream(info.key, start, end)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=info.content_type)
