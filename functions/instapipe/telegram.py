"""Telegram delivery: every new story posted once into the owner's chat, and alerts.

One delivery: skip a story the ledger already has as sent; download the media and
decide how it fits Telegram (photo, video, document, or a cover photo with a link);
claim the ledger entry; take a slot in the chat's shared budget; send; record the
message id. What happens on each failure is in `docs/telegram.md`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime

import requests

from instapipe import captions, chat_budget, deliveries, logs, store
from instapipe.config import Settings, settings
from instapipe.errors import PermanentError, RetryableError
from instapipe.store import ArchivedStory
from instapipe.story import Story
from instapipe.telegram_api import (
    AmbiguousSendError,
    BotApi,
    ChatMigratedError,
    FloodWaitError,
    MediaRejectedError,
    Upload,
)

log = logs.get(__name__)

# Bot API limits for multipart uploads.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PHOTO_SIDES_SUM = 10_000
MAX_PHOTO_RATIO = 20
# Time to write the ledger after the last request, on top of the attempt's own budget.
LEASE_MARGIN_S = 30.0
DOWNLOAD_CHUNK_BYTES = 256 * 1024

_off_lock = threading.Lock()
_said_off = False


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


@dataclass(frozen=True)
class _Sent:
    message_id: int
    chat_id: str
    kind: str
    silent: bool


def deliver(story: Story) -> None:
    """Posts `story` to TELEGRAM_CHAT_ID once; raises RetryableError to be retried."""
    config = settings()
    if config.telegram_bot_token is None or config.telegram_chat_id is None:
        _say_off_once()
        return
    chat_id = config.telegram_chat_id
    earlier = deliveries.delivered(chat_id, story.id)
    if earlier is not None:
        _log_already_posted(story, earlier)
        return

    post = _prepare(story, config)
    api = BotApi(config.telegram_bot_token, config.telegram_api_url)
    claimed_at = time.time()
    claim = deliveries.claim(
        chat_id,
        story.id,
        lease_s=2 * config.telegram_timeout_s + LEASE_MARGIN_S,
        now=claimed_at,
        fields={"user_id": story.user_id, "story_timestamp": story.timestamp},
    )
    if isinstance(claim, deliveries.Delivered):
        _log_already_posted(story, claim)
        return
    _warn_if_retaken(story, claim)
    _warn_if_out_of_order(story, chat_id)

    sent = _send_claimed(api, chat_id, post, claimed_at, config, story, claim)
    _record(story, claim, sent)


def send_alert(text: str) -> None:
    """Posts a plain-text notice to the owner's chat; nothing when Telegram is off.

    Alerts keep no ledger but share the chat's budget. Raises RetryableError when
    Telegram cannot take it now and PermanentError when it never will.
    """
    config = settings()
    if config.telegram_bot_token is None or config.telegram_chat_id is None:
        return
    api = BotApi(config.telegram_bot_token, config.telegram_api_url)
    post = Post(kind="text", caption=text, html=False)
    sent = _send(api, config.telegram_chat_id, post, time.time(), config)
    log.info("alert posted", chat_id=sent.chat_id, message_id=sent.message_id)


def _send_claimed(
    api: BotApi,
    chat_id: str,
    post: Post,
    claimed_at: float,
    config: Settings,
    story: Story,
    claim: deliveries.Claim,
) -> _Sent:
    try:
        return _send(api, chat_id, post, claimed_at, config)
    except AmbiguousSendError as error:
        deliveries.release(claim, deliveries.UNCERTAIN, str(error), time.time())
        log.warning(
            "no answer after sending; the next attempt sends again and the chat may "
            "show the story twice",
            chat_id=chat_id,
            error=str(error),
            **story.log_fields(),
        )
        raise
    except PermanentError as error:
        deliveries.release(claim, deliveries.FAILED, str(error), time.time())
        raise
    except BaseException as error:
        deliveries.release(claim, deliveries.RELEASED, str(error), time.time())
        raise


def _send(
    api: BotApi, chat_id: str, post: Post, started: float, config: Settings
) -> _Sent:
    """Sends `post`, waiting for the chat's budget and 429s while that fits the time."""
    wait_deadline = started + config.telegram_timeout_s
    send_deadline = started + 2 * config.telegram_timeout_s
    while True:
        now = time.time()
        slot = chat_budget.reserve(
            chat_id, now, wait_deadline, config.telegram_max_per_minute
        )
        target = slot.migrated_to or chat_id
        time.sleep(max(0.0, slot.at - time.time()))
        silent = _quiet_now(config)
        timeout_s = max(
            1.0, min(config.telegram_timeout_s, send_deadline - time.time())
        )
        try:
            message_id = post.send(api, target, silent, timeout_s)
        except FloodWaitError as error:
            _hold_off(chat_id, error, wait_deadline)
            continue
        except ChatMigratedError as error:
            _follow_migration(chat_id, target, error)
            continue
        except MediaRejectedError as error:
            post = _fall_back(post, error)
            continue
        return _Sent(message_id, target, post.kind, silent)


def _hold_off(chat_id: str, error: FloodWaitError, wait_deadline: float) -> None:
    until = time.time() + error.retry_after_s
    chat_budget.hold_off(chat_id, until)
    if until > wait_deadline:
        raise error
    log.info("waiting as Telegram asked", chat_id=chat_id, wait_s=error.retry_after_s)


