"""The query string of stories_json, checked: what was asked, or an `ApiError` saying
exactly which parameter is wrong and what a right one looks like."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from werkzeug.datastructures import MultiDict

from instapipe.feed import Position

PARAMETERS = ("user_id", "before", "limit", "cursor", "event")
EVENTS = ("open", "prefetch")
DEFAULT_PAGE_LIMIT = 20
MAX_PAGE_LIMIT = 100
_USER_ID = re.compile(r"[0-9]{1,20}")
_UNIX_S = re.compile(r"[0-9]{1,12}")
_CURSOR = re.compile(r"[A-Za-z0-9_\-]{4,200}")
_POSITION = re.compile(r"([0-9]{1,12}):([A-Za-z0-9_\-]{1,128})")
# Firestore reserves document ids of this shape; no story can carry one.
_RESERVED_ID = re.compile(r"__.*__")
_SHOWN_CHARS = 40

Event = Literal["open", "prefetch"]


class ApiError(Exception):
    """A request the API answers with `status` and a JSON `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Query:
    """One checked request. `paged` is False for the default last-day answer."""

    user_id: str
    paged: bool = False
    limit: int = DEFAULT_PAGE_LIMIT
    before: int | None = None
    after: Position | None = None
    event: Event | None = None


def parse(args: MultiDict[str, str], watched: Collection[str]) -> Query:
    _reject_unexpected(args)
    user_id = _user_id(args, watched)
    event = _event(args)
    paging = [name for name in ("before", "limit", "cursor") if name in args]
    if event is not None:
        if paging:
            raise ApiError(400, f"event cannot be combined with {paging[0]}")
        return Query(user_id=user_id, event=event)
    if "before" in args and "cursor" in args:
        raise ApiError(
            400,
            "before and cursor cannot be combined: the cursor already says where "
            "the next page starts",
        )
    return Query(
        user_id=user_id,
        paged=bool(paging),
        limit=_limit(args),
        before=_before(args),
        after=_cursor(args),
    )


def encode_cursor(position: Position) -> str:
    raw = f"{position.timestamp}:{position.story_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> Position | None:
    if not _CURSOR.fullmatch(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    match = _POSITION.fullmatch(raw)
    if match is None or _RESERVED_ID.fullmatch(match[2]):
        return None
    return Position(int(match[1]), match[2])


def _reject_unexpected(args: MultiDict[str, str]) -> None:
    for name in args:
        if name not in PARAMETERS:
            raise ApiError(
                400,
                f"unexpected parameter {_shown(name)}: expected only "
                + ", ".join(PARAMETERS),
            )
        if len(args.getlist(name)) > 1:
            raise ApiError(400, f"parameter {name} is given more than once")


def _user_id(args: MultiDict[str, str], watched: Collection[str]) -> str:
    user_id = args.get("user_id")
    if not user_id:
        raise ApiError(
            400, "user_id is missing: expected ?user_id=<numeric Instagram user id>"
        )
    if not _USER_ID.fullmatch(user_id):
        raise ApiError(
            400,
            f"user_id {_shown(user_id)} is not a numeric Instagram user id "
            "(1 to 20 digits)",
        )
    if user_id not in watched:
        raise ApiError(404, f"user_id {user_id} is not an account served here")
    return user_id


def _event(args: MultiDict[str, str]) -> Event | None:
    value = args.get("event")
    if value is None:
        return None
    if value == "open":
        return "open"
    if value == "prefetch":
        return "prefetch"
    raise ApiError(400, f"event {_shown(value)} is not one of: " + ", ".join(EVENTS))


def _limit(args: MultiDict[str, str]) -> int:
    value = args.get("limit")
    if value is None:
        return DEFAULT_PAGE_LIMIT
    if not _UNIX_S.fullmatch(value) or not 1 <= int(value) <= MAX_PAGE_LIMIT:
        raise ApiError(
            400,
            f"limit {_shown(value)} is not valid: expected a whole number from 1 "
            f"to {MAX_PAGE_LIMIT}",
        )
    return int(value)


def _before(args: MultiDict[str, str]) -> int | None:
    value = args.get("before")
    if value is None:
        return None
    if not _UNIX_S.fullmatch(value) or int(value) == 0:
        raise ApiError(
            400,
            f"before {_shown(value)} is not valid: expected a time in Unix seconds, "
            "such as 1764720000",
        )
    return int(value)


def _cursor(args: MultiDict[str, str]) -> Position | None:
    value = args.get("cursor")
    if value is None:
        return None
    position = _decode_cursor(value)
    if position is None:
        raise ApiError(
            400,
            f"cursor {_shown(value)} is not valid: pass the cursor from the "
            "previous answer's Link header unchanged",
        )
    return position


def _shown(value: str) -> str:
    """A caller's value quoted for an error message, cut short."""
    if len(value) > _SHOWN_CHARS:
        value = value[:_SHOWN_CHARS] + "..."
    return repr(value)
