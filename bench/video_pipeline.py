"""Video pipeline cost: a 30 s 1080p30 clip with sound to the stored MP4 and poster.

Makes a synthetic 1920x1080 30 fps H.264 + AAC clip once (moving gradients, a moving
checkerboard and film grain, so the encoder has real work: flat colour would flatter it)
and keeps it in the temporary folder for later runs. Then, in a fresh child process (so
making the clip does not count), runs ``transcode`` on it and reports the wall time, the
real-time factor (clip seconds per second of processing: above 1 means a worker keeps up
with uploads as long as the clips), CPU time and the child's peak resident memory.
All cores are used, as in the worker's process pool.

Usage: .venv/bin/python bench/video_pipeline.py [--runs 3] [--preset superfast]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lumigram.uploads import transcode as video

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_bench import high_water_mb, make_clip

WIDTH, HEIGHT, FPS, SECONDS = 1920, 1080, 30, 30
CLIP_NAME = f"lumigram-bench-{WIDTH}x{HEIGHT}p{FPS}-{SECONDS}s-v5.mp4"


def measure(path: str, runs: int, preset: str) -> None:
    video.PRESET = preset
    before = high_water_mb()
    walls, cpus = [], []
    result = None
    with tempfile.TemporaryDirectory() as out_dir:
        for _ in range(runs):
            usage = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            result = video.transcode(path, out_dir)
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpus.append(after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime)
    assert result is not None
    peak = high_water_mb()
    wall = statistics.median(walls)
    print(f"input: {Path(path).stat().st_size / 1e6:.1f} MB, {WIDTH}x{HEIGHT} {FPS} fps H.264 + AAC, {SECONDS} s")
    print(
        f"output: {result.size / 1e6:.1f} MB, {result.width}x{result.height} {result.frame_rate} fps, "
        f"{result.duration:.2f} s, {result.size * 8 / result.duration / 1e6:.1f} Mbit/s; "
        f"preset {preset}, crf {video.CRF}"
    )
    print(
        f"transcode: median {wall:.1f} s (min {min(walls):.1f} s) over {runs} runs on {os.cpu_count()} cores; "
        f"real-time factor {SECONDS / wall:.2f}x; CPU {statistics.median(cpus):.1f} s"
    )
    print(f"peak RSS: {peak:.0f} MB (before transcoding: {before:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preset", default=video.PRESET, help="x264 preset to measure (default: the one in use)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.child, args.runs, args.preset)
        return
    clip = Path(tempfile.gettempdir()) / CLIP_NAME
    if not clip.exists():
        started = time.perf_counter()
        make_clip(clip, WIDTH, HEIGHT, FPS, SECONDS)
        print(f"made the clip in {time.perf_counter() - started:.0f} s (kept as {clip})")
    command = [sys.executable, __file__, "--child", str(clip), "--runs", str(args.runs), "--preset", args.preset]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
