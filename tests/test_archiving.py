from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from cloudevents.http import CloudEvent
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from google.cloud import storage

from instapipe import archiving, clients, events, logs, signing, store
from instapipe.errors import PermanentError, RetryableError
from instapipe.story import Story, encode, from_fields
from stack.emulators import Emulators
from stack.fakes.cdn import FakeCdn, Media
from tests import archive_support as files
from tests.conftest import TEST_BUCKET, reset_process_state
from tests.test_signing import string_to_sign

DATA = Path(__file__).parent / "data" / "archive"
PHOTO_OBJECT = "1111111111/2026-12-03/1796300000_3300000000000000001.jpg"
VIDEO_OBJECT = "1111111111/2026-12-03/1796303600_3300000000000000002.mp4"
ATTEMPTS = 2


@pytest.fixture
def cdn() -> Iterator[FakeCdn]:
    server = FakeCdn().start()
    yield server
    server.stop()


@pytest.fixture
def bucket(cloud: Emulators, monkeypatch: pytest.MonkeyPatch) -> storage.Bucket:
    monkeypatch.setenv("MEDIA_TIMEOUT_S", "1")
    monkeypatch.setenv("MEDIA_ATTEMPTS", str(ATTEMPTS))
    monkeypatch.setenv("MEDIA_BACKOFF_S", "0.01")
    reset_process_state()
    return clients.storage_client().create_bucket(TEST_BUCKET)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    logger = logging.getLogger("instapipe")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    stream = io.StringIO()
    logs.configure(stream=stream)
    yield stream
    logger.handlers[:], logger.level, logger.propagate = saved


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def story(name: str, media_url: str, **changes: Any) -> Story:
    fields = json.loads((DATA / f"{name}.json").read_text())["story"]
    fields.update(media_url=media_url, **changes)
    return from_fields(fields)


def push_envelope(data: bytes) -> dict[str, Any]:
    envelope = json.loads((DATA / "push_envelope.json").read_text())
    envelope["message"]["data"] = base64.b64encode(data).decode()
    return copy.deepcopy(envelope)


def object_names(bucket: storage.Bucket) -> list[str]:
    return [blob.name for blob in bucket.client.list_blobs(bucket.name)]


def stored_document(archived: Story) -> dict[str, Any] | None:
    return store.story_ref(archived.user_id, archived.id).get().to_dict()


def stories_documents(user_id: str) -> list[str]:
    return [doc.id for doc in store.stories_of(user_id).stream()]


def generated_digest(media: Media) -> str:
    digest = hashlib.sha256()
    for chunk in media.chunks():
        digest.update(chunk)
    return digest.hexdigest()


# The photo and the video: exact bytes, object metadata, the whole document.


