"""Where stories come from: one interface over Instagram's private API and Graph API.

A source turns a list of account ids into one `Tray` per account: the account's live
stories as normalized `Story` objects, how many items could not be read, or the error
that kept the account from being read. Every failure is classified here, once, at the
boundary: the rest of instapipe sees only the four `SourceError` kinds below.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import requests

from instapipe import logs, telegram
from instapipe.config import Settings
from instapipe.errors import InstapipeError
from instapipe.story import Story

T = TypeVar("T")
log = logs.get(__name__)


class SourceError(InstapipeError):
    """Instagram could not be read for an account; `kind` names why."""

    kind = "error"


class SessionDeadError(SourceError):
    """The cookie or token no longer works: only the owner can fix it."""

    kind = "session_dead"


class RateLimitedError(SourceError):
    """Instagram asked us to slow down: stay away for a long while."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TransientError(SourceError):
    """A 5xx, a timeout or a dropped connection: worth another try soon."""

    kind = "transient"


class MalformedError(SourceError):
    """The answer was not JSON or not the shape expected."""

    kind = "malformed"


class UnreadableItemError(ValueError):
    """One tray item lacks what a story needs; the rest of the tray goes on."""


@dataclass
class Tray:
    """What one account shows right now, or why it could not be read."""

    user_id: str
    stories: list[Story] = field(default_factory=list)
    skipped: int = 0
    error: SourceError | None = None


class Source(Protocol):
    def fetch(self, user_ids: Sequence[str]) -> Iterator[Tray]:
        """Yields one tray per id in `user_ids`."""
        ...


def alert_owner(settings: Settings, text: str) -> None:
    """Tells the owner in their Telegram chat, when Telegram is configured.

    An alert that cannot be sent must not fail the tick that noticed the trouble:
    the ERROR log line already records it.
    """
    if not settings.telegram_enabled:
        return
    try:
        telegram.send_alert(text)
    except InstapipeError as error:
        log.warning("owner alert not sent", error=f"{type(error).__name__}: {error}")


def batches(user_ids: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(user_ids), size):
        yield list(user_ids[start : start + size])


def open_source(settings: Settings) -> Source:
    """The source the settings name, with its credential checked."""
    credential = settings.instagram_credential()
    if settings.instagram_source == "graph":
        from instapipe.sources.graph import GraphSource

        return GraphSource(settings, credential)
    from instapipe.sources.private import PrivateSource

    return PrivateSource(settings, credential)


def with_retries(settings: Settings, call: Callable[[], T], what: str) -> T:
    """Runs `call`, retrying transient errors with full-jitter exponential backoff.

    Only transient errors are retried within a tick: a rate limit or a dead session
    would only get worse with a tight loop.
    """
    attempts = settings.instagram_attempts
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientError as error:
            if attempt == attempts:
                raise
            delay_s = random.uniform(0, settings.instagram_retry_base_s * 2**attempt)
            log.warning(
                "instagram request failed, retrying",
                what=what,
                attempt=attempt,
                delay_s=round(delay_s, 3),
                error=str(error),
            )
            time.sleep(delay_s)
    raise AssertionError("unreachable: the loop returns or raises")


def send(
    session: requests.Session,
    method: str,
    url: str,
    timeout_s: float,
    **kwargs: Any,
) -> requests.Response:
    """One HTTP request; connection trouble becomes a `TransientError`.

    Redirects are never followed: Instagram answers a dead session with a redirect
    to its login or challenge page, which only the caller can recognise.
    """
    try:
        return session.request(
            method, url, timeout=timeout_s, allow_redirects=False, **kwargs
        )
    except requests.Timeout:
        raise TransientError(
            f"no answer within INSTAGRAM_TIMEOUT_S={timeout_s:g}s"
        ) from None
    except requests.ConnectionError as error:
        raise TransientError(
            f"connection failed: {type(error).__name__}; "
            "Instagram may be down or unreachable"
        ) from None
    except requests.RequestException as error:
        raise TransientError(f"request failed: {type(error).__name__}") from None
