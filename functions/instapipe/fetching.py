"""The fetch function: one tick of Cloud Scheduler turns new stories into messages.

For each watched account it reads the account document once, asks the source for the
live tray (skipping accounts that are backing off after a rate limit), publishes every
story not yet published (oldest first, ordering key = user id), waits until Pub/Sub has
confirmed each one and only then records it as published. A crash between the two
re-publishes, which the idempotent consumers absorb; a story is never lost.

The account document `accounts/{user_id}` holds, for fetching alone:
`published` (story id -> expiry, forgotten once expired), `backoff_until`, `last_error`,
`session_dead_since` (the dead-session incident), and `republish_story_ids` (written by
the archive when a CDN link expired; re-published here with fresh URLs).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Request, Response, json
from google.cloud import firestore

from instapipe import clients, config, logs, store
from instapipe.config import Settings
from instapipe.errors import ConfigError
from instapipe.sources import (
    RateLimitedError,
    SessionDeadError,
    Source,
    SourceError,
    Tray,
    alert_owner,
    open_source,
)
from instapipe.story import Story, encode

log = logs.get(__name__)

METHODS = ("POST", "GET")
PUBLISH_TIMEOUT_S = 60.0
PUBLISHED = "published"
BACKOFF_UNTIL = "backoff_until"
LAST_ERROR = "last_error"
SESSION_DEAD_SINCE = "session_dead_since"


@dataclass
class Account:
    """What the account document says, as read at the start of a tick."""

    user_id: str
    published: dict[str, int] = field(default_factory=dict)
    backoff_until: int | None = None
    last_error: dict[str, Any] | None = None
    session_dead_since: int | None = None
    republish_story_ids: list[str] = field(default_factory=list)

    @classmethod
    def from_document(cls, user_id: str, document: dict[str, Any] | None) -> Account:
        document = document or {}
        published = document.get(PUBLISHED)
        marks = document.get(store.REPUBLISH_STORY_IDS)
        return cls(
            user_id=user_id,
            published=dict(published) if isinstance(published, dict) else {},
            backoff_until=document.get(BACKOFF_UNTIL),
            last_error=document.get(LAST_ERROR),
            session_dead_since=document.get(SESSION_DEAD_SINCE),
            republish_story_ids=list(marks) if isinstance(marks, list) else [],
        )


@dataclass
class Outcome:
    """One account's line in the tick's answer."""

    user_id: str
    status: str = "ok"
    new: int = 0
    known: int = 0
    skipped: int = 0
    republished: int = 0
    error: str | None = None
    error_kind: str | None = None
    backoff_until: int | None = None


class PublishError(Exception):
    """Pub/Sub did not confirm a story; it stays unrecorded for the next tick."""


def handle_request(request: Request) -> Response:
    if request.method not in METHODS:
        return _answer(
            {"error": f"method {request.method} not allowed, use POST or GET"},
            405,
            Allow=", ".join(METHODS),
        )
    try:
        outcomes = tick()
    except ConfigError as error:
        log.error("fetch tick failed: configuration", error=str(error))
        return _answer({"error": str(error)}, 500)
    except Exception as error:
        log.exception("fetch tick failed", error=f"{type(error).__name__}: {error}")
        return _answer({"error": f"fetch failed: {type(error).__name__}"}, 500)
    return _answer(
        {
            "ok": all(o.status != "error" for o in outcomes),
            "accounts": [asdict(o) for o in outcomes],
        },
        _status(outcomes),
    )


def _status(outcomes: list[Outcome]) -> int:
    kinds = {o.error_kind for o in outcomes if o.status == "error"}
    if "publish" in kinds:
        return 500
    return 502 if kinds else 200


def _answer(body: dict[str, Any], status: int, **headers: str) -> Response:
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers=headers
    )


def tick(now: int | None = None) -> list[Outcome]:
    """Fetches every watched account once; returns one outcome per account."""
    settings = config.settings()
    now = int(time.time()) if now is None else now
    accounts = read_accounts(settings.instagram_user_ids)
    outcomes = {user_id: Outcome(user_id) for user_id in settings.instagram_user_ids}
    due = []
    for user_id, account in accounts.items():
        if account.backoff_until is not None and account.backoff_until > now:
            outcomes[user_id] = backing_off(account)
        else:
            due.append(user_id)
    trays = list(source(settings).fetch(due)) if due else []
    incident = Incident(settings, accounts)
    for tray in trays:
        outcomes[tray.user_id] = settle(tray, accounts[tray.user_id], incident, now)
    incident.report()
    result = list(outcomes.values())
    log.info(
        "fetch tick done",
        accounts=len(result),
        new=sum(o.new for o in result),
        republished=sum(o.republished for o in result),
        errors=sum(o.status == "error" for o in result),
        backing_off=sum(o.status == "backing_off" for o in result),
    )
    return result


def backing_off(account: Account) -> Outcome:
    log.info(
        "account backing off", user_id=account.user_id, until=account.backoff_until
    )
    return Outcome(
        account.user_id, status="backing_off", backoff_until=account.backoff_until
    )


def read_accounts(user_ids: Iterable[str]) -> dict[str, Account]:
    """Every account document in one batched read: one document read per account."""
    refs = [store.account_ref(user_id) for user_id in user_ids]
    found = {
        snapshot.id: snapshot.to_dict()
        for snapshot in clients.firestore_client().get_all(refs)
        if snapshot.exists
    }
    return {ref.id: Account.from_document(ref.id, found.get(ref.id)) for ref in refs}


_source_for: tuple[Settings, Source] | None = None


def source(settings: Settings) -> Source:
    """The source for these settings, kept across ticks of one instance.

    Keeping it reuses HTTP connections and the Graph token already read; new
    settings (a new instance) get a new source.
    """
    global _source_for
    if _source_for is None or _source_for[0] is not settings:
        _source_for = (settings, open_source(settings))
    return _source_for[1]


class Incident:
    """Reports a dead session once when it starts and once when it ends.

    The session is shared by every account, so the incident is open while any
    account document says so; a new account joining an open incident is no news.
    """

    def __init__(self, settings: Settings, accounts: dict[str, Account]) -> None:
        self.settings = settings
        self._open = any(a.session_dead_since for a in accounts.values())
        self.dead: list[str] = []
        self.error: str | None = None
        self.recovered: list[str] = []

    def report(self) -> None:
        if self.dead and not self._open:
            log.error("instagram session dead", user_ids=self.dead, error=self.error)
            alert_owner(
                self.settings,
                "instapipe: Instagram no longer accepts the session "
                f"({self.error}). New stories are not fetched until it is replaced: "
                "log in to Instagram in a browser and add its sessionid cookie as a "
                "new version of the INSTAGRAM_SESSIONID secret.",
            )
        elif self.recovered and not self.dead:
            log.info("instagram session recovered", user_ids=self.recovered)
            alert_owner(
                self.settings,
                "instapipe: Instagram accepts the session again; fetching resumed.",
            )


def settle(tray: Tray, account: Account, incident: Incident, now: int) -> Outcome:
    """Publishes what is new in one account's tray and records it."""
    if tray.error is not None:
        return record_error(tray.error, account, incident, now)
    known = set(account.published)
    live = {story.id: story for story in tray.stories}
    new = [story for story in tray.stories if story.id not in known]
    marked = [i for i in account.republish_story_ids if i in live and i in known]
    outcome = Outcome(
        account.user_id, known=len(tray.stories) - len(new), skipped=tray.skipped
    )
    confirmed, failure = publish(sorted(new + [live[i] for i in marked], key=_age))
    confirmed_ids = {story.id for story in confirmed}
    outcome.new = sum(story.id in confirmed_ids for story in new)
    outcome.republished = sum(story_id in confirmed_ids for story_id in marked)
    updates = _published_updates(account, confirmed, live, now)
    done_marks = [
        i for i in account.republish_story_ids if i not in live or i in confirmed_ids
    ]
    if done_marks:
        updates[store.REPUBLISH_STORY_IDS] = firestore.ArrayRemove(done_marks)
    if failure is not None:
        outcome.status, outcome.error_kind, outcome.error = "error", "publish", failure
        log.error("stories not published", user_id=account.user_id, error=failure)
    else:
        updates.update(_cleared(account, incident))
    if updates:
        store.account_ref(account.user_id).set(updates, merge=True)
    return outcome


