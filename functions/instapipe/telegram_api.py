"""The one wrapper around pyTelegramBotAPI: it sends requests and translates errors.

pyTelegramBotAPI keeps its base URL and retry switches as module globals; they are set
here, and only here, from the settings. Its own retries stay off: they would resend an
upload Telegram may already have accepted and ignore a 429's `retry_after`. Every
failure leaves this module as one of the exceptions below, which say whether Telegram
certainly did not post the message (everything but `AmbiguousSendError`).

Request URLs embed the bot token, so neither URLs nor the text of `requests` errors are
ever put into a message or a log line.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import requests
import telebot.apihelper as apihelper
from urllib3.exceptions import NewConnectionError

from instapipe.config import Secret
from instapipe.errors import PermanentError, RetryableError

PARSE_MODE = "HTML"
_library_lock = threading.Lock()
_configured_url: str | None = None

# Descriptions (lower case) after which sending the same media as a document may work.
_PHOTO_REJECTIONS = (
    "photo_invalid_dimensions",
    "photo_save_file_invalid",
    "image_process_failed",
    "file is too big",
)
_MIGRATED = "migrate_to_chat_id"
_MAX_ERROR_DEPTH = 8


@dataclass(frozen=True)
class Upload:
    """A file sent in the request body."""

    name: str
    body: bytes
    content_type: str


class FloodWaitError(RetryableError):
    """Telegram answered 429: nothing was posted; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            f"Telegram asks to wait {retry_after_s:g} s before the next message "
            "to this chat (429 Too Many Requests)"
        )
        self.retry_after_s = retry_after_s


class ChatMigratedError(PermanentError):
    """The group became a supergroup with a new id; nothing was posted."""

    def __init__(self, new_chat_id: str) -> None:
        super().__init__(f"the group was upgraded to supergroup {new_chat_id}")
        self.new_chat_id = new_chat_id


class MediaRejectedError(PermanentError):
    """Telegram refused the file as a photo; it may still go as a document."""


class AmbiguousSendError(RetryableError):
    """The request was sent but no answer came: Telegram may or may not have posted."""


class BotApi:
    """Sends messages to one bot's chats through the Bot API at `base_url`."""

    def __init__(self, token: Secret, base_url: str) -> None:
        self._token = token
        _point_library_at(base_url)

    def send_photo(
        self, chat_id: str, photo: Upload, caption: str, silent: bool, timeout_s: float
    ) -> int:
        return self._call(
            apihelper.send_photo,
            chat_id,
            _as_file(photo),
            caption=caption,
            parse_mode=PARSE_MODE,
            disable_notification=silent,
            timeout=timeout_s,
        )

    def send_video(
        self,
        chat_id: str,
        video: Upload,
        caption: str,
        silent: bool,
        timeout_s: float,
        width: int | None = None,
        height: int | None = None,
        duration_s: float | None = None,
    ) -> int:
        return self._call(
            apihelper.send_video,
            chat_id,
            _as_file(video),
            duration=None if duration_s is None else max(1, round(duration_s)),
            width=width,
            height=height,
            supports_streaming=True,
            caption=caption,
            parse_mode=PARSE_MODE,
            disable_notification=silent,
            timeout=timeout_s,
        )

    def send_document(
        self,
        chat_id: str,
        document: Upload,
        caption: str,
        silent: bool,
        timeout_s: float,
    ) -> int:
        return self._call(
            apihelper.send_data,
            chat_id,
            _as_file(document),
            "document",
            caption=caption,
            parse_mode=PARSE_MODE,
            disable_notification=silent,
            timeout=timeout_s,
        )

    def send_text(
        self,
        chat_id: str,
        text: str,
        silent: bool,
        timeout_s: float,
        html: bool = True,
    ) -> int:
        return self._call(
            apihelper.send_message,
            chat_id,
            text,
            parse_mode=PARSE_MODE if html else None,
            disable_notification=silent,
            timeout=timeout_s,
        )

    def _call(self, send: Any, chat_id: str, *args: Any, **kwargs: Any) -> int:
        try:
            result = send(self._token.reveal(), chat_id, *args, **kwargs)
        except apihelper.ApiTelegramException as error:
            raise _translate(error, chat_id) from None
        except apihelper.ApiException as error:
            raise _http_error(error) from None
        except requests.RequestException as error:
            raise _transport_error(error) from None
        return int(result["message_id"])


