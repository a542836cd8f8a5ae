"""What stories_json serves: an account's archived stories, read from Firestore and
shaped for the public.

Both reads run on the single-field index of `timestamp` that Firestore keeps by itself:
the last day is `timestamp >= now - DAY_S` ascending, a page of history is
`timestamp < before` descending (ties broken by document id, which Firestore orders by
anyway), so no composite index is needed.

A signed URL with less than `resign_below_s()` of validity left is signed afresh and
written back to its story document, so the next instance reuses it: signing is a
network call in the cloud and must not happen on every request.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import google.auth.exceptions
import requests
from google.api_core import exceptions as api_exceptions
from google.cloud import firestore

from instapipe import logs, signing, store
from instapipe.clients import firestore_client
from instapipe.config import settings
from instapipe.errors import InstapipeError, MessageError
from instapipe.store import ArchivedStory

log = logs.get(__name__)
Snapshot = firestore.DocumentSnapshot[firestore.DocumentReference]

DAY_S = 24 * 60 * 60
# A URL handed out must outlive a page left open for an afternoon, plus every cache.
RESIGN_BELOW_S = 6 * 60 * 60
# With a short SIGNED_URL_TTL_S, a share of it instead, or every request would re-sign.
RESIGN_BELOW_TTL_SHARE = 0.25
QUERY_TIMEOUT_S = 10.0
SIGNING_THREADS = 8
_FIRESTORE_ERRORS = (api_exceptions.GoogleAPIError,)
_SIGNING_ERRORS = (
    google.auth.exceptions.GoogleAuthError,
    requests.RequestException,
    api_exceptions.GoogleAPIError,
)


class FeedUnavailable(InstapipeError):
    """Firestore or the URL signer failed; the same request may work shortly."""


@dataclass(frozen=True)
class Position:
    """Where a page of history ends: the oldest story it holds."""

    timestamp: int
    story_id: str


@dataclass(frozen=True)
class Page:
    """Stories in public shape, oldest first, and where the next (older) page starts."""

    stories: list[dict[str, Any]]
    next_position: Position | None = None

    @property
    def earliest_url_expiry(self) -> int | None:
        expiries = [story["signed_url_expires_at"] for story in self.stories]
        return min(expiries, default=None)


def resign_below_s() -> int:
    """Validity left under which a signed URL is signed afresh."""
    ttl_s = settings().signed_url_ttl_s
    return min(RESIGN_BELOW_S, int(ttl_s * RESIGN_BELOW_TTL_SHARE))


def last_day(user_id: str, now: int) -> Page:
    """The stories posted in the 24 hours before `now`, oldest first."""
    query = (
        store.stories_of(user_id)
        .where(filter=firestore.FieldFilter("timestamp", ">=", now - DAY_S))
        .order_by("timestamp")
    )
    return Page(stories=_publish(user_id, _run_query(query), now))


def history(
    user_id: str, limit: int, before: int | None, after: Position | None, now: int
) -> Page:
    """Up to `limit` stories older than `before` or `after`, oldest first."""
    query = (
        store.stories_of(user_id)
        .order_by("timestamp", direction=firestore.Query.DESCENDING)
        .order_by("__name__", direction=firestore.Query.DESCENDING)
    )
    if after is not None:
        query = query.start_after(
            {"timestamp": after.timestamp, "__name__": after.story_id}
        )
    elif before is not None:
        query = query.where(filter=firestore.FieldFilter("timestamp", "<", before))
    # One more than asked tells whether an older page exists.
    snapshots = _run_query(query.limit(limit + 1))
    newest_first = _publish(user_id, snapshots[:limit], now)
    next_position = None
    if len(snapshots) > limit and newest_first:
        oldest = newest_first[-1]
        next_position = Position(oldest["timestamp"], oldest["id"])
    return Page(stories=newest_first[::-1], next_position=next_position)


def _run_query(query: firestore.Query) -> list[Snapshot]:
    """Every Firestore query of this module passes here (tests count them)."""
    try:
        return list(query.stream(timeout=QUERY_TIMEOUT_S))
    except _FIRESTORE_ERRORS as error:
        log.error("story query failed", error=str(error))
        raise FeedUnavailable(
            f"the story archive could not be read ({type(error).__name__})"
        ) from error


def _publish(
    user_id: str, snapshots: Iterable[Snapshot], now: int
) -> list[dict[str, Any]]:
    archived = [story for story in map(_archived, snapshots) if story is not None]
    fresh = _with_fresh_urls(user_id, archived, now)
    return [public_fields(story) for story in fresh]


def _archived(snapshot: Snapshot) -> ArchivedStory | None:
    try:
        return ArchivedStory.from_document(snapshot.to_dict() or {})
    except (MessageError, KeyError, TypeError) as error:
        # One bad document must not take the whole account's feed down.
        log.error("story document unreadable", story_id=snapshot.id, error=str(error))
        return None


def _with_fresh_urls(
    user_id: str, stories: list[ArchivedStory], now: int
) -> list[ArchivedStory]:
    threshold_s = resign_below_s()
    stale = [s for s in stories if s.signed_url_expires_at - now < threshold_s]
    if not stale:
        return stories
    with ThreadPoolExecutor(max_workers=min(SIGNING_THREADS, len(stale))) as pool:
        results = list(pool.map(_resign, stale))
    renewed = {s.story.id: fresh for s, fresh in zip(stale, results, strict=True)}
    _save_urls(user_id, [s for s in renewed.values() if s is not None])
    return [_kept_or_renewed(story, renewed, now) for story in stories]


def _resign(story: ArchivedStory) -> ArchivedStory | None:
    try:
        signed = signing.sign(story.object_name)
    except _SIGNING_ERRORS as error:
        log.error("signing failed", story_id=story.story.id, error=str(error))
        return None
    return _replace_url(story, signed)


def _replace_url(story: ArchivedStory, signed: signing.SignedUrl) -> ArchivedStory:
    fields = story.to_document()
    fields.update(signed_url=signed.url, signed_url_expires_at=signed.expires_at)
    return ArchivedStory.from_document(fields)


def _kept_or_renewed(
    story: ArchivedStory, renewed: dict[str, ArchivedStory | None], now: int
) -> ArchivedStory:
    fresh = renewed.get(story.story.id, story) or story
    # An old URL still serves while signing fails, briefly: Cache-Control ends with it.
    if fresh.signed_url_expires_at <= now:
        raise FeedUnavailable(
            f"the media URL of story {story.story.id} expired and could not be "
            "signed again"
        )
    return fresh


def _save_urls(user_id: str, stories: list[ArchivedStory]) -> None:
    if not stories:
        return
    batch = firestore_client().batch()
    for story in stories:
        batch.update(
            store.story_ref(user_id, story.story.id),
            {
                "signed_url": story.signed_url,
                "signed_url_expires_at": story.signed_url_expires_at,
            },
        )
    try:
        batch.commit(timeout=QUERY_TIMEOUT_S)
    except _FIRESTORE_ERRORS as error:
        # The fresh URLs are good either way; the next instance just signs again.
        log.warning("saving signed URLs failed", user_id=user_id, error=str(error))
        return
    log.info("signed URLs renewed", user_id=user_id, count=len(stories))


def public_fields(archived: ArchivedStory) -> dict[str, Any]:
    """A story as the API shows it: no Instagram CDN links, no pipeline internals."""
    story = archived.story
    location = story.location
    return {
        "id": story.id,
        "user_id": story.user_id,
        "username": story.username,
        "timestamp": story.timestamp,
        "expires_at": story.expires_at,
        "is_video": story.is_video,
        "media_is_cover": story.media_is_cover,
        "width": story.width,
        "height": story.height,
        "duration_s": story.duration_s,
        "location": None
        if location is None
        else {"name": location.name, "lat": location.lat, "lng": location.lng},
        "permalink": story.permalink,
        "content_type": archived.content_type,
        "size_bytes": archived.size_bytes,
        "bucket_path": archived.bucket_path,
        "signed_url": archived.signed_url,
        "signed_url_expires_at": archived.signed_url_expires_at,
    }
