"""The normalized story, whichever source produced it, and its Pub/Sub message.

The message body is versioned JSON: `{"version": 1, "story": {...}}`. A body that is not
JSON, has an unknown version or lacks a field raises `MessageError`, a permanent error,
so a poison message is acknowledged once instead of looping forever.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from instapipe.errors import MessageError

MESSAGE_VERSION = 1
# How long Instagram shows a story after it was posted.
STORY_LIFETIME_S = 24 * 60 * 60
SourceName = Literal["private", "graph"]
_SOURCES = ("private", "graph")


@dataclass(frozen=True)
class Location:
    name: str
    lat: float | None = None
    lng: float | None = None


@dataclass(frozen=True)
class Story:
    """One story as instapipe keeps it; `id` is Instagram's media id."""

    id: str
    user_id: str
    username: str
    timestamp: int
    expires_at: int
    is_video: bool
    media_url: str
    source: SourceName
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    location: Location | None = None
    cover_url: str | None = None
    # True when media_url is only a cover image standing in for a video that the
    # source would not hand out (Graph API videos with licensed music).
    media_is_cover: bool = False
    permalink: str | None = None

    def attributes(self) -> dict[str, str]:
        """The Pub/Sub message attributes: what a subscriber filters or logs by."""
        return {"user_id": self.user_id, "story_id": self.id}

    def log_fields(self) -> dict[str, str]:
        return {"user_id": self.user_id, "story_id": self.id}


def encode(story: Story) -> bytes:
    body = {"version": MESSAGE_VERSION, "story": asdict(story)}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode(data: bytes) -> Story:
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MessageError(f"message body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise MessageError(f"message body is a {type(body).__name__}, expected object")
    version = body.get("version")
    if version != MESSAGE_VERSION:
        raise MessageError(
            f"message version is {version!r}, expected {MESSAGE_VERSION}: "
            "it was published by another release of instapipe"
        )
    fields = body.get("story")
    if not isinstance(fields, dict):
        raise MessageError("message has no 'story' object")
    return from_fields(fields)


def decode_push(envelope: Mapping[str, Any]) -> tuple[Story, str]:
    """Reads the story and message id out of a Pub/Sub push CloudEvent's data."""
    message = envelope.get("message") if isinstance(envelope, Mapping) else None
    if not isinstance(message, Mapping):
        raise MessageError("event data has no Pub/Sub 'message'")
    message_id = str(message.get("messageId") or message.get("message_id") or "")
    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise MessageError("message data is not base64", message_id) from None
    try:
        return decode(data), message_id
    except MessageError as error:
        raise MessageError(str(error), message_id) from None


def from_fields(fields: dict[str, Any]) -> Story:
    """Builds a story from its plain fields, as in a message or a stored document."""
    reader = _Fields(fields)
    location = fields.get("location")
    return Story(
        id=reader.text("id"),
        user_id=reader.text("user_id"),
        username=reader.text("username"),
        timestamp=reader.integer("timestamp"),
        expires_at=reader.integer("expires_at"),
        is_video=reader.boolean("is_video"),
        media_url=reader.text("media_url"),
        source=reader.choice("source", _SOURCES),
        width=reader.integer("width", optional=True),
        height=reader.integer("height", optional=True),
        duration_s=reader.number("duration_s", optional=True),
        location=None if location is None else _location(location),
        cover_url=reader.text("cover_url", optional=True),
        media_is_cover=bool(fields.get("media_is_cover", False)),
        permalink=reader.text("permalink", optional=True),
    )


def _location(value: object) -> Location:
    if not isinstance(value, dict):
        raise MessageError("story field 'location' must be an object or null")
    reader = _Fields(value, "location.")
    return Location(
        name=reader.text("name"),
        lat=reader.number("lat", optional=True),
        lng=reader.number("lng", optional=True),
    )


class _Fields:
    """Typed access to a decoded object; a wrong field raises `MessageError`."""

    def __init__(self, fields: dict[str, Any], prefix: str = "") -> None:
        self._fields = fields
        self._prefix = prefix

    def _get(self, name: str, optional: bool) -> Any:
        value = self._fields.get(name)
        if value is None and not optional:
            raise MessageError(f"story field '{self._prefix}{name}' is missing")
        return value

    def _wrong(self, name: str, expected: str) -> MessageError:
        value = self._fields.get(name)
        return MessageError(
            f"story field '{self._prefix}{name}' is {value!r}, expected {expected}"
        )

    def text(self, name: str, optional: bool = False) -> Any:
        value = self._get(name, optional)
        if value is not None and (not isinstance(value, str) or not value):
            raise self._wrong(name, "a non-empty string")
        return value

    def integer(self, name: str, optional: bool = False) -> Any:
        value = self._get(name, optional)
        if value is not None and (type(value) is not int or value < 0):
            raise self._wrong(name, "a non-negative integer")
        return value

    def number(self, name: str, optional: bool = False) -> Any:
        value = self._get(name, optional)
        if value is None:
            return None
        if type(value) not in (int, float) or not math.isfinite(value):
            raise self._wrong(name, "a number")
        return float(value)

    def boolean(self, name: str) -> bool:
        value = self._get(name, optional=False)
        if type(value) is not bool:
            raise self._wrong(name, "true or false")
        return bool(value)

    def choice(self, name: str, choices: tuple[str, ...]) -> Any:
        value = self._get(name, optional=False)
        if value not in choices:
            raise self._wrong(name, " or ".join(repr(c) for c in choices))
        return value
