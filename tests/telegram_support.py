"""Shared parts of the Telegram tests: stand-ins, stories, pushing as Pub/Sub does."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from instapipe import events, logs, telegram
from instapipe import story as story_module
from instapipe.story import Story, from_fields
from stack.emulators import Emulators
from stack.fakes.cdn import FakeCdn, Media
from stack.fakes.telegram import FakeTelegram
from tests.conftest import reset_process_state

DATA = Path(__file__).parent / "data" / "telegram"
CHAT_ID = "-1001234567890"
PHOTO_JPEG = (DATA / "photo.jpg").read_bytes()


@pytest.fixture
def cdn() -> Iterator[FakeCdn]:
    server = FakeCdn().start()
    server.add("/photo.jpg", Media("image/jpeg", body=PHOTO_JPEG))
    server.add("/cover.jpg", Media("image/jpeg", body=PHOTO_JPEG))
    server.add("/video.mp4", Media("video/mp4", size_bytes=300_000))
    yield server
    server.stop()


@pytest.fixture
def bot(cloud: Emulators, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    """A Bot API stand-in with the family's chat, and instapipe pointed at it."""
    server = FakeTelegram().start()
    server.add_chat(CHAT_ID)
    configure(
        monkeypatch, server, TELEGRAM_TIMEOUT_S="3", TELEGRAM_MAX_PER_MINUTE="1000"
    )
    yield server
    server.stop()


@pytest.fixture
def output() -> io.StringIO:
    stream = io.StringIO()
    logs.configure(stream=stream)
    return stream


def configure(
    monkeypatch: pytest.MonkeyPatch, server: FakeTelegram, **env: str
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", server.token)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", CHAT_ID)
    monkeypatch.setenv("TELEGRAM_API_URL", server.url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_process_state()


def story(kind: str, cdn: FakeCdn, **overrides: Any) -> Story:
    fields = json.loads((DATA / "stories.json").read_text())[kind]
    for name in ("media_url", "cover_url"):
        if fields[name]:
            fields[name] = fields[name].replace("{cdn}", cdn.url)
    return replace(from_fields(fields), **overrides)


def push_data(item: Story, message_id: str = "1") -> dict[str, Any]:
    data = base64.b64encode(story_module.encode(item)).decode()
    return {"message": {"data": data, "messageId": message_id}, "subscription": "s"}


def push(item: Story) -> None:
    """One push delivery of the story, as `post_to_telegram` receives it."""
    events.consume(push_data(item), telegram.deliver, consumer="post_to_telegram")


def push_until_acknowledged(
    items: list[Story], pause_s: float = 0.05, max_attempts: int = 200
) -> int:
    """Delivers in order as an ordered push subscription does: a message that raised
    is retried before any later one of the same key. Returns the number of nacks."""
    nacks = 0
    for item in items:
        for _ in range(max_attempts):
            try:
                push(item)
                break
            except Exception:
                nacks += 1
                time.sleep(pause_s)
        else:
            raise AssertionError(f"story {item.id} never went through")
    return nacks


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]
