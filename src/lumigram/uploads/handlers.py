"""Bus consumers of the uploads service: transcoding uploaded videos.

``media.process_video`` gets ``media.uploaded`` (``transcode_uploaded_video``), fetches the original to a temporary
file, transcodes it in the CPU pool, stores the MP4 and its poster (and, for a vertical
video, which may become a reel, its HLS ladder: ``uploads.hls``), and marks the row
``ready`` (or ``failed`` with the reason, which ``GET /api/v1/media/:id`` shows).

Redelivery is normal (a worker may die mid-way), so every step can be repeated: the
row's state says whether the work is done, outputs are content-addressed (a second
run stores the same keys again), and the original is deleted only after the row
records the outcome; a redelivered event for a finished row just finishes that cleanup.

A file that makes the transcoder fail in an unforeseen way is marked failed rather than
retried: on the embedded bus a handler that keeps failing holds up every later event.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select, update

from lumigram.events import MediaUploaded
from lumigram.infra.blobstore import BlobNotFound
from lumigram.infra.tables import media_attachments, utcnow
from lumigram.services import Services
from lumigram.uploads.hls import PLAYLIST_TYPE, SEGMENT_TYPE, Ladder, package_hls
from lumigram.uploads.transcode import TranscodedVideo, VideoRejected, transcode

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
GENERIC_FAILURE = "The video could not be processed"


async def _row(services: Services, media_id: int) -> Any:
    async with services.db.connect() as conn:
        return (await conn.execute(select(media_attachments).where(media_attachments.c.id == media_id))).first()


async def _download(services: Services, key: str, target: Path) -> None:
    """Stream the blob to ``target``: an upload may be 200 MB, so it is never held in memory."""
    handle = await asyncio.to_thread(target.open, "wb")
    try:
        async for chunk in services.blobs.stream(key):
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def _drop_original(services: Services, media_id: int, key: str | None) -> None:
    """Delete the upload as sent, then forget its key (in that order, so a crash between
    the two leaves a key that the next delivery deletes again, never an orphan blob)."""
    if key is None:
        return
    await services.blobs.delete(key)
    async with services.db.begin() as conn:
        await conn.execute(
            update(media_attachments).where(media_attachments.c.id == media_id).values(original_key=None)
        )


async def _fail(services: Services, media_id: int, original_key: str | None, reason: str) -> None:
    async with services.db.begin() as conn:
        await conn.execute(
            update(media_attachments)
            .where(media_attachments.c.id == media_id, media_attachments.c.state == "processing")
            .values(state="failed", error=reason, processed_at=utcnow())
        )
    await _drop_original(services, media_id, original_key)


def _length(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:05.2f}"


def _meta(existing: dict[str, Any], video: TranscodedVideo) -> dict[str, Any]:
    """Mastodon's video ``meta``: the served file's size and timing, ``small`` for the poster."""
    aspect = round(video.width / video.height, 4)
    numerator, _, denominator = video.frame_rate.partition("/")
    fps = round(int(numerator) / int(denominator or 1), 2)
    bitrate = round(video.size * 8 / video.duration) if video.duration > 0 else 0
    meta = {
        **existing,
        "length": _length(video.duration),
        "duration": video.duration,
        "fps": fps,
        "size": f"{video.width}x{video.height}",
        "width": video.width,
        "height": video.height,
        "aspect": aspect,
        "original": {
            "width": video.width,
            "height": video.height,
            "size": f"{video.width}x{video.height}",
            "aspect": aspect,
            "frame_rate": video.frame_rate,
            "duration": video.duration,
            "bitrate": bitrate,
        },
        "small": {
            "width": video.poster_width,
            "height": video.poster_height,
            "size": f"{video.poster_width}x{video.poster_height}",
            "aspect": round(video.poster_width / video.poster_height, 4),
        },
    }
    if video.has_audio:
        meta["audio_encode"] = "aac"
    return meta


async def _store(services: Services, media_id: int, video: TranscodedVideo) -> dict[str, Any]:
    """Put the MP4 and the poster in the store; on failure remove what was put, and raise."""
    video_key = f"media/{media_id}/video-{video.sha256[:16]}.mp4"
    poster_key = f"media/{media_id}/poster-{hashlib.sha256(video.poster).hexdigest()[:16]}.jpg"
    stored: list[str] = []
    try:
        await services.blobs.put(video_key, _file_chunks(Path(video.path)), "video/mp4")
        stored.append(video_key)
        await services.blobs.put(poster_key, video.poster, "image/jpeg")
        stored.append(poster_key)
    except BaseException:
        for key in stored:
            await services.blobs.delete(key)
        raise
    return {
        "video": {"mp4": {"key": video_key, "width": video.width, "height": video.height, "size": video.size}},
        "poster": {
            "jpeg": {
                "key": poster_key,
                "width": video.poster_width,
                "height": video.poster_height,
                "size": len(video.poster),
            }
        },
    }


async def _package(services: Services, video: TranscodedVideo, folder: Path) -> Ladder | None:
    """The HLS ladder of a vertical video (the only kind a reel can be); None for other
    videos, or when packaging failed: the MP4 alone still plays everywhere."""
    if video.height <= video.width:
        return None
    loop = asyncio.get_running_loop()
    ladder_folder = folder / "hls"
    await asyncio.to_thread(ladder_folder.mkdir)
    prefix = f"hls-{video.sha256[:16]}"
    try:
        return await loop.run_in_executor(services.cpu_pool(), package_hls, video.path, str(ladder_folder), prefix)
    except Exception:
        log.exception("packaging %s as HLS failed; the video is served as MP4 only", video.path)
        return None


async def _store_ladder(services: Services, media_id: int, ladder: Ladder, folder: Path) -> dict[str, Any]:
    """Put the ladder's playlists and segments in the store beside the MP4; on failure
    remove what was put, and raise. The files keep their names: the playlists refer to
    one another and to the segments by name, relative to their own key."""
    stored: list[str] = []

    async def put(name: str, content_type: str) -> dict[str, str]:
        key = f"media/{media_id}/{name}"
        await services.blobs.put(key, _file_chunks(folder / name), content_type)
        stored.append(key)
        return {"key": key}

    try:
        rungs = []
        for rung in ladder.rungs:
            segments = [await put(name, SEGMENT_TYPE) for name in rung.segments]
            rungs.append(
                {
                    "name": rung.name,
                    "width": rung.width,
                    "height": rung.height,
                    "bandwidth": rung.bandwidth,
                    "playlist": await put(rung.playlist, PLAYLIST_TYPE),
                    "segments": segments,
                }
            )
        master = await put(ladder.master, PLAYLIST_TYPE)
    except BaseException:
        for key in stored:
            await services.blobs.delete(key)
        raise
    return {"master": master, "rungs": rungs}


def blob_keys_of(node: Any) -> list[str]:
    """Every ``key`` in a variants document, however deep (the HLS ladder nests its keys)."""
    if isinstance(node, dict):
        return [k for name, value in node.items() for k in ([value] if name == "key" else blob_keys_of(value))]
    if isinstance(node, list):
        return [key for item in node for key in blob_keys_of(item)]
    return []


async def _keys_in_use(services: Services, media_id: int) -> set[str]:
    row = await _row(services, media_id)
    if row is None:
        return set()
    return set(blob_keys_of(orjson.loads(row.variants)))


async def _run_transcode(services: Services, source: Path, folder: Path) -> TranscodedVideo | str:
    """The transcoded video, or the reason it was refused."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(services.cpu_pool(), transcode, str(source), str(folder))
    except VideoRejected as exc:
        return str(exc)
    except BrokenProcessPool:
        # The worker process died under this file (a decoder crash, or out of memory).
        log.exception("the transcoder process died on %s", source)
        return GENERIC_FAILURE
    except Exception:
        log.exception("transcoding %s failed unexpectedly", source)
        return GENERIC_FAILURE


