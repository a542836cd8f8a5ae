"""The private API source: `feed/reels_media` with the owner's `sessionid` cookie.

One request covers a whole batch of accounts; an account without live stories is simply
absent from the answer. It gives everything instapipe keeps: full-resolution media with
their sizes, video durations and location stickers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import requests

from instapipe import logs
from instapipe.config import Secret, Settings
from instapipe.sources import (
    MalformedError,
    RateLimitedError,
    SessionDeadError,
    SourceError,
    TransientError,
    Tray,
    UnreadableItemError,
    batches,
    send,
    with_retries,
)
from instapipe.story import STORY_LIFETIME_S, Location, Story

log = logs.get(__name__)

REELS_MEDIA_PATH = "/feed/reels_media/"
PERMALINK = "https://www.instagram.com/stories/{username}/{story_id}/"
PHOTO, VIDEO = 1, 2
# What the Android app sends; Instagram treats requests without them as suspicious.
HEADERS = {
    "User-Agent": (
        "Instagram 361.0.0.46.88 Android (34/14; 480dpi; 1080x2400; Google/google; "
        "Pixel 7; panther; panther; en_US; 674675155)"
    ),
    "X-IG-App-ID": "567067343352427",
    "X-IG-Capabilities": "3brTv10=",
    "X-IG-Connection-Type": "WIFI",
    "Accept-Language": "en-US",
    "Accept": "*/*",
}
SESSION_DEAD_MESSAGES = {"login_required", "challenge_required", "checkpoint_required"}
SESSION_DEAD_PATHS = ("/accounts/login", "/challenge", "/checkpoint")
PLEASE_WAIT = "please wait a few minutes"


class PrivateSource:
    def __init__(self, settings: Settings, sessionid: Secret) -> None:
        self._settings = settings
        self._session = requests.Session()
        self._session.headers.update(HEADERS)
        self._session.headers["Cookie"] = _cookie(sessionid.reveal())

    def fetch(self, user_ids: Sequence[str]) -> Iterator[Tray]:
        for batch in batches(user_ids, self._settings.instagram_batch_size):
            try:
                reels = with_retries(
                    self._settings, partial(self._reels, batch), "feed/reels_media"
                )
            except SourceError as error:
                yield from (Tray(user_id, error=error) for user_id in batch)
                continue
            yield from (tray_of(user_id, reels.get(user_id)) for user_id in batch)

    def _reels(self, user_ids: list[str]) -> dict[str, Any]:
        response = send(
            self._session,
            "GET",
            self._settings.instagram_api_url + REELS_MEDIA_PATH,
            self._settings.instagram_timeout_s,
            params=[("reel_ids", user_id) for user_id in user_ids],
        )
        body = check(response)
        reels = body.get("reels")
        if body.get("status") != "ok" or not isinstance(reels, dict):
            raise MalformedError(
                f"feed/reels_media answered status {body.get('status')!r} with "
                f"'reels' of type {type(reels).__name__}, expected status 'ok' and "
                "an object"
            )
        return reels


def _cookie(sessionid: str) -> str:
    # The session id starts with the logged-in user's id, which the app also sends.
    ds_user_id = sessionid.replace("%3A", ":").split(":", 1)[0]
    if ds_user_id.isdigit():
        return f"sessionid={sessionid}; ds_user_id={ds_user_id}"
    return f"sessionid={sessionid}"


def check(response: requests.Response) -> dict[str, Any]:
    """The JSON body of a 200 answer; any other answer raises its `SourceError`."""
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        if any(path in location for path in SESSION_DEAD_PATHS):
            raise SessionDeadError(
                f"Instagram redirected to {location.split('?')[0]}: the session "
                "cookie is no longer accepted; log in again and set a new "
                "INSTAGRAM_SESSIONID"
            )
        raise MalformedError(f"unexpected redirect (HTTP {status}), expected JSON")
    text = response.text
    body = _json(text)
    if status == 429 or _says_please_wait(body, text, status):
        raise RateLimitedError(
            f"Instagram is rate limiting (HTTP {status})",
            retry_after_s=_retry_after(response),
        )
    _raise_if_session_dead(body, status)
    if status >= 500:
        raise TransientError(f"Instagram answered HTTP {status}")
    if status != 200:
        message = body.get("message") if isinstance(body, dict) else None
        raise MalformedError(
            f"Instagram answered HTTP {status} ({message!r}), expected 200"
        )
    if not isinstance(body, dict):
        raise MalformedError(
            f"the answer is not a JSON object (starts {text[:40]!r}), expected "
            "the private API's JSON"
        )
    return body


def _says_please_wait(body: Any, text: str, status: int) -> bool:
    # Only Instagram's own message counts: a tray's text may quote the phrase.
    if isinstance(body, dict):
        return PLEASE_WAIT in str(body.get("message", "")).lower()
    return status != 200 and PLEASE_WAIT in text.lower()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _raise_if_session_dead(body: Any, status: int) -> None:
    if not isinstance(body, dict):
        return
    reasons = {body.get("message"), body.get("error_type")}
    if reasons & SESSION_DEAD_MESSAGES or body.get("require_login") is True:
        reason = next(iter(reasons & SESSION_DEAD_MESSAGES), "require_login")
        raise SessionDeadError(
            f"Instagram answered HTTP {status} {reason}: the session cookie is no "
            "longer accepted; log in again and set a new INSTAGRAM_SESSIONID"
        )


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


def tray_of(user_id: str, reel: Any) -> Tray:
    """The account's tray from its entry in `reels` (None when it has no stories)."""
    if reel is None:
        return Tray(user_id)
    items = reel.get("items") if isinstance(reel, dict) else None
    if not isinstance(items, list):
        return Tray(
            user_id,
            error=MalformedError(
                f"reel of {user_id} has no 'items' list, expected the reel shape"
            ),
        )
    user = reel.get("user") if isinstance(reel.get("user"), dict) else {}
    tray = Tray(user_id)
    for item in items:
        try:
            tray.stories.append(parse_item(item, user_id, user))
        except UnreadableItemError as error:
            tray.skipped += 1
            log.warning(
                "story item skipped",
                user_id=user_id,
                story_id=_item_id(item),
                reason=str(error),
            )
    return tray


