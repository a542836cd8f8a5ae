from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from instapipe import config, media
from instapipe.errors import ConfigError
from stack.fakes.cdn import FakeCdn, Media
from tests import archive_support as files
from tests.conftest import BASE_ENV, reset_process_state


@pytest.fixture
def cdn(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCdn]:
    monkeypatch.setenv("MEDIA_TIMEOUT_S", "0.5")
    monkeypatch.setenv("MEDIA_ATTEMPTS", "3")
    monkeypatch.setenv("MEDIA_BACKOFF_S", "0.01")
    reset_process_state()
    server = FakeCdn().start()
    yield server
    server.stop()


def download_all(url: str) -> tuple[bytes, media.Download]:
    with media.download(url) as download:
        return download.read(), download


def in_pieces(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


# What the file says about itself: dimensions from real files the tests encode.

REAL_FILES = {
    "baseline JPEG": (files.image("JPEG", 1080, 1920), media.JPEG, (1080, 1920)),
    "progressive JPEG": (
        files.image("JPEG", 640, 480, progressive=True),
        media.JPEG,
        (640, 480),
    ),
    "PNG": (files.image("PNG", 333, 77), media.PNG, (333, 77)),
    "lossy WebP": (files.image("WEBP", 720, 1280), media.WEBP, (720, 1280)),
    "lossless WebP": (
        files.image("WEBP", 301, 199, lossless=True),
        media.WEBP,
        (301, 199),
    ),
    "extended WebP": (
        files.image(
            "WEBP", 1000, 1500, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"
        ),
        media.WEBP,
        (1000, 1500),
    ),
    "MP4, moov first": (files.mp4(1080, 1920), media.MP4, (1080, 1920)),
    "MP4, moov after mdat": (
        files.mp4(720, 1280, media_bytes=200_000, moov_first=False),
        media.MP4,
        (720, 1280),
    ),
    "MP4, version 1 track header": (
        files.mp4(1920, 1080, version=1),
        media.MP4,
        (1920, 1080),
    ),
    "MP4, stored landscape, turned a quarter": (
        files.mp4(1920, 1080, rotated=True),
        media.MP4,
        (1080, 1920),
    ),
    "JPEG, EXIF orientation 6": (
        files.jpeg_with_orientation(400, 300, orientation=6),
        media.JPEG,
        (300, 400),
    ),
}


@pytest.mark.parametrize("name", REAL_FILES)
@pytest.mark.parametrize("piece_bytes", [1, 7, 65536])
def test_dimensions_come_from_the_file_in_any_chunking(
    name: str, piece_bytes: int
) -> None:
    content, expected_format, (width, height) = REAL_FILES[name]

    found = media.sniff(content[: media.SNIFF_BYTES])
    dimensions = media.probe(in_pieces(content, piece_bytes), expected_format)

    assert found == expected_format
    assert dimensions == media.Dimensions(width, height)


def test_the_webp_variants_are_really_different_chunks() -> None:
    kinds = {
        name: REAL_FILES[name][0][12:16]
        for name in ("lossy WebP", "lossless WebP", "extended WebP")
    }

    assert kinds == {
        "lossy WebP": b"VP8 ",
        "lossless WebP": b"VP8L",
        "extended WebP": b"VP8X",
    }


def test_a_large_mdat_before_moov_is_skipped_not_held() -> None:
    moov = files.movie_box(1080, 1920)
    mdat_payload = 50 * 1024 * 1024
    head = files.file_type_box() + files.large_box_header(b"mdat", mdat_payload)
    reader = media.Probe(media.MP4)

    reader.feed(head)
    for _ in range(mdat_payload // (1024 * 1024)):
        reader.feed(bytes(1024 * 1024))
    reader.feed(moov)

    assert reader.dimensions == media.Dimensions(1080, 1920)


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xd8\xff" + bytes(100),
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dXXXX" + bytes(20),
        b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64,
        b"\x00\x00\x00\x18ftypmp42" + b"\x00\x00\x00\x04moov",
        b"\xff\xd8\xff\xe1\xff\xff" + b"Exif" * 10,
    ],
    ids=["JPEG without frame", "PNG without IHDR", "noise", "tiny box", "cut JPEG"],
)
def test_unreadable_headers_give_no_dimensions_and_no_error(content: bytes) -> None:
    found = media.sniff(content[: media.SNIFF_BYTES])
    assert found is not None

    assert media.probe(in_pieces(content, 5), found) is None


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html>",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
        b"GIF89a\x01\x00\x01\x00",
        b"",
    ],
    ids=["HTML", "HEIC", "GIF", "empty"],
)
def test_other_content_is_not_a_supported_format(head: bytes) -> None:
    assert media.sniff(head) is None


