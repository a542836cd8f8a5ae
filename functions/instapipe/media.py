"""Media files from Instagram's CDN: the streamed download and what the bytes are.

A download is a readable stream that never holds the whole file: it checks the
declared content type and the first bytes against the photo and video formats
instapipe archives, stops at `MEDIA_MAX_BYTES`, raises when the body ends short of its
announced length, and reads width and height from the JPEG, PNG, WebP or MP4 headers
as the bytes flow past.

Failures come in four kinds, because the caller acts differently on each:
`LinkExpiredError` (ask for a fresh link), `TransientMediaError` (try again soon),
`UnexpectedContentError` (not a photo or video: let Pub/Sub retry, then dead-letter)
and `TooLargeError` (give up).
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from instapipe import logs
from instapipe.config import settings
from instapipe.errors import InstapipeError, PermanentError, RetryableError

T = TypeVar("T")
log = logs.get(__name__)

CHUNK_BYTES = 64 * 1024
# Enough leading bytes to tell every supported format apart.
SNIFF_BYTES = 16
# The CDN refuses a link whose signature has expired (403, 410) or that it no longer
# knows (404); a fresh link from Instagram is the only cure.
LINK_DEAD_STATUSES = frozenset({403, 404, 410})
# Compressed transfer would make Content-Length the compressed size, which the
# truncation check compares with what arrived.
REQUEST_HEADERS = {"Accept-Encoding": "identity"}
# Bounds what the dimension reader ever buffers from one header or box.
_MAX_HEADER_BYTES = 64 * 1024
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
)


class LinkExpiredError(InstapipeError):
    """The CDN no longer serves this link; the story needs a freshly fetched one."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the CDN answered {status}: the media link has expired")
        self.status = status


class TransientMediaError(RetryableError):
    """A timeout, a dropped connection, a cut body, a 429 or 5xx: worth a retry."""


class UnexpectedContentError(RetryableError):
    """What came is not a photo or a video instapipe archives, such as an HTML page."""


class TooLargeError(PermanentError):
    """The file is larger than `MEDIA_MAX_BYTES`."""


@dataclass(frozen=True)
class Format:
    content_type: str
    extension: str
    is_video: bool


JPEG = Format("image/jpeg", "jpg", is_video=False)
PNG = Format("image/png", "png", is_video=False)
WEBP = Format("image/webp", "webp", is_video=False)
MP4 = Format("video/mp4", "mp4", is_video=True)
QUICKTIME = Format("video/quicktime", "mov", is_video=True)


@dataclass(frozen=True)
class Dimensions:
    width: int
    height: int


