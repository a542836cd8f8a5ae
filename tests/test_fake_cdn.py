"""The CDN stand-in answers as scripted, so tests that rely on it mean what they say."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from stack.fakes.cdn import FakeCdn, Media


@pytest.fixture
def cdn() -> Iterator[FakeCdn]:
    server = FakeCdn().start()
    yield server
    server.stop()


def test_serves_bytes_with_type_and_length(cdn: FakeCdn) -> None:
    url = cdn.add("/p.jpg", Media("image/jpeg", body=b"\xff\xd8" * 100_000))

    response = requests.get(url, timeout=5)

    assert response.content == b"\xff\xd8" * 100_000
    assert response.headers["Content-Type"] == "image/jpeg"
    assert cdn.requests["/p.jpg"] == 1


def test_scripted_failures_come_first_then_the_file(cdn: FakeCdn) -> None:
    url = cdn.add("/v.mp4", Media("video/mp4", body=b"video", failures=[500, 403]))

    statuses = [requests.get(url, timeout=5).status_code for _ in range(3)]

    assert statuses == [500, 403, 200]


def test_a_truncated_body_is_shorter_than_announced(cdn: FakeCdn) -> None:
    url = cdn.add("/t.mp4", Media("video/mp4", size_bytes=200_000, truncate_at=1000))

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url, timeout=5).content  # noqa: B018


def test_a_generated_body_has_the_requested_size(cdn: FakeCdn) -> None:
    url = cdn.add("/big.mp4", Media("video/mp4", size_bytes=3 * 65536 + 7))

    assert len(requests.get(url, timeout=5).content) == 3 * 65536 + 7


def test_unknown_paths_are_404(cdn: FakeCdn) -> None:
    assert requests.get(cdn.url + "/nothing", timeout=5).status_code == 404
