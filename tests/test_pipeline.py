"""End to end: the four functions served by functions-framework, wired by real push
subscriptions on the emulators, fed by a local Instagram, CDN and Telegram.

Every test uses accounts of its own, so the one pipeline of this module serves them all.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
import requests
from google.cloud import pubsub_v1

from instapipe import story
from instapipe.store import ArchivedStory
from stack.emulators import Emulators
from stack.fakes.cdn import Media
from stack.fakes.telegram import too_many_requests
from stack.pipeline import LocalPipeline
from tests.conftest import TEST_PROJECT
from tests.pipeline_support import (
    CHAT_ID,
    PHOTO,
    VIDEO,
    World,
    archived,
    delivered,
    log_count,
    objects_of,
    point_clients_at,
    posted,
    start_pipeline,
    start_world,
    stories_json,
    wait_for,
)

ALREADY_SENT = "story already posted; acknowledged without sending"
BACKLOG_ACCOUNTS = [str(5_000_000_000 + n) for n in range(20)]
ACCOUNTS = [str(4_000_000_000 + n) for n in range(10)] + BACKLOG_ACCOUNTS


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    yield from start_world(ACCOUNTS)


@pytest.fixture(scope="module")
def pipeline(emulators: Emulators, world: World) -> Iterator[LocalPipeline]:
    yield from start_pipeline(emulators, world)


@pytest.fixture(autouse=True)
def test_process_clients(emulators: Emulators, monkeypatch: pytest.MonkeyPatch) -> None:
    point_clients_at(emulators, monkeypatch)


def tick_ok(pipeline: LocalPipeline) -> dict[str, dict[str, object]]:
    response = pipeline.tick()
    assert response.status_code == 200, response.text
    return {account["user_id"]: account for account in response.json()["accounts"]}


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_a_new_story_is_archived_posted_once_and_served(
    pipeline: LocalPipeline, world: World
) -> None:
    user_id = ACCOUNTS[0]
    lisbon = ("Lisbon, Portugal", 38.7077, -9.1365)
    photo_id = world.post(user_id, taken_at=int(time.time()) - 600, location=lisbon)
    video_id = world.post(user_id, is_video=True)

    accounts = tick_ok(pipeline)
    wait_for(
        "both stories",
        lambda: all(delivered(world, user_id, s) for s in (photo_id, video_id)),
    )

    assert accounts[user_id]["new"] == 2
    served = stories_json(pipeline, user_id)
    assert [s["id"] for s in served] == [photo_id, video_id]
    assert served[0]["location"] == {
        "name": lisbon[0],
        "lat": lisbon[1],
        "lng": lisbon[2],
    }
    assert served[1]["is_video"] and served[1]["duration_s"] == 6
    for entry, content in zip(served, (PHOTO, VIDEO), strict=True):
        assert requests.get(entry["signed_url"], timeout=10).content == content
        assert len(objects_of(entry["id"])) == 1
    photo_message, video_message = posted(world, photo_id), posted(world, video_id)
    assert photo_message and photo_message.kind == "photo"
    assert video_message and video_message.kind == "video"
    assert video_message.upload and video_message.upload.sha256 == sha256(VIDEO)
    assert any(text == lisbon[0] for text, _url in photo_message.links())

    tick_ok(pipeline)
    assert tick_ok(pipeline)[user_id]["new"] == 0


def test_the_same_message_redelivered_changes_nothing(
    pipeline: LocalPipeline, world: World
) -> None:
    user_id = ACCOUNTS[1]
    story_id = world.post(user_id)
    tick_ok(pipeline)
    wait_for("the story", lambda: delivered(world, user_id, story_id))
    document = archived(user_id, story_id)
    assert document is not None
    original = ArchivedStory.from_document(document).story
    messages_before = len(world.telegram.posted(CHAT_ID))

    publisher = pubsub_v1.PublisherClient(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    )
    topic = publisher.topic_path(TEST_PROJECT, pipeline.topic)
    for _ in range(3):
        publisher.publish(
            topic, story.encode(original), ordering_key=user_id, **original.attributes()
        ).result(timeout=30)
    wait_for(
        "three more archive deliveries",
        lambda: (
            log_count(pipeline, "archive_story", "story already archived", story_id)
            >= 3
        ),
    )
    wait_for(
        "three more Telegram deliveries",
        lambda: log_count(pipeline, "post_to_telegram", ALREADY_SENT, story_id) >= 3,
    )

    assert archived(user_id, story_id) == document
    assert len(objects_of(story_id)) == 1
    assert len(world.telegram.posted(CHAT_ID)) == messages_before


def test_a_consumer_killed_mid_delivery_delivers_once_after_restart(
    pipeline: LocalPipeline, world: World
) -> None:
    user_id = ACCOUNTS[2]
    stalling = Media("image/jpeg", PHOTO, stall_at=1000, stall_s=30, stalls=1)
    story_id = world.post(user_id, media=stalling)
    path = f"/{user_id}/{story_id}.jpg"

    tick_ok(pipeline)
    wait_for("the download to start", lambda: world.cdn.requests.get(path, 0) >= 1)
    pipeline.restart("archive_story")
    wait_for("the story after the restart", lambda: delivered(world, user_id, story_id))

    assert len(objects_of(story_id)) == 1
    served = stories_json(pipeline, user_id)
    assert requests.get(served[0]["signed_url"], timeout=10).content == PHOTO


def test_telegram_answering_429_for_a_while_still_posts_each_story_once_in_order(
    pipeline: LocalPipeline, world: World
) -> None:
    user_id = ACCOUNTS[3]
    now = int(time.time())
    story_ids = [world.post(user_id, taken_at=now - 300 + n) for n in range(4)]
    world.telegram.then(*[too_many_requests(1)] * 4)

    tick_ok(pipeline)
    wait_for("every story", lambda: all(posted(world, s) for s in story_ids))

    messages = [posted(world, s) for s in story_ids]
    ids = [m.message_id for m in messages if m is not None]
    assert ids == sorted(ids)
    posted_ids = [m.message_id for m in world.telegram.posted(CHAT_ID)]
    assert all(posted_ids.count(i) == 1 for i in ids)
    assert sum(c.status == 429 for c in world.telegram.calls) >= 4


def test_a_cdn_failing_then_recovering_loses_nothing(
    pipeline: LocalPipeline, world: World
) -> None:
    user_id = ACCOUNTS[4]
    # More failures than one delivery's attempts: Pub/Sub has to redeliver.
    flaky = Media("image/jpeg", PHOTO, failures=[503] * 5)
    story_id = world.post(user_id, media=flaky)

    tick_ok(pipeline)
    wait_for("the story", lambda: delivered(world, user_id, story_id))

    assert len(objects_of(story_id)) == 1
    assert world.cdn.requests[f"/{user_id}/{story_id}.jpg"] >= 6
    message = posted(world, story_id)
    assert message and message.upload and message.upload.sha256 == sha256(PHOTO)


def test_firestore_restarted_between_ticks_duplicates_nothing(
    pipeline: LocalPipeline, world: World, emulators: Emulators
) -> None:
    user_id = ACCOUNTS[5]
    first = world.post(user_id, taken_at=int(time.time()) - 120)
    tick_ok(pipeline)
    wait_for("the first story", lambda: delivered(world, user_id, first))
    messages_before = len(world.telegram.posted(CHAT_ID))

    emulators.firestore.restart(TEST_PROJECT)
    second = world.post(user_id)
    accounts = tick_ok(pipeline)
    wait_for("the second story", lambda: delivered(world, user_id, second))

    assert accounts[user_id]["new"] == 1
    assert len(world.telegram.posted(CHAT_ID)) == messages_before + 1
    assert [s["id"] for s in stories_json(pipeline, user_id)] == [first, second]


@pytest.mark.timeout(300)
def test_twenty_accounts_with_five_stories_each_arrive_once_in_order(
    pipeline: LocalPipeline, world: World
) -> None:
    now = int(time.time())
    posted_ids = {
        user_id: [world.post(user_id, taken_at=now - 600 + n) for n in range(5)]
        for user_id in BACKLOG_ACCOUNTS
    }

    accounts = tick_ok(pipeline)
    everything = [(u, s) for u, ids in posted_ids.items() for s in ids]
    wait_for(
        "all hundred stories",
        lambda: all(delivered(world, u, s) for u, s in everything),
        timeout_s=240,
    )

    assert all(accounts[u]["new"] == 5 for u in BACKLOG_ACCOUNTS)
    chat = [m.message_id for m in world.telegram.posted(CHAT_ID)]
    for user_id, story_ids in posted_ids.items():
        assert [s["id"] for s in stories_json(pipeline, user_id)] == story_ids
        message_ids = [posted(world, s).message_id for s in story_ids]  # type: ignore[union-attr]
        assert message_ids == sorted(message_ids)
        assert all(chat.count(i) == 1 for i in message_ids)