def parse_item(item: Any, user_id: str, reel_user: dict[str, Any]) -> Story:
    if not isinstance(item, dict):
        raise UnreadableItemError(f"item is a {type(item).__name__}, expected object")
    story_id = _item_id(item)
    if story_id is None:
        raise UnreadableItemError("item has neither 'pk' nor 'id'")
    taken_at = _whole(item, "taken_at")
    expires_at = item.get("expiring_at")
    if type(expires_at) is not int or expires_at <= 0:
        expires_at = taken_at + STORY_LIFETIME_S
    is_video, media, cover = _media(item)
    username = _username(item, reel_user)
    return Story(
        id=story_id,
        user_id=user_id,
        username=username,
        timestamp=taken_at,
        expires_at=expires_at,
        is_video=is_video,
        media_url=media["url"],
        source="private",
        width=_size(media, item, "width"),
        height=_size(media, item, "height"),
        duration_s=_duration(item) if is_video else None,
        location=_location(item),
        cover_url=cover["url"] if is_video and cover else None,
        permalink=PERMALINK.format(username=username, story_id=story_id),
    )


def _item_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    pk = item.get("pk")
    if isinstance(pk, int | str) and str(pk).isdigit():
        return str(pk)
    full_id = item.get("id")
    if isinstance(full_id, str) and full_id.split("_")[0].isdigit():
        return full_id.split("_")[0]
    return None


def _whole(item: dict[str, Any], name: str) -> int:
    value = item.get(name)
    if type(value) is not int or value <= 0:
        raise UnreadableItemError(f"'{name}' is {value!r}, expected Unix seconds")
    return value


def _media(
    item: dict[str, Any],
) -> tuple[bool, dict[str, Any], dict[str, Any] | None]:
    """(is_video, the media to keep, the cover image) of an item."""
    images = item.get("image_versions2")
    cover = _largest(images.get("candidates") if isinstance(images, dict) else None)
    media_type = item.get("media_type")
    if media_type == PHOTO:
        if cover is None:
            raise UnreadableItemError("photo has no image candidate with a URL")
        return False, cover, None
    if media_type == VIDEO:
        video = _largest(item.get("video_versions"))
        if video is None:
            raise UnreadableItemError("video has no video_versions with a URL")
        return True, video, cover
    raise UnreadableItemError(f"media_type is {media_type!r}, expected 1 or 2")


def _largest(versions: Any) -> dict[str, Any] | None:
    """The version with the most pixels; Instagram's order is not guaranteed."""
    if not isinstance(versions, list):
        return None
    usable = [
        version
        for version in versions
        if isinstance(version, dict)
        and isinstance(version.get("url"), str)
        and version["url"]
    ]
    return max(usable, key=_pixels, default=None)


def _pixels(version: dict[str, Any]) -> int:
    width, height = version.get("width"), version.get("height")
    if type(width) is int and type(height) is int:
        return width * height
    return 0


def _size(media: dict[str, Any], item: dict[str, Any], axis: str) -> int | None:
    for value in (media.get(axis), item.get(f"original_{axis}")):
        if type(value) is int and value > 0:
            return value
    return None


def _duration(item: dict[str, Any]) -> float | None:
    value = _number(item.get("video_duration"))
    return value if value is not None and value >= 0 else None


def _username(item: dict[str, Any], reel_user: dict[str, Any]) -> str:
    item_user = item.get("user")
    for user in (item_user if isinstance(item_user, dict) else {}, reel_user):
        username = user.get("username")
        if isinstance(username, str) and username:
            return username
    raise UnreadableItemError("neither the item nor its reel names a username")


def _location(item: dict[str, Any]) -> Location | None:
    stickers = item.get("story_locations")
    for sticker in stickers if isinstance(stickers, list) else []:
        place = sticker.get("location") if isinstance(sticker, dict) else None
        if (
            isinstance(place, dict)
            and isinstance(place.get("name"), str)
            and place["name"]
        ):
            return Location(
                name=place["name"],
                lat=_coordinate(place, "lat"),
                lng=_coordinate(place, "lng"),
            )
    return None


def _coordinate(place: dict[str, Any], name: str) -> float | None:
    return _number(place.get(name))


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
