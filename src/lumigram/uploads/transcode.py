"""Video processing: recognise by content, probe, transcode to H.264/AAC MP4, make a poster.

Runs in a worker process (CPU-bound, seconds to a minute of work); takes paths and
returns a plain dataclass, so it pickles across the process boundary. Every output is
re-encoded from decoded pictures and samples: no metadata of the upload (GPS position,
camera, edit history) survives, and the poster is a JPEG written by Pillow.

The demuxer is chosen from the sniffed type rather than guessed by FFmpeg, so a
hostile upload cannot make FFmpeg open a playlist (HLS, concat) that reads other files
or URLs; the file protocol is the only one allowed.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import av.filter
from av.audio.resampler import AudioResampler
from av.container import InputContainer, OutputContainer
from PIL import Image

MAX_BYTES = 200 * 1024 * 1024
#: Reels run up to 90 s; whether a clip becomes one is known only when it is posted, so
#: uploads take that long and a post's other videos are held to a minute then.
MAX_DURATION = 90
#: Decoding cost grows with the pixel count; 4096 covers every phone's 4K (3840x2160, 4096x2160).
MAX_SIDE = 4096
#: Output is at most 1080p: 1920 on the long side, 1080 on the short one.
MAX_LONG_SIDE = 1920
MAX_SHORT_SIDE = 1080
#: Slow-motion clips are recorded at 120-240 fps; more than 60 costs encoding time nobody sees.
MAX_FPS = 60
#: Seconds into the clip the poster is taken from (the first frame is often black in a fade-in).
POSTER_AT = 0.5
#: Constant-quality encoding: 23 is x264's default and visually clean at 1080p.
CRF = 23
#: On a 2-core machine "veryfast" ran a busy 1080p30 clip at barely 1.1x real time and
#: "superfast" at about 2x, for files about a fifth larger (bench/video_pipeline.py).
PRESET = "superfast"
VIDEO_ENCODER_THREADS = "FRAME"
AUDIO_RATE = 48_000
AUDIO_BITRATE = 128_000
#: Containers round; a clip of 60.4 s by its audio priming is still "a minute".
_DURATION_SLACK = 0.5
#: A corrupt packet here and there is tolerated (as players do); a stream of them is not a video.
_MAX_DECODE_ERRORS = 50

_VIDEO_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"mp41",
        b"mp42",
        b"avc1",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"f4v ",
        b"3gp4",
        b"3gp5",
        b"3gp6",
        b"3g2a",
        b"dash",
        b"mmp4",
        b"MSNV",
        b"XAVC",
        b"qt  ",
    }
)
#: HEIF/AVIF stills are ISO media files too, with their own brands; they stay photos.
_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"miaf"}
)
_DEMUXERS = {
    "video/mp4": "mov",
    "video/quicktime": "mov",
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
}
EXTENSIONS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm", "video/x-matroska": "mkv"}
SUPPORTED = "MP4, MOV or WebM"


class VideoRejected(ValueError):
    """The upload is not a video we accept; the message is for the person who sent it."""


def sniff_video(head: bytes) -> str | None:
    """The video type named by the file's first bytes (at least 32 of them), or None."""
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska, whose DocType says "webm" for WebM
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head[4:8] == b"ftyp":
        major = head[8:12]
        if major in _IMAGE_BRANDS:
            return None
        if major in _VIDEO_BRANDS:
            return "video/quicktime" if major == b"qt  " else "video/mp4"
        # An unknown major brand: decide by the compatible brands listed after it.
        size = int.from_bytes(head[:4], "big")
        listed = head[16 : min(size, len(head))]
        compatible = {listed[i : i + 4] for i in range(0, len(listed) - 3, 4)}
        if compatible & _IMAGE_BRANDS or not compatible & _VIDEO_BRANDS:
            return None
        return "video/mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide"):  # QuickTime files from before ftyp existed
        return "video/quicktime"
    return None


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the container says, before any decoding.

    The size is as stored, non-square pixels stretched; a rotation in the display matrix
    is only known from the first decoded frame, so it is applied while transcoding.
    """

    mime: str
    width: int
    height: int
    duration: float | None
    frame_rate: Fraction | None
    codec: str
    has_audio: bool


@dataclass(frozen=True, slots=True)
class TranscodedVideo:
    path: str
    sha256: str
    size: int
    width: int
    height: int
    duration: float
    frame_rate: str
    has_audio: bool
    poster: bytes
    poster_width: int
    poster_height: int


def _head(path: str | Path, size: int = 64) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


@contextmanager
def _open(path: str | Path) -> Iterator[tuple[str, InputContainer]]:
    head = _head(path)
    if not head:
        raise VideoRejected("The file is empty")
    mime = sniff_video(head)
    if mime is None:
        raise VideoRejected(f"The file is not a supported video ({SUPPORTED})")
    try:
        container = av.open(str(path), "r", format=_DEMUXERS[mime], options={"protocol_whitelist": "file"})
    except av.error.FFmpegError:
        raise VideoRejected("The file could not be read as a video (it may be damaged)") from None
    try:
        yield mime, container
    finally:
        container.close()


def _quarter(angle: float) -> int:
    """Degrees to turn clockwise, from the display matrix (phones film sideways and say so).

    FFmpeg reports the matrix's counter-clockwise angle; players turn by its negation.
    """
    return round(-angle / 90) % 4 * 90


def _inspect(mime: str, container: InputContainer) -> VideoInfo:
    if not container.streams.video:
        raise VideoRejected("The file has no video track")
    stream = container.streams.video[0]
    context = stream.codec_context
    if context is None:  # FFmpeg has no decoder for the track's codec
        raise VideoRejected(f"The video's codec is not supported ({SUPPORTED} with H.264, HEVC, VP8, VP9 or AV1 are)")
    width, height = context.width, context.height
    if width <= 0 or height <= 0:
        raise VideoRejected("The video could not be decoded (its size is unknown)")
    if max(width, height) > MAX_SIDE:
        raise VideoRejected(f"Videos may be at most {MAX_SIDE} pixels wide and high (this one is {width}x{height})")
    duration = _duration(container, stream)
    if duration is not None and duration > MAX_DURATION + _DURATION_SLACK:
        raise VideoRejected(f"Videos may be at most {MAX_DURATION} seconds (this one is {round(duration)})")
    rate = stream.average_rate or stream.guessed_rate
    display_width, display_height = _display_size(width, height, context.sample_aspect_ratio)
    return VideoInfo(
        mime=mime,
        width=display_width,
        height=display_height,
        duration=duration,
        frame_rate=Fraction(rate) if rate else None,
        codec=context.name,
        has_audio=bool(container.streams.audio),
    )


def _duration(container: InputContainer, stream: Any) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration / av.time_base)
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    return None


def _display_size(width: int, height: int, sar: Fraction | None) -> tuple[int, int]:
    """Pixels need not be square (anamorphic DV, some phones); players stretch them, so do we."""
    if sar and sar > 0 and sar != 1:
        return max(1, round(width * sar)), height
    return width, height


def output_size(width: int, height: int) -> tuple[int, int]:
    """Within 1920x1080 (either way round), aspect kept, both even (4:2:0 chroma needs it)."""
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, MAX_LONG_SIDE / long_side, MAX_SHORT_SIDE / short_side)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def probe(path: str | Path) -> VideoInfo:
    """The container's description of the video; VideoRejected when it is none we accept."""
    with _open(path) as (mime, container):
        return _inspect(mime, container)


