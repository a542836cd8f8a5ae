"""Counting the viewer's open and prefetch pings, per account and UTC day.

Off unless API_COUNT_OPENS is set. Only a per-day total is kept: no cookie, no address,
no user agent, nothing that tells one viewer from another.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.api_core import exceptions as api_exceptions
from google.cloud import firestore

from instapipe import logs, store
from instapipe.feed import FeedUnavailable

log = logs.get(__name__)

WRITE_TIMEOUT_S = 10.0


def count(user_id: str, event: str, now: float) -> None:
    """Adds one `event` ("open" or "prefetch") to the account's total of the day."""
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    try:
        store.opens_ref(user_id, day).set(
            {"day": day, event: firestore.Increment(1)},
            merge=True,
            timeout=WRITE_TIMEOUT_S,
        )
    except api_exceptions.GoogleAPIError as error:
        log.error("counting an open failed", user_id=user_id, error=str(error))
        raise FeedUnavailable(f"the {event} could not be counted") from error