def sniff(head: bytes) -> Format | None:
    """The format the first bytes of a file announce, or None if unsupported."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return None
        return QUICKTIME if brand == b"qt  " else MP4
    return None


def with_retries(operation: Callable[[], T], **fields: object) -> T:
    """Runs `operation`, again after a growing wait while it fails transiently."""
    config = settings()
    for attempt in range(1, config.media_attempts + 1):
        try:
            return operation()
        except TransientMediaError as error:
            if attempt == config.media_attempts:
                raise
            wait_s = config.media_backoff_s * 2 ** (attempt - 1)
            # Jitter keeps concurrent deliveries from retrying in lockstep.
            wait_s *= random.uniform(0.5, 1.0)
            log.warning(
                "media download failed, trying again",
                attempt=attempt,
                wait_s=round(wait_s, 3),
                error=str(error),
                **fields,
            )
            time.sleep(wait_s)
    raise AssertionError("media_attempts is at least 1")


@contextmanager
def download(url: str) -> Iterator[Download]:
    """Opens a checked media stream from `url`; closes the connection on exit."""
    config = settings()
    host = urlsplit(url).hostname or "?"
    try:
        response = requests.get(
            url,
            stream=True,
            timeout=(config.media_timeout_s, config.media_timeout_s),
            headers=REQUEST_HEADERS,
        )
    except requests.RequestException as error:
        raise TransientMediaError(_failure(error, host)) from None
    try:
        _check_status(response, host)
        yield Download(response, host, config.media_max_bytes)
    finally:
        response.close()


def _check_status(response: requests.Response, host: str) -> None:
    status = response.status_code
    if status in LINK_DEAD_STATUSES:
        raise LinkExpiredError(status)
    if status == 429 or status >= 500:
        raise TransientMediaError(f"the CDN at {host} answered {status}")
    if status != 200:
        raise UnexpectedContentError(
            f"the CDN at {host} answered {status}, expected 200 with the media file"
        )


def _failure(error: requests.RequestException, host: str) -> str:
    # The exception text carries the signed URL, which must not reach the logs.
    return f"{type(error).__name__} while downloading from {host}"


class Download:
    """The body of a media response as a file-like stream, checked as it is read.

    `read(n)` returns exactly n bytes until the end, as a resumable upload of unknown
    length takes a short read for the end of the file.
    """

    def __init__(self, response: requests.Response, host: str, max_bytes: int) -> None:
        self._host = host
        self._max_bytes = max_bytes
        self.declared_bytes = _content_length(response)
        if self.declared_bytes is not None and self.declared_bytes > max_bytes:
            raise TooLargeError(
                f"the media file has {self.declared_bytes} bytes, more than "
                f"MEDIA_MAX_BYTES={max_bytes}; raise MEDIA_MAX_BYTES to archive it"
            )
        self.received_bytes = 0
        self._chunks = self._body(response)
        self._pending = b""
        self._position = 0
        head = self._take(SNIFF_BYTES)
        self._pending = head + self._pending
        self.format = _check_content(response.headers.get("Content-Type", ""), head)
        self._probe = Probe(self.format)

    @property
    def dimensions(self) -> Dimensions | None:
        """Width and height from the file's headers, once the reader has seen them."""
        return self._probe.dimensions

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        data = self._take(size if size >= 0 else self._max_bytes + 1)
        self._probe.feed(data)
        self._position += len(data)
        return data

    def _take(self, wanted: int) -> bytes:
        pieces = [self._pending]
        collected = len(self._pending)
        while collected < wanted:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            pieces.append(chunk)
            collected += len(chunk)
        data = b"".join(pieces)
        self._pending = data[wanted:]
        return data[:wanted]

    def _body(self, response: requests.Response) -> Iterator[bytes]:
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                self.received_bytes += len(chunk)
                if self.received_bytes > self._max_bytes:
                    raise TooLargeError(
                        f"the media file is larger than MEDIA_MAX_BYTES="
                        f"{self._max_bytes}; raise MEDIA_MAX_BYTES to archive it"
                    )
                yield chunk
        except requests.RequestException as error:
            raise TransientMediaError(_failure(error, self._host)) from None
        self._check_complete()

    def _check_complete(self) -> None:
        declared = self.declared_bytes
        if declared is not None and self.received_bytes != declared:
            raise TransientMediaError(
                f"the media body from {self._host} ended after "
                f"{self.received_bytes} of {declared} bytes"
            )


def _content_length(response: requests.Response) -> int | None:
    raw = response.headers.get("Content-Length", "")
    return int(raw) if raw.isdigit() else None


def _check_content(content_type: str, head: bytes) -> Format:
    declared = content_type.split(";", 1)[0].strip().lower()
    found = sniff(head)
    if found is None:
        raise UnexpectedContentError(
            f"the CDN sent {declared or 'no content type'} starting with {head[:8]!r}, "
            "expected a JPEG, PNG or WebP photo or an MP4 video"
        )
    expected_family = "video/" if found.is_video else "image/"
    if not declared.startswith(expected_family):
        raise UnexpectedContentError(
            f"the CDN declared {declared or 'no content type'} but sent a "
            f"{found.content_type} file; expected the two to agree"
        )
    return found


# The dimension readers are generators that ask for the next bytes of the file, so
# they can follow a header spread over many network chunks without buffering the
# file: they yield `_Read(n)` to receive the next n bytes, `_Skip(n)` to pass over n.


@dataclass(frozen=True)
class _Read:
    size: int


