"""HLS packaging of a transcoded video: a ladder of H.264 renditions in MPEG-TS segments.

Runs in a worker process beside ``transcode`` (same reasons: seconds of CPU, plain
picklable results). The input is the MP4 that ``transcode`` just wrote, so it is ours
and trusted; it is decoded once and every rung is encoded from the same pictures, while
the AAC track is copied as it is (already the codec HLS players expect).

Every rung puts a key frame every ``SEGMENT_SECONDS`` exactly (no scene-cut key frames),
so segments are the same length and aligned across rungs: a player can switch rung at
any segment boundary. The FFmpeg ``hls`` muxer cuts the segments and writes each rung's
playlist; the master playlist is written here, with each rung's peak and average
bandwidth measured from its segments and its ``CODECS`` read from the encoder's SPS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.container import InputContainer, OutputContainer

#: Rungs by the short side (a vertical video's width): 360p, 720p and 1080p where the source has them.
LADDER = (360, 720, 1080)
SEGMENT_SECONDS = 4
#: A cap per rung (bits per second) keeps a rung's peaks within what its viewers' links carry.
MAX_RATES = {360: 900_000, 720: 2_800_000, 1080: 5_500_000}
CRF = 23
PRESET = "superfast"
#: AAC-LC, which ``transcode`` always writes.
AUDIO_CODEC = "mp4a.40.2"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"


@dataclass(frozen=True, slots=True)
class Rung:
    name: str
    width: int
    height: int
    #: The rung's media playlist and its segments, as file names inside the output folder.
    playlist: str
    segments: tuple[str, ...]
    bandwidth: int
    average_bandwidth: int
    codecs: str


@dataclass(frozen=True, slots=True)
class Ladder:
    master: str
    rungs: tuple[Rung, ...]
    #: Seconds of video packaged (the benchmark divides the cost by it).
    duration: float


def ladder_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """(width, height) of each rung: the standard short sides the source reaches, or the
    source's own size when it is smaller than the lowest; both sides even."""
    short = min(width, height)
    sides = [side for side in LADDER if side <= short] or [short // 2 * 2]
    sizes = []
    for side in sides:
        scale = side / short
        sizes.append((max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)))
    return sizes


def avc_codec(data: bytes) -> str | None:
    """``avc1.PPCCLL`` from an SPS: in an ``avcC`` record, or after an Annex B start code."""
    if len(data) >= 4 and data[0] == 1:
        return f"avc1.{data[1]:02x}{data[2]:02x}{data[3]:02x}"
    at = data.find(b"\x00\x00\x01")
    while at != -1 and at + 6 < len(data):
        if data[at + 3] & 0x1F == 7:
            return f"avc1.{data[at + 4]:02x}{data[at + 5]:02x}{data[at + 6]:02x}"
        at = data.find(b"\x00\x00\x01", at + 3)
    return None


