"""The video functions on their own: sniffing, probing, sizing and transcoding real clips."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import av
import pytest
from PIL import Image

from lumigram.uploads import transcode as video
from lumigram.uploads.transcode import VideoRejected, output_size, probe, sniff_video, transcode
from tests.video_clips import atom_order, garbled, make_clip


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00\x00\x00\x08free"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video/mp4"),
        (_ftyp(b"mp42", b"mp42", b"isom"), "video/mp4"),
        (_ftyp(b"M4V ", b"M4V ", b"M4A ", b"mp42"), "video/mp4"),
        (_ftyp(b"qt  ", b"qt  "), "video/quicktime"),
        (_ftyp(b"XYZW", b"XYZW", b"isom"), "video/mp4"),  # unknown major brand, known compatible one
        # HEIF and AVIF stills share the ISO box format; they are photos, not videos.
        (_ftyp(b"heic", b"mif1", b"heic"), None),
        (_ftyp(b"mif1", b"mif1", b"heic"), None),
        (_ftyp(b"avif", b"avif", b"mif1", b"miaf"), None),
        (_ftyp(b"XYZW", b"XYZW", b"mif1", b"isom"), None),
        (_ftyp(b"XYZW", b"XYZW"), None),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87", "video/webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
        (b"\x00\x00\x10\x00moov\x00\x00\x00\x6cmvhd", "video/quicktime"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None),
        (b"RIFF\x00\x00\x00\x00AVI LIST", None),
        (b"", None),
    ],
)
def test_sniff_video_goes_by_the_first_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_video(head) == expected


def test_sniff_video_knows_the_files_pyav_writes() -> None:
    assert sniff_video(make_clip("mp4", seconds=0.2)[:64]) == "video/mp4"
    assert sniff_video(make_clip("mov", seconds=0.2)[:64]) == "video/quicktime"
    assert sniff_video(make_clip("webm", "libvpx-vp9", seconds=0.2)[:64]) == "video/webm"


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((320, 240), (320, 240)),
        ((1920, 1080), (1920, 1080)),
        ((1080, 1920), (1080, 1920)),  # portrait 1080p stays as it is
        ((3840, 2160), (1920, 1080)),
        ((2160, 3840), (1080, 1920)),
        ((4000, 3000), (1440, 1080)),  # 4:3 is limited by its short side
        ((4096, 1000), (1920, 468)),  # a panorama by its long side
        ((321, 241), (320, 240)),  # 4:2:0 chroma needs even sides
        ((1, 1), (2, 2)),
    ],
)
def test_output_size_is_at_most_1080p_keeps_the_aspect_and_is_even(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert output_size(*size) == expected


def _file(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_probe_reads_the_container(tmp_path: Path) -> None:
    info = probe(_file(tmp_path, make_clip(width=320, height=240, seconds=2, fps=15)))
    assert (info.mime, info.width, info.height, info.codec) == ("video/mp4", 320, 240, "h264")
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.frame_rate == 15
    assert info.has_audio


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"hello, world" * 10, "The file is not a supported video (MP4, MOV or WebM)"),
        (make_clip(video=False, seconds=1), "The file has no video track"),
        (
            make_clip(width=16, height=16, seconds=600, fps=1, audio=False),
            "Videos may be at most 90 seconds (this one is 600)",
        ),
        (make_clip(seconds=1)[:300], "The file could not be read as a video (it may be damaged)"),
        # A WebM whose codec id names nothing FFmpeg can decode.
        (
            make_clip("webm", "libvpx-vp9", seconds=0.5, audio=False).replace(b"V_VP9", b"V_QQQ"),
            "The video's codec is not supported",
        ),
    ],
)
def test_probe_and_transcode_refuse_with_a_reason(tmp_path: Path, data: bytes, message: str) -> None:
    source = _file(tmp_path, data)
    for attempt in (probe, lambda path: transcode(path, tmp_path)):
        with pytest.raises(VideoRejected) as refused:
            attempt(source)
        assert str(refused.value).startswith(message)
    assert isinstance(refused.value, ValueError)
    assert not (tmp_path / "video.mp4").exists()


def test_undecodable_pictures_are_refused(tmp_path: Path) -> None:
    source = _file(tmp_path, garbled(make_clip(seconds=4, audio=False)))
    probe(source)  # the header and index are fine...
    with pytest.raises(VideoRejected, match="could not be decoded"):
        transcode(source, tmp_path)  # ...the pictures are not
    assert not (tmp_path / "video.mp4").exists()


def test_a_clip_longer_than_its_container_says_is_stopped_while_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video, "MAX_DURATION", 1)
    monkeypatch.setattr(video, "_duration", lambda _container, _stream: None)  # as a live-recorded WebM
    source = _file(tmp_path, make_clip(seconds=3, fps=10))
    with pytest.raises(VideoRejected, match=r"at most 1 seconds \(this one is longer\)"):
        transcode(source, tmp_path)


def test_transcode_makes_faststart_h264_aac_and_a_poster_from_half_a_second_in(tmp_path: Path) -> None:
    source = _file(tmp_path, make_clip(width=320, height=240, seconds=2, fps=15))
    result = transcode(source, tmp_path)
    assert pickle.loads(pickle.dumps(result)) == result  # noqa: S301  # it crosses the process boundary
    assert (result.width, result.height, result.frame_rate, result.has_audio) == (320, 240, "15/1", True)
    assert result.duration == pytest.approx(2.0, abs=0.1)
    mp4 = Path(result.path).read_bytes()
    assert result.size == len(mp4)
    order = atom_order(mp4)
    assert order.index(b"moov") < order.index(b"mdat")
    with av.open(result.path) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
        assert sum(1 for _ in container.decode(video=0)) == 30
    poster = Image.open(io.BytesIO(result.poster))
    assert poster.format == "JPEG"
    assert poster.size == (320, 240)
    assert not poster.getexif()
    # The clip's green channel at x is (x + 6 * frame) % 256: frame 7 (0.47 s) is the last at or before 0.5 s.
    green = poster.convert("RGB").getpixel((100, 120))[1]
    assert abs(green - (100 + 6 * 7)) < 12


def test_frame_rates_above_60_are_thinned_keeping_the_timing(tmp_path: Path) -> None:
    source = _file(tmp_path, make_clip(width=64, height=48, seconds=1, fps=120, audio=False))
    result = transcode(source, tmp_path)
    assert result.frame_rate == "60/1"
    assert result.has_audio is False
    with av.open(result.path) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == pytest.approx(60, abs=1)
    assert float(frames[-1].time or 0) == pytest.approx(1.0, abs=0.05)
