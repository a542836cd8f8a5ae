"""Settings: every environment variable instapipe reads, validated once at cold start.

Each setting has one name, used alike for the environment variable, the Terraform
variable (lower case) and the log field. A missing or malformed value raises
`ConfigError` naming the variable and saying what a valid value looks like.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from instapipe import logs
from instapipe.errors import ConfigError
from instapipe.story import SourceName

T = TypeVar("T")

SOURCES: tuple[SourceName, ...] = ("private", "graph")

DEFAULT_INSTAGRAM_API_URL = "https://i.instagram.com/api/v1"
DEFAULT_INSTAGRAM_GRAPH_URL = "https://graph.facebook.com/v21.0"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_STORIES_TOPIC = "instapipe-stories"
DEFAULT_MEDIA_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_SIGNED_URL_TTL_S = 24 * 60 * 60
# V4 signed URLs cannot live longer than this.
MAX_SIGNED_URL_TTL_S = 7 * 24 * 60 * 60

_USER_ID = re.compile(r"[0-9]{1,20}")
_CHAT_ID = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}")
# Pub/Sub's own rule for topic ids.
_TOPIC_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")
# Cloud Storage's rule for bucket names without dots.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9\-_.]{1,61}[a-z0-9]")
_PROJECT_ID = re.compile(r"[a-z][a-z0-9\-]{4,28}[a-z0-9]")
_QUIET_HOURS = re.compile(r"([01]?[0-9]|2[0-3])-([01]?[0-9]|2[0-3])")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Secret:
    """A value that must never reach a log line, a repr or an error message."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        logs.register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('[redacted]')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class QuietHours:
    """Local hours [start_hour, end_hour) in which posts go out without sound."""

    start_hour: int
    end_hour: int

    def contains(self, hour: int) -> bool:
        if self.start_hour <= self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


@dataclass(frozen=True)
class Settings:
    google_cloud_project: str
    instagram_user_ids: tuple[str, ...]
    media_bucket: str
    instagram_source: SourceName = "private"
    instagram_sessionid: Secret | None = field(default=None, repr=False)
    instagram_access_token: Secret | None = field(default=None, repr=False)
    instagram_api_url: str = DEFAULT_INSTAGRAM_API_URL
    instagram_graph_url: str = DEFAULT_INSTAGRAM_GRAPH_URL
    instagram_timeout_s: float = 10.0
    telegram_bot_token: Secret | None = field(default=None, repr=False)
    telegram_chat_id: str | None = None
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    telegram_timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    telegram_quiet_hours: QuietHours | None = None
    telegram_link_instagram: bool = False
    telegram_timeout_s: float = 60.0
    stories_topic: str = DEFAULT_STORIES_TOPIC
    media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES
    media_timeout_s: float = 30.0
    signed_url_ttl_s: int = DEFAULT_SIGNED_URL_TTL_S
    api_cache_s: float = 30.0
    api_count_opens: bool = False
    # Fetching: batching, in-tick retries, rate-limit back-off, Graph token refresh.
    instagram_batch_size: int = 50
    instagram_attempts: int = 3
    instagram_retry_base_s: float = 1.0
    instagram_rate_limit_backoff_s: int = 3600
    instagram_token_refresh: bool | None = None
    # Archiving: how often a media download is tried, and the first wait between tries.
    media_attempts: int = 3
    media_backoff_s: float = 2.0
    # Telegram delivery: messages a minute the chat's shared budget allows (Telegram
    # asks for about 20 in a group).
    telegram_max_per_minute: int = 20

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    def instagram_credential(self) -> Secret:
        """The secret the configured source needs; raises naming it when unset."""
        if self.instagram_source == "graph":
            return _required_secret(
                self.instagram_access_token,
                "INSTAGRAM_ACCESS_TOKEN",
                "a long-lived Graph API access token (INSTAGRAM_SOURCE=graph)",
            )
        return _required_secret(
            self.instagram_sessionid,
            "INSTAGRAM_SESSIONID",
            "the sessionid cookie of a logged-in Instagram session",
        )


