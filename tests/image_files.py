"""Image files made byte by byte for upload tests: the hostile ones, and camera metadata."""

from __future__ import annotations

import struct
import zlib

from PIL import Image

#: Where ``add_gps_position`` says a photo was taken.
GPS_LATITUDE = (52.0, 31.0, 12.0)
GPS_LONGITUDE = (13.0, 24.0, 36.0)


def png_bomb(side: int = 30_000) -> bytes:
    """A tiny file whose header claims a ``side``×``side`` image: refused before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def add_gps_position(exif: Image.Exif) -> None:
    """Write a GPS position into ``exif``, as a phone does: the metadata that must not be served."""
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = GPS_LATITUDE
    gps[3] = "E"
    gps[4] = GPS_LONGITUDE