async def process_video(services: Services, media_id: int) -> None:
    """Transcode one uploaded video; safe to call again for the same media, at any point."""
    row = await _row(services, media_id)
    if row is None:
        log.info("media %s no longer exists; nothing to transcode", media_id)
        return
    if row.state != "processing":
        await _drop_original(services, media_id, row.original_key)  # finish a cleanup cut short
        return
    if row.original_key is None:
        await _fail(services, media_id, None, "The upload was lost before it could be processed")
        return
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="lumigram-video-"))
    try:
        source = folder / "original"
        try:
            await _download(services, row.original_key, source)
        except BlobNotFound:
            await _fail(services, media_id, row.original_key, "The upload was lost before it could be processed")
            return
        outcome = await _run_transcode(services, source, folder)
        if isinstance(outcome, str):
            await _fail(services, media_id, row.original_key, outcome)
            return
        # A video claimed by a story (Pixelfed's add, which makes the draft as the upload is
        # taken: read again now that the transcode is done) will never be a reel, whose
        # ladder this is: stories play the MP4.
        current = await _row(services, media_id)
        for_story = current is not None and current.story_id is not None
        ladder = None if for_story else await _package(services, outcome, folder)
        variants = await _store(services, media_id, outcome)
        if ladder is not None:
            variants["hls"] = await _store_ladder(services, media_id, ladder, folder / "hls")
        meta = _meta(orjson.loads(row.meta), outcome)
        async with services.db.begin() as conn:
            updated = await conn.execute(
                update(media_attachments)
                .where(media_attachments.c.id == media_id, media_attachments.c.state == "processing")
                .values(
                    state="ready",
                    content_type="video/mp4",
                    variants=orjson.dumps(variants).decode(),
                    meta=orjson.dumps(meta).decode(),
                    error=None,
                    processed_at=utcnow(),
                )
            )
        if updated.rowcount == 0:
            # Another delivery finished first (or the media was deleted meanwhile): keep only
            # what the row now points at. Keys are content-addressed, so they may coincide.
            in_use = await _keys_in_use(services, media_id)
            for key in blob_keys_of(variants):
                if key not in in_use:
                    await services.blobs.delete(key)
        await _drop_original(services, media_id, row.original_key)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)


async def transcode_uploaded_video(services: Services, event: MediaUploaded) -> None:
    await process_video(services, event.media_id)