def _age(story: Story) -> tuple[int, str]:
    return story.timestamp, story.id.zfill(32)


def _published_updates(
    account: Account, confirmed: list[Story], live: dict[str, Story], now: int
) -> dict[str, Any]:
    entries: dict[str, Any] = {story.id: story.expires_at for story in confirmed}
    for story_id, expires_at in account.published.items():
        # Kept while still in the tray, or a late-expiring story would come back new.
        if expires_at <= now and story_id not in live:
            entries[story_id] = firestore.DELETE_FIELD
    return {PUBLISHED: entries} if entries else {}


def _cleared(account: Account, incident: Incident) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    if account.last_error is not None:
        updates[LAST_ERROR] = firestore.DELETE_FIELD
    if account.backoff_until is not None:
        updates[BACKOFF_UNTIL] = firestore.DELETE_FIELD
    if account.session_dead_since is not None:
        updates[SESSION_DEAD_SINCE] = firestore.DELETE_FIELD
        incident.recovered.append(account.user_id)
    return updates


def publish(stories: list[Story]) -> tuple[list[Story], str | None]:
    """Publishes in order and waits; returns the confirmed stories and any failure."""
    if not stories:
        return [], None
    publisher, topic = clients.publisher(), clients.topic_path()
    futures = [
        (
            story,
            publisher.publish(
                topic,
                encode(story),
                ordering_key=story.user_id,
                **story.attributes(),
            ),
        )
        for story in stories
    ]
    confirmed: list[Story] = []
    for story, future in futures:
        try:
            future.result(timeout=PUBLISH_TIMEOUT_S)
        except Exception as error:
            # A failed publish pauses its ordering key until resumed.
            publisher.resume_publish(topic, story.user_id)
            return confirmed, f"story {story.id}: {type(error).__name__}: {error}"
        confirmed.append(story)
        log.info("story published", **story.log_fields())
    return confirmed, None


def record_error(
    error: SourceError, account: Account, incident: Incident, now: int
) -> Outcome:
    outcome = Outcome(
        account.user_id, status="error", error=str(error), error_kind=error.kind
    )
    updates: dict[str, Any] = {
        LAST_ERROR: {"kind": error.kind, "message": str(error), "at": now}
    }
    if isinstance(error, RateLimitedError):
        backoff_s = max(
            incident.settings.instagram_rate_limit_backoff_s,
            error.retry_after_s or 0,
        )
        outcome.backoff_until = updates[BACKOFF_UNTIL] = now + backoff_s
    if isinstance(error, SessionDeadError):
        incident.dead.append(account.user_id)
        incident.error = str(error)
        if account.session_dead_since is None:
            updates[SESSION_DEAD_SINCE] = now
    log.warning(
        "account not fetched",
        user_id=account.user_id,
        kind=error.kind,
        error=str(error),
        backoff_until=outcome.backoff_until,
    )
    store.account_ref(account.user_id).set(updates, merge=True)
    return outcome
