"""Telegram delivery: every new story posted once into the owner's chat, and alerts.

One delivery: skip a story the ledger already has as sent; prepare the message
(`telegram_posts`); claim the ledger entry (`telegram_ledger`); take a slot in the
chat's shared budget (`telegram_budget`); send (`telegram_api`); record the message
id. What happens on each failure is in `docs/telegram.md`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from instapipe import logs, store, telegram_budget, telegram_ledger
from instapipe.config import Settings, settings
from instapipe.errors import PermanentError
from instapipe.story import Story
from instapipe.telegram_api import (
    AmbiguousSendError,
    BotApi,
    ChatMigratedError,
    FloodWaitError,
    MediaRejectedError,
)
from instapipe.telegram_posts import Post, prepare

log = logs.get(__name__)

# Time to write the ledger after the last request, on top of the attempt's own budget.
LEASE_MARGIN_S = 30.0

_off_lock = threading.Lock()
_said_off = False


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
    earlier = telegram_ledger.delivered(chat_id, story.id)
    if earlier is not None:
        _log_already_posted(story, earlier)
        return

    post = prepare(story, config)
    api = BotApi(config.telegram_bot_token, config.telegram_api_url)
    claimed_at = time.time()
    claim = telegram_ledger.claim(
        chat_id,
        story.id,
        lease_s=2 * config.telegram_timeout_s + LEASE_MARGIN_S,
        now=claimed_at,
        fields={"user_id": story.user_id, "story_timestamp": story.timestamp},
    )
    if isinstance(claim, telegram_ledger.Delivered):
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
    claim: telegram_ledger.Claim,
) -> _Sent:
    try:
        return _send(api, chat_id, post, claimed_at, config)
    except AmbiguousSendError as error:
        telegram_ledger.release(
            claim, telegram_ledger.UNCERTAIN, str(error), time.time()
        )
        log.warning(
            "no answer after sending; the next attempt sends again and the chat may "
            "show the story twice",
            chat_id=chat_id,
            error=str(error),
            **story.log_fields(),
        )
        raise
    except PermanentError as error:
        telegram_ledger.release(claim, telegram_ledger.FAILED, str(error), time.time())
        raise
    except BaseException as error:
        telegram_ledger.release(
            claim, telegram_ledger.RELEASED, str(error), time.time()
        )
        raise


def _send(
    api: BotApi, chat_id: str, post: Post, started: float, config: Settings
) -> _Sent:
    """Sends `post`, waiting for the chat's budget and 429s while that fits the time."""
    wait_deadline = started + config.telegram_timeout_s
    send_deadline = started + 2 * config.telegram_timeout_s
    while True:
        now = time.time()
        slot = telegram_budget.reserve(
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
    telegram_budget.hold_off(chat_id, until)
    if until > wait_deadline:
        raise error
    log.info("waiting as Telegram asked", chat_id=chat_id, wait_s=error.retry_after_s)


def _follow_migration(chat_id: str, target: str, error: ChatMigratedError) -> None:
    if error.new_chat_id == target:
        raise PermanentError(
            f"Telegram keeps naming {target} as the new id of chat {chat_id}: set "
            f"TELEGRAM_CHAT_ID={error.new_chat_id} and check the bot is in that group"
        )
    telegram_budget.remember_migration(chat_id, error.new_chat_id)
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


def _record(story: Story, claim: telegram_ledger.Claim, sent: _Sent) -> None:
    earlier = telegram_ledger.record_sent(
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


def _log_already_posted(story: Story, earlier: telegram_ledger.Delivered) -> None:
    log.info(
        "story already posted; acknowledged without sending",
        chat_id=earlier.sent_chat_id,
        message_id=earlier.message_id,
        **story.log_fields(),
    )


def _warn_if_retaken(story: Story, claim: telegram_ledger.Claim) -> None:
    if claim.previous_state == telegram_ledger.SENDING:
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
