"""The Graph API source: `/{ig-user-id}/stories` with a long-lived access token.

The official API answers one account per request and gives less than the private one:
no width or height (the archive reads them from the media), no location, and no
`media_url` for videos with licensed music (the cover stands in and says so).

An Instagram Login token (`graph.instagram.com`) lasts about 60 days; `Tokens` renews
it well before that and keeps the renewed one in Firestore, so a cold start uses it.
A Page token from Facebook Login does not expire and is used as it is.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests

from instapipe import logs, store
from instapipe.config import Secret, Settings
from instapipe.sources import (
    MalformedError,
    RateLimitedError,
    SessionDeadError,
    SourceError,
    TransientError,
    Tray,
    UnreadableItemError,
    alert_owner,
    send,
    with_retries,
)
from instapipe.story import STORY_LIFETIME_S, Story

log = logs.get(__name__)

FIELDS = "id,media_type,media_url,thumbnail_url,timestamp,permalink,username"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
MAX_PAGES = 5
INSTAGRAM_LOGIN_HOST = "graph.instagram.com"
DAY_S = 24 * 60 * 60
TOKEN_LIFETIME_S = 60 * DAY_S
# Instagram refuses to renew a token younger than a day.
MIN_TOKEN_AGE_S = DAY_S
REFRESH_WHEN_LEFT_S = 30 * DAY_S
REFRESH_RETRY_S = 6 * 60 * 60
WARN_WHEN_LEFT_S = 7 * DAY_S
SESSION_DEAD_CODES = {10, 102, 190, 200}
RATE_LIMIT_CODES = {4, 17, 32, 613}
TRANSIENT_CODES = {1, 2}


class GraphSource:
    def __init__(self, settings: Settings, token: Secret) -> None:
        self._settings = settings
        self._session = requests.Session()
        self._tokens = Tokens(settings, token, self._session)

    def fetch(self, user_ids: Sequence[str]) -> Iterator[Tray]:
        token = self._tokens.current()
        shared_error: SourceError | None = None
        for user_id in user_ids:
            if shared_error is not None:
                yield Tray(user_id, error=shared_error)
                continue
            try:
                items = with_retries(
                    self._settings,
                    partial(self._stories, user_id, token),
                    "graph stories",
                )
            except SourceError as error:
                # A rate limit or a refused token holds for every account: asking
                # for the rest would only dig deeper.
                if isinstance(error, RateLimitedError | SessionDeadError):
                    shared_error = error
                yield Tray(user_id, error=error)
                continue
            yield tray_of(user_id, items)

    def _stories(self, user_id: str, token: str) -> list[Any]:
        url: str | None = f"{self._settings.instagram_graph_url}/{user_id}/stories"
        params: dict[str, str] | None = {"fields": FIELDS, "access_token": token}
        items: list[Any] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            body = check(self._get(url, params))
            data = body.get("data")
            if not isinstance(data, list):
                raise MalformedError(
                    f"stories of {user_id} have no 'data' list, expected the Graph "
                    "API's list shape"
                )
            items.extend(data)
            paging = body.get("paging")
            # The next page's URL already carries every parameter.
            url = paging.get("next") if isinstance(paging, dict) else None
            params = None
        return items

    def _get(self, url: str, params: dict[str, str] | None) -> requests.Response:
        return send(
            self._session,
            "GET",
            url,
            self._settings.instagram_timeout_s,
            params=params,
        )


def check(response: requests.Response) -> dict[str, Any]:
    """The JSON body of a 200 answer; any other answer raises its `SourceError`."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        _raise_graph_error(error, status)
    if status == 429:
        raise RateLimitedError("the Graph API is rate limiting (HTTP 429)")
    if status >= 500:
        raise TransientError(f"the Graph API answered HTTP {status}")
    if status != 200 or not isinstance(body, dict):
        raise MalformedError(
            f"the Graph API answered HTTP {status} with "
            f"{'a JSON ' + type(body).__name__ if body is not None else 'no JSON'}, "
            "expected 200 and a JSON object"
        )
    return body


def _raise_graph_error(error: dict[str, Any], status: int) -> None:
    code = error.get("code")
    text = f"Graph API error {code} (HTTP {status}): {error.get('message')}"
    if code in SESSION_DEAD_CODES:
        raise SessionDeadError(
            f"{text}; the access token is no longer accepted: create a new "
            "long-lived token and set INSTAGRAM_ACCESS_TOKEN"
        )
    if code in RATE_LIMIT_CODES or status == 429:
        raise RateLimitedError(text)
    if code in TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
        raise TransientError(text)
    raise MalformedError(f"{text}; expected stories")


def tray_of(user_id: str, items: list[Any]) -> Tray:
    tray = Tray(user_id)
    for item in items:
        try:
            tray.stories.append(parse_item(item, user_id))
        except UnreadableItemError as error:
            tray.skipped += 1
            story_id = item.get("id") if isinstance(item, dict) else None
            log.warning(
                "story item skipped",
                user_id=user_id,
                story_id=story_id,
                reason=str(error),
            )
    return tray