class _RungWriter:
    def __init__(self, folder: Path, prefix: str, size: tuple[int, int], rate: Fraction, audio: Any) -> None:
        self.width, self.height = size
        self.name = f"{min(size)}p"
        self.playlist = f"{prefix}-{self.name}.m3u8"
        self.folder = folder
        gop = max(1, round(rate * SEGMENT_SECONDS))
        self.sink: OutputContainer = av.open(
            str(folder / self.playlist),
            "w",
            format="hls",
            options={
                "hls_time": str(SEGMENT_SECONDS),
                "hls_playlist_type": "vod",
                "hls_segment_type": "mpegts",
                "hls_list_size": "0",
                "hls_segment_filename": str(folder / f"{prefix}-{self.name}-%03d.ts"),
            },
        )
        max_rate = MAX_RATES.get(min(size), MAX_RATES[LADDER[0]])
        self.video: Any = self.sink.add_stream(
            "libx264",
            rate=rate,
            options={
                "crf": str(CRF),
                "preset": PRESET,
                "profile": "high",
                "maxrate": str(max_rate),
                "bufsize": str(max_rate * 2),
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
            },
        )
        self.video.width, self.video.height, self.video.pix_fmt = self.width, self.height, "yuv420p"
        self.audio: Any = self.sink.add_stream_from_template(audio) if audio is not None else None
        self.codecs: str | None = None

    def mux_video(self, frame: av.VideoFrame | None) -> None:
        if frame is not None:
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
            frame.pict_type = av.video.frame.PictureType.NONE
        for packet in self.video.encode(frame):
            if self.codecs is None:
                extradata = self.video.codec_context.extradata or b""
                self.codecs = avc_codec(extradata) or avc_codec(bytes(packet))
            self.sink.mux(packet)

    def mux_audio(self, packet: Any) -> None:
        packet.stream = self.audio
        self.sink.mux(packet)

    def close(self, audio: bool) -> Rung:
        self.mux_video(None)
        self.sink.close()
        segments, durations = _read_playlist((self.folder / self.playlist).read_text())
        sizes = [(self.folder / name).stat().st_size for name in segments]
        peak = max((size * 8 / max(seconds, 0.1) for size, seconds in zip(sizes, durations, strict=True)), default=0)
        total = sum(durations)
        codecs = ",".join(filter(None, [self.codecs or "avc1.640028", AUDIO_CODEC if audio else None]))
        return Rung(
            name=self.name,
            width=self.width,
            height=self.height,
            playlist=self.playlist,
            segments=tuple(segments),
            bandwidth=math.ceil(peak),
            average_bandwidth=math.ceil(sum(sizes) * 8 / total) if total > 0 else 0,
            codecs=codecs,
        )


def _read_playlist(text: str) -> tuple[list[str], list[float]]:
    """The segment URIs of a media playlist and their durations (``#EXTINF``)."""
    segments: list[str] = []
    durations: list[float] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            durations.append(float(line[len("#EXTINF:") :].split(",", 1)[0]))
        elif line and not line.startswith("#"):
            segments.append(line)
    return segments, durations


def master_playlist(rungs: tuple[Rung, ...], frame_rate: Fraction) -> str:
    """The master playlist: one ``EXT-X-STREAM-INF`` per rung, lowest first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rung in rungs:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rung.bandwidth},AVERAGE-BANDWIDTH={rung.average_bandwidth},"
            f'RESOLUTION={rung.width}x{rung.height},FRAME-RATE={float(frame_rate):.3f},CODECS="{rung.codecs}"'
        )
        lines.append(rung.playlist)
    return "\n".join(lines) + "\n"


def package_hls(mp4_path: str | Path, out_dir: str | Path, prefix: str) -> Ladder:
    """Write the ladder of ``mp4_path`` (a ``transcode`` output) into ``out_dir``; every
    file name starts with ``prefix`` and the master playlist is ``<prefix>-master.m3u8``."""
    folder = Path(out_dir)
    source: InputContainer = av.open(str(mp4_path), "r", format="mov", options={"protocol_whitelist": "file"})
    try:
        video_in: Any = source.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in: Any = source.streams.audio[0] if source.streams.audio else None
        rate = Fraction(video_in.average_rate or 30).limit_denominator(1001)
        writers = [
            _RungWriter(folder, prefix, size, rate, audio_in)
            for size in ladder_sizes(video_in.codec_context.width, video_in.codec_context.height)
        ]
        streams = [video_in] + ([audio_in] if audio_in is not None else [])
        last_time = 0.0
        for packet in source.demux(*streams):
            if packet.stream is video_in:
                for frame in packet.decode():
                    assert isinstance(frame, av.VideoFrame)
                    last_time = max(last_time, float(frame.time or 0.0))
                    for writer in writers:
                        writer.mux_video(frame)
            elif packet.dts is not None:  # the demuxer's empty flush packet has none
                for writer in writers:
                    copy = av.Packet(bytes(packet))
                    copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
                    copy.time_base = packet.time_base
                    copy.is_keyframe = packet.is_keyframe
                    writer.mux_audio(copy)
        rungs = tuple(writer.close(audio_in is not None) for writer in writers)
    finally:
        source.close()
    master = f"{prefix}-master.m3u8"
    (folder / master).write_text(master_playlist(rungs, rate))
    return Ladder(master=master, rungs=rungs, duration=round(last_time + 1 / float(rate), 3))
