"""What the video benchmarks share: a synthetic clip that encodes like camera footage
(moving gradients, a checkerboard, grain and a tone), and the process's peak memory."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_clip(path: Path, width: int, height: int, fps: int, seconds: int, seed: int = 3) -> None:
    """The synthetic clip; written to a side file and renamed, so a killed run leaves no half clip."""
    partial = path.with_suffix(".partial.mp4")
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 3, (height * 2, width + height)).astype(np.int16)
    x = np.arange(width, dtype=np.int16)[None, :]
    y = np.arange(height, dtype=np.int16)[:, None]
    with av.open(str(partial), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=48_000, layout="stereo")
        for index in range(seconds * fps):
            shift = index * 4
            image = np.empty((height, width, 3), np.int16)
            image[..., 0] = (x + shift) % 256
            image[..., 1] = (y + shift // 2) % 256
            image[..., 2] = (((x + shift) // 120 + (y + shift // 3) // 120) % 2) * 160 + 40
            offset = (index * 7) % height
            image += grain[offset : offset + height, offset : offset + width, None]
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        samples = np.arange(seconds * 48_000)
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
