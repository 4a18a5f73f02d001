"""HLS packaging cost: a vertical 1080x1920 30 fps clip with sound, transcoded as uploads
are, then packaged as the reels' ladder (360p, 720p and 1080p, 4 s TS segments).

Makes a synthetic clip once (moving gradients, a moving checkerboard and film grain, so
the encoders have real work) and keeps it in the temporary folder for later runs. In a
fresh child process it transcodes the clip once (as the worker does first; reported for
comparison) and then packages the MP4 ``--runs`` times, reporting the wall and CPU time
per second of video, so the figure sits beside ``bench/video_pipeline.py``'s transcode
cost. All cores are used, as in the worker's process pool.

Usage: .venv/bin/python bench/hls.py [--runs 3] [--seconds 15]
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

from lumigram.uploads import hls
from lumigram.uploads import transcode as video

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_bench import make_clip

WIDTH, HEIGHT, FPS = 1080, 1920, 30


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(path: str, runs: int) -> None:
    with tempfile.TemporaryDirectory() as out_dir:
        cpu, started = _cpu(), time.perf_counter()
        mp4 = video.transcode(path, out_dir)
        transcode_wall, transcode_cpu = time.perf_counter() - started, _cpu() - cpu
        walls, cpus = [], []
        ladder = None
        for run in range(runs):
            folder = Path(out_dir) / f"hls-{run}"
            folder.mkdir()
            cpu, started = _cpu(), time.perf_counter()
            ladder = hls.package_hls(mp4.path, folder, "hls-bench")
            walls.append(time.perf_counter() - started)
            cpus.append(_cpu() - cpu)
        assert ladder is not None
        seconds = mp4.duration
        print(f"source: {WIDTH}x{HEIGHT} {FPS} fps H.264 + AAC, {seconds:.1f} s; on {os.cpu_count()} cores")
        print(
            f"transcode (for comparison): {transcode_wall:.1f} s wall, {transcode_cpu:.1f} s CPU; "
            f"{transcode_wall / seconds:.2f} s wall and {transcode_cpu / seconds:.2f} s CPU per video second"
        )
        wall, cpu_time = statistics.median(walls), statistics.median(cpus)
        print(
            f"HLS ladder: median {wall:.1f} s wall (min {min(walls):.1f} s), {cpu_time:.1f} s CPU over {runs} runs; "
            f"{wall / seconds:.2f} s wall and {cpu_time / seconds:.2f} s CPU per video second"
        )
        for rung in ladder.rungs:
            size = sum((Path(out_dir) / f"hls-{runs - 1}" / name).stat().st_size for name in rung.segments)
            print(
                f"  {rung.name}: {rung.width}x{rung.height}, {len(rung.segments)} segments, "
                f"{size / 1e6:.1f} MB, average {rung.average_bandwidth / 1e6:.2f} Mbit/s, "
                f"peak {rung.bandwidth / 1e6:.2f} Mbit/s, {rung.codecs}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.child, args.runs)
        return
    clip = Path(tempfile.gettempdir()) / f"lumigram-bench-{WIDTH}x{HEIGHT}p{FPS}-{args.seconds}s-v1.mp4"
    if not clip.exists():
        started = time.perf_counter()
        make_clip(clip, WIDTH, HEIGHT, FPS, args.seconds, seed=5)
        print(f"made the clip in {time.perf_counter() - started:.0f} s (kept as {clip})")
    subprocess.run([sys.executable, __file__, "--child", str(clip), "--runs", str(args.runs)], check=True)


if __name__ == "__main__":
    main()
