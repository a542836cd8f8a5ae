"""The Firestore layout: where each kind of document lives and what a story holds.

- `accounts/{user_id}`: what the fetch function needs about a watched account.
- `accounts/{user_id}/stories/{story_id}`: one archived story.
- `accounts/{user_id}/opens/{YYYY-MM-DD}`: the optional count of viewer opens.
- `sources/graph_token`: the Graph API token as last refreshed.
- `telegram_chats/{chat_id}`: the chat's shared message budget and where it migrated.
- `telegram_chats/{chat_id}/deliveries/{story_id}`: the Telegram delivery ledger.
- `telegram_chats/{chat_id}/accounts/{user_id}`: the newest story delivered per account.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from google.cloud import firestore

from instapipe.clients import firestore_client
from instapipe.story import Story, from_fields

ACCOUNTS = "accounts"
STORIES = "stories"
TELEGRAM_CHATS = "telegram_chats"
DELIVERIES = "deliveries"
# The account document's list of stories whose CDN link expired during archiving: the
# archive adds to it, the next fetch tick re-publishes them with fresh links.
REPUBLISH_STORY_IDS = "republish_story_ids"
_ARCHIVE_FIELDS = (
    "bucket_path",
    "object_name",
    "content_type",
    "size_bytes",
    "archived_at",
    "signed_url",
    "signed_url_expires_at",
)


def account_ref(user_id: str) -> firestore.DocumentReference:
    return firestore_client().collection(ACCOUNTS).document(user_id)


def stories_of(user_id: str) -> firestore.CollectionReference:
    return account_ref(user_id).collection(STORIES)


def story_ref(user_id: str, story_id: str) -> firestore.DocumentReference:
    return stories_of(user_id).document(story_id)


def delivery_ref(chat_id: str, story_id: str) -> firestore.DocumentReference:
    return telegram_chat_ref(chat_id).collection(DELIVERIES).document(story_id)


@dataclass(frozen=True)
class ArchivedStory:
    """A story whose media is in the bucket, as its Firestore document holds it."""

    story: Story
    bucket_path: str
    object_name: str
    content_type: str
    size_bytes: int
    archived_at: int
    signed_url: str
    signed_url_expires_at: int

    def to_document(self) -> dict[str, Any]:
        document = asdict(self.story)
        document.update({name: getattr(self, name) for name in _ARCHIVE_FIELDS})
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ArchivedStory:
        extras = {name: document[name] for name in _ARCHIVE_FIELDS}
        story_fields = {k: v for k, v in document.items() if k not in _ARCHIVE_FIELDS}
        return cls(story=from_fields(story_fields), **extras)


# The stories API's optional open counter: one document per account and UTC day.
OPENS = "opens"


def opens_ref(user_id: str, day: str) -> firestore.DocumentReference:
    """`accounts/{user_id}/opens/{day}`, `day` as YYYY-MM-DD in UTC."""
    return account_ref(user_id).collection(OPENS).document(day)


# Fetching: the Graph API token as last refreshed, so a cold start uses the newest one.
SOURCES = "sources"
GRAPH_TOKEN = "graph_token"


def graph_token_ref() -> firestore.DocumentReference:
    return firestore_client().collection(SOURCES).document(GRAPH_TOKEN)


def telegram_chat_ref(chat_id: str) -> firestore.DocumentReference:
    """The chat's own document: its shared rate budget and where it migrated to."""
    return firestore_client().collection(TELEGRAM_CHATS).document(chat_id)


def telegram_account_ref(chat_id: str, user_id: str) -> firestore.DocumentReference:
    """The newest story of one account delivered to the chat, to notice reordering."""
    return telegram_chat_ref(chat_id).collection(ACCOUNTS).document(user_id)