def _required_secret(value: Secret | None, name: str, expected: str) -> Secret:
    if value is None:
        raise ConfigError(f"{name} is not set: expected {expected}")
    return value


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Reads and validates every setting from `env` (the process environment)."""
    env = os.environ if env is None else env
    reader = _Reader(env)
    settings = Settings(
        google_cloud_project=reader.required(
            "GOOGLE_CLOUD_PROJECT", _pattern(_PROJECT_ID, "a GCP project id")
        ),
        instagram_user_ids=reader.required("INSTAGRAM_USER_IDS", _user_ids),
        media_bucket=reader.required(
            "MEDIA_BUCKET", _pattern(_BUCKET, "a Cloud Storage bucket name")
        ),
        instagram_source=reader.optional("INSTAGRAM_SOURCE", _source, "private"),
        instagram_sessionid=reader.secret("INSTAGRAM_SESSIONID"),
        instagram_access_token=reader.secret("INSTAGRAM_ACCESS_TOKEN"),
        instagram_api_url=reader.optional(
            "INSTAGRAM_API_URL", _base_url, DEFAULT_INSTAGRAM_API_URL
        ),
        instagram_graph_url=reader.optional(
            "INSTAGRAM_GRAPH_URL", _base_url, DEFAULT_INSTAGRAM_GRAPH_URL
        ),
        instagram_timeout_s=reader.optional(
            "INSTAGRAM_TIMEOUT_S", _positive(float, 300), 10.0
        ),
        telegram_bot_token=reader.secret("TELEGRAM_BOT_TOKEN"),
        telegram_chat_id=reader.optional(
            "TELEGRAM_CHAT_ID",
            _pattern(_CHAT_ID, "a numeric chat id such as -1001234567890 or @channel"),
            None,
        ),
        telegram_api_url=reader.optional(
            "TELEGRAM_API_URL", _base_url, DEFAULT_TELEGRAM_API_URL
        ),
        telegram_timezone=reader.optional(
            "TELEGRAM_TIMEZONE", _timezone, ZoneInfo("UTC")
        ),
        telegram_quiet_hours=reader.optional(
            "TELEGRAM_QUIET_HOURS", _quiet_hours, None
        ),
        telegram_link_instagram=reader.optional(
            "TELEGRAM_LINK_INSTAGRAM", _boolean, False
        ),
        telegram_timeout_s=reader.optional(
            "TELEGRAM_TIMEOUT_S", _positive(float, 540), 60.0
        ),
        stories_topic=reader.optional(
            "STORIES_TOPIC",
            _pattern(_TOPIC_ID, "a Pub/Sub topic id"),
            DEFAULT_STORIES_TOPIC,
        ),
        media_max_bytes=reader.optional(
            "MEDIA_MAX_BYTES", _positive(int, 5 * 1024**3), DEFAULT_MEDIA_MAX_BYTES
        ),
        media_timeout_s=reader.optional("MEDIA_TIMEOUT_S", _positive(float, 540), 30.0),
        signed_url_ttl_s=reader.optional(
            "SIGNED_URL_TTL_S",
            _positive(int, MAX_SIGNED_URL_TTL_S),
            DEFAULT_SIGNED_URL_TTL_S,
        ),
        api_cache_s=reader.optional("API_CACHE_S", _positive(float, 3600), 30.0),
        api_count_opens=reader.optional("API_COUNT_OPENS", _boolean, False),
        # Fetching.
        instagram_batch_size=reader.optional(
            "INSTAGRAM_BATCH_SIZE", _positive(int, 100), 50
        ),
        instagram_attempts=reader.optional("INSTAGRAM_ATTEMPTS", _positive(int, 10), 3),
        instagram_retry_base_s=reader.optional(
            "INSTAGRAM_RETRY_BASE_S", _positive(float, 60), 1.0
        ),
        instagram_rate_limit_backoff_s=reader.optional(
            "INSTAGRAM_RATE_LIMIT_BACKOFF_S", _positive(int, 7 * 24 * 60 * 60), 3600
        ),
        instagram_token_refresh=reader.optional(
            "INSTAGRAM_TOKEN_REFRESH", _boolean, None
        ),
        # Archiving.
        media_attempts=reader.optional("MEDIA_ATTEMPTS", _positive(int, 10), 3),
        media_backoff_s=reader.optional("MEDIA_BACKOFF_S", _positive(float, 60), 2.0),
        # Telegram delivery.
        telegram_max_per_minute=reader.optional(
            "TELEGRAM_MAX_PER_MINUTE",
            _positive(int, 1000),
            20,
        ),
    )
    if settings.telegram_enabled and settings.telegram_chat_id is None:
        raise ConfigError(
            "TELEGRAM_CHAT_ID is not set but TELEGRAM_BOT_TOKEN is: expected the id of "
            "the group or channel to post into, such as -1001234567890"
        )
    return settings


@cache
def settings() -> Settings:
    """The process's settings, read on first use and kept for its lifetime."""
    return load()


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def required(self, name: str, parse: Callable[[str], T]) -> T:
        raw = self._env.get(name, "").strip()
        if not raw:
            raise ConfigError(f"{name} is not set: expected {_describe(parse)}")
        return self._parse(name, raw, parse)

    def optional(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self._env.get(name, "").strip()
        return self._parse(name, raw, parse) if raw else default

    def secret(self, name: str) -> Secret | None:
        raw = self._env.get(name, "").strip()
        return Secret(raw) if raw else None

    @staticmethod
    def _parse(name: str, raw: str, parse: Callable[[str], T]) -> T:
        try:
            return parse(raw)
        except ValueError as error:
            raise ConfigError(
                f"{name}={raw!r} is not valid: expected {error}"
            ) from None


def _describe(parse: Callable[[str], object]) -> str:
    return getattr(parse, "expected", "a value")


def _expects(expected: str) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    def mark(parse: Callable[[str], T]) -> Callable[[str], T]:
        parse.expected = expected  # type: ignore[attr-defined]
        return parse

    return mark


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str], str]:
    @_expects(what)
    def parse(raw: str) -> str:
        if not regex.fullmatch(raw):
            raise ValueError(what)
        return raw

    return parse