def parse_item(item: Any, user_id: str) -> Story:
    if not isinstance(item, dict):
        raise UnreadableItemError(f"item is a {type(item).__name__}, expected object")
    story_id = _text(item, "id")
    timestamp = _timestamp(item)
    is_video = item.get("media_type") == "VIDEO"
    if item.get("media_type") not in ("IMAGE", "VIDEO"):
        raise UnreadableItemError(
            f"media_type is {item.get('media_type')!r}, expected IMAGE or VIDEO"
        )
    thumbnail = item.get("thumbnail_url") or None
    media_url = item.get("media_url") or None
    # Videos with licensed music come without media_url: keep the cover instead.
    is_cover = is_video and media_url is None and thumbnail is not None
    if is_cover:
        media_url = thumbnail
    if not isinstance(media_url, str):
        raise UnreadableItemError("item has neither media_url nor thumbnail_url")
    return Story(
        id=story_id,
        user_id=user_id,
        username=_text(item, "username"),
        timestamp=timestamp,
        expires_at=timestamp + STORY_LIFETIME_S,
        is_video=is_video,
        media_url=media_url,
        source="graph",
        cover_url=thumbnail if is_video and isinstance(thumbnail, str) else None,
        media_is_cover=is_cover,
        permalink=item.get("permalink") or None,
    )


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise UnreadableItemError(f"'{name}' is {value!r}, expected a string")
    return value


def _timestamp(item: dict[str, Any]) -> int:
    raw = _text(item, "timestamp")
    try:
        return int(datetime.strptime(raw, TIMESTAMP_FORMAT).timestamp())
    except ValueError:
        raise UnreadableItemError(
            f"'timestamp' is {raw!r}, expected ISO 8601 such as "
            "2026-12-03T09:30:00+0000"
        ) from None


def renews_token(settings: Settings) -> bool:
    """Whether the token must be renewed: INSTAGRAM_TOKEN_REFRESH, else whether it is
    an Instagram Login token (only those expire)."""
    if settings.instagram_token_refresh is not None:
        return settings.instagram_token_refresh
    return urlsplit(settings.instagram_graph_url).hostname == INSTAGRAM_LOGIN_HOST


@dataclass
class TokenState:
    """The Firestore record of the token in use, derived from the configured one."""

    seed_sha256: str
    access_token: str
    first_seen_at: int
    expires_at: int | None = None
    refreshed_at: int | None = None
    refresh_attempted_at: int | None = None
    refresh_error: str | None = None
    warned_expiry_at: int | None = None

    def estimated_expiry(self) -> int:
        # Before the first renewal the configured token's age is unknown; a token is
        # at most 60 days old when first seen, so this is the latest it can expire.
        return self.expires_at or self.first_seen_at + TOKEN_LIFETIME_S


class Tokens:
    """The access token to use now, renewed and persisted when it must be."""

    def __init__(
        self, settings: Settings, configured: Secret, session: requests.Session
    ) -> None:
        self._settings = settings
        self._configured = configured
        self._session = session
        self._state: TokenState | None = None
        self._renews = renews_token(settings)

    def current(self) -> str:
        if not self._renews:
            return self._configured.reveal()
        if self._state is None:
            self._state = self._load()
        now = int(time.time())
        if self._renewal_due(self._state, now):
            self._renew(self._state, now)
        return self._state.access_token

    def _load(self) -> TokenState:
        seed = hashlib.sha256(self._configured.reveal().encode()).hexdigest()
        snapshot = store.graph_token_ref().get()
        document = snapshot.to_dict() if snapshot.exists else None
        if document and document.get("seed_sha256") == seed:
            Secret(document["access_token"])  # registers it, so logs never show it
            return TokenState(**document)
        # A new configured token replaces whatever was renewed from the old one.
        state = TokenState(seed, self._configured.reveal(), int(time.time()))
        self._save(state)
        return state

    def _save(self, state: TokenState) -> None:
        store.graph_token_ref().set(asdict(state))

    @staticmethod
    def _renewal_due(state: TokenState, now: int) -> bool:
        issued_at = state.refreshed_at or state.first_seen_at
        left_s = state.estimated_expiry() - now
        attempted_at = state.refresh_attempted_at or 0
        return (
            now - issued_at >= MIN_TOKEN_AGE_S
            and (state.expires_at is None or left_s <= REFRESH_WHEN_LEFT_S)
            and now - attempted_at >= REFRESH_RETRY_S
        )

    def _renew(self, state: TokenState, now: int) -> None:
        state.refresh_attempted_at = now
        try:
            token, expires_in = self._refresh_call(state.access_token)
        except SourceError as error:
            state.refresh_error = str(error)
            log.warning("graph token not refreshed", error=str(error))
            self._warn_if_expiring(state, now)
        else:
            state.access_token = token
            state.expires_at = now + expires_in
            state.refreshed_at = now
            state.refresh_error = None
            state.warned_expiry_at = None
            log.info("graph token refreshed", expires_at=state.expires_at)
        self._save(state)

    def _refresh_call(self, token: str) -> tuple[str, int]:
        parts = urlsplit(self._settings.instagram_graph_url)
        response = send(
            self._session,
            "GET",
            f"{parts.scheme}://{parts.netloc}/refresh_access_token",
            self._settings.instagram_timeout_s,
            params={"grant_type": "ig_refresh_token", "access_token": token},
        )
        body = check(response)
        new_token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(new_token, str) or type(expires_in) is not int:
            raise MalformedError(
                "refresh_access_token answered without access_token and expires_in"
            )
        Secret(new_token)  # registers it, so no log line can ever show it
        return new_token, expires_in

    def _warn_if_expiring(self, state: TokenState, now: int) -> None:
        expiry = state.estimated_expiry()
        if expiry - now > WARN_WHEN_LEFT_S or state.warned_expiry_at == expiry:
            return
        state.warned_expiry_at = expiry
        days = max(0, (expiry - now) // DAY_S)
        log.error(
            "graph token expires soon and cannot be refreshed",
            expires_at=expiry,
            error=state.refresh_error,
        )
        alert_owner(
            self._settings,
            f"instapipe: the Instagram access token expires in about {days} days "
            "and could not be refreshed. Create a new long-lived token and set "
            "INSTAGRAM_ACCESS_TOKEN before then, or fetching stops.",
        )
