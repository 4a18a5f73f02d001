"""What storing a photo's blobs in the media folder costs: CPU (user and system) per photo.

A photo upload stores five blobs (four variants and the master). This times, in one
process on a fresh folder under the system's temporary directory, rounds of:

- ``put_many``: the five through ``FolderBlobStore.put_many`` (one hop to a thread), as
  an upload stores them;
- ``puts``: the five as five ``put`` calls gathered (five hops), as uploads did before;
- ``floor``: the five written by the script itself, each to a temporary file, synced and
  renamed, with no type or etag recorded: what durable, atomic files cost on this disk
  before any bookkeeping.

The kinds alternate within each round, so a busy neighbour weighs on all of them alike;
the figures are medians over the rounds. Run it with ``PYTHONPATH`` pointing at another
tree's ``src`` to measure that tree's store (a missing ``put_many`` is reported, not
timed).

Usage: .venv/bin/python bench/blob_puts.py [--photos 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from lumigram.infra.blobstore.folder import FolderBlobStore

#: Sizes of the five blobs of the write benchmark's 64×64 photo (JPEG and WebP variants,
#: the grid tile's two, the master), in bytes.
SIZES = (544, 96, 544, 96, 700)


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _floor_photo(folder: Path, blobs: list[tuple[str, bytes]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in blobs:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".floor-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100, help="photos per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="blob-puts-"))
    store = FolderBlobStore(root)
    blobs = [(f"{n}-{os.urandom(8).hex()}.jpg", os.urandom(size)) for n, size in enumerate(SIZES)]
    has_many = hasattr(store, "put_many")

    async def put_many(photo: str) -> None:
        await store.put_many([(f"media/{photo}/{name}", data, "image/jpeg") for name, data in blobs])

    async def puts(photo: str) -> None:
        await asyncio.gather(*(store.put(f"media/{photo}/{name}", data, "image/jpeg") for name, data in blobs))

    async def floor(photo: str) -> None:
        await asyncio.to_thread(_floor_photo, root / "floor" / photo, blobs)

    kinds: dict[str, Callable[[str], Awaitable[None]]] = {"puts": puts, "floor": floor}
    if has_many:
        kinds = {"put_many": put_many, **kinds}
    else:
        print("this tree's FolderBlobStore has no put_many: not timed")
    figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    for round_ in range(args.rounds):
        for kind, store_photo in kinds.items():
            user0, system0 = _cpu()
            for n in range(args.photos):
                await store_photo(f"{kind}-{round_}-{n}")
            user1, system1 = _cpu()
            figures[kind].append(((user1 - user0) * 1000 / args.photos, (system1 - system0) * 1000 / args.photos))
    print(f"CPU ms per photo of {len(SIZES)} blobs, median of {args.rounds} rounds of {args.photos} photos:")
    floor_total = statistics.median(u + s for u, s in figures["floor"])
    for kind, runs in figures.items():
        user = statistics.median(u for u, _ in runs)
        system = statistics.median(s for _, s in runs)
        total = statistics.median(u + s for u, s in runs)
        ratio = total / floor_total
        print(f"  {kind:9} user {user:5.2f}  system {system:5.2f}  total {total:5.2f}  (× floor {ratio:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
