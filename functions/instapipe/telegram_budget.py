"""The per-chat message budget, shared by every function instance through Firestore.

Telegram allows about 20 messages a minute in a group. Instances of `post_to_telegram`
run side by side (one per account ordering key, more after a backlog), so a budget kept
in memory would let each of them spend the whole allowance; the chat document holds it.

A sender reserves a slot: the earliest moment at which the chat has had fewer than
`max_per_minute` messages in the minute before, never earlier than a 429's wait and
never before an earlier reservation, so slots are handed out in order. It then sleeps
until its slot. A slot beyond the sender's deadline is not taken: the caller raises and
Pub/Sub redelivers later. The chat document also remembers where a group migrated to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.cloud import firestore

from instapipe import store
from instapipe.clients import firestore_client
from instapipe.errors import RetryableError

WINDOW_S = 60.0
SLOTS = "slots"
BLOCKED_UNTIL = "blocked_until"
MIGRATED_TO = "migrated_to"


@dataclass(frozen=True)
class Reservation:
    at: float
    # The supergroup the configured group became, if Telegram said so earlier.
    migrated_to: str | None


class BudgetExhaustedError(RetryableError):
    """The chat's next free slot lies beyond the caller's deadline."""


def next_slot(
    slots: list[float], start: float, max_per_minute: int, window_s: float = WINDOW_S
) -> float:
    """The earliest time >= `start` that keeps every window under the budget.

    `slots` are earlier reservations in ascending order; since each new one comes no
    earlier than the last, checking the `max_per_minute`-th latest one is enough.
    """
    at = max(start, slots[-1]) if slots else start
    if len(slots) >= max_per_minute:
        at = max(at, slots[-max_per_minute] + window_s)
    return at


def reserve(
    chat_id: str, now: float, deadline: float, max_per_minute: int
) -> Reservation:
    """Takes the chat's next slot; raises `BudgetExhaustedError` past `deadline`."""
    ref = store.telegram_chat_ref(chat_id)
    transaction = firestore_client().transaction()
    return _reserve(transaction, ref, chat_id, now, deadline, max_per_minute)


def hold_off(chat_id: str, until: float) -> None:
    """Makes every sender to the chat wait until `until` (after a 429)."""
    ref = store.telegram_chat_ref(chat_id)
    _hold_off(firestore_client().transaction(), ref, until)


def remember_migration(chat_id: str, new_chat_id: str) -> None:
    store.telegram_chat_ref(chat_id).set({MIGRATED_TO: new_chat_id}, merge=True)


@firestore.transactional  # type: ignore[untyped-decorator]
def _reserve(
    transaction: firestore.Transaction,
    ref: firestore.DocumentReference,
    chat_id: str,
    now: float,
    deadline: float,
    max_per_minute: int,
) -> Reservation:
    chat = _read(transaction, ref)
    slots = sorted(t for t in chat.get(SLOTS, []) if t > now - WINDOW_S)
    start = max(now, float(chat.get(BLOCKED_UNTIL) or 0))
    at = next_slot(slots, start, max_per_minute)
    if at > deadline:
        raise BudgetExhaustedError(
            f"chat {chat_id} has no free message slot for {at - now:.1f} s, longer "
            "than this attempt may wait; Pub/Sub will redeliver the story later"
        )
    transaction.set(ref, {SLOTS: [*slots, at]}, merge=True)
    return Reservation(at, chat.get(MIGRATED_TO))


@firestore.transactional  # type: ignore[untyped-decorator]
def _hold_off(
    transaction: firestore.Transaction, ref: firestore.DocumentReference, until: float
) -> None:
    chat = _read(transaction, ref)
    if float(chat.get(BLOCKED_UNTIL) or 0) < until:
        transaction.set(ref, {BLOCKED_UNTIL: until}, merge=True)


def _read(
    transaction: firestore.Transaction, ref: firestore.DocumentReference
) -> dict[str, Any]:
    snapshot = ref.get(transaction=transaction)
    return snapshot.to_dict() or {} if snapshot.exists else {}
