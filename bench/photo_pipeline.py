"""Photo pipeline cost: one 12-megapixel JPEG to every stored variant, on one core.

Makes a deterministic, noisy 4032x3024 JPEG (quality 90, the worst case for decoding:
noise defeats compression), then, in a fresh child process pinned to one core, runs
``process_image`` on it several times and reports the median wall time and the child's
peak resident memory (so making the input does not count).

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
from pathlib import Path

import numpy as np
from PIL import Image

from lumigram.uploads.images import process_image


def make_photo(width: int = 4032, height: int = 3024) -> bytes:
    rng = np.random.default_rng(12)
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    base = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                     np.full((height, width), 128, np.float32)], axis=-1)
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


def measure(path: str, runs: int) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    photo = Path(path).read_bytes()
    before = high_water_mb()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = process_image(photo)
        times.append(time.perf_counter() - started)
    peak = high_water_mb()
    print(f"input: {len(photo) / 1e6:.1f} MB JPEG, 4032x3024; variants: {len(result.variants)}")
    print(f"process_image: median {statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms "
          f"over {runs} runs, one core")
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
