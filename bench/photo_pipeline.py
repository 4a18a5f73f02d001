"""Photo pipeline cost: one 12-megapixel JPEG to every stored variant, on one core.

Makes a deterministic, noisy 4032x3024 JPEG (quality 90, the worst case for decoding:
noise defeats compression), then, in a fresh child process pinned to one core, runs
``process_image`` on it several times and reports the median wall time and the child's
peak resident memory (so making the input does not count).

Each full run includes the kept master JPEG and the BlurHash. It is measured twice:
without a filter, and with the costliest look (a filter with a vignette plus every
adjustment). The parts are timed on their own too: the filter on the 1080 px image, the
BlurHash, and a re-render from a stored master (what ``PUT /api/v1/media/:id`` does).

Usage: .venv/bin/python bench/photo_pipeline.py [--runs 7]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from lumigram.uploads import filters
from lumigram.uploads.blurhash import encode_image
from lumigram.uploads.images import process_image, rerender

#: The most work a look can ask for: matrix, curves and a vignette.
HEAVIEST_LOOK = ("lofi", {"brightness": 10, "contrast": 20, "saturation": -30, "warmth": 40, "vignette": 50})


def make_photo(width: int = 4032, height: int = 3024) -> bytes:
    rng = np.random.default_rng(12)
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    base = np.stack(
        [
            np.broadcast_to(x, (height, width)),
            np.broadcast_to(y, (height, width)),
            np.full((height, width), 128, np.float32),
        ],
        axis=-1,
    )
    noisy = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(noisy, "RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def high_water_mb() -> float:
    """Peak resident memory of this process image (VmHWM; unlike ru_maxrss, reset by exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _timed(label: str, runs: int, call: Callable[[], object]) -> None:
    """Wall time, and CPU time: on a busy shared machine the wall time includes waiting for
    the core, the CPU time does not, so the two together show how loaded the run was."""
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    print(
        f"{label}: median {statistics.median(wall) * 1000:.1f} ms (min {min(wall) * 1000:.1f}), "
        f"CPU median {statistics.median(cpu) * 1000:.1f} ms, over {runs} runs"
    )


def measure(path: str, runs: int) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    photo = Path(path).read_bytes()
    before = high_water_mb()
    result = process_image(photo)
    print(
        f"input: {len(photo) / 1e6:.1f} MB JPEG, 4032x3024; variants: {len(result.variants)} "
        f"+ master ({len(result.master or b'') / 1e3:.0f} kB) + BlurHash {result.blurhash}; one core"
    )
    _timed("process_image, no filter", runs, lambda: process_image(photo))
    _timed(
        f"process_image, {HEAVIEST_LOOK[0]} + all adjustments", runs, lambda: process_image(photo, 0, 0, *HEAVIEST_LOOK)
    )
    assert result.master is not None
    master = result.master
    base = Image.open(io.BytesIO(master)).convert("RGB")
    _timed(f"  the filter alone, {base.width}x{base.height}", runs, lambda: filters.apply(base, *HEAVIEST_LOOK))
    smallest = base.resize((150, round(base.height * 150 / base.width)))
    _timed("  the BlurHash alone, from the 150 px variant", runs, lambda: encode_image(smallest))
    _timed("rerender from the master (PUT with a new filter)", runs, lambda: rerender(master, 0, 0, *HEAVIEST_LOOK))
    peak = high_water_mb()
    print(f"peak RSS: {peak:.0f} MB (before processing: {before:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.child, args.runs)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo.jpg"
        path.write_bytes(make_photo())
        subprocess.run([sys.executable, __file__, "--child", str(path), "--runs", str(args.runs)], check=True)


if __name__ == "__main__":
    main()
