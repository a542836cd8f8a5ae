"""The full local stack for end-to-end tests: one `LocalPipeline` per test module on
the session's emulators, a local Instagram and CDN, and helpers that wait for what
the pipeline does asynchronously (bounded waits that fail with what was seen)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import requests

from instapipe import clients, store
from stack import sample
from stack.emulators import Emulators
from stack.fakes.cdn import FakeCdn, Media
from stack.fakes.instagram import FakeInstagram
from stack.fakes.telegram import FakeTelegram, Message
from stack.pipeline import LocalPipeline, SubscriptionPolicy
from tests.conftest import BASE_ENV, TEST_BUCKET, reset_process_state

T = TypeVar("T")
WAIT_S = 60.0
CHAT_ID = "-1001234567890"
# Terraform's policy scaled down so that redeliveries happen within a test.
FAST_POLICY = SubscriptionPolicy(
    ack_deadline_s=20, min_backoff_s=1, max_backoff_s=3, max_delivery_attempts=5
)
FAST_SETTINGS = {
    "INSTAGRAM_TIMEOUT_S": "2",
    "INSTAGRAM_RETRY_BASE_S": "0.05",
    "MEDIA_TIMEOUT_S": "2",
    "MEDIA_ATTEMPTS": "2",
    "MEDIA_BACKOFF_S": "0.05",
}
PHOTO = (sample.SAMPLE_DIR / "harbour.jpg").read_bytes()
VIDEO = (sample.SAMPLE_DIR / "waves.mp4").read_bytes()
COVER = (sample.SAMPLE_DIR / "waves.jpg").read_bytes()


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = WAIT_S) -> T:
    """Polls `probe` until it returns a truthy value, or fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"gave up after {timeout_s:g}s waiting for {what}; last saw {last!r}")


@dataclass
class World:
    """The outside world the pipeline talks to, and the ids a test may use."""

    instagram: FakeInstagram
    cdn: FakeCdn
    telegram: FakeTelegram
    user_ids: list[str]
    reels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _next_pk: int = 3_500_000_000_000_000_000

    def post(
        self,
        user_id: str,
        *,
        is_video: bool = False,
        taken_at: int | None = None,
        location: tuple[str, float, float] | None = None,
        media: Media | None = None,
    ) -> str:
        """Posts a story to `user_id`'s reel; returns its media id."""
        self._next_pk += 1
        pk = self._next_pk
        extension = "mp4" if is_video else "jpg"
        path = f"/{user_id}/{pk}.{extension}"
        self.cdn.add(
            path, media or Media(_TYPES[extension], VIDEO if is_video else PHOTO)
        )
        if is_video:
            self.cdn.add(f"/{user_id}/{pk}.jpg", Media("image/jpeg", COVER))
        item = sample.reel_item(
            pk=pk,
            user_id=user_id,
            username=f"user{user_id}",
            taken_at=taken_at or int(time.time()) - 60,
            media_url=self.cdn.url + path,
            is_video=is_video,
            width=sample.VIDEO_WIDTH if is_video else sample.WIDTH,
            height=sample.VIDEO_HEIGHT if is_video else sample.HEIGHT,
            duration_s=sample.VIDEO_DURATION_S if is_video else None,
            location=location,
        )
        self.reels.setdefault(user_id, []).append(item)
        items = sorted(self.reels[user_id], key=lambda i: i["taken_at"])
        self.instagram.add_reels(sample.reel(user_id, f"user{user_id}", items))
        return str(pk)


_TYPES = {"jpg": "image/jpeg", "mp4": "video/mp4"}


def start_world(user_ids: list[str]) -> Iterator[World]:
    cdn = FakeCdn().start()
    instagram = FakeInstagram().start()
    telegram = FakeTelegram().start()
    telegram.add_chat(CHAT_ID)
    try:
        yield World(instagram=instagram, cdn=cdn, telegram=telegram, user_ids=user_ids)
    finally:
        telegram.stop()
        instagram.stop()
        cdn.stop()


def start_pipeline(
    emulators: Emulators,
    world: World,
    extra: dict[str, str] | None = None,
    policy: SubscriptionPolicy = FAST_POLICY,
) -> Iterator[LocalPipeline]:
    emulators.reset()
    settings = {
        **BASE_ENV,
        **FAST_SETTINGS,
        "INSTAGRAM_USER_IDS": ",".join(world.user_ids),
        "INSTAGRAM_API_URL": world.instagram.url,
        "INSTAGRAM_SESSIONID": world.instagram.sessionid,
        "TELEGRAM_API_URL": world.telegram.url,
        "TELEGRAM_BOT_TOKEN": world.telegram.token,
        "TELEGRAM_CHAT_ID": CHAT_ID,
        # The backlog tests post a hundred stories; Telegram's own 20 a minute is
        # covered by the delivery tests.
        "TELEGRAM_MAX_PER_MINUTE": "1000",
        "TELEGRAM_TIMEOUT_S": "5",
        **(extra or {}),
    }
    pipeline = LocalPipeline(settings, policy=policy, emulators=emulators)
    pipeline.start()
    try:
        yield pipeline
    finally:
        pipeline.stop()


def point_clients_at(emulators: Emulators, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets the test process read what the pipeline wrote, without emptying it."""
    for name, value in emulators.env().items():
        monkeypatch.setenv(name, value)
    reset_process_state()


def archived(user_id: str, story_id: str) -> dict[str, Any] | None:
    return store.story_ref(user_id, story_id).get().to_dict()


def objects_of(story_id: str) -> list[str]:
    bucket = clients.storage_client().bucket(TEST_BUCKET)
    return [blob.name for blob in bucket.list_blobs() if story_id in blob.name]


def stories_json(pipeline: LocalPipeline, user_id: str) -> list[dict[str, Any]]:
    response = requests.get(
        pipeline.url("stories_json") + "/stories.json",
        params={"user_id": user_id},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json())


def posted(world: World, story_id: str) -> Message | None:
    """The chat message the ledger says `story_id` became, once it is sent."""
    entry = store.delivery_ref(CHAT_ID, story_id).get().to_dict() or {}
    if entry.get("state") != "sent":
        return None
    messages = world.telegram.posted(CHAT_ID)
    return next(m for m in messages if m.message_id == entry["message_id"])


def delivered(world: World, user_id: str, story_id: str) -> bool:
    """Archived and posted."""
    return bool(archived(user_id, story_id) and posted(world, story_id))


def log_count(pipeline: LocalPipeline, target: str, message: str, story_id: str) -> int:
    """How many of `target`'s log lines say `message` about `story_id`."""
    return sum(
        f'"message": "{message}"' in line and story_id in line
        for line in pipeline.functions[target].log_text().splitlines()
    )
