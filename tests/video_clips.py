"""Small video files made with PyAV for the video tests: real encoders, real containers."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_clip(
    container: str = "mp4",
    codec: str = "libx264",
    width: int = 320,
    height: int = 240,
    seconds: float = 2.0,
    fps: int = 15,
    audio: bool = True,
    video: bool = True,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
) -> bytes:
    """A clip with a moving gradient and a red square in its stored top-left corner.

    ``rotation`` is written to the display matrix (counter-clockwise degrees, as FFmpeg
    stores it), the way phones mark a clip filmed sideways.
    """
    suffix = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "matroska": ".mkv"}[container]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"clip{suffix}"
        out = av.open(str(path), "w", format=container)
        stream = None
        if video:
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            if codec == "libx264":
                stream.options = {"preset": "ultrafast"}
            if rotation:
                stream.set_display_rotation(rotation)
        sound = None
        if audio:
            sound = out.add_stream("libopus" if container in ("webm", "matroska") else "aac", rate=48000)
        if stream is not None:
            x = np.arange(width, dtype=np.int32)[None, :]
            y = np.arange(height, dtype=np.int32)[:, None]
            for index in range(int(seconds * fps)):
                image = np.zeros((height, width, 3), np.uint8)
                image[..., 1] = ((x + index * 6) % 256).astype(np.uint8)
                image[..., 2] = ((y + index * 3) % 256).astype(np.uint8)
                side = max(2, min(width, height) // 6)
                image[:side, :side] = (255, 0, 0)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        if sound is not None:
            rate = 48000
            total = int(seconds * rate)
            size = 960
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(total) / rate)).astype(np.float32)
            for start in range(0, total - size + 1, size):
                chunk = av.AudioFrame.from_ndarray(tone[None, start : start + size], format="fltp", layout="mono")
                chunk.sample_rate = rate
                chunk.pts = start
                chunk.time_base = Fraction(1, rate)
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
        out.close()
        return path.read_bytes()


def garbled(mp4: bytes, seed: int = 7) -> bytes:
    """``mp4`` with a valid header and index (``moov``) but random bytes for every picture and sample."""
    offset = 0
    while offset + 8 <= len(mp4):
        size = int.from_bytes(mp4[offset : offset + 4], "big")
        if mp4[offset + 4 : offset + 8] == b"mdat":
            rng = np.random.default_rng(seed)
            noise = rng.integers(0, 256, size - 8, dtype=np.uint8).tobytes()
            return mp4[: offset + 8] + noise + mp4[offset + size :]
        offset += size
    raise ValueError("no mdat box")


def atom_order(mp4: bytes) -> list[bytes]:
    """Top-level MP4 box types in file order (faststart puts ``moov`` before ``mdat``)."""
    order = []
    offset = 0
    while offset + 8 <= len(mp4):
        size = int.from_bytes(mp4[offset : offset + 4], "big")
        kind = mp4[offset + 4 : offset + 8]
        if size == 1:
            size = int.from_bytes(mp4[offset + 8 : offset + 16], "big")
        order.append(kind)
        if size < 8:
            break
        offset += size
    return order