@dataclass(frozen=True)
class _Skip:
    size: int


class _Malformed(Exception):
    """A header that does not parse; the file's dimensions stay unknown."""


_Reader = Generator[_Read | _Skip, bytes, Dimensions | None]


class Probe:
    """Reads a file's width and height from the bytes fed to it, in any chunking."""

    def __init__(self, found: Format) -> None:
        self.dimensions: Dimensions | None = None
        self.done = False
        self._reader = _READERS[found.extension]()
        self._buffer = bytearray()
        self._step: _Read | _Skip = _Read(0)
        self._to_skip = 0
        self._advance(None)

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.done:
            if isinstance(self._step, _Skip):
                taken = min(self._to_skip, len(view))
                self._to_skip -= taken
                view = view[taken:]
                if self._to_skip == 0:
                    self._advance(b"")
                continue
            needed = self._step.size - len(self._buffer)
            self._buffer += view[:needed]
            view = view[needed:]
            if len(self._buffer) == self._step.size:
                answer = bytes(self._buffer)
                self._buffer.clear()
                self._advance(answer)

    def _advance(self, answer: bytes | None) -> None:
        try:
            step = self._reader.send(answer)  # type: ignore[arg-type]
            while step.size == 0:
                step = self._reader.send(b"")
        except StopIteration as stop:
            self._finish(stop.value)
            return
        except (_Malformed, struct.error, IndexError, ValueError):
            # A header this reader cannot follow leaves the dimensions unknown; it
            # must never fail the download it watches.
            self._finish(None)
            return
        if isinstance(step, _Read) and step.size > _MAX_HEADER_BYTES:
            self._finish(None)
            return
        self._step = step
        self._to_skip = step.size if isinstance(step, _Skip) else 0

    def _finish(self, dimensions: Dimensions | None) -> None:
        self.dimensions = dimensions
        self.done = True
        self._reader.close()


def probe(chunks: Iterable[bytes], found: Format) -> Dimensions | None:
    """Width and height of the file in `chunks`, reading no further than needed."""
    reader = Probe(found)
    for chunk in chunks:
        reader.feed(chunk)
        if reader.done:
            break
    return reader.dimensions


def _unpack(layout: str, data: bytes) -> tuple[Any, ...]:
    try:
        return struct.unpack(layout, data)
    except struct.error:
        raise _Malformed(layout) from None


# JPEG: a chain of marker segments; a start-of-frame segment holds the size.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
_START_OF_SCAN, _END_OF_IMAGE, _APP1 = 0xDA, 0xD9, 0xE1
# EXIF orientations 5 to 8 turn the picture a quarter: width and height swap.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


def _jpeg() -> _Reader:
    yield _Read(2)
    orientation = 1
    while True:
        marker = yield from _jpeg_marker()
        if marker in _STANDALONE_MARKERS:
            continue
        if marker in (_START_OF_SCAN, _END_OF_IMAGE):
            return None
        (length,) = _unpack(">H", (yield _Read(2)))
        if length < 2:
            raise _Malformed("segment length")
        if marker in _SOF_MARKERS:
            frame = yield _Read(5)
            height, width = _unpack(">HH", frame[1:5])
            if orientation in _QUARTER_TURNS:
                width, height = height, width
            return Dimensions(width, height) if width and height else None
        if marker == _APP1:
            orientation = _exif_orientation((yield _Read(length - 2))) or orientation
        else:
            yield _Skip(length - 2)


def _jpeg_marker() -> Generator[_Read | _Skip, bytes, int]:
    if (yield _Read(1)) != b"\xff":
        raise _Malformed("marker")
    marker = 0xFF
    # Any number of 0xFF fill bytes may precede the marker code.
    while marker == 0xFF:
        (marker,) = yield _Read(1)
    return marker


def _exif_orientation(segment: bytes) -> int | None:
    if not segment.startswith(b"Exif\x00\x00"):
        return None
    tiff = segment[6:]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for index in range(count):
        entry = tiff[ifd + 2 + 12 * index : ifd + 14 + 12 * index]
        if len(entry) < 12:
            return None
        tag, _kind, _count, value = struct.unpack(order + "HHIH", entry[:10])
        if tag == 0x0112:
            return int(value)
    return None