@_expects("comma-separated numeric Instagram user ids, such as 1234567,7654321")
def _user_ids(raw: str) -> tuple[str, ...]:
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids or not all(_USER_ID.fullmatch(user_id) for user_id in ids):
        raise ValueError(_describe(_user_ids))
    return tuple(dict.fromkeys(ids))


@_expects("'private' or 'graph'")
def _source(raw: str) -> SourceName:
    for source in SOURCES:
        if raw == source:
            return source
    raise ValueError(_describe(_source))


@_expects("an http(s) URL such as https://api.example.com/v1")
def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(_describe(_base_url))
    return raw.rstrip("/")


@_expects("an IANA time zone such as Europe/Berlin")
def _timezone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(_describe(_timezone)) from None


@_expects("local hours as START-END, such as 22-7")
def _quiet_hours(raw: str) -> QuietHours:
    match = _QUIET_HOURS.fullmatch(raw)
    if not match or match[1] == match[2]:
        raise ValueError(_describe(_quiet_hours))
    return QuietHours(int(match[1]), int(match[2]))


@_expects("true or false")
def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(_describe(_boolean))


def _positive(kind: Callable[[str], T], maximum: float) -> Callable[[str], T]:
    what = f"a positive {getattr(kind, '__name__', 'number')} of at most {maximum:g}"

    @_expects(what)
    def parse(raw: str) -> T:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(what) from None
        if not 0 < value <= maximum:  # type: ignore[operator]
            raise ValueError(what)
        return value

    return parse