def test_a_quicktime_file_is_a_video() -> None:
    assert media.sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00") == media.QUICKTIME


# The download: a stream that checks what it carries.


def test_a_download_streams_the_exact_bytes_with_its_format(cdn: FakeCdn) -> None:
    content = files.image("JPEG", 1080, 1920)
    url = cdn.add("/photo.jpg", Media("image/jpeg", body=content))

    with media.download(url) as download:
        first = download.read(1000)
        position = download.tell()
        rest = download.read(10**9)
        end = download.read(10)

    assert first + rest == content
    assert position == 1000
    assert end == b""
    assert download.format == media.JPEG
    assert download.declared_bytes == len(content)
    assert download.dimensions == media.Dimensions(1080, 1920)


def test_reads_are_full_length_until_the_end(cdn: FakeCdn) -> None:
    url = cdn.add("/v.mp4", Media("video/mp4", size_bytes=1_000_000, chunked=True))

    with media.download(url) as download:
        sizes = [len(download.read(300_000)) for _ in range(4)]

    assert sizes == [300_000, 300_000, 300_000, 100_000]
    assert download.declared_bytes is None


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_dead_link_is_reported_as_expired(cdn: FakeCdn, status: int) -> None:
    url = cdn.add(
        "/x.jpg", Media("image/jpeg", body=b"\xff\xd8\xff", failures=[status])
    )

    with pytest.raises(media.LinkExpiredError) as raised:
        download_all(url)

    assert raised.value.status == status


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_faults_are_transient(cdn: FakeCdn, status: int) -> None:
    url = cdn.add(
        "/x.jpg", Media("image/jpeg", body=b"\xff\xd8\xff", failures=[status])
    )

    with pytest.raises(media.TransientMediaError, match=str(status)):
        download_all(url)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html; charset=utf-8", b"<html><body>Sorry, try later</body></html>"),
        ("image/jpeg", b"<html><body>Sorry, try later</body></html>"),
        ("text/html", files.image("JPEG", 10, 10)),
        ("video/mp4", files.image("PNG", 10, 10)),
        ("image/jpeg", files.mp4(10, 10)),
    ],
    ids=[
        "HTML page",
        "HTML labelled JPEG",
        "JPEG labelled HTML",
        "PNG as video",
        "MP4 as photo",
    ],
)
def test_content_that_is_not_what_it_claims_is_refused(
    cdn: FakeCdn, content_type: str, body: bytes
) -> None:
    url = cdn.add("/x", Media(content_type, body=body))

    with pytest.raises(media.UnexpectedContentError):
        download_all(url)


def test_a_cut_body_fails_the_read_instead_of_ending_it(cdn: FakeCdn) -> None:
    url = cdn.add("/v.mp4", Media("video/mp4", size_bytes=500_000, truncate_at=200_000))

    with media.download(url) as download:
        first = download.read(100_000)
        with pytest.raises(
            media.TransientMediaError, match=r"downloading from 127\.0\.0\.1"
        ):
            download.read(400_000)

    assert len(first) == 100_000