def _png() -> _Reader:
    if (yield _Read(8)) != b"\x89PNG\r\n\x1a\n":
        raise _Malformed("signature")
    _length, kind = _unpack(">I4s", (yield _Read(8)))
    if kind != b"IHDR":
        raise _Malformed("first chunk")
    width, height = _unpack(">II", (yield _Read(8)))
    return Dimensions(width, height) if width and height else None


def _webp() -> _Reader:
    yield _Read(12)
    kind, _size = _unpack("<4sI", (yield _Read(8)))
    if kind == b"VP8 ":
        frame = yield _Read(10)
        if frame[3:6] != b"\x9d\x01\x2a":
            raise _Malformed("VP8 start code")
        width, height = _unpack("<HH", frame[6:10])
        return Dimensions(width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L":
        header = yield _Read(5)
        if header[0] != 0x2F:
            raise _Malformed("VP8L signature")
        (bits,) = _unpack("<I", header[1:5])
        return Dimensions((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8X":
        header = yield _Read(10)
        width = int.from_bytes(header[4:7], "little") + 1
        height = int.from_bytes(header[7:10], "little") + 1
        return Dimensions(width, height)
    raise _Malformed("WebP chunk")


# MP4 (ISO BMFF): nested boxes; moov > trak > tkhd holds a track's presentation size.
# moov may come after the media data (mdat), which is skipped, never held.
_TKHD_V0_BYTES, _TKHD_V1_BYTES = 84, 96


def _mp4() -> _Reader:
    while True:
        kind, size, _header = yield from _box_header()
        if kind == b"moov":
            return (yield from _video_track(size))
        if size is None:
            return None
        yield _Skip(size)


def _box_header() -> Generator[_Read | _Skip, bytes, tuple[bytes, int | None, int]]:
    """A box's type, payload size (None: up to the end) and header size."""
    size, kind = _unpack(">I4s", (yield _Read(8)))
    if size == 0:
        return kind, None, 8
    header = 8
    if size == 1:
        (size,) = _unpack(">Q", (yield _Read(8)))
        header = 16
    if size < header:
        raise _Malformed("box size")
    return kind, size - header, header


def _video_track(container: int | None) -> _Reader:
    """Walks a moov or trak box for the first track with a picture."""
    remaining = container
    while remaining is None or remaining >= 8:
        kind, size, header = yield from _box_header()
        if remaining is not None:
            size = remaining - header if size is None else size
            remaining -= header + size
            if remaining < 0:
                raise _Malformed("box overruns its container")
        if size is None:
            raise _Malformed("open-ended box inside moov")
        if kind == b"trak":
            found = yield from _video_track(size)
            if found is not None:
                return found
        elif kind == b"tkhd":
            found = _track_header((yield _Read(size)))
            if found is not None:
                return found
        else:
            yield _Skip(size)
    if remaining:
        yield _Skip(remaining)
    return None


def _track_header(box: bytes) -> Dimensions | None:
    version = box[0] if box else -1
    expected = {0: _TKHD_V0_BYTES, 1: _TKHD_V1_BYTES}.get(version)
    if expected is None or len(box) < expected:
        raise _Malformed("tkhd")
    matrix = _unpack(">9i", box[expected - 44 : expected - 8])
    width, height = _unpack(">II", box[expected - 8 : expected])
    width, height = round(width / 65536), round(height / 65536)
    # A phone's portrait video is often stored landscape with a quarter-turn matrix.
    if matrix[0] == 0 and matrix[4] == 0:
        width, height = height, width
    return Dimensions(width, height) if width and height else None


_READERS: dict[str, Callable[[], _Reader]] = {
    JPEG.extension: _jpeg,
    PNG.extension: _png,
    WEBP.extension: _webp,
    MP4.extension: _mp4,
    QUICKTIME.extension: _mp4,
}