def test_a_photo_is_archived_with_exact_bytes_and_metadata(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    content = files.image("JPEG", 1080, 1920)
    url = cdn.add("/photo.jpg", Media("image/jpeg", body=content))
    photo = story("photo_story", url)
    before = int(time.time())

    archiving.archive(photo)

    blob = bucket.get_blob(PHOTO_OBJECT)
    assert blob is not None
    assert blob.download_as_bytes() == content
    assert blob.content_type == "image/jpeg"
    assert blob.cache_control == "public, max-age=31536000, immutable"
    assert blob.metadata == {"story_id": photo.id, "user_id": photo.user_id}
    assert object_names(bucket) == [PHOTO_OBJECT]
    document = stored_document(photo)
    assert document is not None
    assert document["id"] == photo.id
    assert document["username"] == "owner.of.stories"
    assert document["timestamp"] == 1796300000
    assert document["expires_at"] == 1796386400
    assert document["is_video"] is False
    assert document["location"] == {
        "name": "Tempelhofer Feld",
        "lat": 52.4732,
        "lng": 13.4053,
    }
    assert document["permalink"] == photo.permalink
    assert (document["width"], document["height"]) == (1080, 1920)
    assert document["bucket_path"] == f"gs://{TEST_BUCKET}/{PHOTO_OBJECT}"
    assert document["object_name"] == PHOTO_OBJECT
    assert document["size_bytes"] == len(content)
    assert document["content_type"] == "image/jpeg"
    assert before <= document["archived_at"] <= int(time.time())
    assert abs(document["signed_url_expires_at"] - (before + 86400)) <= 5
    archived = store.ArchivedStory.from_document(document)
    assert archived.story.media_url == url


def test_the_signed_url_verifies_and_serves_the_archived_object(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    content = files.image("PNG", 640, 360)
    photo = story("photo_story", cdn.add("/p.png", Media("image/png", body=content)))
    object_name = PHOTO_OBJECT.replace(".jpg", ".png")

    archiving.archive(photo)

    document = stored_document(photo)
    assert document is not None
    signed_url = document["signed_url"]
    signature, payload = string_to_sign(signed_url)
    signing.local_signing_key().public_key().verify(
        bytes.fromhex(signature), payload, padding.PKCS1v15(), hashes.SHA256()
    )
    assert urlsplit(signed_url).path == f"/{TEST_BUCKET}/{quote(object_name)}"
    assert "X-Goog-Expires=86400" in signed_url
    with urllib.request.urlopen(signed_url, timeout=10) as response:
        assert response.read() == content


def test_a_video_streams_into_the_bucket_in_chunks_with_exact_bytes(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    size = 2 * archiving.UPLOAD_CHUNK_BYTES + 12345
    video_media = Media(
        "video/mp4", size_bytes=size, head=files.mp4_head(1080, 1920, size)
    )
    video = story("video_story", cdn.add("/v.mp4", video_media))

    archiving.archive(video)

    blob = bucket.get_blob(VIDEO_OBJECT)
    assert blob is not None
    assert blob.size == size
    assert blob.content_type == "video/mp4"
    assert blob.metadata == {"story_id": video.id, "user_id": video.user_id}
    assert hashlib.sha256(blob.download_as_bytes()).hexdigest() == generated_digest(
        video_media
    )
    document = stored_document(video)
    assert document is not None
    assert document["is_video"] is True
    assert document["duration_s"] == 14.8
    assert document["size_bytes"] == size
    assert document["content_type"] == "video/mp4"
    assert document["cover_url"] == video.cover_url


def test_a_video_without_length_is_archived_whole(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    content = files.mp4(720, 1280, media_bytes=archiving.UPLOAD_CHUNK_BYTES + 1000)
    url = cdn.add("/v.mp4", Media("video/mp4", body=content, chunked=True))
    video = story("video_story", url)

    archiving.archive(video)

    blob = bucket.get_blob(VIDEO_OBJECT)
    assert blob is not None
    assert blob.download_as_bytes() == content
    document = stored_document(video)
    assert document is not None
    assert document["size_bytes"] == len(content)


# Dimensions: the file's figures fill gaps and win over the source's.


@pytest.mark.parametrize(
    ("kind", "content", "content_type", "extension"),
    [
        ("JPEG", files.image("JPEG", 750, 1334), "image/jpeg", "jpg"),
        ("PNG", files.image("PNG", 750, 1334), "image/png", "png"),
        ("WebP", files.image("WEBP", 750, 1334), "image/webp", "webp"),
    ],
)
def test_photo_dimensions_are_read_from_the_file(
    bucket: storage.Bucket,
    cdn: FakeCdn,
    kind: str,
    content: bytes,
    content_type: str,
    extension: str,
) -> None:
    photo = story(
        "photo_story", cdn.add(f"/p.{extension}", Media(content_type, body=content))
    )

    archiving.archive(photo)

    document = stored_document(photo)
    assert document is not None
    assert (document["width"], document["height"]) == (750, 1334)
    assert document["object_name"].endswith(f".{extension}")
    assert document["content_type"] == content_type


def test_video_dimensions_from_the_file_win_over_the_sources(
    bucket: storage.Bucket, cdn: FakeCdn, log_output: io.StringIO
) -> None:
    content = files.mp4(1080, 1920, moov_first=False)
    video = story("video_story", cdn.add("/v.mp4", Media("video/mp4", body=content)))

    archiving.archive(video)

    document = stored_document(video)
    assert document is not None
    assert (document["width"], document["height"]) == (1080, 1920)
    [warning] = [
        line
        for line in lines(log_output)
        if line["message"].startswith("media dimensions differ")
    ]
    assert warning["severity"] == "WARNING"
    assert (warning["source_width"], warning["source_height"]) == (720, 1280)
    assert (warning["width"], warning["height"]) == (1080, 1920)


def test_the_sources_dimensions_stay_when_the_file_has_none_readable(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    video = story(
        "video_story", cdn.add("/v.mp4", Media("video/mp4", size_bytes=70_000))
    )

    archiving.archive(video)

    document = stored_document(video)
    assert document is not None
    assert (document["width"], document["height"]) == (720, 1280)


# Idempotency on the story id: redeliveries and concurrent duplicates.


def test_an_archived_story_is_acknowledged_without_a_download(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    content = files.image("JPEG", 64, 64)
    photo = story("photo_story", cdn.add("/p.jpg", Media("image/jpeg", body=content)))
    archiving.archive(photo)
    first = stored_document(photo)

    archiving.archive(photo)

    assert cdn.requests["/p.jpg"] == 1
    assert stored_document(photo) == first
    assert object_names(bucket) == [PHOTO_OBJECT]


def test_three_concurrent_deliveries_give_one_object_and_one_document(
    bucket: storage.Bucket, cdn: FakeCdn, log_output: io.StringIO
) -> None:
    content = files.image("JPEG", 1080, 1920)
    # The delay lets every delivery pass its "already archived?" checks first.
    url = cdn.add("/p.jpg", Media("image/jpeg", body=content, delay_s=0.4))
    envelope = push_envelope(encode(story("photo_story", url)))
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            events.consume(envelope, archiving.archive, consumer="archive_story")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert cdn.requests["/p.jpg"] == 3
    assert object_names(bucket) == [PHOTO_OBJECT]
    assert bucket.get_blob(PHOTO_OBJECT).download_as_bytes() == content  # type: ignore[union-attr]
    assert stories_documents("1111111111") == ["3300000000000000001"]
    logged = lines(log_output)
    messages = [line["message"] for line in logged]
    assert messages.count("story archived") == 1
    assert messages.count("a concurrent delivery stored the media first") == 2
    assert not [line for line in logged if line["severity"] == "ERROR"]


def test_an_object_left_without_a_document_is_adopted_without_the_cdn(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    content = files.image("WEBP", 480, 854)
    object_name = PHOTO_OBJECT.replace(".jpg", ".webp")
    blob = bucket.blob(object_name)
    blob.metadata = {"story_id": "3300000000000000001", "user_id": "1111111111"}
    blob.upload_from_string(content, content_type="image/webp")
    url = cdn.add("/p.webp", Media("image/webp", body=content, failures=[403]))
    photo = story("photo_story", url)

    archiving.archive(photo)

    assert cdn.requests.get("/p.webp", 0) == 0
    document = stored_document(photo)
    assert document is not None
    assert document["object_name"] == object_name
    assert document["size_bytes"] == len(content)
    assert (document["width"], document["height"]) == (480, 854)


def test_a_foreign_object_under_the_storys_name_is_not_adopted(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    bucket.blob(PHOTO_OBJECT).upload_from_string(b"\xff\xd8\xff other")
    photo = story("photo_story", cdn.add("/p.jpg", Media("image/jpeg", body=b"")))

    with pytest.raises(PermanentError, match="not story 3300000000000000001's media"):
        archiving.archive(photo)

    assert stored_document(photo) is None


# What must never be archived, and what must never leave a partial object.


def test_an_html_page_with_status_200_is_not_archived(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    page = b"<!DOCTYPE html><html><body>Something went wrong</body></html>"
    url = cdn.add("/p.jpg", Media("text/html; charset=utf-8", body=page))
    photo = story("photo_story", url)

    with pytest.raises(RetryableError, match="text/html"):
        archiving.archive(photo)

    assert object_names(bucket) == []
    assert stored_document(photo) is None


@pytest.mark.parametrize(
    "size", [100_000, 2 * archiving.UPLOAD_CHUNK_BYTES + 5], ids=["small", "chunked"]
)
def test_a_truncated_download_leaves_no_object(
    bucket: storage.Bucket, cdn: FakeCdn, size: int
) -> None:
    cut = size - 1000
    url = cdn.add("/v.mp4", Media("video/mp4", size_bytes=size, truncate_at=cut))
    video = story("video_story", url)

    with pytest.raises(RetryableError, match=f"downloading from|{cut} of {size}"):
        archiving.archive(video)

    assert cdn.requests["/v.mp4"] == ATTEMPTS
    assert object_names(bucket) == []
    assert stored_document(video) is None


def test_a_file_over_the_cap_is_given_up_and_acknowledged(
    bucket: storage.Bucket,
    cdn: FakeCdn,
    monkeypatch: pytest.MonkeyPatch,
    log_output: io.StringIO,
) -> None:
    monkeypatch.setenv("MEDIA_MAX_BYTES", "1000000")
    reset_process_state()
    url = cdn.add("/v.mp4", Media("video/mp4", size_bytes=1_000_001))
    video = story("video_story", url)

    events.consume(
        push_envelope(encode(video)), archiving.archive, consumer="archive_story"
    )

    assert cdn.requests["/v.mp4"] == 1
    assert object_names(bucket) == []
    assert stored_document(video) is None
    [error] = [line for line in lines(log_output) if line["severity"] == "ERROR"]
    assert "MEDIA_MAX_BYTES=1000000" in error["error"]
    assert error["story_id"] == video.id


def test_a_passing_cdn_fault_is_retried_in_place(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    content = files.image("JPEG", 100, 100)
    url = cdn.add("/p.jpg", Media("image/jpeg", body=content, failures=[503]))
    photo = story("photo_story", url)

    archiving.archive(photo)

    assert cdn.requests["/p.jpg"] == 2
    assert bucket.get_blob(PHOTO_OBJECT).download_as_bytes() == content  # type: ignore[union-attr]


# A slow CDN: the timeouts bound the wait, and nothing half-written stays.


def test_a_cdn_that_stalls_once_mid_file_is_retried_to_a_whole_object(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    size = archiving.UPLOAD_CHUNK_BYTES + 500_000
    video_media = Media(
        "video/mp4",
        size_bytes=size,
        head=files.mp4_head(720, 1280, size),
        stall_at=archiving.UPLOAD_CHUNK_BYTES + 100_000,
        stall_s=3.0,
        stalls=1,
    )
    video = story("video_story", cdn.add("/v.mp4", video_media))

    archiving.archive(video)

    assert cdn.requests["/v.mp4"] == 2
    blob = bucket.get_blob(VIDEO_OBJECT)
    assert blob is not None
    assert hashlib.sha256(blob.download_as_bytes()).hexdigest() == generated_digest(
        video_media
    )


def test_a_cdn_too_slow_to_answer_fails_in_bounded_time(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    url = cdn.add("/p.jpg", Media("image/jpeg", body=b"\xff\xd8\xff", delay_s=4.0))
    photo = story("photo_story", url)
    started = time.monotonic()

    with pytest.raises(RetryableError, match="Timeout"):
        archiving.archive(photo)

    assert time.monotonic() - started < 3.5
    assert cdn.requests["/p.jpg"] == ATTEMPTS
    assert object_names(bucket) == []


# An expired link: mark the story for a fresh one, acknowledge, never retry.


@pytest.mark.parametrize("status", [403, 410])
def test_an_expired_link_marks_the_story_for_republishing(
    bucket: storage.Bucket, cdn: FakeCdn, status: int, log_output: io.StringIO
) -> None:
    url = cdn.add("/p.jpg", Media("image/jpeg", body=b"", failures=[status] * 5))
    photo = story("photo_story", url)

    archiving.archive(photo)

    assert cdn.requests["/p.jpg"] == 1
    account = store.account_ref(photo.user_id).get().to_dict()
    assert account == {"republish_story_ids": [photo.id]}
    assert object_names(bucket) == []
    assert stored_document(photo) is None
    logged = lines(log_output)
    [line] = [line for line in logged if line["message"].startswith("media link")]
    assert (line["severity"], line["status"], line["story_id"]) == (
        "WARNING",
        status,
        photo.id,
    )
    assert url not in log_output.getvalue()


def test_marking_keeps_the_account_document_and_other_marks(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    store.account_ref("1111111111").set(
        {"published_story_ids": ["1"], "republish_story_ids": ["3300000000000000009"]}
    )
    url = cdn.add("/p.jpg", Media("image/jpeg", body=b"", failures=[403] * 5))

    archiving.archive(story("photo_story", url))
    archiving.archive(story("photo_story", url))

    account = store.account_ref("1111111111").get().to_dict()
    assert account == {
        "published_story_ids": ["1"],
        "republish_story_ids": ["3300000000000000009", "3300000000000000001"],
    }


# The entry path: a malformed push message is acknowledged with its id logged.


def test_a_malformed_message_is_logged_with_its_id_and_acknowledged(
    bucket: storage.Bucket, log_output: io.StringIO
) -> None:
    envelope = push_envelope(b'{"version": 1, "story": {"id": "33"}}')

    events.consume(envelope, archiving.archive, consumer="archive_story")

    [line] = lines(log_output)
    assert line["severity"] == "ERROR"
    assert line["message_id"] == "13467820471620305"
    assert object_names(bucket) == []
    assert stories_documents("1111111111") == []


def test_a_retryable_failure_propagates_for_redelivery(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    url = cdn.add("/p.jpg", Media("image/jpeg", body=b"x", failures=[500] * 5))
    envelope = push_envelope(encode(story("photo_story", url)))

    with pytest.raises(RetryableError):
        events.consume(envelope, archiving.archive, consumer="archive_story")

    assert cdn.requests["/p.jpg"] == ATTEMPTS


def test_the_entry_point_archives_a_pushed_story(
    bucket: storage.Bucket, cdn: FakeCdn
) -> None:
    import main

    content = files.image("JPEG", 320, 568)
    photo = story("photo_story", cdn.add("/p.jpg", Media("image/jpeg", body=content)))
    event = CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": "//pubsub.googleapis.com/projects/instapipe-test/topics/stories",
        },
        data=push_envelope(encode(photo)),
    )

    main.archive_story(event)

    assert bucket.get_blob(PHOTO_OBJECT).download_as_bytes() == content  # type: ignore[union-attr]
    assert stories_documents("1111111111") == [photo.id]
