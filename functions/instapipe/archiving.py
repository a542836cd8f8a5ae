"""Archiving a story: its media into the bucket, then its document into Firestore.

Idempotent on the story id, whatever the delivery: a story with a document is done; a
story whose object is already in the bucket (a concurrent delivery won the upload, or
an earlier one stopped before its document) gets its document from that object.
The object is uploaded as a stream under a name unique to the story with a "does not
exist yet" precondition, and the document is written only once the object is complete,
with a create that a concurrent writer cannot double.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from google.api_core import exceptions as google_errors
from google.cloud import firestore, storage

from instapipe import logs, media, signing, store
from instapipe.clients import storage_client
from instapipe.config import settings
from instapipe.errors import PermanentError, RetryableError
from instapipe.story import Story

log = logs.get(__name__)

# Objects never change once written, so any cache may keep them for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"
# Memory held per upload request; a multiple of 256 KiB, as resumable uploads require.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
STORY_ID_METADATA = "story_id"


@dataclass(frozen=True)
class StoredMedia:
    """An archived media object as the story document describes it."""

    object_name: str
    content_type: str
    size_bytes: int
    dimensions: media.Dimensions | None


def archive(story: Story) -> None:
    """Archives `story` once; raises `RetryableError` when it should be tried again."""
    document = store.story_ref(story.user_id, story.id)
    if document.get().exists:
        log.info("story already archived", **story.log_fields())
        return
    try:
        stored = find_stored(story) or _upload(story)
    except media.LinkExpiredError as error:
        _ask_for_fresh_link(story, error)
        return
    _write_document(document, story, stored)


def object_prefix(story: Story) -> str:
    """Where the story's object lives, up to the extension the file decides."""
    posted = datetime.fromtimestamp(story.timestamp, UTC)
    return f"{story.user_id}/{posted:%Y-%m-%d}/{story.timestamp}_{story.id}."


def object_name(story: Story, found: media.Format) -> str:
    return object_prefix(story) + found.extension


def find_stored(story: Story) -> StoredMedia | None:
    """The story's object already in the bucket, described from the object itself."""
    blobs = list(_bucket().list_blobs(prefix=object_prefix(story), max_results=1))
    if not blobs:
        return None
    blob = blobs[0]
    owner = (blob.metadata or {}).get(STORY_ID_METADATA)
    with blob.open("rb", chunk_size=UPLOAD_CHUNK_BYTES) as reader:
        chunks = iter(lambda: bytes(reader.read(media.CHUNK_BYTES)), b"")
        head = next(chunks, b"")
        found = media.sniff(head)
        if owner != story.id or found is None:
            raise PermanentError(
                f"object {blob.name} is not story {story.id}'s media (story_id "
                f"metadata {owner!r}, type {blob.content_type}); expected only "
                "instapipe to write under this name: move the object away to retry"
            )
        dimensions = media.probe(itertools.chain([head], chunks), found)
    return StoredMedia(blob.name, found.content_type, int(blob.size), dimensions)


def _upload(story: Story) -> StoredMedia:
    try:
        return media.with_retries(lambda: _transfer(story), **story.log_fields())
    except google_errors.PreconditionFailed:
        log.info("a concurrent delivery stored the media first", **story.log_fields())
    stored = find_stored(story)
    if stored is None:
        raise RetryableError(
            f"the upload of story {story.id} lost to an object that is no longer there"
        )
    return stored


def _transfer(story: Story) -> StoredMedia:
    with media.download(story.media_url) as download:
        _check_kind(story, download.format)
        name = object_name(story, download.format)
        blob = _bucket().blob(name, chunk_size=UPLOAD_CHUNK_BYTES)
        blob.cache_control = CACHE_CONTROL
        blob.metadata = {STORY_ID_METADATA: story.id, "user_id": story.user_id}
        try:
            blob.upload_from_file(
                download,
                size=download.declared_bytes,
                content_type=download.format.content_type,
                if_generation_match=0,
            )
        except google_errors.PreconditionFailed:
            raise
        except google_errors.GoogleAPIError as error:
            # The error's text may hold the upload session URL, which grants writing.
            raise RetryableError(
                f"uploading {name} to bucket {settings().media_bucket} failed with "
                f"{type(error).__name__} {getattr(error, 'code', '')}"
            ) from None
        return StoredMedia(
            name, download.format.content_type, download.tell(), download.dimensions
        )


def _check_kind(story: Story, found: media.Format) -> None:
    expects_video = story.is_video and not story.media_is_cover
    if found.is_video != expects_video:
        log.warning(
            "media kind differs from the story's; archiving what the CDN sent",
            content_type=found.content_type,
            is_video=story.is_video,
            media_is_cover=story.media_is_cover,
            **story.log_fields(),
        )


def _ask_for_fresh_link(story: Story, error: media.LinkExpiredError) -> None:
    # The fetch function re-publishes marked stories with fresh links while they are
    # live; retrying the dead link would only run the message into the dead letters.
    store.account_ref(story.user_id).set(
        {store.REPUBLISH_STORY_IDS: firestore.ArrayUnion([story.id])}, merge=True
    )
    log.warning(
        "media link expired; story marked for re-publishing",
        status=error.status,
        expires_at=story.expires_at,
        **story.log_fields(),
    )


def _write_document(
    document: firestore.DocumentReference, story: Story, stored: StoredMedia
) -> None:
    signed = signing.sign(stored.object_name)
    archived = store.ArchivedStory(
        story=_with_dimensions(story, stored.dimensions),
        bucket_path=f"gs://{settings().media_bucket}/{stored.object_name}",
        object_name=stored.object_name,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        archived_at=int(time.time()),
        signed_url=signed.url,
        signed_url_expires_at=signed.expires_at,
    )
    try:
        document.create(archived.to_document())
    except google_errors.AlreadyExists:
        log.info("a concurrent delivery wrote the document first", **story.log_fields())
        return
    log.info(
        "story archived",
        object_name=stored.object_name,
        size_bytes=stored.size_bytes,
        content_type=stored.content_type,
        **story.log_fields(),
    )


def _with_dimensions(story: Story, found: media.Dimensions | None) -> Story:
    """The story with the file's width and height, which win over the source's."""
    if found is None:
        if story.width is None or story.height is None:
            log.warning("media dimensions unknown", **story.log_fields())
        return story
    if story.width is not None and (story.width, story.height) != (
        found.width,
        found.height,
    ):
        log.warning(
            "media dimensions differ from the source's; keeping the file's",
            source_width=story.width,
            source_height=story.height,
            width=found.width,
            height=found.height,
            **story.log_fields(),
        )
    return replace(story, width=found.width, height=found.height)


def _bucket() -> storage.Bucket:
    return storage_client().bucket(settings().media_bucket)