def _point_library_at(base_url: str) -> None:
    global _configured_url
    with _library_lock:
        if _configured_url == base_url:
            return
        # Typed as None in the library, though a format string is what it reads.
        setattr(apihelper, "API_URL", base_url + "/bot{0}/{1}")  # noqa: B010
        setattr(apihelper, "FILE_URL", base_url + "/file/bot{0}/{1}")  # noqa: B010
        apihelper.RETRY_ON_ERROR = False
        apihelper.CUSTOM_REQUEST_SENDER = None
        apihelper.proxy = None
        _configured_url = base_url


def _as_file(upload: Upload) -> tuple[str, bytes, str]:
    return (upload.name, upload.body, upload.content_type)


def _translate(error: Any, chat_id: str) -> Exception:
    code = int(error.error_code)
    description = str(error.description)
    parameters = (error.result_json or {}).get("parameters") or {}
    lowered = description.lower()
    if code == 429:
        return FloodWaitError(float(parameters.get("retry_after", 1)))
    if _MIGRATED in parameters:
        return ChatMigratedError(str(parameters[_MIGRATED]))
    if code == 401:
        return PermanentError(
            "Telegram does not accept TELEGRAM_BOT_TOKEN (401 Unauthorized): copy the "
            "token again from @BotFather and update the secret"
        )
    if code == 403 or "chat not found" in lowered or "rights" in lowered:
        return PermanentError(_owner_action(chat_id, code, description))
    if code == 400 and any(reason in lowered for reason in _PHOTO_REJECTIONS):
        return MediaRejectedError(f"Telegram refused the photo: {description}")
    if code >= 500:
        return RetryableError(f"Telegram answered {code} {description}; try again")
    return PermanentError(f"Telegram refused the message: {code} {description}")


def _owner_action(chat_id: str, code: int, description: str) -> str:
    return (
        f"Telegram cannot post to chat {chat_id} ({code} {description}): check that "
        "TELEGRAM_CHAT_ID is the id of the group or channel, that the bot is still a "
        "member (an administrator allowed to post, for a channel) and that nobody "
        "blocked it; stories given up meanwhile stay in the archive"
    )


def _http_error(error: Any) -> Exception:
    status = getattr(getattr(error, "result", None), "status_code", 0) or 0
    if status == 413:
        return MediaRejectedError("Telegram refused the upload as too large (413)")
    return RetryableError(
        f"Telegram answered HTTP {status} without a Bot API body; try again"
    )


def _transport_error(error: requests.RequestException) -> Exception:
    what = type(error).__name__
    if isinstance(error, requests.ConnectTimeout) or _never_connected(error):
        return RetryableError(f"could not reach the Bot API ({what}); nothing was sent")
    return AmbiguousSendError(
        f"the Bot API did not answer after the request was sent ({what}): Telegram "
        "may have posted the message"
    )


def _never_connected(error: BaseException) -> bool:
    """True when `requests` wraps a refused or failed connection, sent nothing."""
    seen: BaseException | None = error
    for _ in range(_MAX_ERROR_DEPTH):
        if seen is None:
            return False
        reason = getattr(seen, "reason", None)
        if isinstance(seen, NewConnectionError) or isinstance(
            reason, NewConnectionError
        ):
            return True
        nested = seen.args[0] if seen.args else None
        seen = nested if isinstance(nested, BaseException) else seen.__context__
    return False
