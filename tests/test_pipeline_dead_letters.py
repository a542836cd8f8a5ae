"""End to end: a story that can never be delivered ends in the dead-letter
subscription after the configured attempts, while other stories flow.

Its pipeline subscribes without message ordering: the Pub/Sub emulator cannot
dead-letter from an ordered subscription (see `SubscriptionPolicy.ordering`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from google.cloud import pubsub_v1

from stack.emulators import Emulators
from stack.fakes.cdn import Media
from stack.pipeline import LocalPipeline
from tests.pipeline_support import (
    FAST_POLICY,
    PHOTO,
    World,
    archived,
    delivered,
    point_clients_at,
    start_pipeline,
    start_world,
    wait_for,
)

POISONED_USER, HEALTHY_USER = "6000000001", "6000000002"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    yield from start_world([POISONED_USER, HEALTHY_USER])


@pytest.fixture(scope="module")
def pipeline(emulators: Emulators, world: World) -> Iterator[LocalPipeline]:
    policy = replace(FAST_POLICY, ordering=False)
    yield from start_pipeline(emulators, world, policy=policy)


@pytest.mark.filterwarnings("ignore:The return_immediately flag is deprecated")
@pytest.mark.timeout(300)
def test_a_poison_message_is_dead_lettered_while_the_rest_flows(
    pipeline: LocalPipeline,
    world: World,
    emulators: Emulators,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point_clients_at(emulators, monkeypatch)
    never = Media("image/jpeg", PHOTO, failures=[500] * 1000)
    poison = world.post(POISONED_USER, media=never)
    healthy = world.post(HEALTHY_USER)
    subscriber = pubsub_v1.SubscriberClient()
    seen: list[str] = []

    def dead_letters() -> bool:
        response = subscriber.pull(
            subscription=pipeline.dead_letter_subscription,
            max_messages=10,
            return_immediately=True,
            timeout=10,
        )
        if response.received_messages:
            subscriber.acknowledge(
                subscription=pipeline.dead_letter_subscription,
                ack_ids=[m.ack_id for m in response.received_messages],
            )
        seen.extend(
            m.message.attributes["story_id"] for m in response.received_messages
        )
        # Each consumer's subscription gives up on it once.
        return seen.count(poison) >= 2

    assert pipeline.tick().status_code == 200
    wait_for("the healthy story", lambda: delivered(world, HEALTHY_USER, healthy))
    wait_for("the poison story in the dead letters", dead_letters, timeout_s=120)

    assert archived(POISONED_USER, poison) is None
    assert set(seen) == {poison}
    assert (
        world.cdn.requests[f"/{POISONED_USER}/{poison}.jpg"]
        >= FAST_POLICY.max_delivery_attempts
    )
    subscriber.close()