def _follow_migration(chat_id: str, target: str, error: ChatMigratedError) -> None:
    if error.new_chat_id == target:
        raise PermanentError(
            f"Telegram keeps naming {target} as the new id of chat {chat_id}: set "
            f"TELEGRAM_CHAT_ID={error.new_chat_id} and check the bot is in that group"
        )
    chat_budget.remember_migration(chat_id, error.new_chat_id)
    log.warning(
        "the group became a supergroup: posting there; set TELEGRAM_CHAT_ID to its id",
        chat_id=chat_id,
        new_chat_id=error.new_chat_id,
    )


def _fall_back(post: Post, error: MediaRejectedError) -> Post:
    if post.fallback is None:
        raise error
    log.warning(
        "Telegram refused the photo; sending it as a document",
        error=str(error),
        kind=post.fallback.kind,
    )
    return post.fallback


def _quiet_now(config: Settings) -> bool:
    if config.telegram_quiet_hours is None:
        return False
    hour = datetime.now(config.telegram_timezone).hour
    return config.telegram_quiet_hours.contains(hour)


def _record(story: Story, claim: deliveries.Claim, sent: _Sent) -> None:
    earlier = deliveries.record_sent(
        claim, sent.message_id, sent.chat_id, sent.kind, time.time()
    )
    if earlier is not None:
        log.warning(
            "story posted twice: another attempt had posted it already",
            chat_id=sent.chat_id,
            message_id=sent.message_id,
            earlier_message_id=earlier.message_id,
            **story.log_fields(),
        )
        return
    _remember_latest(story, claim.chat_id)
    log.info(
        "story posted",
        chat_id=sent.chat_id,
        message_id=sent.message_id,
        kind=sent.kind,
        silent=sent.silent,
        attempt=claim.attempt,
        **story.log_fields(),
    )


def _log_already_posted(story: Story, earlier: deliveries.Delivered) -> None:
    log.info(
        "story already posted; acknowledged without sending",
        chat_id=earlier.sent_chat_id,
        message_id=earlier.message_id,
        **story.log_fields(),
    )


def _warn_if_retaken(story: Story, claim: deliveries.Claim) -> None:
    if claim.previous_state == deliveries.SENDING:
        log.warning(
            "an earlier attempt's lease ran out; sending again (it may have posted "
            "before it died)",
            attempt=claim.attempt,
            **story.log_fields(),
        )


def _warn_if_out_of_order(story: Story, chat_id: str) -> None:
    snapshot = store.telegram_account_ref(chat_id, story.user_id).get()
    latest = (snapshot.to_dict() or {}) if snapshot.exists else {}
    if story.timestamp < int(latest.get("timestamp", 0)):
        log.warning(
            "story arrives after a newer one of the same account; posting it with "
            "its own time in the caption",
            newer_story_id=latest.get("story_id"),
            **story.log_fields(),
        )


def _remember_latest(story: Story, chat_id: str) -> None:
    ref = store.telegram_account_ref(chat_id, story.user_id)
    snapshot = ref.get()
    latest = (snapshot.to_dict() or {}) if snapshot.exists else {}
    if story.timestamp >= int(latest.get("timestamp", 0)):
        ref.set({"timestamp": story.timestamp, "story_id": story.id})


def _say_off_once() -> None:
    global _said_off
    with _off_lock:
        if _said_off:
            return
        _said_off = True
    log.info("Telegram delivery is off: TELEGRAM_BOT_TOKEN is not set")


# Deciding what to send.


def _prepare(story: Story, config: Settings) -> Post:
    if story.is_video and story.media_is_cover:
        note = "Instagram does not hand out this video; its cover is shown."
        return _photo_post(
            story, story.media_url, _caption(story, config, note), config
        )
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
    line = _archived_video_line(story, config)
    if story.cover_url is None:
        return Post(kind="text", caption=_caption(story, config, line))
    post = _photo_post(story, story.cover_url, _caption(story, config, line), config)
    return replace(post, kind="cover" if post.kind == "photo" else post.kind)


def _photo_post(story: Story, url: str, caption: str, config: Settings) -> Post:
    body = _download(url, MAX_FILE_BYTES, config.media_timeout_s)
    if body is None:
        line = captions.link(captions.instagram_url(story), "Open the photo")
        return Post(kind="text", caption=f"{caption}\n{line}")
    document = Post(
        kind="document",
        caption=caption,
        upload=Upload(f"{story.id}.jpg", body, "image/jpeg"),
    )
    if len(body) > MAX_PHOTO_BYTES or not _fits_photo(story.width, story.height):
        return document
    photo_upload = Upload(f"{story.id}.jpg", body, "image/jpeg")
    return Post(kind="photo", caption=caption, upload=photo_upload, fallback=document)


def _fits_photo(width: int | None, height: int | None) -> bool:
    if not width or not height:
        return True
    ratio = max(width, height) / min(width, height)
    return width + height <= MAX_PHOTO_SIDES_SUM and ratio <= MAX_PHOTO_RATIO


def _archived_video_line(story: Story, config: Settings) -> str:
    snapshot = store.story_ref(story.user_id, story.id).get()
    if snapshot.exists:
        archived = ArchivedStory.from_document(snapshot.to_dict() or {})
        if archived.signed_url_expires_at > time.time():
            return captions.archived_video_line(
                archived.signed_url,
                archived.signed_url_expires_at,
                config.telegram_timezone,
            )
    # The archive runs in parallel and may not have stored the video yet.
    return captions.instagram_video_line(story)


def _download(url: str, max_bytes: int, timeout_s: float) -> bytes | None:
    """The file at `url`, or None when it is larger than `max_bytes`."""
    try:
        with requests.get(url, stream=True, timeout=timeout_s) as response:
            if response.status_code != 200:
                raise RetryableError(
                    f"the media server answered {response.status_code} for the story's "
                    "media; Pub/Sub will redeliver"
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
