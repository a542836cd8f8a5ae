"""The emulators behave as the cloud does where instapipe relies on it: Firestore
create-if-absent, Pub/Sub ordered publish and pull, and Cloud Storage's
"does not exist yet" upload precondition."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from google.api_core.exceptions import AlreadyExists, PreconditionFailed
from google.cloud import pubsub_v1

from instapipe import clients, store
from tests.conftest import TEST_BUCKET, TEST_PROJECT

pytestmark = pytest.mark.usefixtures("cloud")


def test_firestore_create_lets_exactly_one_of_racing_writers_win() -> None:
    ref = store.delivery_ref("-100123", "3300000000000000001")

    def claim(worker: int) -> bool:
        try:
            ref.create({"worker": worker})
            return True
        except AlreadyExists:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = list(pool.map(claim, range(8)))

    assert wins.count(True) == 1
    assert ref.get().to_dict()["worker"] == wins.index(True)


def test_pubsub_publish_then_pull_round_trip_keeps_order_and_attributes() -> None:
    publisher = clients.publisher()
    topic = clients.topic_path()
    publisher.create_topic(name=topic)
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(TEST_PROJECT, "round-trip")
    subscriber.create_subscription(
        request={"name": subscription, "topic": topic, "enable_message_ordering": True}
    )

    futures = [
        publisher.publish(
            topic, f"story {n}".encode(), ordering_key="42", story_id=str(n)
        )
        for n in range(5)
    ]
    for future in futures:
        future.result(timeout=30)
    response = subscriber.pull(
        request={"subscription": subscription, "max_messages": 10}, timeout=30
    )

    received = [m.message for m in response.received_messages]
    assert [m.data for m in received] == [f"story {n}".encode() for n in range(5)]
    assert [m.attributes["story_id"] for m in received] == ["0", "1", "2", "3", "4"]
    subscriber.close()


def test_storage_upload_with_generation_zero_refuses_to_overwrite() -> None:
    bucket = clients.storage_client().create_bucket(TEST_BUCKET)
    blob = bucket.blob("1111111111/2026-12-03/story.jpg")
    blob.upload_from_string(b"first", if_generation_match=0)

    with pytest.raises(PreconditionFailed):
        bucket.blob(blob.name).upload_from_string(b"second", if_generation_match=0)

    assert bucket.blob(blob.name).download_as_bytes() == b"first"
