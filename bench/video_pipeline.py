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
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lumigram.uploads import transcode as video

WIDTH, HEIGHT, FPS, SECONDS = 1920, 1080, 30, 30
CLIP_NAME = f"lumigram-bench-{WIDTH}x{HEIGHT}p{FPS}-{SECONDS}s-v4.mp4"


def make_clip(path: Path) -> None:
    """The synthetic clip; written to a side file and renamed, so a killed run leaves no half clip."""
    partial = path.with_suffix(".partial.mp4")
    rng = np.random.default_rng(3)
    grain = rng.normal(0, 3, (HEIGHT * 2, WIDTH * 2)).astype(np.int16)
    x = np.arange(WIDTH, dtype=np.int16)[None, :]
    y = np.arange(HEIGHT, dtype=np.int16)[:, None]
    with av.open(str(partial), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = out.add_stream("aac", rate=48_000, layout="stereo")
        for index in range(SECONDS * FPS):
            shift = index * 4
            image = np.empty((HEIGHT, WIDTH, 3), np.int16)
            image[..., 0] = (x + shift) % 256
            image[..., 1] = (y + shift // 2) % 256
            image[..., 2] = (((x + shift) // 120 + (y + shift // 3) // 120) % 2) * 160 + 40
            offset = (index * 7) % HEIGHT
            image += grain[offset : offset + HEIGHT, offset : offset + WIDTH, None]
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        samples = np.arange(SECONDS * 48_000)
        tone = (0.2 * np.sin(2 * np.pi * 440 * samples / 48_000)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = np.ascontiguousarray(np.stack([tone[start : start + 1024]] * 2))
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = 48_000, start, Fraction(1, 48_000)
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    partial.replace(path)


def high_water_mb() -> float:
    """Peak resident memory of this process image (VmHWM; unlike ru_maxrss, reset by exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


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
        make_clip(clip)
        print(f"made the clip in {time.perf_counter() - started:.0f} s (kept as {clip})")
    command = [sys.executable, __file__, "--child", str(clip), "--runs", str(args.runs), "--preset", args.preset]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
