"""Real media files for the archive tests: Pillow images and hand-built MP4 boxes."""

from __future__ import annotations

import io
import os
import struct

from PIL import Image

_IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
# A quarter turn, as phones store portrait video recorded with the sensor landscape.
_QUARTER_TURN = (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)


def image(kind: str, width: int, height: int, **options: object) -> bytes:
    """A real JPEG, PNG or WebP file of the given size, encoded by Pillow."""
    picture = Image.new("RGB", (width, height), (200, 80, 40))
    out = io.BytesIO()
    picture.save(out, format=kind, **options)
    return out.getvalue()


def noisy_jpeg(width: int, height: int) -> bytes:
    """A JPEG of camera-like size in bytes: noise does not compress."""
    picture = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=90)
    return out.getvalue()


def jpeg_with_orientation(width: int, height: int, orientation: int) -> bytes:
    picture = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    picture.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def large_box_header(kind: bytes, payload_bytes: int) -> bytes:
    """The header of a box with the 64-bit size field, as large mdat boxes have."""
    return struct.pack(">I4sQ", 1, kind, 16 + payload_bytes)


def track_header(
    width: int, height: int, version: int = 0, rotated: bool = False
) -> bytes:
    times = (
        struct.pack(">IIIII", 0, 0, 1, 0, 0)
        if version == 0
        else struct.pack(">QQIIQ", 0, 0, 1, 0, 0)
    )
    volume = 0 if width else 0x0100
    matrix = _QUARTER_TURN if rotated else _IDENTITY
    return box(
        b"tkhd",
        bytes([version, 0, 0, 3])
        + times
        + bytes(8)
        + struct.pack(">hhhH", 0, 0, volume, 0)
        + struct.pack(">9i", *matrix)
        + struct.pack(">II", width << 16, height << 16),
    )


def movie_box(
    width: int, height: int, version: int = 0, rotated: bool = False
) -> bytes:
    """moov with an audio track first (no picture size) and then the video track."""
    audio = box(b"trak", track_header(0, 0) + box(b"mdia", bytes(32)))
    video = box(
        b"trak",
        track_header(width, height, version, rotated) + box(b"mdia", bytes(48)),
    )
    return box(b"moov", box(b"mvhd", bytes(100)) + audio + video)


def file_type_box() -> bytes:
    return box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")


def mp4(
    width: int,
    height: int,
    media_bytes: int = 4096,
    moov_first: bool = True,
    version: int = 0,
    rotated: bool = False,
) -> bytes:
    """A minimal, well-formed MP4: ftyp, then moov and mdat in the order asked."""
    moov = movie_box(width, height, version, rotated)
    mdat = box(b"mdat", bytes(range(256)) * (media_bytes // 256))
    middle = moov + mdat if moov_first else mdat + moov
    return file_type_box() + middle


def mp4_head(width: int, height: int, total_bytes: int) -> bytes:
    """The first bytes of an MP4 of `total_bytes`; the rest is the mdat payload.

    Served as a generated body's head, it makes a file of any size whose header
    reads like a real one, without holding the file.
    """
    head = file_type_box() + movie_box(width, height)
    return head + large_box_header(b"mdat", total_bytes - len(head) - 16)
