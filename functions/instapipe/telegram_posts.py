"""What a story becomes in Telegram: its media, the kind of message, the caption.

A photo goes as a photo unless it breaks Telegram's photo limits, then as a document; a
video as a video up to 50 MB, beyond that as its cover photo with a link. Nothing is
dropped silently: what fits nowhere becomes a text message with a link. Media comes from
Instagram's CDN; once that link has expired, from the archived copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import requests

from instapipe import captions, logs, store
from instapipe.config import Settings
from instapipe.errors import RetryableError
from instapipe.store import ArchivedStory
from instapipe.story import Story
from instapipe.telegram_api import BotApi, Upload

log = logs.get(__name__)

# Bot API limits for multipart uploads.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PHOTO_SIDES_SUM = 10_000
MAX_PHOTO_RATIO = 20
DOWNLOAD_CHUNK_BYTES = 256 * 1024
# What Instagram's CDN answers for a link past its expiry.
_GONE_STATUSES = (403, 404, 410)


@dataclass(frozen=True)
class Post:
    """One message as it will be sent; `fallback` is tried if Telegram refuses it."""

    kind: str
    caption: str
    upload: Upload | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    html: bool = True
    fallback: Post | None = None

    def send(self, api: BotApi, chat_id: str, silent: bool, timeout_s: float) -> int:
        if self.upload is None:
            return api.send_text(chat_id, self.caption, silent, timeout_s, self.html)
        if self.kind == "video":
            return api.send_video(
                chat_id,
                self.upload,
                self.caption,
                silent,
                timeout_s,
                self.width,
                self.height,
                self.duration_s,
            )
        if self.kind == "document":
            return api.send_document(
                chat_id, self.upload, self.caption, silent, timeout_s
            )
        return api.send_photo(chat_id, self.upload, self.caption, silent, timeout_s)


class MediaGoneError(RetryableError):
    """The media link answers as expired; the archived copy may stand in."""


def prepare(story: Story, config: Settings) -> Post:
    """Downloads the story's media and decides the message; raises RetryableError."""
    try:
        return _prepare(story, config)
    except MediaGoneError as error:
        gone = error
    archived = archived_copy(story)
    if archived is None:
        raise RetryableError(
            f"{gone}, and the story is not archived yet; Pub/Sub will redeliver"
        )
    log.info(
        "Instagram's media link expired; sending the archived copy",
        **story.log_fields(),
    )
    return _prepare(replace(story, media_url=archived.signed_url), config)


def archived_copy(story: Story) -> ArchivedStory | None:
    """The archived story, if the archive function stored it and its link works."""
    snapshot = store.story_ref(story.user_id, story.id).get()
    if not snapshot.exists:
        return None
    archived = ArchivedStory.from_document(snapshot.to_dict() or {})
    return archived if archived.signed_url_expires_at > time.time() else None


def _prepare(story: Story, config: Settings) -> Post:
    if story.is_video and story.media_is_cover:
        note = "Instagram does not hand out this video; its cover is shown."
        caption = _caption(story, config, note)
        return _photo_post(story, story.media_url, caption, config)
    if story.is_video:
        return _video_post(story, config)
    return _photo_post(story, story.media_url, _caption(story, config), config)


def _caption(story: Story, config: Settings, *extra_lines: str) -> str:
    return captions.story_caption(
        story,
        config.telegram_timezone,
        time.time(),
        config.telegram_link_instagram,
        extra_lines,
    )


def _video_post(story: Story, config: Settings) -> Post:
    body = _download(story.media_url, MAX_FILE_BYTES, config.media_timeout_s)
    if body is not None:
        return Post(
            kind="video",
            caption=_caption(story, config),
            upload=Upload(f"{story.id}.mp4", body, "video/mp4"),
            width=story.width,
            height=story.height,
            duration_s=story.duration_s,
        )
    caption = _caption(story, config, _too_large_video_line(story, config))
    if story.cover_url is None:
        return Post(kind="text", caption=caption)
    try:
        post = _photo_post(story, story.cover_url, caption, config)
    except MediaGoneError:
        return Post(kind="text", caption=caption)
    return replace(post, kind="cover") if post.kind == "photo" else post


def _photo_post(story: Story, url: str, caption: str, config: Settings) -> Post:
    body = _download(url, MAX_FILE_BYTES, config.media_timeout_s)
    if body is None:
        line = captions.link(captions.instagram_url(story), "Open the photo")
        return Post(kind="text", caption=f"{caption}\n{line}")
    upload = Upload(f"{story.id}.jpg", body, "image/jpeg")
    document = Post(kind="document", caption=caption, upload=upload)
    if len(body) > MAX_PHOTO_BYTES or not _fits_photo(story.width, story.height):
        return document
    return Post(kind="photo", caption=caption, upload=upload, fallback=document)


def _fits_photo(width: int | None, height: int | None) -> bool:
    if not width or not height:
        return True
    ratio = max(width, height) / min(width, height)
    return width + height <= MAX_PHOTO_SIDES_SUM and ratio <= MAX_PHOTO_RATIO


def _too_large_video_line(story: Story, config: Settings) -> str:
    archived = archived_copy(story)
    if archived is None:
        # The archive runs side by side with delivery and may not have the video yet.
        return captions.instagram_video_line(story)
    return captions.archived_video_line(
        archived.signed_url, archived.signed_url_expires_at, config.telegram_timezone
    )


def _download(url: str, max_bytes: int, timeout_s: float) -> bytes | None:
    """The file at `url`, or None when it is larger than `max_bytes`."""
    try:
        with requests.get(url, stream=True, timeout=timeout_s) as response:
            if response.status_code in _GONE_STATUSES:
                raise MediaGoneError(
                    f"the media link answers {response.status_code} (expired)"
                )
            if response.status_code != 200:
                raise RetryableError(
                    f"the media server answered {response.status_code} for the "
                    "story's media; Pub/Sub will redeliver"
                )
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                return None
            return _read_at_most(response, max_bytes)
    except requests.RequestException as error:
        raise RetryableError(
            f"downloading the story's media failed ({type(error).__name__}); "
            "Pub/Sub will redeliver"
        ) from None


def _read_at_most(response: requests.Response, max_bytes: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
