"""Bring avatars and headers stored as uploaded (by earlier versions) to today's form.

Earlier versions kept a profile image byte for byte, camera metadata and GPS included.
``lumigram admin reencode-profile-images`` walks every stored avatar and header key once,
re-encodes the ones that are not already in the stored form (``store_profile_image``),
points every profile that used the old key at the new one, and deletes the old blob.
Keys are content-addressed and shared by profiles that uploaded the same file, so the
update is by key, and the old blob goes only once nothing points at it any more.

A file that cannot be read as an image is left as it is and counted, for the operator
to look at; running the command again is safe and skips what is already done.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import select, update

from lumigram.accounts.service import IMAGE_SIZES, store_profile_image
from lumigram.errors import ValidationFailed
from lumigram.events import AccountUpdated
from lumigram.ids import shard_of
from lumigram.infra.blobstore import BlobNotFound
from lumigram.infra.tables import accounts, utcnow
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work
from lumigram.uploads.profile_images import is_stored_form

log = logging.getLogger(__name__)

BATCH = 200


@dataclass(slots=True)
class ReencodeReport:
    #: Old keys replaced by a re-encoded image (and deleted).
    reencoded: int = 0
    #: Keys already in the stored form.
    kept: int = 0
    #: Keys whose blob is missing or not a readable image; left as they are.
    unreadable: int = 0


async def _keys_after(services: Services, kind: str, last: str) -> list[str]:
    column = accounts.c[f"{kind}_key"]
    query = select(column).where(column.is_not(None), column > last).group_by(column).order_by(column).limit(BATCH)
    async with services.db.connect() as conn:
        return [str(key) for key in (await conn.execute(query)).scalars()]


async def _reencode_one(services: Services, kind: str, key: str, report: ReencodeReport) -> None:
    try:
        data = await services.blobs.get(key)
    except BlobNotFound:
        log.warning("%s %s is missing from the blob store", kind, key)
        report.unreadable += 1
        return
    loop = asyncio.get_running_loop()
    if await loop.run_in_executor(services.cpu_pool(), is_stored_form, data, IMAGE_SIZES[kind]):
        report.kept += 1
        return
    try:
        new_key = await store_profile_image(services, kind, data)
    except ValidationFailed as exc:
        log.warning("%s %s cannot be re-encoded: %s", kind, key, exc)
        report.unreadable += 1
        return
    column = accounts.c[f"{kind}_key"]
    async with unit_of_work(services) as work:
        result = await work.conn.execute(
            update(accounts)
            .where(column == key)
            .values({column: new_key, "updated_at": utcnow()})
            .returning(accounts.c.id)
        )
        for account_id in list(result.scalars()):
            # Each profile's kept pages show the picture by its old key.
            await work.emit(AccountUpdated(account_id=account_id), shard=shard_of(account_id))
    if new_key != key:
        await services.blobs.delete(key)
    report.reencoded += 1


async def reencode_profile_images(services: Services) -> ReencodeReport:
    """Re-encode every stored avatar and header not yet in the stored form; what was done."""
    report = ReencodeReport()
    for kind in IMAGE_SIZES:
        last = ""
        while keys := await _keys_after(services, kind, last):
            for key in keys:
                await _reencode_one(services, kind, key, report)
            last = keys[-1]
    return report
