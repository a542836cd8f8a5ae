"""The Telegram delivery ledger: one Firestore document per (chat, story).

A sender claims the entry in a transaction before it sends, with a lease; it records
the Telegram message id after success. States:

- `sending`: claimed; while the lease runs no other sender may send. A lease that ran
  out means the sender died, possibly after Telegram posted: it may be claimed again.
- `sent`: posted, with `message_id`; every later delivery of the story is acknowledged.
- `released`: the last attempt certainly posted nothing; claimable at once.
- `uncertain`: the request went out but no answer came; claimable, and the next send
  may show the story twice.
- `failed`: Telegram refused it for good; claimable, should the story ever be replayed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore

from instapipe import store
from instapipe.clients import firestore_client
from instapipe.errors import RetryableError

SENDING = "sending"
SENT = "sent"
RELEASED = "released"
UNCERTAIN = "uncertain"
FAILED = "failed"


@dataclass(frozen=True)
class Claim:
    """The right to send one story to one chat, until `lease_until`."""

    chat_id: str
    story_id: str
    token: str
    attempt: int
    # The state the entry had before this claim: None when it is the first.
    previous_state: str | None


@dataclass(frozen=True)
class Delivered:
    message_id: int
    sent_chat_id: str


def delivered(chat_id: str, story_id: str) -> Delivered | None:
    """The earlier delivery of the story to the chat, if one was recorded."""
    snapshot = store.delivery_ref(chat_id, story_id).get()
    return _delivered(snapshot.to_dict() if snapshot.exists else None)


def claim(
    chat_id: str, story_id: str, lease_s: float, now: float, fields: dict[str, Any]
) -> Claim | Delivered:
    """Claims the entry, or says it was already delivered; raises while it is leased."""
    ref = store.delivery_ref(chat_id, story_id)
    token = secrets.token_hex(8)
    transaction = firestore_client().transaction()
    return _claim(
        transaction, ref, chat_id, story_id, token, now + lease_s, now, fields
    )


def record_sent(
    claim: Claim, message_id: int, sent_chat_id: str, kind: str, now: float
) -> Delivered | None:
    """Records the message id; returns the earlier delivery if another sender won."""
    ref = store.delivery_ref(claim.chat_id, claim.story_id)
    update = {
        "state": SENT,
        "message_id": message_id,
        "sent_chat_id": sent_chat_id,
        "kind": kind,
        "sent_at": now,
        "lease_until": None,
    }
    return _record(firestore_client().transaction(), ref, claim.token, update)


def release(claim: Claim, state: str, error: str, now: float) -> None:
    """Gives the claim back, saying why, unless another sender took it over."""
    ref = store.delivery_ref(claim.chat_id, claim.story_id)
    update = {"state": state, "last_error": error, "released_at": now}
    _release(firestore_client().transaction(), ref, claim.token, update)


@firestore.transactional  # type: ignore[untyped-decorator]
def _claim(
    transaction: firestore.Transaction,
    ref: firestore.DocumentReference,
    chat_id: str,
    story_id: str,
    token: str,
    lease_until: float,
    now: float,
    fields: dict[str, Any],
) -> Claim | Delivered:
    snapshot = ref.get(transaction=transaction)
    entry = snapshot.to_dict() if snapshot.exists else None
    done = _delivered(entry)
    if done is not None:
        return done
    leased = entry is not None and float(entry.get("lease_until") or 0) > now
    if leased and entry is not None and entry.get("state") == SENDING:
        raise RetryableError(
            f"story {story_id} is being sent to chat {chat_id} by another attempt "
            "whose lease has not run out; the redelivery will find it sent"
        )
    attempt = int((entry or {}).get("attempts", 0)) + 1
    transaction.set(
        ref,
        {
            **fields,
            "state": SENDING,
            "token": token,
            "attempts": attempt,
            "claimed_at": now,
            "lease_until": lease_until,
        },
        merge=True,
    )
    previous = None if entry is None else str(entry.get("state"))
    return Claim(chat_id, story_id, token, attempt, previous)


@firestore.transactional  # type: ignore[untyped-decorator]
def _record(
    transaction: firestore.Transaction,
    ref: firestore.DocumentReference,
    token: str,
    update: dict[str, Any],
) -> Delivered | None:
    snapshot = ref.get(transaction=transaction)
    entry = snapshot.to_dict() if snapshot.exists else None
    earlier = _delivered(entry)
    if earlier is not None and (entry or {}).get("token") != token:
        return earlier
    transaction.set(ref, update, merge=True)
    return None


@firestore.transactional  # type: ignore[untyped-decorator]
def _release(
    transaction: firestore.Transaction,
    ref: firestore.DocumentReference,
    token: str,
    update: dict[str, Any],
) -> None:
    snapshot = ref.get(transaction=transaction)
    entry = (snapshot.to_dict() or {}) if snapshot.exists else {}
    if entry.get("token") == token and entry.get("state") == SENDING:
        transaction.set(ref, update, merge=True)


def _delivered(entry: dict[str, Any] | None) -> Delivered | None:
    if entry is None or entry.get("state") != SENT:
        return None
    return Delivered(int(entry["message_id"]), str(entry.get("sent_chat_id", "")))