def test_a_file_over_the_cap_is_refused_before_its_body(
    cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIA_MAX_BYTES", "100000")
    reset_process_state()
    url = cdn.add("/v.mp4", Media("video/mp4", size_bytes=100_001))

    with pytest.raises(media.TooLargeError, match="MEDIA_MAX_BYTES=100000"):
        download_all(url)


def test_a_file_without_length_is_stopped_at_the_cap(
    cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIA_MAX_BYTES", "300000")
    reset_process_state()
    url = cdn.add("/v.mp4", Media("video/mp4", size_bytes=10**7, chunked=True))

    with media.download(url) as download, pytest.raises(media.TooLargeError):
        while download.read(65536):
            pass

    assert download.tell() <= 300_000


def test_a_stalled_body_times_out(cdn: FakeCdn) -> None:
    url = cdn.add(
        "/v.mp4",
        Media("video/mp4", size_bytes=300_000, stall_at=100_000, stall_s=2.0),
    )
    started = time.monotonic()

    with media.download(url) as download, pytest.raises(media.TransientMediaError):
        download.read(300_000)

    assert time.monotonic() - started < 1.8


def test_a_slow_first_byte_times_out(cdn: FakeCdn) -> None:
    url = cdn.add("/v.mp4", Media("video/mp4", size_bytes=1000, delay_s=1.5))

    with pytest.raises(media.TransientMediaError, match="Timeout"):
        download_all(url)


# Retries: transient failures are tried again after a growing wait, others are not.


def test_a_passing_fault_is_retried(cdn: FakeCdn) -> None:
    content = files.image("PNG", 20, 10)
    url = cdn.add("/p.png", Media("image/png", body=content, failures=[500, 503]))

    data, _download = media.with_retries(lambda: download_all(url))

    assert data == content
    assert cdn.requests["/p.png"] == 3


def test_retries_stop_after_the_configured_attempts(cdn: FakeCdn) -> None:
    url = cdn.add("/p.png", Media("image/png", body=b"x", failures=[500] * 10))

    with pytest.raises(media.TransientMediaError):
        media.with_retries(lambda: download_all(url))

    assert cdn.requests["/p.png"] == 3


def test_the_waits_between_attempts_grow(
    cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIA_BACKOFF_S", "0.2")
    reset_process_state()
    url = cdn.add("/p.png", Media("image/png", body=b"x", failures=[500] * 10))
    started = time.monotonic()

    with pytest.raises(media.TransientMediaError):
        media.with_retries(lambda: download_all(url))

    # Waits of 0.1-0.2 s and then 0.2-0.4 s, jittered.
    assert 0.3 <= time.monotonic() - started < 1.5


def test_an_expired_link_is_not_retried(cdn: FakeCdn) -> None:
    url = cdn.add("/p.png", Media("image/png", body=b"x", failures=[403, 403]))

    with pytest.raises(media.LinkExpiredError):
        media.with_retries(lambda: download_all(url))

    assert cdn.requests["/p.png"] == 1


# Settings of the download.


def test_attempts_and_backoff_have_defaults() -> None:
    settings = config.load(BASE_ENV)

    assert settings.media_attempts == 3
    assert settings.media_backoff_s == 2.0


def test_attempts_and_backoff_are_read() -> None:
    env = {**BASE_ENV, "MEDIA_ATTEMPTS": "5", "MEDIA_BACKOFF_S": "0.5"}

    settings = config.load(env)

    assert (settings.media_attempts, settings.media_backoff_s) == (5, 0.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [("MEDIA_ATTEMPTS", "0"), ("MEDIA_ATTEMPTS", "11"), ("MEDIA_BACKOFF_S", "-1")],
)
def test_bad_attempts_or_backoff_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        config.load({**BASE_ENV, name: value})


# The new knobs of the CDN stand-in, so the tests above mean what they say.


def test_the_stand_in_serves_a_generated_body_after_its_head(cdn: FakeCdn) -> None:
    head = files.mp4_head(1080, 1920, total_bytes=200_000)
    url = cdn.add("/v.mp4", Media("video/mp4", size_bytes=200_000, head=head))

    data, download = download_all(url)

    assert len(data) == 200_000
    assert data.startswith(head)
    assert download.dimensions == media.Dimensions(1080, 1920)


def test_the_stand_in_stalls_only_as_often_as_asked(cdn: FakeCdn) -> None:
    url = cdn.add(
        "/v.mp4",
        Media("video/mp4", size_bytes=300_000, stall_at=1000, stall_s=2.0, stalls=1),
    )

    with pytest.raises(media.TransientMediaError):
        download_all(url)
    data, _download = download_all(url)

    assert len(data) == 300_000