class _Pictures:
    """Decoded frames to upright, scaled yuv420p frames, through an FFmpeg filter graph.

    The graph is rebuilt when the input size changes mid-stream (VP9 allows it); the
    output size stays fixed, as the encoder needs.
    """

    def __init__(self, stream: Any, out_width: int, out_height: int, rotation: int) -> None:
        self._stream = stream
        self._out = (out_width, out_height)
        self._rotation = rotation
        self._graph: av.filter.Graph | None = None
        self._input: tuple[int, int, str] | None = None

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        source = graph.add_buffer(
            width=frame.width, height=frame.height, format=frame.format, time_base=self._stream.time_base
        )
        width, height = self._out
        if self._rotation in (90, 270):
            width, height = height, width  # scaled before turning: turning fewer pixels is cheaper
        chain = [graph.add("scale", f"{width}:{height}:flags=bicubic"), graph.add("setsar", "1")]
        if self._rotation == 90:
            chain.append(graph.add("transpose", "clock"))
        elif self._rotation == 270:
            chain.append(graph.add("transpose", "cclock"))
        elif self._rotation == 180:
            chain += [graph.add("hflip"), graph.add("vflip")]
        chain.append(graph.add("format", "yuv420p"))
        chain.append(graph.add("buffersink"))
        previous = source
        for node in chain:
            previous.link_to(node)
            previous = node
        graph.configure()
        self._input = (frame.width, frame.height, frame.format.name)
        return graph

    def convert(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        if self._graph is None or self._input != (frame.width, frame.height, frame.format.name):
            self._graph = self._build(frame)
        self._graph.push(frame)
        out: list[av.VideoFrame] = []
        while True:
            try:
                result = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return out
            assert isinstance(result, av.VideoFrame)
            out.append(result)


def transcode(src_path: str | Path, out_dir: str | Path) -> TranscodedVideo:
    """Re-encode the upload as a web-ready MP4 (H.264 + AAC, faststart) plus a JPEG poster.

    VideoRejected, with a reason for the person who sent it, when the file is not a video
    we accept: no video track, too long, too large, or not decodable.
    """
    out_path = Path(out_dir) / "video.mp4"
    with _open(src_path) as (mime, source):
        info = _inspect(mime, source)
        if "libx264" not in av.codecs_available:
            raise RuntimeError("this PyAV build has no libx264 encoder")
        try:
            with av.open(str(out_path), "w", format="mp4", options={"movflags": "+faststart"}) as sink:
                encoded = _Encoder(source, sink, info).run()
        except VideoRejected:
            out_path.unlink(missing_ok=True)
            raise
        except av.error.FFmpegError as exc:
            out_path.unlink(missing_ok=True)
            raise VideoRejected(f"The video could not be decoded ({info.codec})") from exc
    digest = hashlib.sha256()
    with open(out_path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return TranscodedVideo(
        path=str(out_path),
        sha256=digest.hexdigest(),
        size=out_path.stat().st_size,
        width=encoded.width,
        height=encoded.height,
        duration=encoded.duration,
        frame_rate=encoded.frame_rate,
        has_audio=encoded.has_audio,
        poster=encoded.poster,
        poster_width=encoded.width,
        poster_height=encoded.height,
    )


@dataclass(frozen=True, slots=True)
class _Encoded:
    width: int
    height: int
    duration: float
    frame_rate: str
    has_audio: bool
    poster: bytes


class _Encoder:
    """Decodes the source once and feeds both encoders; the video encoder is set up at the
    first picture, since only a decoded frame carries the rotation."""

    def __init__(self, source: InputContainer, sink: OutputContainer, info: VideoInfo) -> None:
        self.source = source
        self.sink = sink
        self.info = info
        self.video_in: Any = source.streams.video[0]
        # Frame and slice threads: decoding is a good part of the work at 1080p.
        self.video_in.thread_type = "AUTO"
        rate = info.frame_rate if info.frame_rate and info.frame_rate > 0 else Fraction(30)
        self.rate = min(rate, Fraction(MAX_FPS)).limit_denominator(1001)
        self.video_out: Any = sink.add_stream(
            "libx264", rate=self.rate, options={"crf": str(CRF), "preset": PRESET, "profile": "high"}
        )
        self.video_out.pix_fmt = "yuv420p"
        # PyAV asks for slice threads by default; x264's frame threads encode more per CPU second.
        self.video_out.codec_context.thread_type = VIDEO_ENCODER_THREADS
        # The source's clock, so variable frame rate (every phone) keeps its timing.
        self.time_base: Fraction = self.video_in.time_base or Fraction(1, 90_000)
        self.video_out.codec_context.time_base = self.time_base
        self.width = self.height = 0
        self.pictures: _Pictures | None = None
        self.audio_in: Any = source.streams.audio[0] if source.streams.audio else None
        self.audio_out: Any = None
        self.resampler: AudioResampler | None = None
        self.fifo = av.AudioFifo()
        self.samples_written = 0
        if self.audio_in is not None:
            layout = "mono" if self.audio_in.codec_context.channels == 1 else "stereo"
            self.audio_out = sink.add_stream("aac", rate=AUDIO_RATE, layout=layout)
            self.audio_out.codec_context.bit_rate = AUDIO_BITRATE
            self.resampler = AudioResampler(format="fltp", layout=layout, rate=AUDIO_RATE)
        self.first_pts: int | None = None
        self.last_pts = -1
        self.last_kept_time = -math.inf
        self.frames = 0
        self.poster: av.VideoFrame | None = None
        self.decode_errors = 0

    def run(self) -> _Encoded:
        streams = [self.video_in] + ([self.audio_in] if self.audio_in is not None else [])
        for packet in self.source.demux(*streams):
            if packet.stream is self.video_in:
                for frame in self._decode(packet):
                    assert isinstance(frame, av.VideoFrame)
                    self._video(frame)
            elif packet.stream is self.audio_in:
                for frame in self._decode(packet):
                    assert isinstance(frame, av.AudioFrame)
                    self._audio(frame)
        if self.frames == 0 or self.poster is None:
            raise VideoRejected("The video could not be decoded (no picture in it could be read)")
        for packet in self.video_out.encode(None):
            self.sink.mux(packet)
        if self.audio_out is not None:
            self._flush_audio()
        duration = (self.last_pts * self.time_base) + 1 / self.rate
        return _Encoded(
            width=self.width,
            height=self.height,
            duration=round(float(duration), 3),
            frame_rate=f"{self.rate.numerator}/{self.rate.denominator}",
            has_audio=self.audio_out is not None and self.samples_written > 0,
            poster=_poster_jpeg(self.poster),
        )

    def _decode(self, packet: Any) -> list[Any]:
        try:
            return list(packet.decode())
        except av.error.FFmpegError:
            # A damaged packet costs its frames, as in any player; a file of them is refused.
            self.decode_errors += 1
            if self.decode_errors > _MAX_DECODE_ERRORS:
                raise VideoRejected(f"The video could not be decoded ({self.info.codec})") from None
            return []

    @staticmethod
    def _too_long(seconds: float) -> None:
        if seconds > MAX_DURATION + _DURATION_SLACK:
            # The container did not say how long it is (or lied): found while decoding.
            raise VideoRejected(f"Videos may be at most {MAX_DURATION} seconds (this one is longer)")

    def _configure(self, first: av.VideoFrame) -> _Pictures:
        rotation = _quarter(first.rotation or 0.0)
        width, height = self.info.width, self.info.height
        if rotation in (90, 270):
            width, height = height, width
        self.width, self.height = output_size(width, height)
        self.video_out.width = self.width
        self.video_out.height = self.height
        return _Pictures(self.video_in, self.width, self.height, rotation)

    def _video(self, decoded: av.VideoFrame) -> None:
        if self.pictures is None:
            self.pictures = self._configure(decoded)
        for frame in self.pictures.convert(decoded):
            pts = frame.pts if frame.pts is not None else self.last_pts + 1
            if self.first_pts is None:
                self.first_pts = pts
            pts -= self.first_pts
            if pts <= self.last_pts:
                continue  # x264 needs strictly increasing timestamps; a repeated one is a duplicate
            seconds = float(pts * self.time_base)
            self._too_long(seconds)
            if seconds < self.last_kept_time + 1 / MAX_FPS - 1e-6:
                continue  # above 60 fps: drop, keeping the real timing of the rest
            self.last_kept_time = seconds
            if self.poster is None or seconds <= POSTER_AT:
                self.poster = frame
            frame.pts = pts
            frame.time_base = self.time_base
            frame.pict_type = av.video.frame.PictureType.NONE  # x264 places its own key frames
            self.last_pts = pts
            self.frames += 1
            for packet in self.video_out.encode(frame):
                self.sink.mux(packet)
        if self.audio_out is not None:
            self._drain_audio(final=False)  # audio that arrived before the first picture

    def _audio(self, decoded: av.AudioFrame) -> None:
        assert self.resampler is not None
        if decoded.time is not None:
            self._too_long(decoded.time)
        decoded.pts = None  # the FIFO re-times samples from zero; the source's gaps are not kept
        for frame in self.resampler.resample(decoded):
            self.fifo.write(frame)
        if self.pictures is not None:
            # Before the first picture the MP4 header cannot be written yet (its size is unknown).
            self._drain_audio(final=False)

    def _drain_audio(self, final: bool) -> None:
        size = self.audio_out.codec_context.frame_size or 1024
        while self.fifo.samples >= size or (final and self.fifo.samples > 0):
            chunk = self.fifo.read(min(size, self.fifo.samples))
            if chunk is None:
                return
            chunk.pts = self.samples_written
            chunk.time_base = Fraction(1, AUDIO_RATE)
            self.samples_written += chunk.samples
            for packet in self.audio_out.encode(chunk):
                self.sink.mux(packet)

    def _flush_audio(self) -> None:
        assert self.resampler is not None
        for frame in self.resampler.resample(None):
            self.fifo.write(frame)
        self._drain_audio(final=True)
        for packet in self.audio_out.encode(None):
            self.sink.mux(packet)


def _poster_jpeg(frame: av.VideoFrame) -> bytes:
    out = io.BytesIO()
    image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]  # PyAV leaves it unannotated
    image.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()
